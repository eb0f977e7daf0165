//! Cache keys: stable digests of what a build step reads from the recipe.
//!
//! A digest is SHA-256 over a domain line (`stela-recipe:<step>:v1`) and the step's
//! inputs as compact JSON, fields in declaration order, sets sorted. Changing what a
//! step reads means changing the domain's version, so that old cache entries miss.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::debian::{Architecture, Snapshot, Suite};
use crate::model::{Recipe, Source};
use crate::names::PackageName;
use crate::packages::BUILD_PACKAGES;

/// A SHA-256 digest of a step's inputs; displayed as lowercase hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

fn digest_of<T: Serialize>(domain: &str, value: &T) -> Digest {
    // Serializing plain structs of strings, integers, sequences and enums cannot fail.
    let json = serde_json::to_vec(value).expect("recipe types always serialize to JSON");
    let mut h = Sha256::new();
    h.update(format!("stela-recipe:{domain}:v1\n"));
    h.update(&json);
    Digest(h.finalize().into())
}

/// What the root file system step (mmdebstrap) reads: the archives and the package set.
/// Its digest is the step's cache key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootfsInputs {
    /// Suite codename.
    pub suite: Suite,
    /// Every archive suite used ([`Debian::sources`](crate::Debian::sources)), in order.
    pub sources: Vec<Source>,
    /// Architecture.
    pub architecture: Architecture,
    /// Every package to install: [`Recipe::package_set`] and [`BUILD_PACKAGES`].
    pub packages: BTreeSet<PackageName>,
    /// dpkg's path filters ([`Content::dpkg_filters`](crate::Content::dpkg_filters)):
    /// what is never unpacked.
    pub dpkg_filters: Vec<String>,
    /// The archive's moment the packages are pinned to (`debian.snapshot`): apt then
    /// accepts expired Release files. Left out of the digest when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
}

impl RootfsInputs {
    /// The cache key of the root file system step. The domain's version changes when
    /// the step makes a different tree from the same inputs.
    pub fn digest(&self) -> Digest {
        digest_of("rootfs-v4", self)
    }

    /// The packages as mmdebstrap's `--include` list, sorted.
    pub fn package_list(&self) -> Vec<String> {
        self.packages.iter().map(|p| p.to_string()).collect()
    }
}

impl Recipe {
    /// The inputs of the root file system step.
    pub fn rootfs_inputs(&self) -> RootfsInputs {
        let mut sources = self.debian.sources();
        for s in &mut sources {
            s.components.sort();
        }
        let mut packages = self.package_set();
        packages.extend(BUILD_PACKAGES.iter().map(|p| PackageName::known(p)));
        RootfsInputs {
            suite: self.debian.suite,
            sources,
            architecture: self.debian.architecture,
            packages,
            dpkg_filters: self.content.dpkg_filters(),
            snapshot: self.debian.snapshot.clone(),
        }
    }

    /// A digest of the whole validated recipe. Host files enter by the path the recipe
    /// wrote, not by content: the build hashes their content into the step that reads them.
    pub fn cache_key(&self) -> Digest {
        digest_of("recipe", self)
    }
}
