//! An image's Debian packages against the Debian security tracker's JSON export
//! (<https://security-tracker.debian.org/tracker/data/json>, which the user downloads):
//! for each source package in the image and each CVE the tracker lists for it in the
//! image's release, whether the image is affected.
//!
//! The tracker keys its data by source package, so the image's packages are read from
//! its SBOM (`sbom.cdx.json`, which records each binary package's source and source
//! version); versions compare as dpkg compares them (the `debversion` crate).

mod report;
mod sbom;
mod tracker;

pub use report::{audit, Finding, Report, State};
pub use sbom::{read_sbom, ImagePackage};
pub use tracker::{read_tracker, ReleaseEntry, Tracker, TrackerCve};

use std::path::PathBuf;

/// What can go wrong in an audit.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The SBOM is not one stela wrote.
    #[error("{path}: {reason}")]
    Sbom {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The tracker's data is not in the tracker's JSON format.
    #[error("{path}: not the Debian security tracker's JSON: {reason}")]
    Tracker {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The image's release cannot be told.
    #[error("{0}")]
    Suite(String),
}
