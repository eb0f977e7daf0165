//! One lock over the rootfs cache, so that builds running at the same time (two CI jobs,
//! a developer's build beside a test run) neither make the same tree in the same
//! `.partial-<key>` directory nor replace a tree another build is copying or layering on.
//!
//! Readers (a build whose tree is cached and current) hold the lock shared for as long as
//! they use the tree; a build that has to make or replace a tree holds it exclusively
//! while it does, then shares it like a reader. `flock(2)` locks go with the open file,
//! so a build that dies releases its lock with it.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rustix::fs::{flock, FlockOperation};

/// The lock file in the rootfs cache.
const LOCK_FILE: &str = ".lock";

/// A held lock on the rootfs cache; released when dropped.
#[derive(Debug)]
pub struct CacheLock {
    file: File,
    path: PathBuf,
}

impl CacheLock {
    /// Take the lock on the cache `root` shared (`exclusive` false) or exclusively,
    /// waiting for other builds as long as it takes and saying so once.
    pub fn take(root: &Path, exclusive: bool) -> anyhow::Result<CacheLock> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let path = root.join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening the cache lock {}", path.display()))?;
        let lock = CacheLock { file, path };
        lock.set(exclusive)?;
        Ok(lock)
    }

    /// Change the lock to shared or exclusive. flock(2) does not change a lock
    /// atomically: another build may take it in between, so what was checked under the
    /// old lock is checked again under the new one.
    pub fn set(&self, exclusive: bool) -> anyhow::Result<()> {
        let (now, wait) = if exclusive {
            (
                FlockOperation::NonBlockingLockExclusive,
                FlockOperation::LockExclusive,
            )
        } else {
            (
                FlockOperation::NonBlockingLockShared,
                FlockOperation::LockShared,
            )
        };
        match flock(&self.file, now) {
            Ok(()) => return Ok(()),
            Err(rustix::io::Errno::WOULDBLOCK) => {}
            Err(e) => {
                return Err(std::io::Error::from(e))
                    .with_context(|| format!("locking {}", self.path.display()))
            }
        }
        tracing::info!(
            "another build is {} the package cache; waiting for it ({})",
            if exclusive {
                "using or making a tree in"
            } else {
                "making a tree in"
            },
            self.path.display()
        );
        flock(&self.file, wait)
            .map_err(std::io::Error::from)
            .with_context(|| format!("locking {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// flock(2) locks of two open files of the same path conflict even within one
    /// process, which is what lets this test stand for two builds.
    fn try_lock(root: &Path, exclusive: bool) -> bool {
        let file = File::options()
            .write(true)
            .open(root.join(LOCK_FILE))
            .expect("lock file");
        let op = if exclusive {
            FlockOperation::NonBlockingLockExclusive
        } else {
            FlockOperation::NonBlockingLockShared
        };
        flock(&file, op).is_ok()
    }

    #[test]
    fn readers_share_and_a_maker_excludes_everyone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reader = CacheLock::take(dir.path(), false).expect("shared");
        assert!(try_lock(dir.path(), false), "a second reader");
        assert!(!try_lock(dir.path(), true), "a maker while a reader reads");
        drop(reader);
        let maker = CacheLock::take(dir.path(), true).expect("exclusive");
        assert!(
            !try_lock(dir.path(), false),
            "a reader while a tree is made"
        );
        maker.set(false).expect("downgrade");
        assert!(
            try_lock(dir.path(), false),
            "a reader after the tree is made"
        );
        drop(maker);
        assert!(try_lock(dir.path(), true), "a maker once everyone is done");
    }
}
