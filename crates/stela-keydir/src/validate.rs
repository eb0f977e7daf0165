//! Checking a whole key directory.

use std::path::PathBuf;
use std::time::SystemTime;

use stela_efivars::{known, parse_lists, AuthenticatedVariable, SecureBootVariable};
use stela_keys::{Certificate, Signer};

use crate::error::read;
use crate::layout::{KeyDir, KeyFile, ROLES};
use crate::KeyDirError;

/// One key of a directory that passed [`KeyDir::validate`].
#[derive(Debug, Clone)]
pub struct ValidatedKey {
    /// PK, KEK or db.
    pub role: SecureBootVariable,
    /// Its certificate.
    pub certificate: Certificate,
    /// Whether the private key is in the directory (and matches). Only db's must be: PK's
    /// and KEK's belong offline.
    pub private_key: bool,
}

/// What [`KeyDir::validate`] found.
#[derive(Debug, Clone)]
pub struct Validated {
    /// PK, KEK, db.
    pub keys: Vec<ValidatedKey>,
    /// The `loader/keys/<name>/` directories, each with the three `.auth` files.
    pub enrolment_dirs: Vec<PathBuf>,
}

impl KeyDir {
    /// Check the whole set at time `now`, stopping at the first problem:
    ///
    /// - each private key present matches its certificate (`db.key` must be present;
    ///   `PK.key` and `KEK.key` may have been moved offline), `.cer` is `.crt` in DER,
    ///   and `now` is within the certificate's validity;
    /// - each `.esl` holds exactly its certificate, in one X.509 list;
    /// - each `.auth` parses, writes its `.esl` and is signed by the certificate of the
    ///   key that signs that variable (PK for PK and KEK, KEK for db);
    /// - there is at least one `loader/keys/<name>/`, and each holds the same `.auth`
    ///   files.
    pub fn validate(&self, now: SystemTime) -> Result<Validated, KeyDirError> {
        self.check_exists()?;
        let mut keys = Vec::new();
        for role in ROLES {
            keys.push(self.validate_key(role, now)?);
        }
        let cert_of =
            |role: SecureBootVariable| keys.iter().find(|k| k.role == role).map(|k| &k.certificate);
        let mut auths = Vec::new();
        for role in ROLES {
            let esl_path = self.file(role, KeyFile::Esl);
            let path = self.file(role, KeyFile::Auth);
            let bytes = read(&path)?;
            let auth =
                AuthenticatedVariable::parse(&bytes).map_err(|source| KeyDirError::Format {
                    path: path.clone(),
                    source: Box::new(source),
                })?;
            if auth.data() != read(&esl_path)? {
                return Err(KeyDirError::AuthContent {
                    path,
                    esl: esl_path,
                });
            }
            let signer_role = role.signed_by();
            let signer = self.file(signer_role, KeyFile::Crt);
            let Some(trusted) = cert_of(signer_role) else {
                return Err(KeyDirError::Missing { path: signer });
            };
            auth.verify_secure_boot(role, trusted)
                .map_err(|source| KeyDirError::Signature {
                    path: path.clone(),
                    signer,
                    source: Box::new(source),
                })?;
            auths.push((role, path, bytes));
        }
        let enrolment_dirs = self.enrolment_dirs()?;
        if enrolment_dirs.is_empty() {
            return Err(KeyDirError::NoEnrolmentDir {
                path: self.enrolment_root(),
            });
        }
        for dir in &enrolment_dirs {
            for (role, original, bytes) in &auths {
                let path = dir.join(KeyFile::Auth.name(*role));
                if read(&path)? != *bytes {
                    return Err(KeyDirError::EnrolmentCopy {
                        path,
                        original: original.clone(),
                    });
                }
            }
        }
        Ok(Validated {
            keys,
            enrolment_dirs,
        })
    }

    fn validate_key(
        &self,
        role: SecureBootVariable,
        now: SystemTime,
    ) -> Result<ValidatedKey, KeyDirError> {
        let crt = self.file(role, KeyFile::Crt);
        let key_present = self.file(role, KeyFile::Key).exists();
        let (certificate, private_key) = if key_present || role == SecureBootVariable::Db {
            (self.load_signer(role)?.certificate().clone(), true)
        } else {
            let cert = Certificate::from_file(&crt).map_err(|source| KeyDirError::Key {
                role: role.name(),
                path: crt.clone(),
                source: Box::new(source),
            })?;
            (cert, false)
        };
        let cer = self.file(role, KeyFile::Cer);
        if read(&cer)? != certificate.to_der() {
            return Err(KeyDirError::CerDiffers { cer, crt });
        }
        if now < certificate.not_before() {
            return Err(KeyDirError::NotYetValid {
                path: crt,
                not_before: certificate.not_before(),
            });
        }
        if now > certificate.not_after() {
            return Err(KeyDirError::Expired {
                path: crt,
                not_after: certificate.not_after(),
            });
        }
        let esl = self.file(role, KeyFile::Esl);
        let lists = parse_lists(&read(&esl)?).map_err(|source| KeyDirError::Format {
            path: esl.clone(),
            source: Box::new(source),
        })?;
        let holds_it = match lists.as_slice() {
            [list] => {
                list.signature_type() == known::EFI_CERT_X509
                    && list.entries().len() == 1
                    && list.entries()[0].data == certificate.to_der()
            }
            _ => false,
        };
        if !holds_it {
            return Err(KeyDirError::EslContent {
                path: esl,
                cert: crt,
            });
        }
        Ok(ValidatedKey {
            role,
            certificate,
            private_key,
        })
    }
}
