//! Cache keys: stable digests of what a build step reads from the recipe.
//!
//! A digest is SHA-256 over a domain line (`stela-recipe:<step>:v1`) and the step's
//! inputs as compact JSON, fields in declaration order, sets sorted. Changing what a
//! step reads means changing the domain's version, so that old cache entries miss.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::debian::{Architecture, Component, Mirror, Suite};
use crate::model::Recipe;
use crate::names::PackageName;

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

/// What the root file system step (mmdebstrap) reads: the archive and the package set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootfsInputs {
    /// Suite codename.
    pub suite: Suite,
    /// Mirror URL.
    pub mirror: Mirror,
    /// Archive areas.
    pub components: BTreeSet<Component>,
    /// Architecture.
    pub architecture: Architecture,
    /// Every package to install ([`Recipe::package_set`]); the build adds its own
    /// (initrd tooling) before taking the digest.
    pub packages: BTreeSet<PackageName>,
}

impl RootfsInputs {
    /// The cache key of the root file system step.
    pub fn digest(&self) -> Digest {
        digest_of("rootfs", self)
    }
}

impl Recipe {
    /// The inputs of the root file system step.
    pub fn rootfs_inputs(&self) -> RootfsInputs {
        RootfsInputs {
            suite: self.debian.suite,
            mirror: self.debian.mirror.clone(),
            components: self.debian.components.iter().cloned().collect(),
            architecture: self.debian.architecture,
            packages: self.package_set(),
        }
    }

    /// A digest of the whole validated recipe. Host files enter by the path the recipe
    /// wrote, not by content: the build hashes their content into the step that reads them.
    pub fn cache_key(&self) -> Digest {
        digest_of("recipe", self)
    }
}
