//! The root file system: Debian's packages installed by mmdebstrap from the suite and,
//! by default, its -security and -updates suites; cached by the inputs that decide its
//! content ([`stela_recipe::RootfsInputs`]: suites, architecture, package set).
//!
//! Beside each cached tree lies `<key>.sources.json` ([`super::sources::Sources`]): the
//! Release files the packages came from and the versions each suite offered; and, for
//! adding packages to it later ([`super::layer`]), `<key>.apt` (apt's lists and the dpkg
//! status after the essential packages) and `<key>.made.json` (its inputs, and the tree
//! it was layered on, if it was).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use stela_recipe::{Recipe, RootfsInputs};

use super::cachelock::CacheLock;
use super::freshness::{self, Freshness};
use super::layer::{self, Made, Outcome};
use super::sources::{self, Sources};
use crate::run;

/// mmdebstrap's variant: the essential packages and those of priority required, then
/// the recipe's (a layered install repeats what this selects, see [`layer::apt`]).
pub(crate) const VARIANT: &str = "minbase";

/// The marker of a finished tree.
pub(crate) const COMPLETE: &str = ".stela-complete";

/// The digest the rootfs is cached under.
pub fn cache_key(recipe: &Recipe) -> String {
    recipe.rootfs_inputs().digest().to_string()
}

/// A cached tree and where its packages came from.
#[derive(Debug, Clone)]
pub struct Rootfs {
    /// The tree (never changed after it was made: the build copies it).
    pub tree: PathBuf,
    /// Its sources.
    pub sources: Sources,
    /// The cache lock, shared, for as long as the tree is used.
    _lock: Arc<CacheLock>,
}

/// Return the cached tree for the recipe, making it first if needed. The bool says
/// whether it came from the cache. The returned tree holds the cache lock
/// ([`CacheLock`]) shared until it is dropped: no other build replaces it meanwhile.
pub fn ensure(recipe: &Recipe, cache: &Path) -> anyhow::Result<(Rootfs, bool)> {
    let root = cache.join("rootfs");
    let lock = Arc::new(CacheLock::take(&root, false)?);
    if let Some(rootfs) = cached(recipe, &root, &lock)? {
        return Ok((rootfs, true));
    }
    lock.set(true)?;
    // Another build may have made it while this one waited for the lock.
    let made = match cached(recipe, &root, &lock)? {
        Some(rootfs) => (rootfs, true),
        None => (make(recipe, cache, &lock)?, false),
    };
    lock.set(false)?;
    Ok(made)
}

/// The cached tree of the recipe, if there is one and the archive has nothing newer
/// (or cannot be asked).
fn cached(recipe: &Recipe, root: &Path, lock: &Arc<CacheLock>) -> anyhow::Result<Option<Rootfs>> {
    let inputs = recipe.rootfs_inputs();
    let key = inputs.digest().to_string();
    let dir = root.join(&key);
    let sources_file = sources::file_for(&dir);
    if !(dir.join(COMPLETE).is_file() && sources_file.is_file()) {
        return Ok(None);
    }
    let sources = read_sources(&sources_file)?;
    if let Some(at) = &inputs.snapshot {
        // A moment of the archive does not move: the tree made from it stays current.
        tracing::info!("rootfs {key} is cached, pinned to the archive of {at}");
        return Ok(Some(Rootfs {
            tree: dir,
            sources,
            _lock: Arc::clone(lock),
        }));
    }
    let check = tempfile::Builder::new()
        .prefix(".check-")
        .tempdir_in(root)
        .with_context(|| format!("creating a directory in {}", root.display()))?;
    let found = |sources| {
        Some(Rootfs {
            tree: dir.clone(),
            sources,
            _lock: Arc::clone(lock),
        })
    };
    match freshness::check(&inputs.sources, &sources, check.path()) {
        Freshness::Current => {
            tracing::info!("rootfs {key} is cached and current");
            Ok(found(sources))
        }
        Freshness::Unknown { reason } => {
            let made = sources
                .suites
                .iter()
                .map(|s| format!("{} of {}", s.codename, s.date))
                .collect::<Vec<_>>()
                .join(", ");
            tracing::warn!(
                "cannot check the archive for newer packages ({reason}); using the cached tree made from {made}"
            );
            Ok(found(sources))
        }
        Freshness::Stale { suite } => {
            tracing::warn!(
                "{suite} has changed since the cached tree was made; installing the packages anew"
            );
            Ok(None)
        }
    }
}

/// Make the recipe's tree (layered on a cached one where possible) and put it in the
/// cache; the caller holds the cache lock exclusively.
fn make(recipe: &Recipe, cache: &Path, lock: &Arc<CacheLock>) -> anyhow::Result<Rootfs> {
    let inputs = recipe.rootfs_inputs();
    let key = inputs.digest().to_string();
    let root = cache.join("rootfs");
    let dir = root.join(&key);
    let debs = cache.join("debs");
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    match layer::build(&inputs, &key, &root, &debs) {
        Ok(Outcome::Layered(staged)) => {
            put_in_place(
                &root,
                &key,
                &staged.tree,
                &staged.apt,
                &staged.sources,
                &staged.made,
            )?;
            layer::mounts::remove_work_dir(&staged.work)?;
            return Ok(Rootfs {
                tree: dir,
                sources: staged.sources,
                _lock: Arc::clone(lock),
            });
        }
        Ok(Outcome::NoBase) => {}
        Ok(Outcome::Refused(why)) => {
            tracing::info!(
                "rootfs {key}: not layered on a cached tree: {why}; installing every package"
            );
        }
        // A mount that stays must stop the build: nothing may remove what is below it.
        Err(e) if e.chain().any(|c| c.is::<layer::mounts::UnmountError>()) => return Err(e),
        Err(e) => {
            tracing::warn!(
                "rootfs {key}: adding packages to a cached tree failed ({e:#}); installing every package"
            );
        }
    }
    run::require("mmdebstrap", "mmdebstrap")?;
    std::fs::create_dir_all(&debs).with_context(|| format!("creating {}", debs.display()))?;
    let partial = root.join(format!(".partial-{key}"));
    let apt = root.join(format!(".apt-{key}"));
    for stale in [&partial, &apt] {
        if stale.exists() {
            std::fs::remove_dir_all(stale)
                .with_context(|| format!("removing a partial tree {}", stale.display()))?;
        }
    }
    let lists = apt.join(layer::LISTS);
    std::fs::create_dir_all(&lists).with_context(|| format!("creating {}", lists.display()))?;

    let debs_q = shell_quote(&debs);
    let lists_q = shell_quote(&lists);
    let essential_q = shell_quote(&apt.join(layer::ESSENTIAL_STATUS));
    let mut cmd = run::command("mmdebstrap");
    // The kernel's postinst would have dracut make a generic initrd in /boot (tens of
    // seconds, and never used: the initrd step makes the image's own). Debian's kernel
    // hooks skip the initramfs when INITRD is "No".
    cmd.env("INITRD", "No")
        .arg(format!("--variant={VARIANT}"))
        .arg("--mode=root")
        .arg("--format=directory")
        .arg(format!("--architectures={}", inputs.architecture))
        .arg(format!("--include={}", inputs.package_list().join(",")))
        .arg("--aptopt=Acquire::Retries \"3\"")
        .args(snapshot_aptopts(&inputs))
        // No fsync per file while unpacking: the tree is thrown away if the build fails,
        // and is marked complete only after mmdebstrap has finished.
        .arg("--dpkgopt=force-unsafe-io")
        // Downloaded packages are kept between builds: copied in before apt runs and
        // back out before mmdebstrap cleans its cache. Without essential/unlink the
        // essential packages' .debs (about 55 of a minimal image's 135) would be deleted
        // right after they are installed, and downloaded again by every full build.
        .arg("--skip=essential/unlink")
        .arg(format!(
            "--setup-hook=mkdir -p \"$1/var/cache/apt/archives\" && find {debs_q} -name '*.deb' -exec cp -t \"$1/var/cache/apt/archives/\" {{}} +"
        ))
        .arg(format!(
            "--customize-hook=find \"$1/var/cache/apt/archives\" -name '*.deb' -exec cp -n -t {debs_q} {{}} +"
        ))
        // What a layered install needs to add packages as this run would have: the
        // dpkg status after the essential packages (apt resolves the rest from there),
        .arg(format!(
            "--essential-hook=cp \"$1/var/lib/dpkg/status\" {essential_q}"
        ))
        // and apt's lists, which also say which Release file each package came from;
        // mmdebstrap removes them from the tree at the end, so they are copied out first.
        .arg(format!(
            "--customize-hook=find \"$1/var/lib/apt/lists\" -maxdepth 1 -type f \\( -name '*_InRelease' -o -name '*_Packages' \\) -exec cp -t {lists_q} {{}} +"
        ))
        // What the recipe's [content] leaves out is never unpacked. mmdebstrap keeps these
        // in the tree's /etc/dpkg/dpkg.cfg.d, where packages added later obey them too.
        .args(inputs.dpkg_filters.iter().map(|f| format!("--dpkgopt={f}")))
        .arg(inputs.suite.to_string())
        .arg(&partial);
    for source in &inputs.sources {
        cmd.arg(source.deb_line());
    }
    run::run(&mut cmd, "installing Debian packages with mmdebstrap")?;
    let installed = super::customise::installed_packages(&partial)?;
    let found = sources::read_lists(&lists, &installed)?;
    check_suites(&inputs.sources, &found)?;
    put_in_place(&root, &key, &partial, &apt, &found, &Made::full(&inputs)?)?;
    Ok(Rootfs {
        tree: dir,
        sources: found,
        _lock: Arc::clone(lock),
    })
}

/// Move a finished tree and what lies beside it under `key`, replacing what was there.
/// The record and the apt state go in last and out first: a tree without them is used
/// as the recipe's own but never as the base of another.
fn put_in_place(
    root: &Path,
    key: &str,
    tree: &Path,
    apt: &Path,
    sources: &Sources,
    made: &Made,
) -> anyhow::Result<()> {
    let dir = root.join(key);
    let sources_file = sources::file_for(&dir);
    let made_file = layer::made_file(root, key);
    let apt_dir = layer::apt_dir(root, key);
    let sources_tmp = root.join(format!(".sources-{key}.json"));
    let text = serde_json::to_vec_pretty(sources).context("encoding the sources")?;
    std::fs::write(&sources_tmp, text)
        .with_context(|| format!("writing {}", sources_tmp.display()))?;
    let made_tmp = root.join(format!(".made-{key}.json"));
    let text = serde_json::to_vec_pretty(made).context("encoding the tree's record")?;
    std::fs::write(&made_tmp, text).with_context(|| format!("writing {}", made_tmp.display()))?;
    // A layered tree has the base's marker as a hard link: a new file, not a write
    // into the base's.
    let marker = tree.join(COMPLETE);
    match std::fs::remove_file(&marker) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", marker.display())),
    }
    std::fs::write(&marker, key).with_context(|| format!("marking {} complete", tree.display()))?;
    if made_file.exists() {
        std::fs::remove_file(&made_file)
            .with_context(|| format!("removing {}", made_file.display()))?;
    }
    for old in [&apt_dir, &dir] {
        if old.exists() {
            std::fs::remove_dir_all(old).with_context(|| format!("removing {}", old.display()))?;
        }
    }
    std::fs::rename(tree, &dir)
        .with_context(|| format!("moving the new tree to {}", dir.display()))?;
    std::fs::rename(&sources_tmp, &sources_file)
        .with_context(|| format!("moving {} into place", sources_file.display()))?;
    std::fs::rename(apt, &apt_dir)
        .with_context(|| format!("moving {} into place", apt_dir.display()))?;
    std::fs::rename(&made_tmp, &made_file)
        .with_context(|| format!("moving {} into place", made_file.display()))
}

fn read_sources(path: &Path) -> anyhow::Result<Sources> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Every suite the recipe asked for must have been fetched: apt treats a missing suite
/// as a warning, and an image without its security suite must not pass unnoticed.
pub(crate) fn check_suites(wanted: &[stela_recipe::Source], found: &Sources) -> anyhow::Result<()> {
    for source in wanted {
        if !found
            .suites
            .iter()
            .any(|s| s.codename == source.suite || s.suite == source.suite)
        {
            anyhow::bail!(
                "apt did not fetch the Release file of {} from {} (the recipe's [debian] \
                 table asks for it)",
                source.suite,
                source.url
            );
        }
    }
    Ok(())
}

/// apt's options for a build pinned to a snapshot of the archive: its Release files
/// are as old as the snapshot, so their `Valid-Until` (a week for the security archive)
/// has usually passed; their signatures are still checked.
fn snapshot_aptopts(inputs: &RootfsInputs) -> Vec<String> {
    match &inputs.snapshot {
        Some(_) => vec!["--aptopt=Acquire::Check-Valid-Until \"false\"".to_owned()],
        None => Vec::new(),
    }
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(debian: &str) -> Recipe {
        let text = format!("name = \"pinned\"\nversion = \"1\"\n{debian}");
        Recipe::parse(&text, "recipe.toml", Path::new("/")).expect("a valid recipe")
    }

    #[test]
    fn a_snapshot_pins_the_mirrors_and_lets_apt_read_old_release_files() {
        let pinned = recipe("[debian]\nsnapshot = \"20261201T000000Z\"\n").rootfs_inputs();
        let lines: Vec<String> = pinned.sources.iter().map(|s| s.deb_line()).collect();
        assert_eq!(
            lines,
            [
                "deb http://snapshot.debian.org/archive/debian/20261201T000000Z trixie main",
                "deb http://snapshot.debian.org/archive/debian-security/20261201T000000Z trixie-security main",
                "deb http://snapshot.debian.org/archive/debian/20261201T000000Z trixie-updates main",
            ]
        );
        assert_eq!(
            snapshot_aptopts(&pinned),
            ["--aptopt=Acquire::Check-Valid-Until \"false\""]
        );
        // A mirror of that moment the recipe names is used as it is.
        let own = recipe(
            "[debian]\nsnapshot = \"20261201T000000Z\"\nmirror = \"http://127.0.0.1:3142/debian\"\n",
        )
        .rootfs_inputs();
        assert_eq!(own.sources[0].url.as_str(), "http://127.0.0.1:3142/debian");
        assert_eq!(snapshot_aptopts(&own).len(), 1);
        assert_ne!(
            own.digest(),
            recipe("[debian]\nmirror = \"http://127.0.0.1:3142/debian\"\n")
                .rootfs_inputs()
                .digest()
        );
        // Without a snapshot: the moving archive, and apt's expiry check stays on.
        let moving = recipe("").rootfs_inputs();
        assert_eq!(
            moving.sources[0].url.as_str(),
            "http://deb.debian.org/debian"
        );
        assert!(snapshot_aptopts(&moving).is_empty());
    }

    #[test]
    fn a_bad_snapshot_is_named_with_its_field() {
        let text = "name = \"pinned\"\nversion = \"1\"\n[debian]\nsnapshot = \"2026-12-01\"\n";
        let e = Recipe::parse(text, "recipe.toml", Path::new("/"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("debian.snapshot") && e.contains("YYYYMMDDTHHMMSSZ"),
            "{e}"
        );
    }
}
