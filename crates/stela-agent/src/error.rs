//! Errors of the agent: each says which release, slot, target or partition.

use std::path::PathBuf;

use stela_image::SlotId;

/// Why an update step failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The repository could not be reached, or its metadata did not verify: a bad
    /// signature, an expired role, a version older than one trusted before.
    #[error("the update repository {location}: {source}")]
    Repository {
        /// Where it is.
        location: String,
        /// tough's verdict.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A target could not be downloaded, or its bytes do not match the signed metadata.
    #[error("target {target}: {reason}")]
    Target {
        /// The target name.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// A release lacks a target a device needs, or its metadata is not stela's.
    #[error("release {release}: {reason}")]
    Release {
        /// `<name>_<version>`.
        release: String,
        /// What is wrong.
        reason: String,
    },
    /// The disk could not be read or does not have what an update needs.
    #[error("disk {path}: {source}")]
    Disk {
        /// The disk.
        path: PathBuf,
        /// The image model's error.
        #[source]
        source: Box<stela_image::ImageError>,
    },
    /// Reading or writing the disk failed.
    #[error("disk {path}: {what}: {source}")]
    Io {
        /// The disk.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Writing the partition table failed.
    #[error("disk {path}: writing the partition table: {source}")]
    Gpt {
        /// The disk.
        path: PathBuf,
        /// The error.
        #[source]
        source: stela_gpt::GptError,
    },
    /// Changing the ESP failed.
    #[error("disk {path}: the ESP: {source}")]
    Esp {
        /// The disk.
        path: PathBuf,
        /// The error.
        #[source]
        source: stela_esp::EspError,
    },
    /// What was written does not prove the release: the slot was marked empty again.
    #[error("slot {slot}: {reason}; the slot was marked empty again")]
    Verification {
        /// The slot.
        slot: SlotId,
        /// What did not match.
        reason: String,
    },
    /// A target is larger than the partition it goes to.
    #[error("slot {slot}: {what} is {size} bytes, but its partition holds {room}")]
    DoesNotFit {
        /// The slot.
        slot: SlotId,
        /// What.
        what: String,
        /// Its size.
        size: u64,
        /// The partition's size.
        room: u64,
    },
    /// The agent's configuration is missing or wrong.
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The agent's state could not be read or kept.
    #[error("{path}: {what}: {source}")]
    State {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The running version cannot be told.
    #[error("{0}")]
    Running(String),
}

impl AgentError {
    /// The image model's error about the disk at `path`.
    pub(crate) fn disk(
        path: &std::path::Path,
    ) -> impl FnOnce(stela_image::ImageError) -> AgentError + '_ {
        move |source| AgentError::Disk {
            path: path.to_owned(),
            source: Box::new(source),
        }
    }
}
