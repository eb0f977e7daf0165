//! The statement: subjects and the SLSA v1 predicate.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use stela_keys::Signer;

use crate::dsse::{Envelope, PAYLOAD_TYPE};
use crate::ProvenanceError;

/// The provenance file's name in a build's output.
pub const FILE: &str = "provenance.dsse.json";

/// The SLSA build type of a `stela build`.
pub const BUILD_TYPE: &str = "urn:stela:build:v1";

/// One output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Its name in the output directory.
    pub name: String,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// One input the build resolved: a Debian package or an archive suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// A URI naming it: a package URL, or `apt:` and apt's list name for a suite.
    pub uri: String,
    /// A short name.
    pub name: String,
    /// Its SHA-256 (the .deb's; the signed `InRelease` file's), when known.
    pub sha256: Option<String>,
}

/// What the provenance of one build says.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// The output files.
    pub subjects: Vec<Subject>,
    /// The recipe's image name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of the recipe: its settings and the content of every host file and
    /// overlay it names.
    pub recipe_sha256: String,
    /// The usr image's verity root hash.
    pub root_hash: String,
    /// SOURCE_DATE_EPOCH of the build, if set.
    pub source_date_epoch: Option<u64>,
    /// The stela version that built it.
    pub stela_version: String,
    /// Packages and suites.
    pub dependencies: Vec<Dependency>,
}

impl Provenance {
    /// The in-toto statement, as JSON bytes (keys in a fixed order).
    pub fn statement(&self) -> Vec<u8> {
        let subjects: Vec<Value> = self
            .subjects
            .iter()
            .map(|s| json!({"name": s.name, "digest": {"sha256": s.sha256}}))
            .collect();
        let deps: Vec<Value> = self
            .dependencies
            .iter()
            .map(|d| {
                let mut v = json!({"uri": d.uri, "name": d.name});
                if let Some(h) = &d.sha256 {
                    v["digest"] = json!({"sha256": h});
                }
                v
            })
            .collect();
        let mut internal = json!({});
        if let Some(e) = self.source_date_epoch {
            internal["source_date_epoch"] = json!(e);
        }
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": subjects,
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {
                "buildDefinition": {
                    "buildType": BUILD_TYPE,
                    "externalParameters": {
                        "recipe": {
                            "name": self.name,
                            "version": self.version,
                            "sha256": self.recipe_sha256,
                        }
                    },
                    "internalParameters": internal,
                    "resolvedDependencies": deps,
                },
                "runDetails": {
                    "builder": {
                        "id": "urn:stela:builder",
                        "version": {"stela": self.stela_version},
                    },
                    "byproducts": [
                        {"name": "usr verity root hash", "digest": {"sha256": self.root_hash}}
                    ],
                },
            },
        });
        let mut out = serde_json::to_vec_pretty(&statement).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Sign the statement with `signer` and write the envelope to `dir/FILE` (through a
    /// temporary file renamed into place).
    pub fn write_signed(
        &self,
        dir: &Path,
        signer: &dyn Signer,
    ) -> Result<PathBuf, ProvenanceError> {
        let envelope = Envelope::sign(PAYLOAD_TYPE, &self.statement(), signer)?;
        let mut bytes = serde_json::to_vec_pretty(&envelope).unwrap_or_default();
        bytes.push(b'\n');
        let path = dir.join(FILE);
        let tmp = dir.join(format!(".{FILE}.partial"));
        std::fs::write(&tmp, &bytes).map_err(|source| ProvenanceError::Io {
            what: "writing",
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| ProvenanceError::Io {
            what: "renaming into place",
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}
