//! The mounts of a layered install: the overlay whose lower layer is the cached tree,
//! and /proc, /sys, /dev/pts, /dev/shm and the package directory inside it. A guard
//! unmounts them in reverse order when dropped, so that an error or a panic never leaves
//! them behind; a directory is removed only once nothing is mounted below it.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::run;

/// A mount that could not be undone: the build stops, since removing the directory under
/// it would reach into what is mounted there (the package cache, /proc).
#[derive(Debug, thiserror::Error)]
#[error("unmounting {path}: {detail}")]
pub struct UnmountError {
    /// The mount point.
    pub path: PathBuf,
    /// What umount said.
    pub detail: String,
}

/// Mount points made by one layered install, unmounted last first.
#[derive(Debug, Default)]
pub struct Mounts {
    points: Vec<PathBuf>,
}

impl Mounts {
    /// Run `mount ARGS... TARGET` and remember `target`.
    pub fn mount(&mut self, args: &[&str], source: &str, target: &Path) -> anyhow::Result<()> {
        let mut cmd = run::command("mount");
        cmd.args(args).arg(source).arg(target);
        run::run(
            &mut cmd,
            &format!("mounting {source} on {}", target.display()),
        )?;
        self.points.push(target.to_owned());
        Ok(())
    }

    /// Unmount everything mounted at or below `path` (the mounts made later first).
    pub fn unmount_below(&mut self, path: &Path) -> Result<(), UnmountError> {
        while let Some(i) = self.points.iter().rposition(|p| p.starts_with(path)) {
            let point = self.points.remove(i);
            umount(&point)?;
        }
        Ok(())
    }

    /// Unmount everything, last mounted first.
    pub fn unmount_all(&mut self) -> Result<(), UnmountError> {
        while let Some(point) = self.points.pop() {
            umount(&point)?;
        }
        Ok(())
    }
}

impl Drop for Mounts {
    fn drop(&mut self) {
        // On the error path: every mount is tried even when one fails.
        while let Some(point) = self.points.pop() {
            if let Err(e) = umount(&point) {
                tracing::error!("{e}");
            }
        }
    }
}

fn umount(point: &Path) -> Result<(), UnmountError> {
    let mut cmd = run::command("umount");
    cmd.arg(point);
    match run::run(&mut cmd, &format!("unmounting {}", point.display())) {
        Ok(_) => Ok(()),
        Err(first) => {
            // A process that a maintainer script left behind may still hold the mount;
            // detach it, so that it goes away when that process ends.
            let mut lazy = run::command("umount");
            lazy.arg("--lazy").arg(point);
            run::run(&mut lazy, &format!("detaching {}", point.display()))
                .map(|_| tracing::warn!("{} was busy and is detached: {first:#}", point.display()))
                .map_err(|e| UnmountError {
                    path: point.to_owned(),
                    detail: format!("{e:#}"),
                })
        }
    }
}

/// The mount points at or below `dir`, from /proc/self/mountinfo, deepest first.
pub fn mounted_below(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let info = "/proc/self/mountinfo";
    let text = std::fs::read_to_string(info).with_context(|| format!("reading {info}"))?;
    let mut found: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    Ok(found)
}

/// mountinfo writes space, tab, newline and backslash as three octal digits.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = |c: &u8| (b'0'..=b'7').contains(c);
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(octal) {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Remove a work directory of an earlier layered install that did not finish: first
/// whatever is still mounted in it (a killed build leaves its mounts), then the files.
pub fn remove_work_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for point in mounted_below(dir)? {
        umount(&point)?;
    }
    if let Some(still) = mounted_below(dir)?.first() {
        anyhow::bail!(
            "{} is still mounted: not removing {}",
            still.display(),
            dir.display()
        );
    }
    std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape(r"/tmp/a\040b"), "/tmp/a b");
        assert_eq!(unescape(r"/tmp/a\134b"), r"/tmp/a\b");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/end\04"), r"/end\04");
    }
}
