//! The TUF role keys: one directory of PKCS#8 PEM files, mode 0600.
//!
//! ```text
//! KEYS/root-1.pem ... root-N.pem   the root role's keys (keep them offline)
//! KEYS/targets.pem                 signs releases
//! KEYS/snapshot.pem                signs the snapshot (the publisher's online key)
//! KEYS/timestamp.pem               signs the timestamp (the publisher's online key)
//! ```
//!
//! Ed25519: small signatures, deterministic, and a key type every TUF client knows
//! (python-tuf, tough, go-tuf). The files are PEM so that `openssl pkey` reads them; tough
//! wants DER, so [`RoleKey`] converts when it loads a key.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use tough::key_source::KeySource;
use tough::sign::{parse_keypair, Sign};

use crate::error::RepoError;

/// A top-level TUF role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Signs the keys of every role.
    Root,
    /// Signs the list of targets (the releases).
    Targets,
    /// Signs the versions of the targets metadata.
    Snapshot,
    /// Signs the newest snapshot, often, so that a device sees a frozen repository.
    Timestamp,
}

impl Role {
    /// The role's name in TUF metadata.
    pub fn name(self) -> &'static str {
        match self {
            Role::Root => "root",
            Role::Targets => "targets",
            Role::Snapshot => "snapshot",
            Role::Timestamp => "timestamp",
        }
    }

    /// tough's name for the role.
    pub(crate) fn tough(self) -> tough::schema::RoleType {
        use tough::schema::RoleType;
        match self {
            Role::Root => RoleType::Root,
            Role::Targets => RoleType::Targets,
            Role::Snapshot => RoleType::Snapshot,
            Role::Timestamp => RoleType::Timestamp,
        }
    }
}

/// One private key file, loaded.
pub struct RoleKey {
    path: PathBuf,
    der: Vec<u8>,
}

impl std::fmt::Debug for RoleKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key material.
        f.debug_struct("RoleKey").field("path", &self.path).finish()
    }
}

impl RoleKey {
    /// Read a PKCS#8 PEM private key and check that TUF can sign with it.
    pub fn load(path: &Path) -> Result<RoleKey, RepoError> {
        let pem = stela_limits::read(path, stela_limits::CERTIFICATE)
            .map_err(RepoError::io("reading the key", path))?;
        let bad = |reason: String| RepoError::Key {
            path: path.to_owned(),
            reason,
        };
        let key = openssl::pkey::PKey::private_key_from_pem(&pem)
            .map_err(|e| bad(format!("not a PEM private key: {e}")))?;
        let der = key
            .private_key_to_pkcs8()
            .map_err(|e| bad(format!("cannot be written as PKCS#8: {e}")))?;
        parse_keypair(&der).map_err(|e| {
            bad(format!(
                "not a key TUF signs with here (Ed25519, ECDSA P-256 or RSA): {e}"
            ))
        })?;
        Ok(RoleKey {
            path: path.to_owned(),
            der,
        })
    }

    /// The file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The signer.
    pub fn signer(&self) -> Result<Box<dyn Sign>, RepoError> {
        let pair = parse_keypair(&self.der).map_err(|e| RepoError::Key {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        Ok(Box::new(pair))
    }

    /// The public key as TUF metadata writes it.
    pub fn public(&self) -> Result<tough::schema::key::Key, RepoError> {
        Ok(self.signer()?.tuf_key())
    }

    /// The key ID TUF computes for it.
    pub fn key_id(&self) -> Result<String, RepoError> {
        let id = self.public()?.key_id().map_err(RepoError::tuf(format!(
            "computing the key ID of {}",
            self.path.display()
        )))?;
        Ok(hex::encode(&*id))
    }
}

#[tough::async_trait]
impl KeySource for RoleKey {
    async fn as_sign(
        &self,
    ) -> Result<Box<dyn Sign>, Box<dyn std::error::Error + Send + Sync + 'static>> {
        Ok(self.signer()?)
    }

    async fn write(
        &self,
        _value: &str,
        _key_id_hex: &str,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        Err(format!("{}: stela never writes a key back", self.path.display()).into())
    }
}

/// The directory of role keys.
#[derive(Debug, Clone)]
pub struct RoleKeyDir {
    dir: PathBuf,
}

impl RoleKeyDir {
    /// The key directory at `dir` (nothing is read yet).
    pub fn new(dir: impl Into<PathBuf>) -> RoleKeyDir {
        RoleKeyDir { dir: dir.into() }
    }

    /// Where it is.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a role's key (`n` counts root keys from 1; other roles have one).
    pub fn file(&self, role: Role, n: usize) -> PathBuf {
        match role {
            Role::Root => self.dir.join(format!("root-{n}.pem")),
            other => self.dir.join(format!("{}.pem", other.name())),
        }
    }

    /// Make the keys that are missing: `root_keys` root keys and one key of each other
    /// role. Existing files are kept as they are (never overwritten); the names of the
    /// new files are returned.
    pub fn ensure(&self, root_keys: usize) -> Result<Vec<PathBuf>, RepoError> {
        std::fs::create_dir_all(&self.dir).map_err(RepoError::io("creating", &self.dir))?;
        let mut files: Vec<PathBuf> = (1..=root_keys).map(|n| self.file(Role::Root, n)).collect();
        for role in [Role::Targets, Role::Snapshot, Role::Timestamp] {
            files.push(self.file(role, 1));
        }
        let mut made = Vec::new();
        for file in files {
            if file.exists() {
                RoleKey::load(&file)?;
                continue;
            }
            write_new_key(&file)?;
            made.push(file);
        }
        Ok(made)
    }

    /// The root keys that are present, in order (`root-1.pem`, `root-2.pem`, ...).
    pub fn root_keys(&self) -> Result<Vec<RoleKey>, RepoError> {
        let mut keys = Vec::new();
        for n in 1.. {
            let file = self.file(Role::Root, n);
            if !file.exists() {
                break;
            }
            keys.push(RoleKey::load(&file)?);
        }
        Ok(keys)
    }

    /// The key of a role other than root.
    pub fn key(&self, role: Role) -> Result<RoleKey, RepoError> {
        let file = self.file(role, 1);
        if !file.exists() {
            return Err(RepoError::Key {
                path: file,
                reason: format!("the {} key is missing", role.name()),
            });
        }
        RoleKey::load(&file)
    }
}

/// A new Ed25519 key in a file that did not exist, mode 0600 from its first byte.
fn write_new_key(path: &Path) -> Result<(), RepoError> {
    let key = openssl::pkey::PKey::generate_ed25519()
        .and_then(|k| k.private_key_to_pem_pkcs8())
        .map_err(|e| RepoError::Key {
            path: path.to_owned(),
            reason: format!("generating an Ed25519 key: {e}"),
        })?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(RepoError::io("creating the key", path))?;
    f.write_all(&key)
        .and_then(|()| f.sync_all())
        .map_err(RepoError::io("writing the key", path))
}
