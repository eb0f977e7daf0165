//! Checking a build output directory against its provenance.

use std::path::Path;

use serde_json::Value;
use stela_keys::Certificate;

use crate::dsse::{Envelope, PAYLOAD_TYPE};
use crate::statement::FILE;
use crate::ProvenanceError;

/// The result of [`verify_dir`]: the signature verified; each subject's state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    /// The statement.
    pub statement: Value,
    /// Subjects whose file has the recorded SHA-256.
    pub matching: Vec<String>,
    /// Subjects whose file differs: (name, recorded, found).
    pub differing: Vec<(String, String, String)>,
    /// Subjects whose file is missing.
    pub missing: Vec<String>,
}

impl Verified {
    /// Whether every subject is there unchanged.
    pub fn all_match(&self) -> bool {
        self.differing.is_empty() && self.missing.is_empty()
    }
}

/// Verify `dir/provenance.dsse.json` with `cert`, then hash (`sha256`) each subject's
/// file in `dir`.
pub fn verify_dir(
    dir: &Path,
    cert: &Certificate,
    sha256: impl Fn(&Path) -> std::io::Result<String>,
) -> Result<Verified, ProvenanceError> {
    let path = dir.join(FILE);
    let bad = |reason: String| ProvenanceError::Malformed {
        path: path.clone(),
        reason,
    };
    let bytes = stela_limits::read(&path, stela_limits::JSON_DOCUMENT).map_err(|source| {
        ProvenanceError::Io {
            what: "reading",
            path: path.clone(),
            source,
        }
    })?;
    let envelope: Envelope =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a DSSE envelope: {e}")))?;
    if envelope.payload_type != PAYLOAD_TYPE {
        return Err(bad(format!(
            "payloadType {:?}, not {PAYLOAD_TYPE}",
            envelope.payload_type
        )));
    }
    if !envelope.verified_by(cert).map_err(bad)? {
        return Err(ProvenanceError::BadSignature {
            path: path.clone(),
            cert: cert.subject(),
        });
    }
    // Only what the signature covers is read from here on.
    let payload = envelope.payload_bytes().map_err(bad)?;
    let statement: Value =
        serde_json::from_slice(&payload).map_err(|e| bad(format!("statement: {e}")))?;
    let subjects = statement["subject"]
        .as_array()
        .ok_or_else(|| bad("the statement has no subjects".into()))?;
    let mut v = Verified {
        statement: statement.clone(),
        matching: Vec::new(),
        differing: Vec::new(),
        missing: Vec::new(),
    };
    for s in subjects {
        let (Some(name), Some(want)) = (s["name"].as_str(), s["digest"]["sha256"].as_str()) else {
            return Err(bad(format!("a subject without name or sha256: {s}")));
        };
        // Names are plain file names; anything else is not ours to open.
        if name.contains('/') || name.starts_with('.') {
            return Err(bad(format!("subject {name:?} is not a file name")));
        }
        let file = dir.join(name);
        match sha256(&file) {
            Ok(got) if got == want => v.matching.push(name.to_owned()),
            Ok(got) => v.differing.push((name.to_owned(), want.to_owned(), got)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => v.missing.push(name.to_owned()),
            Err(source) => {
                return Err(ProvenanceError::Io {
                    what: "hashing",
                    path: file,
                    source,
                })
            }
        }
    }
    Ok(v)
}
