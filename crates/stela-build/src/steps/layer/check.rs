//! Whether a layered install gave what a full build gives: every change it made to a
//! path the image uses must be explained by something whose result does not depend on
//! the order packages are installed in.
//!
//! Explained are: the added packages' own files as their .deb has them (checked with
//! dpkg's MD5 sums, conffiles included), their directories and links; `ld.so.cache`
//! (ldconfig writes it anew from the libraries on disk); and the links of an
//! alternatives group in automatic mode whose best priority is held by one alternative.
//! Nothing else: a user added to /etc/passwd, for one, gets the next free ID, which
//! depends on what was installed before it. /var, /tmp and /run do not go into the image
//! and are not looked at (/var is made at first boot).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Component, Path, PathBuf};

use anyhow::Context;

use super::diff::Change;
use crate::run;

/// Top-level directories that no step reads from the tree and the image does not carry.
const NOT_SHIPPED: &[&str] = &["var", "tmp", "run", "proc", "sys", "dev"];

/// Whether a path (relative to the tree's root) can reach the image or a later step.
pub fn shipped(rel: &Path) -> bool {
    match rel.components().next() {
        Some(Component::Normal(first)) => !NOT_SHIPPED.iter().any(|n| first == *n),
        _ => true,
    }
}

/// A path as dpkg lists it (`/bin/ls`, `usr/bin/ls`), relative to the tree's root and
/// through the merged-/usr links of the tree (`bin` -> `usr/bin`).
pub fn canonical(tree: &Path, listed: &str) -> PathBuf {
    let rel = Path::new(listed.trim_start_matches('/'));
    let mut parts = rel.components();
    let Some(Component::Normal(first)) = parts.next() else {
        return rel.to_owned();
    };
    let link = tree.join(first);
    match std::fs::read_link(&link) {
        Ok(target)
            if target.is_relative()
                && target
                    .components()
                    .all(|c| matches!(c, Component::Normal(_))) =>
        {
            target.join(parts.as_path())
        }
        _ => rel.to_owned(),
    }
}

/// The files of the added packages, read from the tree's dpkg database.
#[derive(Debug, Default)]
pub struct Owned {
    /// Every path the packages own (files, links, directories).
    pub paths: HashSet<PathBuf>,
    /// The MD5 sum dpkg recorded for each regular file (and conffile).
    pub md5: BTreeMap<PathBuf, String>,
}

fn info_file(tree: &Path, package: &str, arch: &str, what: &str) -> Option<PathBuf> {
    let dir = tree.join("var/lib/dpkg/info");
    [
        dir.join(format!("{package}.{what}")),
        dir.join(format!("{package}:{arch}.{what}")),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

impl Owned {
    /// Read the `.list` and `.md5sums` files of `packages` and their conffiles.
    pub fn read(tree: &Path, arch: &str, packages: &[String]) -> anyhow::Result<Owned> {
        let mut owned = Owned::default();
        for p in packages {
            if let Some(list) = info_file(tree, p, arch, "list") {
                let text = std::fs::read_to_string(&list)
                    .with_context(|| format!("reading {}", list.display()))?;
                owned.paths.extend(
                    text.lines()
                        .filter(|l| !l.is_empty())
                        .map(|l| canonical(tree, l)),
                );
            }
            if let Some(sums) = info_file(tree, p, arch, "md5sums") {
                let text = std::fs::read_to_string(&sums)
                    .with_context(|| format!("reading {}", sums.display()))?;
                for line in text.lines() {
                    if let Some((md5, path)) = line.split_once("  ") {
                        owned.md5.insert(canonical(tree, path), md5.to_owned());
                    }
                }
            }
        }
        let status = tree.join("var/lib/dpkg/status");
        let text = std::fs::read_to_string(&status)
            .with_context(|| format!("reading {}", status.display()))?;
        for (path, md5) in super::apt::conffiles(&text, packages) {
            owned.md5.insert(canonical(tree, &path), md5);
        }
        Ok(owned)
    }
}

/// One alternatives group as update-alternatives keeps it in
/// /var/lib/dpkg/alternatives/NAME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlternativeGroup {
    /// `auto` or `manual`.
    pub mode: String,
    /// The link names of the group (master first), as in /etc/alternatives.
    pub names: Vec<String>,
    /// The links in the file system (`/usr/bin/pager`).
    pub links: Vec<String>,
    /// Each alternative's priority.
    pub priorities: Vec<i64>,
}

/// Parse an alternatives file: mode, master link, slave name/link pairs up to an empty
/// line, then per alternative its path, priority and one line per slave.
pub fn parse_alternatives(name: &str, text: &str) -> Option<AlternativeGroup> {
    let mut lines = text.lines();
    let mode = lines.next()?.to_owned();
    let mut names = vec![name.to_owned()];
    let mut links = vec![lines.next()?.to_owned()];
    loop {
        let slave = lines.next()?;
        if slave.is_empty() {
            break;
        }
        names.push(slave.to_owned());
        links.push(lines.next()?.to_owned());
    }
    let mut priorities = Vec::new();
    while let Some(path) = lines.next() {
        if path.is_empty() {
            break;
        }
        priorities.push(lines.next()?.trim().parse().ok()?);
        for _ in 1..names.len() {
            lines.next()?;
        }
    }
    Some(AlternativeGroup {
        mode,
        names,
        links,
        priorities,
    })
}

impl AlternativeGroup {
    /// Whether the group's choice is the same whatever order its alternatives came in:
    /// automatic mode, and one alternative alone has the highest priority.
    pub fn order_free(&self) -> bool {
        let Some(best) = self.priorities.iter().max() else {
            return false;
        };
        self.mode == "auto" && self.priorities.iter().filter(|p| *p == best).count() == 1
    }
}

fn alternatives(tree: &Path) -> anyhow::Result<Vec<AlternativeGroup>> {
    let dir = tree.join("var/lib/dpkg/alternatives");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        match parse_alternatives(&name, &text) {
            Some(g) => out.push(g),
            None => anyhow::bail!(
                "{}: not an alternatives file update-alternatives wrote",
                path.display()
            ),
        }
    }
    Ok(out)
}

/// The changes (paths relative to the tree) that nothing explains; empty when the
/// layered tree is what a full build makes. `added` is every path of [`Change::Entry`]
/// and [`Change::NewTree`] (see [`super::diff::expand`]).
pub fn unexplained(
    tree: &Path,
    changes: &[Change],
    added: &[PathBuf],
    owned: &Owned,
) -> anyhow::Result<Vec<String>> {
    let groups = alternatives(tree)?;
    let mut bad = Vec::new();
    let mut to_hash: Vec<(PathBuf, String)> = Vec::new();
    for change in changes {
        if let Change::DirMeta(p) | Change::Deleted(p) = change {
            if shipped(p) {
                let what = if matches!(change, Change::Deleted(_)) {
                    "removed"
                } else {
                    "mode, owner or attributes changed"
                };
                bad.push(format!("/{} ({what})", p.display()));
            }
        }
    }
    for p in added.iter().filter(|p| shipped(p)) {
        let full = tree.join(p);
        let meta = std::fs::symlink_metadata(&full)
            .with_context(|| format!("reading {}", full.display()))?;
        if owned.paths.contains(p) {
            if meta.is_file() {
                match owned.md5.get(p) {
                    Some(md5) => to_hash.push((p.clone(), md5.clone())),
                    None => bad.push(format!(
                        "/{} (owned, but dpkg has no sum of it)",
                        p.display()
                    )),
                }
            }
            continue;
        }
        if p == Path::new("etc/ld.so.cache") {
            continue;
        }
        let text = p.to_string_lossy();
        let group = if let Some(name) = text.strip_prefix("etc/alternatives/") {
            groups.iter().find(|g| g.names.iter().any(|n| n == name))
        } else if meta.file_type().is_symlink() {
            let abs = format!("/{text}");
            groups.iter().find(|g| {
                g.links
                    .iter()
                    .any(|l| l == &abs || canonical(tree, l) == *p)
            })
        } else {
            None
        };
        match group {
            Some(g) if g.order_free() => {}
            Some(g) => bad.push(format!(
                "/{} (alternatives group {} in {} mode with priorities {:?}: the choice may depend on the order)",
                p.display(),
                g.names[0],
                g.mode,
                g.priorities
            )),
            None => bad.push(format!("/{} (made by a maintainer script or trigger)", p.display())),
        }
    }
    bad.extend(wrong_sums(tree, &to_hash)?);
    Ok(bad)
}

/// The files whose content is not the one dpkg recorded, checked with md5sum.
fn wrong_sums(tree: &Path, files: &[(PathBuf, String)]) -> anyhow::Result<Vec<String>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let mut list = String::new();
    for (p, md5) in files {
        let name = p
            .to_str()
            .with_context(|| format!("{}: not UTF-8", p.display()))?;
        if name.contains('\n') || name.contains('\\') {
            anyhow::bail!("{name}: a file name md5sum cannot take");
        }
        list.push_str(&format!("{md5}  ./{name}\n"));
    }
    let sums = tree.with_extension("md5-check");
    std::fs::write(&sums, list).with_context(|| format!("writing {}", sums.display()))?;
    let mut cmd = run::command("md5sum");
    cmd.current_dir(tree)
        .args(["--check", "--quiet", "--strict"])
        .arg(&sums);
    let out = cmd
        .output()
        .with_context(|| format!("running md5sum --check {}", sums.display()));
    let _ = std::fs::remove_file(&sums);
    let out = out?;
    if out.status.success() {
        return Ok(Vec::new());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let failed: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_suffix(": FAILED"))
        .map(|p| {
            format!(
                "/{} (not the content of its package)",
                p.trim_start_matches("./")
            )
        })
        .collect();
    if failed.is_empty() {
        anyhow::bail!(
            "md5sum --check {} failed: {}{}",
            sums.display(),
            text.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(failed)
}

/// The maintainer scripts (preinst, postinst, config) of `packages` that name one of
/// `words` (package names, the commands they ship) or `paths` (the files they ship),
/// comments left out: such a script, run after the added packages were unpacked in a
/// full build, may have acted on them. Each hit as `script: word`.
pub fn scripts_naming(
    tree: &Path,
    arch: &str,
    packages: &[String],
    words: &BTreeSet<String>,
    paths: &BTreeSet<String>,
) -> anyhow::Result<Vec<String>> {
    let mut hits = Vec::new();
    for p in packages {
        for what in ["preinst", "postinst", "config"] {
            let Some(script) = info_file(tree, p, arch, what) else {
                continue;
            };
            let bytes =
                std::fs::read(&script).with_context(|| format!("reading {}", script.display()))?;
            let text = strip_comments(&String::from_utf8_lossy(&bytes));
            let name = script
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if let Some(path) = paths.iter().find(|path| text.contains(path.as_str())) {
                hits.push(format!("{name}: {path}"));
                continue;
            }
            let found = text
                .split(|c: char| !(c.is_ascii_alphanumeric() || "_.+-".contains(c)))
                .map(|w| w.trim_end_matches('.'))
                .find(|w| words.contains(*w));
            if let Some(w) = found {
                hits.push(format!("{name}: {w}"));
            }
        }
    }
    Ok(hits)
}

/// Shell text without comments: whole comment lines, and what follows a `#` that starts
/// a word.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut prev_blank = true;
        let mut end = line.len();
        for (i, c) in line.char_indices() {
            if c == '#' && prev_blank {
                end = i;
                break;
            }
            prev_blank = c.is_whitespace();
        }
        out.push_str(&line[..end]);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternatives_files_are_read_and_ties_are_found() {
        let text = "auto\n/usr/bin/pager\npager.1.gz\n/usr/share/man/man1/pager.1.gz\n\n/bin/more\n50\n/usr/share/man/man1/more.1.gz\n/usr/bin/less\n77\n/usr/share/man/man1/less.1.gz\n\n";
        let g = parse_alternatives("pager", text).expect("parse");
        assert_eq!(g.names, ["pager", "pager.1.gz"]);
        assert_eq!(
            g.links,
            ["/usr/bin/pager", "/usr/share/man/man1/pager.1.gz"]
        );
        assert_eq!(g.priorities, [50, 77]);
        assert!(g.order_free());
        let tie = text.replace("\n77\n", "\n50\n");
        assert!(!parse_alternatives("pager", &tie)
            .expect("parse")
            .order_free());
        let manual = text.replacen("auto", "manual", 1);
        assert!(!parse_alternatives("pager", &manual)
            .expect("parse")
            .order_free());
        assert!(parse_alternatives("x", "auto\n").is_none());
    }

    #[test]
    fn paths_go_through_the_merged_usr_links() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(tmp.path().join("usr/bin")).expect("mkdir");
        std::os::unix::fs::symlink("usr/bin", tmp.path().join("bin")).expect("ln");
        assert_eq!(
            canonical(tmp.path(), "/bin/less"),
            PathBuf::from("usr/bin/less")
        );
        assert_eq!(
            canonical(tmp.path(), "/usr/bin/less"),
            PathBuf::from("usr/bin/less")
        );
        assert_eq!(canonical(tmp.path(), "/etc/x"), PathBuf::from("etc/x"));
        assert!(shipped(Path::new("etc/passwd")));
        assert!(shipped(Path::new("boot/vmlinuz")));
        assert!(!shipped(Path::new("var/lib/dpkg/status")));
    }

    #[test]
    fn scripts_are_searched_without_their_comments() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let info = tmp.path().join("var/lib/dpkg/info");
        std::fs::create_dir_all(&info).expect("mkdir");
        std::fs::write(
            info.join("a.postinst"),
            "#!/bin/sh\n# less work, unless asked\necho x # less\n",
        )
        .expect("w");
        std::fs::write(
            info.join("b.postinst"),
            "#!/bin/sh\nif [ -x /usr/bin/lesspipe ]; then :; fi\n",
        )
        .expect("w");
        std::fs::write(
            info.join("c.postinst"),
            "#!/bin/sh\ncommand -v less >/dev/null\n",
        )
        .expect("w");
        let words: BTreeSet<String> = ["less".to_owned()].into();
        let paths: BTreeSet<String> = ["/usr/bin/lesspipe".to_owned()].into();
        let pkgs: Vec<String> = ["a", "b", "c"].iter().map(|s| (*s).to_owned()).collect();
        let hits = scripts_naming(tmp.path(), "amd64", &pkgs, &words, &paths).expect("scan");
        assert_eq!(hits, ["b.postinst: /usr/bin/lesspipe", "c.postinst: less"]);
    }
}
