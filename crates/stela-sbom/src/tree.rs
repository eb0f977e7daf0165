//! The packages of a build tree (a root file system being made, not the running host):
//! dpkg's database and the copyright files under it.

use std::path::{Path, PathBuf};

use crate::cyclonedx::DebEntry;
use crate::dpkg::{read_status, InstalledPackage};
use crate::SbomError;

/// Where a package's .deb came from, as the archive's signed index says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFile {
    /// SHA-256 of the .deb.
    pub sha256: String,
    /// Its path in the archive (`pool/main/…`).
    pub path: String,
    /// The distribution (`trixie`).
    pub distro: String,
}

/// The installed packages of `tree` that `keep` keeps, each with its licences (from the
/// tree's copyright files) and what `archive` knows of its .deb.
pub fn packages_in_tree(
    tree: &Path,
    keep: impl Fn(&InstalledPackage) -> bool,
    archive: impl Fn(&InstalledPackage) -> Option<ArchiveFile>,
) -> Result<Vec<DebEntry>, SbomError> {
    let status = read_status(&tree.join("var/lib/dpkg/status"))?;
    let mut out = Vec::new();
    for package in status.into_iter().filter(|p| keep(p)) {
        let licenses = read_copyright(tree, &package.name)
            .as_deref()
            .and_then(crate::copyright::licenses);
        let file = archive(&package);
        out.push(DebEntry {
            deb_sha256: file.as_ref().map(|f| f.sha256.clone()),
            archive_path: file.as_ref().map(|f| f.path.clone()),
            distro: file.map(|f| f.distro),
            licenses,
            package,
        });
    }
    Ok(out)
}

/// `/usr/share/doc/NAME/copyright` of `tree`, following symbolic links inside the tree
/// (Debian links the doc directories of some binary packages to another's), never out of
/// it; `None` when there is none.
fn read_copyright(tree: &Path, name: &str) -> Option<String> {
    let mut rel = PathBuf::from("usr/share/doc").join(name).join("copyright");
    // A few hops at most: a loop of links ends here.
    for _ in 0..8 {
        let mut resolved = PathBuf::new();
        let mut changed = false;
        for part in rel.components() {
            let here = resolved.join(part);
            match std::fs::read_link(tree.join(&here)) {
                Ok(target) if !changed => {
                    resolved = if target.is_absolute() {
                        target.strip_prefix("/").ok()?.to_owned()
                    } else {
                        normalise(&resolved.join(target))?
                    };
                    changed = true;
                }
                _ => resolved = here,
            }
        }
        if !changed {
            return std::fs::read_to_string(tree.join(&resolved)).ok();
        }
        rel = resolved;
    }
    None
}

/// `a/b/../c` as `a/c`; `None` if it climbs out of the tree.
fn normalise(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copyright_files_through_links_inside_the_tree_only() {
        let t = tempfile::tempdir().expect("tempdir");
        let doc = t.path().join("usr/share/doc");
        std::fs::create_dir_all(doc.join("foo")).expect("mkdir");
        std::fs::write(doc.join("foo/copyright"), "foo's").expect("write");
        std::os::unix::fs::symlink("foo", doc.join("libfoo1")).expect("link");
        std::os::unix::fs::symlink("/usr/share/doc/foo", doc.join("libfoo2")).expect("link");
        std::os::unix::fs::symlink("../../../../../etc", doc.join("escape")).expect("link");
        assert_eq!(read_copyright(t.path(), "foo").as_deref(), Some("foo's"));
        assert_eq!(
            read_copyright(t.path(), "libfoo1").as_deref(),
            Some("foo's")
        );
        assert_eq!(
            read_copyright(t.path(), "libfoo2").as_deref(),
            Some("foo's")
        );
        assert_eq!(read_copyright(t.path(), "escape"), None);
        assert_eq!(read_copyright(t.path(), "missing"), None);
    }
}
