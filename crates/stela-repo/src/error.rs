//! Errors of the repository side: each names the file, role, target or field.

use std::path::PathBuf;

/// Why a repository operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// Reading or writing a file failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// `repo init` was pointed at a directory that already holds something.
    #[error(
        "{0}: exists and is not empty; `stela repo init` makes a new repository only in a \
         new or empty directory"
    )]
    NotEmpty(PathBuf),
    /// The directory is not a repository `stela repo init` made.
    #[error("{path}: not a stela repository ({reason}); make one with `stela repo init`")]
    NotARepository {
        /// The directory.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// A key file is missing, unreadable or of a kind TUF here does not sign with.
    #[error("key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The role keys on hand cannot sign a role at its threshold.
    #[error(
        "the {role} role needs {threshold} signature(s) but the keys in {dir} hold only \
         {found} of its keys"
    )]
    Threshold {
        /// The role.
        role: String,
        /// Its threshold.
        threshold: u64,
        /// How many of its keys were found.
        found: usize,
        /// The key directory.
        dir: PathBuf,
    },
    /// A threshold or key count on the command line makes no sense.
    #[error("{0}")]
    Options(String),
    /// A policy field could not be read.
    #[error("{path}: field `{field}`: {reason}")]
    Policy {
        /// The policy file.
        path: PathBuf,
        /// The field.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The build output to publish is incomplete or does not match its manifest.
    #[error("{path}: {reason}")]
    BuildOutput {
        /// The file of the build output.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The release is already on the channel, or older than what is there.
    #[error("channel `{channel}`: {reason}")]
    Channel {
        /// The channel.
        channel: String,
        /// What is wrong.
        reason: String,
    },
    /// tough refused or failed (loading, editing or signing metadata).
    #[error("{what}: {source}")]
    Tuf {
        /// What was being done.
        what: String,
        /// tough's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl RepoError {
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> RepoError {
        let path = path.into();
        move |source| RepoError::Io { what, path, source }
    }

    pub(crate) fn tuf<E: std::error::Error + Send + Sync + 'static>(
        what: impl Into<String>,
    ) -> impl FnOnce(E) -> RepoError {
        let what = what.into();
        move |source| RepoError::Tuf {
            what,
            source: Box::new(source),
        }
    }
}
