//! After a version is installed, its first boot rebuilds what systemd rebuilds when /usr
//! changes: the dynamic linker cache, system users, the journal's message catalog
//! (`ConditionNeedsUpdate=`, which compares the time stamps of `/etc/.updated` and
//! `/var/.updated` with /usr's).
//!
//! An image ships both markers with its /usr's time stamp, so a machine's first boot
//! skips that work (the build did it). A new version's /usr has a newer time stamp only
//! when the builds' `SOURCE_DATE_EPOCH` moves; images built with the same one (stela's
//! default is 0) look alike to systemd. So once a version is installed, the agent dates
//! both markers one second before 1970, older than any image's /usr: the next boot,
//! whichever version it runs, rebuilds the caches and systemd-update-done dates the
//! markers anew. Removing them would not do: tmpfiles recreates missing ones from the
//! factory copies, with the image's time stamp, before systemd compares. A rebuild when
//! nothing changed costs a few seconds and loses nothing.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The markers, relative to the machine's root.
pub(crate) const MARKERS: [&str; 2] = ["etc/.updated", "var/.updated"];

const TEXT: &str = "\
# stela: a new version was installed; the next boot rebuilds the caches of its /usr
# (this file is dated before 1970, older than any /usr; see systemd-update-done.service(8)).
";

/// Date the markers under `root` before any /usr. Failures are logged and not returned:
/// the version is installed either way, and a marker left as it was only means the
/// caches are rebuilt at the next change of /usr's time stamp.
pub(crate) fn request(root: &Path) {
    for marker in MARKERS {
        let path = root.join(marker);
        match outdate(&path) {
            Ok(()) => tracing::info!(
                "dated {} before 1970: the next boot rebuilds the caches of its /usr",
                path.display()
            ),
            Err(e) => tracing::warn!(
                "could not write {} ({e}): the next boot may keep caches of the old /usr",
                path.display()
            ),
        }
    }
}

/// Write the marker under a temporary name, date it, and rename it into place, so that a
/// power cut leaves the old marker or the new one, never a fresh file with today's date.
fn outdate(path: &Path) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("no directory"))?;
    if !dir.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} is not a directory", dir.display()),
        ));
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!("{name}.stela-{}", std::process::id()));
    let before_1970 = SystemTime::UNIX_EPOCH
        .checked_sub(Duration::from_secs(1))
        .ok_or_else(|| std::io::Error::other("no time before 1970"))?;
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(TEXT.as_bytes())?;
        f.set_modified(before_1970)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_dated_before_1970() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::create_dir_all(root.path().join("var")).unwrap();
        std::fs::write(root.path().join("etc/.updated"), "x").unwrap();
        request(root.path());
        for m in MARKERS {
            let meta = std::fs::metadata(root.path().join(m)).unwrap();
            let t = meta.modified().unwrap();
            assert!(t < SystemTime::UNIX_EPOCH, "{m}: {t:?}");
        }
        assert_eq!(
            std::fs::read_dir(root.path().join("etc")).unwrap().count(),
            1
        );
    }

    #[test]
    fn a_missing_directory_is_reported_not_created() {
        let root = tempfile::tempdir().unwrap();
        assert!(outdate(&root.path().join("var/.updated")).is_err());
        assert!(!root.path().join("var").exists());
    }
}
