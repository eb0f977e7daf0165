//! The software bill of materials of a stela image, in CycloneDX 1.5 JSON.
//!
//! Every Debian package installed in the image's /usr (from dpkg's database in the build
//! tree) with its version, architecture, source package and version, the licences its
//! machine-readable copyright file names, the SHA-256 of its .deb as the archive's signed
//! `Packages` index gives it, and its package URL (`pkg:deb/debian/NAME@VERSION?arch=…`);
//! and stela itself, with the crates of its lock file. The document is made with the
//! CycloneDX project's own Rust model (`cyclonedx-bom`), checked by its validation
//! before it is written, and is the same for the same inputs (no clock, no random serial
//! number), so a reproducible build gives the same SBOM.

mod cargo_lock;
pub mod copyright;
mod cyclonedx;
pub mod dpkg;
mod license_ids;
mod tree;

pub use cargo_lock::{crates_of, Crate};
pub use cyclonedx::{deb_package_url, DebEntry, ImageSbom, StelaEntry};
pub use dpkg::InstalledPackage;
pub use tree::{packages_in_tree, ArchiveFile};

use std::path::PathBuf;

/// What can go wrong while making an SBOM.
#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// dpkg's status file is not what dpkg writes.
    #[error("{path}: {reason}")]
    Status {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A lock file could not be read.
    #[error("the Cargo.lock given: {0}")]
    Lock(String),
    /// A value does not make a valid document (a package URL, a time).
    #[error("{what}: {reason}")]
    Invalid {
        /// The package or field.
        what: String,
        /// Why.
        reason: String,
    },
    /// The document failed CycloneDX's validation.
    #[error("the SBOM does not validate as CycloneDX {version}: {details}")]
    Validation {
        /// The specification version.
        version: String,
        /// The validation's report.
        details: String,
    },
    /// Writing the JSON failed.
    #[error("writing the SBOM as JSON: {0}")]
    Json(String),
}
