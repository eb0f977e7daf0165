//! What can go wrong while preparing, starting or watching a virtual machine.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Errors of this crate. A run that ends without the expected serial output is not an
/// error: it is an [`crate::Outcome`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QemuError {
    /// A host program is not installed.
    #[error("{program} not found in PATH: install the Debian package {package}")]
    MissingTool {
        /// The program looked for.
        program: &'static str,
        /// The Debian package that ships it.
        package: &'static str,
    },
    /// A firmware file is not where it was looked for.
    #[error("OVMF firmware {path} not found: install the Debian package ovmf, or name the directory holding OVMF_CODE_4M.secboot.fd and OVMF_VARS_4M.fd")]
    MissingFirmware {
        /// The file that is missing.
        path: PathBuf,
    },
    /// The disk image is missing or not a regular file.
    #[error("disk image {path} is not a readable file")]
    MissingImage {
        /// The image path as given.
        path: PathBuf,
    },
    /// A `--until` or `--fail` pattern does not compile.
    #[error("invalid {which} pattern {pattern:?}")]
    Pattern {
        /// `until` or `fail`.
        which: &'static str,
        /// The pattern as given.
        pattern: String,
        /// What the regex parser said.
        #[source]
        source: regex::Error,
    },
    /// A setting is out of range.
    #[error("invalid setting {field}: {reason}")]
    Setting {
        /// The setting's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A file or directory operation failed.
    #[error("{action} {path}")]
    File {
        /// What was being done, e.g. "copying the OVMF variable store to".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A helper program could not be started.
    #[error("starting {program}")]
    Spawn {
        /// The program.
        program: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A helper program ran and failed.
    #[error("{program} failed ({status}): {stderr}")]
    ToolFailed {
        /// The program.
        program: String,
        /// Its exit status.
        status: ExitStatus,
        /// The end of what it wrote to stderr.
        stderr: String,
    },
    /// swtpm did not create its control socket in time.
    #[error("swtpm did not open its socket {path} within {seconds} s (its log: {log})")]
    TpmNotReady {
        /// The socket path.
        path: PathBuf,
        /// How long we waited.
        seconds: u64,
        /// swtpm's own log file.
        log: PathBuf,
    },
    /// Waiting for, or signalling, a child process failed.
    #[error("{action} {program}")]
    Process {
        /// What was being done.
        action: &'static str,
        /// The program.
        program: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl QemuError {
    pub(crate) fn file(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> QemuError {
        let path = path.into();
        move |source| QemuError::File {
            action,
            path,
            source,
        }
    }
}
