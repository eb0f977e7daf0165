//! Build provenance: what went into a build and what came out, signed.
//!
//! An [in-toto Statement v1](https://github.com/in-toto/attestation) whose subjects are
//! the build's output files (name and SHA-256) and whose predicate is a
//! [SLSA Provenance v1](https://slsa.dev/provenance/v1) record: the recipe and its inputs'
//! digest, the Debian packages (package URL and .deb SHA-256) and archive suites
//! (`InRelease` SHA-256) the image was made from, the stela version. It is wrapped in a
//! [DSSE](https://github.com/secure-systems-lab/dsse) envelope signed with the release
//! key (the db key, which signs the boot chain): RSA PKCS#1 v1.5 with SHA-256 over DSSE's
//! pre-authentication encoding, deterministic, so the same build gives the same file.

mod dsse;
mod statement;
mod verify;

pub use dsse::{pae, Envelope, EnvelopeSignature, PAYLOAD_TYPE};
pub use statement::{Dependency, Provenance, Subject, BUILD_TYPE, FILE};
pub use verify::{verify_dir, Verified};

use std::path::PathBuf;

/// What can go wrong with provenance.
#[derive(Debug, thiserror::Error)]
pub enum ProvenanceError {
    /// A file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Signing failed.
    #[error("signing the provenance: {0}")]
    Sign(#[from] stela_keys::KeyError),
    /// The envelope or statement is not what this module writes.
    #[error("{path}: {reason}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No signature verifies with the certificate given.
    #[error("{path}: no signature verifies with the certificate {cert}")]
    BadSignature {
        /// The file.
        path: PathBuf,
        /// The certificate's subject.
        cert: String,
    },
}
