//! Making a key set: keys and certificates first (random), then every file from them
//! (deterministic), then the directory, all at once.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use stela_efivars::{
    encode_lists, AuthenticatedVariable, EfiTime, Guid, SecureBootVariable, SignatureList,
    VariableAttributes,
};
use stela_keys::{issue_certificate, CertificateProfile, FileSigner, PrivateKey, Signer};

use crate::layout::{slugify, KeyDir, KeyFile, ENROLMENT_ROOT, ROLES};
use crate::KeyDirError;

/// What a new key set says about itself.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// The name in the certificates ("<NAME> PK", ...); its [`slugify`]d form names
    /// `loader/keys/<name>/`.
    pub common_name: String,
    /// How long the certificates are valid, in days from now.
    pub validity_days: u32,
    /// The time stamp of the `.auth` files ([`timestamp_from_env`] for the usual one).
    pub timestamp: EfiTime,
}

/// The `.auth` time stamp: `SOURCE_DATE_EPOCH` when set (reproducible builds), else now.
pub fn timestamp_from_env() -> Result<EfiTime, KeyDirError> {
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value
            .trim()
            .parse::<i64>()
            .map_err(|source| KeyDirError::SourceDateEpoch { value, source })?,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| KeyDirError::Clock)?
            .as_secs()
            .try_into()
            .map_err(|_| KeyDirError::Clock)?,
    };
    EfiTime::from_unix(secs).map_err(|source| KeyDirError::Timestamp {
        source: Box::new(source),
    })
}

/// The keys of a set with what their files are made from: one signature owner GUID for
/// the whole set and one time stamp.
#[derive(Debug)]
pub struct KeySet {
    signers: [FileSigner; 3],
    owner: Guid,
    timestamp: EfiTime,
    slug: String,
}

/// One key of a set that was written, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// PK, KEK or db.
    pub role: SecureBootVariable,
    /// The certificate subject, `CN=<NAME> db`.
    pub subject: String,
    /// SHA-256 of the DER certificate.
    pub sha256: [u8; 32],
    /// The files of this key in the directory, in [`KeyFile::ALL`] order.
    pub files: Vec<String>,
}

/// A key set that was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// The key directory.
    pub dir: PathBuf,
    /// The signature owner of every list.
    pub owner: Guid,
    /// The `.auth` time stamp.
    pub timestamp: EfiTime,
    /// The systemd-boot enrolment directory, relative to `dir` (`loader/keys/<name>`).
    pub enrolment_dir: PathBuf,
    /// PK, KEK, db.
    pub keys: Vec<GeneratedKey>,
}

/// One file of a rendered set, relative to the key directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Path relative to the key directory.
    pub path: PathBuf,
    /// Contents.
    pub bytes: Vec<u8>,
    /// File mode.
    pub mode: u32,
}

impl KeySet {
    /// New RSA-2048 keys: PK and KEK self-signed CAs, db self-signed, not a CA (firmware
    /// checks each update against the stored PK or KEK, so no chain is needed and each
    /// key can be replaced alone), and a random signature owner.
    pub fn generate(opts: &GenerateOptions) -> Result<Self, KeyDirError> {
        let name = opts.common_name.trim();
        let slug = slugify(name);
        if slug.is_empty() {
            return Err(KeyDirError::CommonName {
                name: opts.common_name.clone(),
            });
        }
        let make = |role: SecureBootVariable| {
            let wrap = |source| KeyDirError::Generate {
                role: role.name(),
                source: Box::new(source),
            };
            let key = PrivateKey::generate_rsa(2048).map_err(wrap)?;
            let profile = CertificateProfile {
                common_name: format!("{name} {}", role.name()),
                validity_days: opts.validity_days,
                ca: role != SecureBootVariable::Db,
            };
            let cert = issue_certificate(&key, &profile, None).map_err(wrap)?;
            FileSigner::new(key, cert).map_err(wrap)
        };
        let [pk, kek, db] = ROLES;
        Ok(Self::from_parts(
            [make(pk)?, make(kek)?, make(db)?],
            Guid::random(),
            opts.timestamp,
            slug,
        ))
    }

    /// A set from existing keys (PK, KEK, db), e.g. to write its files again.
    pub fn from_parts(
        signers: [FileSigner; 3],
        owner: Guid,
        timestamp: EfiTime,
        slug: String,
    ) -> Self {
        Self {
            signers,
            owner,
            timestamp,
            slug,
        }
    }

    /// The signer of `role`: PK, KEK or db (dbx has no key of its own).
    pub fn signer(&self, role: SecureBootVariable) -> Option<&FileSigner> {
        ROLES
            .iter()
            .position(|r| *r == role)
            .map(|i| &self.signers[i])
    }

    /// The key that signs updates of `role`: PK for PK and KEK, KEK for db and dbx.
    fn authority(&self, role: SecureBootVariable) -> &FileSigner {
        match role.signed_by() {
            SecureBootVariable::Pk => &self.signers[0],
            _ => &self.signers[1],
        }
    }

    /// `loader/keys/<name>`, relative to the key directory.
    pub fn enrolment_dir(&self) -> PathBuf {
        Path::new(ENROLMENT_ROOT).join(&self.slug)
    }

    /// Every file of the directory, in the order they are written: per key the
    /// [`KeyFile::ALL`] files, then its `loader/keys/<name>/` copy of the `.auth`.
    ///
    /// `PK.auth` and `KEK.auth` are signed by PK, `db.auth` by KEK, attributes 0x27
    /// (replace). Only the keys are random: the same set renders the same bytes.
    pub fn render(&self) -> Result<Vec<RenderedFile>, KeyDirError> {
        let mut out = Vec::new();
        for (role, signer) in ROLES.into_iter().zip(&self.signers) {
            let n = role.name();
            let cert = signer.certificate();
            let list = SignatureList::x509(self.owner, cert.to_der()).map_err(|source| {
                KeyDirError::Sign {
                    file: KeyFile::Esl.name(role),
                    source: Box::new(source),
                }
            })?;
            let esl = encode_lists(&[list]);
            let auth = AuthenticatedVariable::sign(
                self.authority(role),
                n,
                role.vendor(),
                VariableAttributes::secure_boot(),
                self.timestamp,
                &esl,
            )
            .map_err(|source| KeyDirError::Sign {
                file: KeyFile::Auth.name(role),
                source: Box::new(source),
            })?
            .to_bytes();
            let encode = |kind: KeyFile| {
                move |source| KeyDirError::Encode {
                    file: kind.name(role),
                    source: Box::new(source),
                }
            };
            for kind in KeyFile::ALL {
                let bytes = match kind {
                    KeyFile::Key => signer.key().to_pkcs8_pem().map_err(encode(kind))?,
                    KeyFile::Crt => cert.to_pem().map_err(encode(kind))?,
                    KeyFile::Cer => cert.to_der().to_vec(),
                    KeyFile::Esl => esl.clone(),
                    KeyFile::Auth => auth.clone(),
                };
                out.push(RenderedFile {
                    path: PathBuf::from(kind.name(role)),
                    bytes,
                    mode: kind.mode(),
                });
            }
            out.push(RenderedFile {
                path: self.enrolment_dir().join(KeyFile::Auth.name(role)),
                bytes: auth,
                mode: KeyFile::Auth.mode(),
            });
        }
        Ok(out)
    }

    fn summary(&self) -> Vec<GeneratedKey> {
        ROLES
            .into_iter()
            .zip(&self.signers)
            .map(|(role, signer)| {
                let cert = signer.certificate();
                GeneratedKey {
                    role,
                    subject: cert.subject(),
                    sha256: cert.sha256_fingerprint(),
                    files: KeyFile::ALL.iter().map(|k| k.name(role)).collect(),
                }
            })
            .collect()
    }
}

impl KeyDir {
    /// Make a new key set here (what `stela keys init` does). The directory must not
    /// exist or be empty; its parent must exist.
    pub fn generate(&self, opts: &GenerateOptions) -> Result<Generated, KeyDirError> {
        self.check_target()?;
        let set = KeySet::generate(opts)?;
        self.write(&set)
    }

    /// Write `set` here: built in a hidden directory beside this one (mode 0700), synced,
    /// then renamed into place, so a failure leaves nothing behind.
    pub fn write(&self, set: &KeySet) -> Result<Generated, KeyDirError> {
        self.check_target()?;
        let files = set.render()?;
        let parent = match self.path().parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |source| KeyDirError::Write { path, source }
        };
        // TempDir removes itself when dropped, which is what a failure should do.
        let tmp = tempfile::Builder::new()
            .prefix(".stela-keys-")
            .tempdir_in(&parent)
            .map_err(write_err(&parent))?;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(write_err(tmp.path()))?;
        let enrol = tmp.path().join(set.enrolment_dir());
        std::fs::create_dir_all(&enrol).map_err(write_err(&enrol))?;
        for f in &files {
            write_new(&tmp.path().join(&f.path), &f.bytes, f.mode)?;
        }
        // Every directory made, deepest first, so the renamed tree is durable.
        for d in [
            enrol.as_path(),
            &tmp.path().join(ENROLMENT_ROOT),
            &tmp.path().join("loader"),
            tmp.path(),
        ] {
            sync_dir(d)?;
        }
        std::fs::rename(tmp.path(), self.path()).map_err(|source| KeyDirError::Rename {
            from: tmp.path().to_owned(),
            to: self.path().to_owned(),
            source,
        })?;
        // Renamed away: nothing is left for TempDir to remove.
        let _moved = tmp.keep();
        sync_dir(&parent)?;
        Ok(Generated {
            dir: self.path().to_owned(),
            owner: set.owner,
            timestamp: set.timestamp,
            enrolment_dir: set.enrolment_dir(),
            keys: set.summary(),
        })
    }

    /// The target must not exist, or be an empty directory.
    fn check_target(&self) -> Result<(), KeyDirError> {
        let path = self.path().to_owned();
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(KeyDirError::Inspect { path, source }),
            Ok(m) if !m.is_dir() => Err(KeyDirError::NotADirectory { path }),
            Ok(_) => {
                let mut entries = match std::fs::read_dir(&path) {
                    Ok(entries) => entries,
                    Err(source) => return Err(KeyDirError::Inspect { path, source }),
                };
                match entries.next() {
                    Some(_) => Err(KeyDirError::NotEmpty { path }),
                    None => Ok(()),
                }
            }
        }
    }
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), KeyDirError> {
    let err = |source| KeyDirError::Write {
        path: path.to_owned(),
        source,
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

fn sync_dir(dir: &Path) -> Result<(), KeyDirError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| KeyDirError::Write {
            path: dir.to_owned(),
            source,
        })
}
