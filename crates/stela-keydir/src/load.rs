//! What a build reads from a key directory.

use std::path::PathBuf;

use stela_efivars::AuthenticatedVariable;
use stela_keys::{Certificate, FileSigner, KeyError, PrivateKey};

use crate::error::read;
use crate::layout::{KeyDir, KeyFile, ROLES};
use crate::KeyDirError;

/// The db signer and the enrolment files of a key directory: what a build needs.
#[derive(Debug)]
pub struct BuildKeys {
    /// The directory.
    pub dir: PathBuf,
    /// Signs systemd-boot, the UKI and the verity root hash.
    pub db: FileSigner,
    /// `PK.auth`, `KEK.auth`, `db.auth`, in that order, for systemd-boot to enrol.
    pub enrolment: Vec<(&'static str, Vec<u8>)>,
}

impl BuildKeys {
    /// [`KeyDir::load_for_build`] of `dir`.
    pub fn load(dir: &std::path::Path) -> Result<Self, KeyDirError> {
        KeyDir::new(dir).load_for_build()
    }
}

impl KeyDir {
    /// Load `db.key` with `db.crt`, and `{PK,KEK,db}.auth` (each parsed, so a truncated
    /// file is named now rather than refused by the firmware at enrolment).
    ///
    /// The private keys of PK and KEK are not read: they should be offline.
    pub fn load_for_build(&self) -> Result<BuildKeys, KeyDirError> {
        self.check_exists()?;
        let db = self.load_signer(stela_efivars::SecureBootVariable::Db)?;
        let mut enrolment = Vec::new();
        for role in ROLES {
            let path = self.file(role, KeyFile::Auth);
            let bytes = read(&path)?;
            AuthenticatedVariable::parse(&bytes).map_err(|source| KeyDirError::Format {
                path,
                source: Box::new(source),
            })?;
            enrolment.push((role.name(), bytes));
        }
        Ok(BuildKeys {
            dir: self.path().to_owned(),
            db,
            enrolment,
        })
    }

    pub(crate) fn check_exists(&self) -> Result<(), KeyDirError> {
        let path = self.path().to_owned();
        match std::fs::metadata(&path) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(KeyDirError::NotADirectory { path }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(KeyDirError::NotFound { path })
            }
            Err(source) => Err(KeyDirError::Inspect { path, source }),
        }
    }

    /// `<role>.key` and `<role>.crt`, checked to belong together.
    pub(crate) fn load_signer(
        &self,
        role: stela_efivars::SecureBootVariable,
    ) -> Result<FileSigner, KeyDirError> {
        let key_path = self.file(role, KeyFile::Key);
        let cert_path = self.file(role, KeyFile::Crt);
        let key = PrivateKey::from_file(&key_path).map_err(key_error(role.name(), &key_path))?;
        let cert =
            Certificate::from_file(&cert_path).map_err(key_error(role.name(), &cert_path))?;
        FileSigner::new(key, cert).map_err(|e| match e {
            KeyError::KeyCertMismatch { .. } => KeyDirError::Mismatch {
                key: key_path,
                cert: cert_path.clone(),
            },
            source => KeyDirError::Key {
                role: role.name(),
                path: cert_path.clone(),
                source: Box::new(source),
            },
        })
    }
}

/// A key file error; a missing file is [`KeyDirError::Missing`].
fn key_error(role: &'static str, path: &std::path::Path) -> impl FnOnce(KeyError) -> KeyDirError {
    let path = path.to_owned();
    move |source| match source {
        KeyError::Read { source: io, .. } if io.kind() == std::io::ErrorKind::NotFound => {
            KeyDirError::Missing { path }
        }
        source => KeyDirError::Key {
            role,
            path,
            source: Box::new(source),
        },
    }
}
