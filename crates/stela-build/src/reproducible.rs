//! Whether two builds of the same inputs made the same files, and where they differ.

use std::path::Path;

use anyhow::Context;

use crate::manifest::{self, Manifest};
use crate::steps::layer::diff::read_full;

/// One output that differs between two builds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    /// The file's name in the output directories.
    pub file: String,
    /// How: sizes, the first differing byte (and 4 KiB block, the usr image's unit).
    pub detail: String,
}

fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(manifest::FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not a manifest", path.display()))
}

/// The first offset at which `a` and `b` differ, if they do.
fn first_difference(a: &Path, b: &Path) -> anyhow::Result<Option<u64>> {
    let open =
        |p: &Path| std::fs::File::open(p).with_context(|| format!("opening {}", p.display()));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let na = read_full(&mut fa, &mut ba).with_context(|| format!("reading {}", a.display()))?;
        let nb = read_full(&mut fb, &mut bb).with_context(|| format!("reading {}", b.display()))?;
        if let Some(i) = ba[..na.min(nb)]
            .iter()
            .zip(&bb[..na.min(nb)])
            .position(|(x, y)| x != y)
        {
            return Ok(Some(offset + i as u64));
        }
        if na != nb {
            return Ok(Some(offset + na.min(nb) as u64));
        }
        if na == 0 {
            return Ok(None);
        }
        offset += na as u64;
    }
}

/// Compare two build output directories: every artifact the first manifest lists, the
/// manifests themselves and the provenance. Empty when they are identical.
pub fn compare_outputs(a: &Path, b: &Path) -> anyhow::Result<Vec<Difference>> {
    let (ma, mb) = (read_manifest(a)?, read_manifest(b)?);
    let mut out = Vec::new();
    for art in &ma.artifacts {
        let Some(other) = mb.artifacts.iter().find(|x| x.file == art.file) else {
            out.push(Difference {
                file: art.file.clone(),
                detail: format!("only in {}", a.display()),
            });
            continue;
        };
        if other.sha256 == art.sha256 {
            continue;
        }
        let at = first_difference(&a.join(&art.file), &b.join(&art.file))?;
        out.push(Difference {
            file: art.file.clone(),
            detail: format!(
                "{} and {} bytes; first difference at byte {} (4 KiB block {})",
                art.size,
                other.size,
                at.unwrap_or(0),
                at.unwrap_or(0) / 4096
            ),
        });
    }
    for art in mb
        .artifacts
        .iter()
        .filter(|x| !ma.artifacts.iter().any(|y| y.file == x.file))
    {
        out.push(Difference {
            file: art.file.clone(),
            detail: format!("only in {}", b.display()),
        });
    }
    for file in [manifest::FILE, stela_provenance::FILE] {
        let (pa, pb) = (a.join(file), b.join(file));
        if !pa.exists() && !pb.exists() {
            continue;
        }
        if let Some(at) = first_difference(&pa, &pb)? {
            out.push(Difference {
                file: file.to_owned(),
                detail: format!("first difference at byte {at}"),
            });
        }
    }
    Ok(out)
}

/// At most this many differing paths are named: the first few say what went wrong.
const MAX_NAMED: usize = 20;

/// The paths that differ between two usr images (type, mode, owner, extended attributes,
/// content or link target; at most 20, in path order), with both images mounted
/// read-only (erofs, loop devices: needs root and a kernel with erofs). The mounts are
/// undone before this returns.
pub fn differing_usr_files(a: &Path, b: &Path) -> anyhow::Result<Vec<String>> {
    let dir = tempfile::Builder::new()
        .prefix("stela-usr-compare-")
        .tempdir()
        .context("creating mount points")?;
    let (ma, mb) = (dir.path().join("a"), dir.path().join("b"));
    for m in [&ma, &mb] {
        std::fs::create_dir(m).with_context(|| format!("creating {}", m.display()))?;
    }
    let mount = |image: &Path, at: &Path| -> anyhow::Result<()> {
        let mut cmd = crate::run::command("mount");
        cmd.args(["-t", "erofs", "-o", "ro,loop"])
            .arg(image)
            .arg(at);
        crate::run::run(&mut cmd, "mounting a usr image").map(|_| ())
    };
    let umount = |at: &Path| {
        let _ = std::process::Command::new("umount").arg(at).status();
    };
    mount(a, &ma)?;
    if let Err(e) = mount(b, &mb) {
        umount(&ma);
        return Err(e);
    }
    let mut found = Vec::new();
    let walked = compare_trees(&ma, &mb, Path::new("/usr"), &mut found);
    umount(&ma);
    umount(&mb);
    walked?;
    Ok(found)
}

/// Compare the trees at `a` and `b` (the same directory, shown as `shown`), adding a line
/// per differing path to `found` until it holds [`MAX_NAMED`].
pub fn compare_trees(
    a: &Path,
    b: &Path,
    shown: &Path,
    found: &mut Vec<String>,
) -> anyhow::Result<()> {
    let names = |d: &Path| -> anyhow::Result<std::collections::BTreeSet<std::ffi::OsString>> {
        std::fs::read_dir(d)
            .with_context(|| format!("reading {}", d.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading {}", d.display()))
    };
    let (na, nb) = (names(a)?, names(b)?);
    for name in na.union(&nb) {
        if found.len() >= MAX_NAMED {
            return Ok(());
        }
        let (pa, pb, ps) = (a.join(name), b.join(name), shown.join(name));
        let (ma, mb) = (
            std::fs::symlink_metadata(&pa).ok(),
            std::fs::symlink_metadata(&pb).ok(),
        );
        let (ma, mb) = match (ma, mb) {
            (Some(ma), Some(mb)) => (ma, mb),
            (Some(_), None) => {
                found.push(format!("{}: only in the first build", ps.display()));
                continue;
            }
            _ => {
                found.push(format!("{}: only in the second build", ps.display()));
                continue;
            }
        };
        if ma.is_dir() && mb.is_dir() {
            use std::os::unix::fs::MetadataExt;
            if (ma.mode(), ma.uid(), ma.gid()) != (mb.mode(), mb.uid(), mb.gid()) {
                found.push(format!(
                    "{}: directory mode {:o} owner {}:{} against mode {:o} owner {}:{}",
                    ps.display(),
                    ma.mode() & 0o7777,
                    ma.uid(),
                    ma.gid(),
                    mb.mode() & 0o7777,
                    mb.uid(),
                    mb.gid()
                ));
            }
            compare_trees(&pa, &pb, &ps, found)?;
        } else if !crate::steps::layer::diff::same_entry(&pa, &ma, &pb, &mb)? {
            found.push(format!(
                "{}: {}",
                ps.display(),
                how_entries_differ(&ma, &mb)
            ));
        }
    }
    Ok(())
}

/// What differs between two entries that are not the same: the first of type, mode,
/// owner, size, or else content (bytes, link target, extended attributes).
fn how_entries_differ(a: &std::fs::Metadata, b: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    if a.file_type() != b.file_type() {
        "of another type".to_owned()
    } else if a.mode() != b.mode() {
        format!(
            "mode {:o} against {:o}",
            a.mode() & 0o7777,
            b.mode() & 0o7777
        )
    } else if (a.uid(), a.gid()) != (b.uid(), b.gid()) {
        format!(
            "owner {}:{} against {}:{}",
            a.uid(),
            a.gid(),
            b.uid(),
            b.gid()
        )
    } else if a.is_file() && a.size() != b.size() {
        format!("{} bytes against {}", a.size(), b.size())
    } else {
        "content, link target or extended attributes".to_owned()
    }
}

/// Fill `to` (created) with the .deb files of `from`: hard links where both are on one
/// file system, copies otherwise.
pub fn seed_package_cache(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let entries = match std::fs::read_dir(from) {
        Ok(e) => e,
        // A first build that downloaded nothing into this cache: the second downloads.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", from.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", from.display()))?;
        let name = entry.file_name();
        if !name.to_string_lossy().ends_with(".deb") {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        if std::fs::hard_link(&src, &dst).is_err() {
            std::fs::copy(&src, &dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(dir: &Path, content: &[u8]) {
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::write(dir.join("usr.erofs"), content).expect("write");
        let mut m = Manifest::for_tests("usr.erofs");
        let (size, sha256) = manifest::sha256_file(&dir.join("usr.erofs")).expect("hash");
        m.artifacts[0].size = size;
        m.artifacts[0].sha256 = sha256;
        std::fs::write(
            dir.join(manifest::FILE),
            serde_json::to_vec(&m).expect("json"),
        )
        .expect("write");
    }

    #[test]
    fn identical_outputs_compare_equal_and_a_changed_block_is_named() {
        let t = tempfile::tempdir().expect("tempdir");
        let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
        let mut data = vec![7u8; 3 * 4096];
        output(&a, &data);
        output(&b, &data);
        assert_eq!(compare_outputs(&a, &b).expect("compare"), []);
        data[2 * 4096 + 5] = 8;
        output(&c, &data);
        let d = compare_outputs(&a, &c).expect("compare");
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].file, "usr.erofs");
        assert!(d[0].detail.contains("byte 8197 (4 KiB block 2)"), "{d:?}");
        assert_eq!(d[1].file, "manifest.json");
    }

    #[test]
    fn a_tree_comparison_names_modes_contents_and_missing_entries() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().expect("tempdir");
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d.join("lib/repart.d")).expect("mkdir");
            std::fs::write(d.join("same"), "x").expect("write");
            std::fs::write(d.join("lib/repart.d/50.conf"), "x").expect("write");
        }
        let mut none = Vec::new();
        compare_trees(&a, &b, Path::new("/usr"), &mut none).expect("compare");
        assert_eq!(none, Vec::<String>::new());
        std::fs::set_permissions(
            b.join("lib/repart.d"),
            std::fs::Permissions::from_mode(0o700),
        )
        .expect("chmod");
        std::fs::write(b.join("lib/repart.d/50.conf"), "y").expect("write");
        std::fs::write(a.join("only-a"), "").expect("write");
        let mut found = Vec::new();
        compare_trees(&a, &b, Path::new("/usr"), &mut found).expect("compare");
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].starts_with("/usr/lib/repart.d: directory mode"),
            "{found:?}"
        );
        assert!(found[0].contains("against mode 700"), "{found:?}");
        assert_eq!(
            found[1],
            "/usr/lib/repart.d/50.conf: content, link target or extended attributes"
        );
        assert_eq!(found[2], "/usr/only-a: only in the first build");
    }
}
