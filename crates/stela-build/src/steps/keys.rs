//! The signing keys a build uses, from a directory made by `stela keys init`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use stela_keys::FileSigner;

/// The db signer and the enrolment files of a key directory.
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
    /// Load `DIR/db.key`, `DIR/db.crt` and `DIR/{PK,KEK,db}.auth`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        if !dir.is_dir() {
            bail!(
                "the key directory {} does not exist (make one with `stela keys init {}`)",
                dir.display(),
                dir.display()
            );
        }
        let db = FileSigner::load(&dir.join("db.key"), &dir.join("db.crt"))
            .with_context(|| format!("loading the db key from {}", dir.display()))?;
        let mut enrolment = Vec::new();
        for name in ["PK", "KEK", "db"] {
            let path = dir.join(format!("{name}.auth"));
            let bytes = std::fs::read(&path).with_context(|| {
                format!("reading {} (made by `stela keys init`)", path.display())
            })?;
            enrolment.push((name, bytes));
        }
        Ok(Self {
            dir: dir.to_owned(),
            db,
            enrolment,
        })
    }
}
