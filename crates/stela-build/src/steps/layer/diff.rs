//! What a layered install changed, read from the overlay's upper directory, and how the
//! change is carried into a new tree that shares every unchanged file with the base.
//!
//! The upper directory holds every entry that was made or written, and every directory
//! along the way (overlayfs copies a directory up when anything inside it changes). An
//! entry that was copied up but is equal to the base's (a file moved away and back,
//! as start-stop-daemon is while packages are installed) is no change. Deletions show as
//! names of a copied-up directory that the merged view no longer has.

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// One difference between the base tree and the merged view, by path relative to the
/// tree's root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    /// A file, link or special file that is new or differs from the base's.
    Entry(PathBuf),
    /// A directory that is new, or replaces a non-directory of the base, with all that
    /// is in it.
    NewTree(PathBuf),
    /// A directory of the base whose mode, owner or extended attributes changed.
    DirMeta(PathBuf),
    /// A path of the base that is gone.
    Deleted(PathBuf),
}

impl Change {
    /// The path the change is about.
    pub fn path(&self) -> &Path {
        match self {
            Change::Entry(p) | Change::NewTree(p) | Change::DirMeta(p) | Change::Deleted(p) => p,
        }
    }
}

/// Every change of `merged` against `base`, found through `upper`, sorted by path.
pub fn changes(base: &Path, upper: &Path, merged: &Path) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    walk(base, upper, merged, Path::new(""), &mut out)?;
    out.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(out)
}

fn walk(
    base: &Path,
    upper: &Path,
    merged: &Path,
    rel: &Path,
    out: &mut Vec<Change>,
) -> anyhow::Result<()> {
    for name in names(&upper.join(rel))? {
        let p = rel.join(&name);
        let Some(m) = meta(&merged.join(&p))? else {
            // A whiteout: seen below as a name the merged directory lacks.
            continue;
        };
        let b = meta(&base.join(&p))?;
        if m.is_dir() {
            match b {
                Some(b) if b.is_dir() => {
                    if !same_meta(&b, &m) || xattrs(&base.join(&p))? != xattrs(&merged.join(&p))? {
                        out.push(Change::DirMeta(p.clone()));
                    }
                    walk(base, upper, merged, &p, out)?;
                }
                _ => out.push(Change::NewTree(p)),
            }
        } else {
            let same = match &b {
                Some(b) => same_entry(&base.join(&p), b, &merged.join(&p), &m)?,
                None => false,
            };
            if !same {
                out.push(Change::Entry(p));
            }
        }
    }
    let now: BTreeSet<_> = names(&merged.join(rel))?.into_iter().collect();
    for name in names(&base.join(rel))? {
        if !now.contains(&name) {
            out.push(Change::Deleted(rel.join(name)));
        }
    }
    Ok(())
}

/// Every path in the new directory trees of `changes`, below the tree's root `merged`,
/// the trees' roots included: what was added, file by file.
pub fn expand(merged: &Path, changes: &[Change]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for change in changes {
        match change {
            Change::Entry(p) => out.push(p.clone()),
            Change::NewTree(p) => {
                let mut stack = vec![p.clone()];
                while let Some(dir) = stack.pop() {
                    out.push(dir.clone());
                    for name in names(&merged.join(&dir))? {
                        let child = dir.join(name);
                        match meta(&merged.join(&child))? {
                            Some(m) if m.is_dir() => stack.push(child),
                            Some(_) => out.push(child),
                            None => {}
                        }
                    }
                }
            }
            Change::DirMeta(_) | Change::Deleted(_) => {}
        }
    }
    out.sort();
    Ok(out)
}

fn names(dir: &Path) -> anyhow::Result<Vec<std::ffi::OsString>> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    v.sort();
    Ok(v)
}

fn meta(p: &Path) -> anyhow::Result<Option<std::fs::Metadata>> {
    match std::fs::symlink_metadata(p) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", p.display())),
    }
}

fn same_meta(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.mode() == b.mode() && a.uid() == b.uid() && a.gid() == b.gid()
}

/// The extended attributes of `p` (not following a symlink), sorted. The merged view
/// of an overlay shows none of overlayfs's own.
pub fn xattrs(p: &Path) -> anyhow::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let what = || format!("reading the extended attributes of {}", p.display());
    let size = rustix::fs::llistxattr_query(p).with_context(what)?;
    if size == 0 {
        return Ok(Vec::new());
    }
    let mut list = vec![0u8; size];
    let n = rustix::fs::llistxattr(p, &mut list[..]).with_context(what)?;
    list.truncate(n);
    let mut out = Vec::new();
    for name in list.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::ffi::CString::new(name).with_context(what)?;
        let len = rustix::fs::lgetxattr_query(p, name.as_c_str()).with_context(what)?;
        let mut value = vec![0u8; len];
        let n = if len == 0 {
            0
        } else {
            rustix::fs::lgetxattr(p, name.as_c_str(), &mut value[..]).with_context(what)?
        };
        value.truncate(n);
        out.push((name.into_bytes(), value));
    }
    out.sort();
    Ok(out)
}

/// Whether two non-directories are the same: type, mode, owner, extended attributes and
/// content (bytes, link target or device number).
pub(crate) fn same_entry(
    a: &Path,
    am: &std::fs::Metadata,
    b: &Path,
    bm: &std::fs::Metadata,
) -> anyhow::Result<bool> {
    if !same_meta(am, bm) || xattrs(a)? != xattrs(b)? {
        return Ok(false);
    }
    let t = am.file_type();
    if t.is_symlink() {
        let ra = std::fs::read_link(a).with_context(|| format!("reading {}", a.display()))?;
        let rb = std::fs::read_link(b).with_context(|| format!("reading {}", b.display()))?;
        return Ok(ra == rb);
    }
    if t.is_char_device() || t.is_block_device() {
        return Ok(am.rdev() == bm.rdev());
    }
    if t.is_file() {
        return Ok(am.size() == bm.size() && same_bytes(a, b)?);
    }
    Ok(true)
}

fn same_bytes(a: &Path, b: &Path) -> anyhow::Result<bool> {
    let open =
        |p: &Path| std::fs::File::open(p).with_context(|| format!("opening {}", p.display()));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let n = read_full(&mut fa, &mut ba).with_context(|| format!("reading {}", a.display()))?;
        let m = read_full(&mut fb, &mut bb).with_context(|| format!("reading {}", b.display()))?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

/// Read until `buf` is full or the file ends; the number of bytes read.
pub(crate) fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Make `tree` (hard links of the base's files, see [`link_tree`]) equal to `merged`:
/// remove what is gone, give directories their new mode and owner, and copy every new
/// or changed entry from `merged` with tar (a new inode each, so that the base's files,
/// which `tree` shares, are never written; hard links among the copied files and
/// extended attributes are kept).
pub fn apply(merged: &Path, tree: &Path, changes: &[Change]) -> anyhow::Result<()> {
    let mut copy: Vec<PathBuf> = Vec::new();
    for change in changes {
        let p = change.path();
        let target = tree.join(p);
        match change {
            Change::Deleted(_) | Change::Entry(_) | Change::NewTree(_) => remove(&target)?,
            Change::DirMeta(_) => copy.push(p.to_owned()),
        }
    }
    // Directories whose metadata changed are copied as single entries: tar sets their
    // mode, owner and attributes on the directory that is there.
    copy.extend(expand(merged, changes)?);
    if copy.is_empty() {
        return Ok(());
    }
    copy.sort();
    copy.dedup();
    let mut list = Vec::new();
    for p in &copy {
        list.extend_from_slice(p.as_os_str().as_encoded_bytes());
        list.push(0);
    }
    let script = "set -o pipefail; tar --create --file=- --format=posix --no-recursion --null \
        --files-from=\"$1\" --numeric-owner --xattrs --xattrs-include='*' --acls \
        | tar --extract --file=- --directory=\"$2\" --numeric-owner --same-permissions \
        --same-owner --xattrs --xattrs-include='*' --acls";
    let list_file = tree.with_extension("copy-list");
    std::fs::write(&list_file, &list)
        .with_context(|| format!("writing {}", list_file.display()))?;
    let mut cmd = crate::run::command("bash");
    cmd.current_dir(merged)
        .arg("-c")
        .arg(script)
        .arg("copy")
        .arg(&list_file)
        .arg(tree);
    let result = crate::run::run(
        &mut cmd,
        &format!(
            "copying {} changed entries from {} to {}",
            copy.len(),
            merged.display(),
            tree.display()
        ),
    );
    let _ = std::fs::remove_file(&list_file);
    result.map(|_| ())
}

fn remove(p: &Path) -> anyhow::Result<()> {
    match meta(p)? {
        None => Ok(()),
        Some(m) if m.is_dir() => {
            std::fs::remove_dir_all(p).with_context(|| format!("removing {}", p.display()))
        }
        Some(_) => std::fs::remove_file(p).with_context(|| format!("removing {}", p.display())),
    }
}

/// A copy of `base` at `tree` whose directories are new and whose other entries are
/// hard links to the base's: cheap, and safe as long as nothing writes into a file of
/// either tree in place (the pipeline copies a cached tree before changing it, and
/// [`apply`] replaces files instead of writing them).
pub fn link_tree(base: &Path, tree: &Path) -> anyhow::Result<()> {
    let mut cmd = crate::run::command("cp");
    cmd.args(["-a", "--link", "--no-target-directory"])
        .arg(base)
        .arg(tree);
    crate::run::run(
        &mut cmd,
        &format!(
            "linking the files of {} into {}",
            base.display(),
            tree.display()
        ),
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, text).expect("write");
    }

    /// A base, an "upper" as overlayfs would leave it and the merged view, made by hand
    /// (no mount needed): a changed file, a copied-up but equal file, a new file in a
    /// new directory, a deleted file and a directory whose mode changed.
    #[test]
    fn changes_are_found_through_the_upper_directory_and_applied() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let (base, upper, merged) = (
            tmp.path().join("base"),
            tmp.path().join("upper"),
            tmp.path().join("merged"),
        );
        for root in [&base, &merged] {
            write(&root.join("etc/a"), "a");
            write(&root.join("etc/same"), "same");
            write(&root.join("usr/bin/tool"), "tool");
            write(&root.join("usr/share/keep"), "keep");
        }
        write(&base.join("etc/gone"), "gone");
        write(&merged.join("etc/a"), "changed");
        write(&merged.join("usr/lib/new/x"), "x");
        std::os::unix::fs::symlink("x", merged.join("usr/lib/new/y")).expect("ln");
        std::fs::set_permissions(
            merged.join("usr/share"),
            std::fs::Permissions::from_mode(0o700),
        )
        .expect("chmod");
        // The upper directory: what overlayfs copied up or made.
        write(&upper.join("etc/a"), "changed");
        write(&upper.join("etc/same"), "same");
        write(&upper.join("usr/lib/new/x"), "x");
        std::fs::create_dir_all(upper.join("usr/share")).expect("mkdir");

        let found = changes(&base, &upper, &merged).expect("changes");
        assert_eq!(
            found,
            vec![
                Change::Entry("etc/a".into()),
                Change::Deleted("etc/gone".into()),
                Change::NewTree("usr/lib".into()),
                Change::DirMeta("usr/share".into()),
            ]
        );
        let added = expand(&merged, &found).expect("expand");
        assert!(added.contains(&PathBuf::from("usr/lib/new/y")), "{added:?}");

        let tree = tmp.path().join("tree");
        link_tree(&base, &tree).expect("link");
        apply(&merged, &tree, &found).expect("apply");
        let read = |p: &str| std::fs::read_to_string(tree.join(p)).expect("read");
        assert_eq!(read("etc/a"), "changed");
        assert_eq!(read("usr/lib/new/x"), "x");
        assert!(!tree.join("etc/gone").exists());
        let mode = std::fs::metadata(tree.join("usr/share"))
            .expect("meta")
            .mode()
            & 0o7777;
        assert_eq!(mode, 0o700);
        // The base is untouched, and the tree still shares its unchanged files.
        assert_eq!(
            std::fs::read_to_string(base.join("etc/a")).expect("read"),
            "a"
        );
        assert!(base.join("etc/gone").exists());
        let ino = |p: &Path| std::fs::metadata(p).expect("meta").ino();
        assert_eq!(
            ino(&base.join("usr/bin/tool")),
            ino(&tree.join("usr/bin/tool"))
        );
        assert_ne!(ino(&base.join("etc/a")), ino(&tree.join("etc/a")));
    }
}
