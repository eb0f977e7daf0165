//! Where the files of a repository are, and how they are put there: every file is
//! written under a temporary name in its final directory and renamed into place, and
//! `timestamp.json`, the file a client reads first, is replaced last, so a client sees
//! the old repository or the new one, never a mix.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::RepoError;

/// The served metadata directory's name.
pub const METADATA: &str = "metadata";
/// The served targets directory's name.
pub const TARGETS: &str = "targets";

/// The directories of one repository.
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

impl Layout {
    /// The repository at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Layout {
        Layout { dir: dir.into() }
    }

    /// The repository directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `DIR/metadata`.
    pub fn metadata(&self) -> PathBuf {
        self.dir.join(METADATA)
    }

    /// `DIR/targets`.
    pub fn targets(&self) -> PathBuf {
        self.dir.join(TARGETS)
    }

    /// A versioned root (`N.root.json`).
    pub fn root(&self, version: u64) -> PathBuf {
        self.metadata().join(format!("{version}.root.json"))
    }

    /// The file a target is stored in: `targets/<sha256>.<name>` (consistent snapshots).
    pub fn target_file(&self, name: &str, sha256: &str) -> PathBuf {
        self.targets().join(format!("{sha256}.{name}"))
    }

    /// Check that `dir` looks like a repository `stela repo init` made.
    pub fn check(&self) -> Result<(), RepoError> {
        for (p, what) in [
            (self.dir.join(crate::policy::FILE), "its settings file"),
            (self.root(1), "1.root.json"),
            (self.metadata().join("timestamp.json"), "timestamp.json"),
            (self.targets(), "its targets directory"),
        ] {
            if !p.exists() {
                return Err(RepoError::NotARepository {
                    path: self.dir.clone(),
                    reason: format!("{what} ({}) is missing", p.display()),
                });
            }
        }
        Ok(())
    }
}

/// Write `bytes` to `path` through a temporary file in the same directory, synced, then
/// renamed. `replace` says whether an existing file may be replaced; when it may not and
/// the file exists with the same content, nothing is done, and with other content it is
/// an error (a versioned metadata file is written once).
pub fn put(path: &Path, bytes: &[u8], replace: bool) -> Result<(), RepoError> {
    if !replace {
        if let Ok(old) = std::fs::read(path) {
            if old == bytes {
                return Ok(());
            }
            return Err(RepoError::Io {
                what: "writing",
                path: path.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "exists with other content (is another publish running?)",
                ),
            });
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".stela-")
        .tempfile_in(dir)
        .map_err(RepoError::io("creating a temporary file in", dir))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(RepoError::io("writing", tmp.path().to_owned()))?;
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o644);
    std::fs::set_permissions(tmp.path(), mode)
        .map_err(RepoError::io("setting the mode of", path))?;
    tmp.persist(path)
        .map_err(|e| RepoError::io("renaming into place", path)(e.error))?;
    sync_dir(dir)
}

/// Make a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), RepoError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(RepoError::io("syncing", dir))
}
