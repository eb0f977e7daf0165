//! The build's own tools stay out of the shipped /usr.
//!
//! dracut and erofs-utils are installed into the tree so that the initrd and the usr
//! image are made by the target release's versions ([`stela_recipe::BUILD_PACKAGES`]).
//! They have no use on the device and every full update would carry them. They cannot
//! be purged (the kernel package depends on an initramfs generator, and erofs-utils
//! makes the usr image itself), so their files are left out of the usr image instead:
//! every file the packages own under /usr, and every directory all of whose entries are
//! left out. The dpkg database does not ship (/var is made at first boot). A package the
//! recipe itself asks for stays.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use stela_recipe::Recipe;

use crate::run;

/// Build tools whose files the usr image leaves out.
pub const BUILD_ONLY: &[&str] = &["dracut", "dracut-core", "dracut-install", "erofs-utils"];

/// What the usr image leaves out.
#[derive(Debug, Clone, Default)]
pub struct Stripped {
    /// Paths relative to /usr, for `mkfs.erofs --exclude-path`.
    pub usr_exclusions: Vec<String>,
    /// The packages not shipped.
    pub not_shipped: Vec<String>,
}

/// Work out what of the build tools the usr image leaves out.
pub fn strip(recipe: &Recipe, tree: &Path) -> anyhow::Result<Stripped> {
    let installed = super::customise::installed_packages(tree)?;
    let wanted = recipe.package_set();
    let not_shipped: Vec<String> = BUILD_ONLY
        .iter()
        .filter(|p| !wanted.iter().any(|w| w.as_str() == **p))
        .filter(|p| installed.iter().any(|(n, _)| n == *p))
        .map(|p| (*p).to_owned())
        .collect();
    if not_shipped.is_empty() {
        return Ok(Stripped::default());
    }
    let mut cmd = run::command("dpkg-query");
    cmd.arg(format!(
        "--admindir={}",
        tree.join("var/lib/dpkg").display()
    ))
    .arg("-L")
    .args(&not_shipped);
    let listing = run::run(&mut cmd, "listing the files of the build tools")?;
    let usr = tree.join("usr");
    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    for rel in listing.lines().filter_map(|l| l.strip_prefix("/usr/")) {
        let rel = rel.trim_end_matches('/');
        match std::fs::symlink_metadata(usr.join(rel)) {
            Ok(m) if m.is_dir() => {
                dirs.insert(rel.to_owned());
            }
            Ok(_) => {
                files.insert(rel.to_owned());
            }
            // Diverted or removed by a maintainer script: nothing to leave out.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading /usr/{rel}")),
        }
    }
    // Deepest first, so that a directory holding only left-out directories goes too.
    let mut by_depth: Vec<&String> = dirs.iter().collect();
    by_depth.sort_by_key(|d| std::cmp::Reverse(d.matches('/').count()));
    let mut excluded_dirs = BTreeSet::new();
    for dir in by_depth {
        let path = usr.join(dir);
        let mut all_out = true;
        for entry in
            std::fs::read_dir(&path).with_context(|| format!("listing {}", path.display()))?
        {
            let entry = entry.with_context(|| format!("listing {}", path.display()))?;
            let child = format!("{dir}/{}", entry.file_name().to_string_lossy());
            if !files.contains(&child) && !excluded_dirs.contains(&child) {
                all_out = false;
                break;
            }
        }
        if all_out {
            excluded_dirs.insert(dir.clone());
        }
    }
    // A file inside an excluded directory needs no entry of its own.
    let inside = |p: &str| {
        excluded_dirs.iter().any(|d| {
            p.len() > d.len() && p.starts_with(d.as_str()) && p.as_bytes()[d.len()] == b'/'
        })
    };
    let usr_exclusions: Vec<String> = excluded_dirs
        .iter()
        .chain(files.iter())
        .filter(|p| !inside(p))
        .cloned()
        .collect();
    tracing::info!(
        "left out of /usr: {} ({} paths)",
        not_shipped.join(" "),
        usr_exclusions.len()
    );
    Ok(Stripped {
        usr_exclusions,
        not_shipped,
    })
}
