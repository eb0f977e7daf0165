//! The update repository: a TUF repository (The Update Framework, spec 1.0) of static
//! files that any web server or object store serves, and that devices update from.
//!
//! ```text
//! DIR/repo.toml                       settings: validity periods, usr compression
//! DIR/metadata/1.root.json            the root every device trusts first; N.root.json later
//! DIR/metadata/N.targets.json         the releases (consistent snapshots: one file per version)
//! DIR/metadata/N.snapshot.json        the targets version
//! DIR/metadata/timestamp.json         the newest snapshot, re-signed often
//! DIR/targets/<sha256>.<target name>  the release files, named by their hash
//! ```
//!
//! - [`init`] makes a repository (root with a threshold of keys; the keys, Ed25519, in a
//!   [`RoleKeyDir`]);
//! - [`publish`] adds the release of a `stela build` output on a channel: the usr image as
//!   independent zstd frames ([`frames`]), its verity tree and signatures, the UKI and the
//!   manifest, each target carrying the version and root hash ([`TargetInfo`]);
//! - [`refresh`] re-signs snapshot and timestamp (run it from a timer);
//! - [`set_rules`] signs a channel's rules: minimum and maximum version, rollout waves
//!   ([`rollout`]);
//! - [`show`] verifies the repository and lists what it holds.
//!
//! TUF itself (metadata formats, signing, verification) is the `tough` crate's; this
//! crate decides what goes in. Every file is written under a temporary name and renamed,
//! and `timestamp.json` last, so a client never sees half a release.

mod error;
pub mod frames;
mod keys;
mod layout;
pub mod policy;
mod release;
mod repo;
pub mod rollout;
mod runtime;

pub use error::RepoError;
pub use keys::{Role, RoleKey, RoleKeyDir};
pub use layout::{Layout, METADATA, TARGETS};
pub use policy::{Expiry, Period, Settings, UsrCompression};
pub use release::{Kind, Release, ReleaseFile, TargetInfo};
pub use repo::{
    init, publish, refresh, rules, set_rules, show, InitOptions, InitReport, PublishReport,
    RefreshReport, ReleaseEntry, RepoSummary, RulesReport, SignedRoot,
};
pub use rollout::{ChannelRules, RolloutPosition, Wave};
