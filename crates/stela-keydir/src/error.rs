//! The error type of the crate.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use stela_efivars::{EfiTime, EfiVarsError};
use stela_keys::KeyError;

/// What is wrong with a key directory, or what failed while making or reading it.
///
/// Every variant carries the file (or directory) it is about; an underlying error is the
/// `source`, not repeated in the message (boxed: the signature errors are large, and a
/// `Result` should stay small on the happy path).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyDirError {
    /// The key directory does not exist.
    #[error("the key directory {} does not exist (make one with `stela keys init {}`)", path.display(), path.display())]
    NotFound {
        /// The directory.
        path: PathBuf,
    },
    /// The path exists and is not a directory.
    #[error("{} exists and is not a directory", path.display())]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// `generate` was pointed at a directory that already holds something.
    #[error("{} already exists and is not empty; stela keys init never overwrites keys", path.display())]
    NotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// A file of the set is missing.
    #[error("{} is missing (stela keys init makes it)", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The common name cannot name `loader/keys/<name>`.
    #[error("common name {name:?} has no letters or digits to name loader/keys/<name>")]
    CommonName {
        /// The name given.
        name: String,
    },
    /// `SOURCE_DATE_EPOCH` is set but is not a number of seconds.
    #[error("SOURCE_DATE_EPOCH {value:?} is not a number of seconds")]
    SourceDateEpoch {
        /// Its value.
        value: String,
        /// What the parser said.
        #[source]
        source: std::num::ParseIntError,
    },
    /// The system clock is before 1970 or beyond what a time stamp can hold.
    #[error("the system clock is out of range for an .auth time stamp")]
    Clock,
    /// The time stamp is not a valid `EFI_TIME`.
    #[error("making the .auth time stamp")]
    Timestamp {
        /// Why.
        #[source]
        source: Box<EfiVarsError>,
    },
    /// Generating a key or issuing its certificate failed.
    #[error("generating the {role} key and certificate")]
    Generate {
        /// PK, KEK or db.
        role: &'static str,
        /// What stela-keys said.
        #[source]
        source: Box<KeyError>,
    },
    /// Building a signature list or signing an update failed.
    #[error("making {file}")]
    Sign {
        /// The file being made (`db.auth`).
        file: String,
        /// What stela-efivars said.
        #[source]
        source: Box<EfiVarsError>,
    },
    /// Encoding a key or certificate as PEM failed.
    #[error("encoding {file}")]
    Encode {
        /// The file being made.
        file: String,
        /// What stela-keys said.
        #[source]
        source: Box<KeyError>,
    },
    /// A key or certificate file cannot be used (unreadable, not PEM or DER, not RSA).
    #[error("the {role} key or certificate")]
    Key {
        /// PK, KEK or db.
        role: &'static str,
        /// The file.
        path: PathBuf,
        /// What stela-keys said (it names the file).
        #[source]
        source: Box<KeyError>,
    },
    /// A private key does not belong to the certificate beside it.
    #[error("{} does not belong to the certificate {}", key.display(), cert.display())]
    Mismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// The DER certificate is not the PEM one.
    #[error("{} is not the certificate of {}", cer.display(), crt.display())]
    CerDiffers {
        /// The `.cer` file.
        cer: PathBuf,
        /// The `.crt` file.
        crt: PathBuf,
    },
    /// A certificate's validity period has ended.
    #[error("{} expired on {}", path.display(), utc(*not_after))]
    Expired {
        /// The certificate file.
        path: PathBuf,
        /// Its `notAfter`.
        not_after: SystemTime,
    },
    /// A certificate's validity period has not begun.
    #[error("{} is not valid before {}", path.display(), utc(*not_before))]
    NotYetValid {
        /// The certificate file.
        path: PathBuf,
        /// Its `notBefore`.
        not_before: SystemTime,
    },
    /// A `.esl` or `.auth` file is malformed.
    #[error("{}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What the parser said (structure, offset and field).
        #[source]
        source: Box<EfiVarsError>,
    },
    /// A `.esl` file does not hold exactly the one certificate of its key.
    #[error("{} does not hold exactly the certificate {}", path.display(), cert.display())]
    EslContent {
        /// The `.esl` file.
        path: PathBuf,
        /// The certificate it should hold.
        cert: PathBuf,
    },
    /// An `.auth` file does not write the signature lists of its `.esl` file.
    #[error("{} does not carry the signature lists of {}", path.display(), esl.display())]
    AuthContent {
        /// The `.auth` file.
        path: PathBuf,
        /// The `.esl` file.
        esl: PathBuf,
    },
    /// An `.auth` signature does not verify against the certificate that must have made it.
    #[error("{} is not signed by {}", path.display(), signer.display())]
    Signature {
        /// The `.auth` file.
        path: PathBuf,
        /// The signer's certificate.
        signer: PathBuf,
        /// What the verifier said.
        #[source]
        source: Box<EfiVarsError>,
    },
    /// A `loader/keys/<name>/` copy is not the `.auth` file of the directory.
    #[error("{} differs from {}", path.display(), original.display())]
    EnrolmentCopy {
        /// The copy.
        path: PathBuf,
        /// The `.auth` file it should equal.
        original: PathBuf,
    },
    /// There is no `loader/keys/<name>/` for systemd-boot to enrol from.
    #[error("{} holds no <name>/ directory of .auth files for systemd-boot", path.display())]
    NoEnrolmentDir {
        /// `DIR/loader/keys`.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A directory or its metadata could not be read.
    #[error("looking at {}", path.display())]
    Inspect {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file or directory could not be created, written or synced.
    #[error("writing {}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The finished set could not be moved into place.
    #[error("moving the new keys into {} (it must not exist or be empty)", to.display())]
    Rename {
        /// The hidden directory they were made in.
        from: PathBuf,
        /// The key directory.
        to: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// `YYYY-MM-DD HH:MM:SS UTC`, or the Unix time when outside what `EFI_TIME` holds.
fn utc(t: SystemTime) -> String {
    let secs = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    };
    match EfiTime::from_unix(secs) {
        Ok(t) => format!("{t} UTC"),
        Err(_) => format!("Unix time {secs}"),
    }
}

/// Read a file of the set; a missing one is [`KeyDirError::Missing`].
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, KeyDirError> {
    std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            KeyDirError::Missing {
                path: path.to_owned(),
            }
        } else {
            KeyDirError::Read {
                path: path.to_owned(),
                source,
            }
        }
    })
}
