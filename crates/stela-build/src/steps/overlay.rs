//! The build's working tree: an overlay file system whose lower layer is the cached
//! root file system (never changed: every write lands in the upper layer) instead of a
//! copy of it. Copying the ~270 MB tree took 5-7 s on a 2-core machine, most of it the
//! kernel allocating page cache; mounting takes milliseconds.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rustix::mount::{mount, mount_bind, unmount, MountFlags, UnmountFlags};

/// A mounted overlay; unmounted when dropped.
#[derive(Debug)]
pub struct Overlay {
    merged: PathBuf,
}

/// Escape a path for overlayfs' option string, where `,` separates options, `:`
/// separates lower layers and `\` escapes.
fn escape(p: &Path) -> String {
    let mut out = String::new();
    for c in p.to_string_lossy().chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Overlay {
    /// Mount `lower` (read-only underneath) with writes going to directories made in
    /// `scratch`, at `merged` (created).
    pub fn mount(lower: &Path, scratch: &Path, merged: &Path) -> anyhow::Result<Overlay> {
        let upper = scratch.join("upper");
        let work = scratch.join("overlay-work");
        for dir in [&upper, &work, &merged.to_path_buf()] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let options = std::ffi::CString::new(format!(
            "lowerdir={},upperdir={},workdir={}",
            escape(lower),
            escape(&upper),
            escape(&work)
        ))
        .context("a path with a NUL byte")?;
        mount(
            "overlay",
            merged,
            "overlay",
            MountFlags::empty(),
            options.as_c_str(),
        )
        .with_context(|| {
            format!(
                "mounting an overlay of {} at {} (stela build needs root and overlayfs)",
                lower.display(),
                merged.display()
            )
        })?;
        Ok(Overlay {
            merged: merged.to_owned(),
        })
    }

    /// The merged tree.
    pub fn path(&self) -> &Path {
        &self.merged
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        // Detached: a chroot'ed tool that is still exiting must not make the unmount fail
        // and leave the cache's tree mounted under the work directory.
        if let Err(e) = unmount(&self.merged, UnmountFlags::DETACH) {
            tracing::warn!("unmounting the overlay at {}: {e}", self.merged.display());
        }
    }
}

/// A host directory bind-mounted into the tree, so that a tool run in the chroot writes
/// its output straight into the build's staging directory (a write into the overlay
/// would have to be copied out: a rename across file systems).
#[derive(Debug)]
pub struct Bind {
    target: PathBuf,
}

impl Bind {
    /// Bind `source` at `target` (created).
    pub fn mount(source: &Path, target: &Path) -> anyhow::Result<Bind> {
        std::fs::create_dir_all(target)
            .with_context(|| format!("creating {}", target.display()))?;
        mount_bind(source, target).with_context(|| {
            format!("bind-mounting {} at {}", source.display(), target.display())
        })?;
        Ok(Bind {
            target: target.to_owned(),
        })
    }
}

impl Drop for Bind {
    fn drop(&mut self) {
        if let Err(e) = unmount(&self.target, UnmountFlags::DETACH) {
            tracing::warn!("unmounting {}: {e}", self.target.display());
        } else if let Err(e) = std::fs::remove_dir(&self.target) {
            tracing::warn!("removing {}: {e}", self.target.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_separators_are_escaped() {
        assert_eq!(escape(Path::new("/a,b:c\\d")), "/a\\,b\\:c\\\\d");
        assert_eq!(escape(Path::new("/var/cache/x")), "/var/cache/x");
    }

    #[test]
    fn writes_land_in_the_upper_layer_and_the_lower_is_untouched() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let lower = tmp.path().join("lower");
        std::fs::create_dir_all(lower.join("etc")).expect("mkdir");
        std::fs::write(lower.join("etc/keep"), "lower").expect("w");
        std::fs::write(lower.join("etc/gone"), "lower").expect("w");
        let merged = tmp.path().join("merged");
        // Only root may mount, as the build itself runs; so do the tests.
        let overlay = Overlay::mount(&lower, &tmp.path().join("scratch"), &merged)
            .unwrap_or_else(|e| panic!("{e:#}"));
        std::fs::write(overlay.path().join("etc/keep"), "changed").expect("w");
        std::fs::remove_file(overlay.path().join("etc/gone")).expect("rm");
        assert_eq!(
            std::fs::read_to_string(overlay.path().join("etc/keep")).expect("r"),
            "changed"
        );
        assert!(!overlay.path().join("etc/gone").exists());
        drop(overlay);
        assert_eq!(
            std::fs::read_to_string(lower.join("etc/keep")).expect("r"),
            "lower"
        );
        assert!(lower.join("etc/gone").exists());
        assert!(!merged.join("etc").exists(), "unmounted on drop");
    }
}
