//! Layered package trees (decision record 0009): a recipe whose package set adds to
//! that of a cached tree gets a copy of that tree with only the added packages
//! installed, when checks show that its usr image is the one a full build makes.
//!
//! A tree can be a base when it was made from the same suites, sources, architecture
//! and dpkg options (every field of [`stela_recipe::RootfsInputs`] but the packages), its
//! packages are a subset of the new recipe's, and the archive has not moved since it was
//! made (the freshness check). The largest such tree is taken.
//!
//! The added packages are installed with the host's apt, as mmdebstrap installs the
//! packages after the essential ones, into an overlay whose lower layer is the base
//! (which therefore never changes), from apt's lists kept beside the base. The result
//! is kept only if:
//!
//! 1. the installed packages and versions are exactly those apt resolves for the full
//!    package set from the essential packages (what the full build's second phase
//!    does: simulated from the dpkg status kept from the base's build);
//! 2. apt orders the base's packages the same way with and without the added ones;
//! 3. no maintainer script of a base package that a full build runs after an added
//!    package was unpacked names one of the added packages, commands or files;
//! 4. every change to a path the image uses is explained by something that does not
//!    depend on the installation order ([`check`]).
//!
//! Otherwise the tree is built in full, and the log says why. The new tree shares the
//! base's unchanged files as hard links ([`diff::link_tree`]) and is stored under the
//! recipe's own key like any other, with `<key>.made.json` saying what it was made from.

pub mod apt;
pub mod check;
pub mod diff;
pub mod mounts;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use stela_recipe::RootfsInputs;

use super::freshness::{self, Freshness};
use super::sources::{self, Sources};
use mounts::Mounts;

/// The file in a tree's apt state that holds the dpkg status right after mmdebstrap
/// installed the essential packages (its essential hook copies it).
pub const ESSENTIAL_STATUS: &str = "status-essential";
/// The directory in a tree's apt state with apt's lists (`*_InRelease`, `*_Packages`).
pub const LISTS: &str = "lists";

/// How a cached tree was made: `<key>.made.json` beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Made {
    /// Its [`RootfsInputs`], as JSON.
    pub inputs: serde_json::Value,
    /// The tree it was layered on; none for a full build by mmdebstrap.
    pub base: Option<String>,
    /// The packages installed on top of the base (the added ones and what they pulled
    /// in), with their versions.
    pub added: BTreeMap<String, String>,
    /// The host's apt and mmdebstrap that made it (apt resolves and orders the packages:
    /// another version may choose otherwise, so a tree is a base only for the same).
    #[serde(default)]
    pub host: BTreeMap<String, String>,
}

impl Made {
    /// The record of a tree mmdebstrap made from `inputs`.
    pub fn full(inputs: &RootfsInputs) -> anyhow::Result<Made> {
        Ok(Made {
            inputs: serde_json::to_value(inputs).context("encoding the rootfs inputs")?,
            base: None,
            added: BTreeMap::new(),
            host: host_tools(),
        })
    }
}

/// The versions of the host's apt and mmdebstrap; empty when dpkg cannot say (then no
/// tree made now is ever a base).
pub fn host_tools() -> BTreeMap<String, String> {
    let mut cmd = crate::run::command("dpkg-query");
    cmd.args([
        "--show",
        "--showformat=${Package} ${Version}\\n",
        "apt",
        "mmdebstrap",
    ]);
    match crate::run::run(&mut cmd, "asking dpkg for the host's apt and mmdebstrap") {
        Ok(out) => out
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(p, v)| (p.to_owned(), v.to_owned()))
            .collect(),
        Err(e) => {
            tracing::warn!("{e:#}: the tree cannot be the base of a layered one");
            BTreeMap::new()
        }
    }
}

/// `<key>.made.json` in the rootfs cache `root`.
pub fn made_file(root: &Path, key: &str) -> PathBuf {
    root.join(format!("{key}.made.json"))
}

/// `<key>.apt`: apt's lists and the essential dpkg status the tree was made with, kept
/// so that packages can be added to it later as a full build would add them.
pub fn apt_dir(root: &Path, key: &str) -> PathBuf {
    root.join(format!("{key}.apt"))
}

/// What [`build`] did.
#[derive(Debug)]
pub enum Outcome {
    /// The layered tree, staged at the path given, with its sources and record.
    Layered(Box<Staged>),
    /// No cached tree can be a base, or none is current.
    NoBase,
    /// A base was tried and a check refused the result: build in full.
    Refused(String),
}

/// A finished tree not yet under its key.
#[derive(Debug)]
pub struct Staged {
    /// The tree.
    pub tree: PathBuf,
    /// Its apt state (becomes `<key>.apt`).
    pub apt: PathBuf,
    /// Its sources.
    pub sources: Sources,
    /// Its record.
    pub made: Made,
    /// The work directory to remove once the tree is in place.
    pub work: PathBuf,
}

/// A cached tree that can be the base of a recipe.
#[derive(Debug, Clone)]
pub struct Base {
    /// Its cache key.
    pub key: String,
    /// The tree.
    pub tree: PathBuf,
    /// Its packages (the inputs', not what was installed).
    pub packages: BTreeSet<String>,
    /// Its sources.json.
    pub sources: Sources,
}

fn inputs_without_packages(v: &serde_json::Value) -> Option<(serde_json::Value, BTreeSet<String>)> {
    let mut v = v.clone();
    let packages = v.as_object_mut()?.remove("packages")?;
    let packages = packages
        .as_array()?
        .iter()
        .map(|p| p.as_str().map(str::to_owned))
        .collect::<Option<BTreeSet<String>>>()?;
    Some((v, packages))
}

/// The cached trees in `root` that `inputs` can be layered on, made with the host tools
/// `host` ([`host_tools`]), most packages first.
pub fn bases(
    root: &Path,
    inputs: &RootfsInputs,
    host: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<Base>> {
    let want = serde_json::to_value(inputs).context("encoding the rootfs inputs")?;
    let (want_rest, want_packages) =
        inputs_without_packages(&want).context("the rootfs inputs have no package list")?;
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(found);
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", root.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(key) = name.strip_suffix(".made.json") else {
            continue;
        };
        let tree = root.join(key);
        let apt = apt_dir(root, key);
        let sources_file = sources::file_for(&tree);
        if !tree.join(super::rootfs::COMPLETE).is_file()
            || !sources_file.is_file()
            || !apt.join(ESSENTIAL_STATUS).is_file()
            || !apt.join(LISTS).is_dir()
        {
            continue;
        }
        let path = entry.path();
        let made: Made = match std::fs::read(&path)
            .map_err(anyhow::Error::from)
            .and_then(|b| serde_json::from_slice(&b).map_err(anyhow::Error::from))
        {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("{}: unreadable ({e:#}); not used as a base", path.display());
                continue;
            }
        };
        let Some((rest, packages)) = inputs_without_packages(&made.inputs) else {
            continue;
        };
        if rest != want_rest || !packages.is_subset(&want_packages) || packages == want_packages {
            continue;
        }
        if host.is_empty() || made.host != *host {
            tracing::info!(
                "{key} was made with other host tools ({:?}, now {host:?}): not a base",
                made.host
            );
            continue;
        }
        let bytes = std::fs::read(&sources_file)
            .with_context(|| format!("reading {}", sources_file.display()))?;
        let Ok(sources) = serde_json::from_slice::<Sources>(&bytes) else {
            continue;
        };
        found.push(Base {
            key: key.to_owned(),
            tree,
            packages,
            sources,
        });
    }
    found.sort_by(|a, b| {
        b.packages
            .len()
            .cmp(&a.packages.len())
            .then(a.key.cmp(&b.key))
    });
    Ok(found)
}

/// Try to make the tree of `inputs` (cache key `key`) by adding packages to a cached
/// tree in `root` (the rootfs cache; `debs` is the package cache).
pub fn build(
    inputs: &RootfsInputs,
    key: &str,
    root: &Path,
    debs: &Path,
) -> anyhow::Result<Outcome> {
    let host = host_tools();
    let candidates = bases(root, inputs, &host)?;
    if candidates.is_empty() {
        return Ok(Outcome::NoBase);
    }
    let check = tempfile::Builder::new()
        .prefix(".check-")
        .tempdir_in(root)
        .with_context(|| format!("creating a directory in {}", root.display()))?;
    let mut chosen = None;
    let asked = std::time::Instant::now();
    for base in candidates.iter().take(3) {
        match freshness::check(&inputs.sources, &base.sources, check.path()) {
            Freshness::Current => {
                chosen = Some(base);
                break;
            }
            Freshness::Stale { suite } => {
                tracing::info!(
                    "{suite} has changed since {} was made: not a base",
                    base.key
                );
            }
            Freshness::Unknown { reason } => {
                return Ok(Outcome::Refused(format!(
                    "cannot check the archive for the base {} ({reason})",
                    base.key
                )));
            }
        }
    }
    let Some(base) = chosen else {
        return Ok(Outcome::NoBase);
    };
    let added_names: Vec<String> = inputs
        .package_list()
        .into_iter()
        .filter(|p| !base.packages.contains(p))
        .collect();
    tracing::info!(
        "rootfs {key}: adding {} to the cached tree {} (current: archive asked in {:.1} s)",
        added_names.join(" "),
        base.key,
        asked.elapsed().as_secs_f64()
    );
    let work = root.join(format!(".layer-{key}"));
    mounts::remove_work_dir(&work)?;
    let result =
        Layer::new(inputs, key, root, debs, base, &host, &work).and_then(|mut layer| layer.run());
    match result {
        Ok(Outcome::Layered(staged)) => Ok(Outcome::Layered(staged)),
        other => {
            // Nothing of a refused or failed attempt may stay, least of all its mounts.
            mounts::remove_work_dir(&work)?;
            let partial = root.join(format!(".partial-{key}"));
            if partial.exists() {
                std::fs::remove_dir_all(&partial)
                    .with_context(|| format!("removing {}", partial.display()))?;
            }
            other
        }
    }
}

struct Layer<'a> {
    inputs: &'a RootfsInputs,
    key: &'a str,
    root: &'a Path,
    debs: &'a Path,
    base: &'a Base,
    host: BTreeMap<String, String>,
    arch: String,
    work: PathBuf,
    merged: PathBuf,
    upper: PathBuf,
    lists: PathBuf,
    archives: PathBuf,
    mounts: Mounts,
}

impl<'a> Layer<'a> {
    fn new(
        inputs: &'a RootfsInputs,
        key: &'a str,
        root: &'a Path,
        debs: &'a Path,
        base: &'a Base,
        host: &BTreeMap<String, String>,
        work: &Path,
    ) -> anyhow::Result<Self> {
        let layer = Layer {
            inputs,
            key,
            root,
            debs,
            base,
            host: host.clone(),
            arch: inputs.architecture.to_string(),
            work: work.to_owned(),
            merged: work.join("merged"),
            upper: work.join("upper"),
            lists: work.join("apt").join(LISTS),
            archives: work.join("archives"),
            mounts: Mounts::default(),
        };
        for d in [
            &layer.merged,
            &layer.upper,
            &work.join("overlay-work"),
            &work.join("apt"),
            &layer.archives,
        ] {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        Ok(layer)
    }

    fn base_apt(&self) -> PathBuf {
        apt_dir(self.root, &self.base.key)
    }

    fn run(&mut self) -> anyhow::Result<Outcome> {
        let mut phases = Phases::new();
        // apt's lists of the base, as hard links: apt only reads them.
        diff::link_tree(&self.base_apt().join(LISTS), &self.lists)?;
        let partial_lists = self.lists.join("partial");
        std::fs::create_dir_all(&partial_lists)
            .with_context(|| format!("creating {}", partial_lists.display()))?;
        self.mount_overlay()?;
        // mmdebstrap's apt configuration inside the tree while packages go in.
        let conf = self.merged.join("etc/apt/apt.conf.d/00mmdebstrap");
        std::fs::write(&conf, apt::MMDEBSTRAP_CONF)
            .with_context(|| format!("writing {}", conf.display()))?;

        // 1 and 2: what the full build would install, and in which order.
        let essential = apt::installed(&self.base_apt().join(ESSENTIAL_STATUS))?;
        let base_installed = apt::installed(&self.base.tree.join("var/lib/dpkg/status"))?;
        let essential_status = self.base_apt().join(ESSENTIAL_STATUS);
        let full_conf = self.config("full", &essential_status, None)?;
        let base_conf = self.config("base", &essential_status, None)?;
        let full_list = self.packages(&self.inputs.package_list())?;
        let base_list: Vec<String> = self.base.packages.iter().cloned().collect();
        let base_list = self.packages(&base_list)?;
        // Side by side (each is ~2 s of apt's resolver on one core), each with its own
        // binary cache of the lists so that neither waits for or overwrites the other's;
        // and the install with them (dpkg, about as long again): it works in the overlay
        // that the simulations only read (their dpkg status is the base's essential one),
        // and its result is used only if they agree with it below.
        let (full, base_plan, installed) = std::thread::scope(|s| {
            let full = s.spawn(|| full_conf.simulate(&full_list));
            let base = s.spawn(|| base_conf.simulate(&base_list));
            let installed = self.install();
            let joined = |t: std::thread::ScopedJoinHandle<'_, anyhow::Result<Vec<apt::Step>>>| {
                t.join().unwrap_or_else(|_| {
                    Err(anyhow::anyhow!("an apt-get --simulate thread panicked"))
                })
            };
            (joined(full), joined(base), installed)
        });
        let (full, base_plan) = (full?, base_plan?);
        installed?;
        let mut expected = essential.clone();
        for step in &full {
            match (&step.action, &step.version) {
                (apt::Action::Unpack, Some(v)) => {
                    expected.insert(step.package.clone(), v.clone());
                }
                (apt::Action::Remove, _) => {
                    expected.remove(&step.package);
                }
                _ => {}
            }
        }
        if let Some((p, v)) = base_installed
            .iter()
            .find(|(p, v)| expected.get(*p) != Some(*v))
        {
            return Ok(Outcome::Refused(format!(
                "the base has {p} {v}, a full build would install {}",
                expected.get(p).map_or("none", String::as_str)
            )));
        }
        let in_base_plan: BTreeSet<&str> = base_plan.iter().map(|s| s.package.as_str()).collect();
        let restricted: Vec<&apt::Step> = full
            .iter()
            .filter(|s| in_base_plan.contains(s.package.as_str()))
            .collect();
        if restricted.len() != base_plan.len()
            || restricted.iter().zip(&base_plan).any(|(a, b)| *a != b)
        {
            return Ok(Outcome::Refused(
                "apt orders the base's packages differently once the added ones are there".into(),
            ));
        }

        phases.mark("simulate and install");
        let installed = apt::installed(&self.merged.join("var/lib/dpkg/status"))?;
        if installed != expected {
            let diff: Vec<String> = expected
                .iter()
                .filter(|(p, v)| installed.get(*p) != Some(*v))
                .map(|(p, v)| format!("{p} {v} missing"))
                .chain(
                    installed
                        .iter()
                        .filter(|(p, v)| expected.get(*p) != Some(*v))
                        .map(|(p, v)| format!("{p} {v} extra")),
                )
                .take(10)
                .collect();
            return Ok(Outcome::Refused(format!(
                "the layered install differs from what a full build installs: {}",
                diff.join(", ")
            )));
        }
        let new: Vec<String> = installed
            .keys()
            .filter(|p| !base_installed.contains_key(*p))
            .cloned()
            .collect();
        let owned = check::Owned::read(&self.merged, &self.arch, &new)?;

        // 3: base packages a full build handles after the first added one was unpacked.
        let first = full.iter().position(|s| new.contains(&s.package));
        let later: BTreeSet<String> = first
            .map(|i| {
                full[i..]
                    .iter()
                    .filter(|s| !new.contains(&s.package))
                    .map(|s| s.package.clone())
                    .collect()
            })
            .unwrap_or_default();
        let mut words: BTreeSet<String> = new.iter().cloned().collect();
        let mut paths = BTreeSet::new();
        for p in &owned.paths {
            // Only what is there: dpkg lists directories, and files that its path
            // filters kept out.
            match std::fs::symlink_metadata(self.merged.join(p)) {
                Ok(m) if !m.is_dir() => {}
                _ => continue,
            }
            let text = p.to_string_lossy();
            paths.insert(format!("/{text}"));
            let parent = p.parent().and_then(|d| d.file_name()).unwrap_or_default();
            if parent == "bin" || parent == "sbin" {
                if let Some(name) = p.file_name() {
                    words.insert(name.to_string_lossy().into_owned());
                }
            }
        }
        let later: Vec<String> = later.into_iter().collect();
        let hits = check::scripts_naming(&self.merged, &self.arch, &later, &words, &paths)?;
        if !hits.is_empty() {
            return Ok(Outcome::Refused(format!(
                "maintainer scripts that a full build runs after the added packages are unpacked name them: {}",
                hits.join(", ")
            )));
        }

        // 4: every change to what the image uses is explained.
        let changes = diff::changes(&self.base.tree, &self.upper, &self.merged)?;
        let added = diff::expand(&self.merged, &changes)?;
        let bad = check::unexplained(&self.merged, &changes, &added, &owned)?;
        if !bad.is_empty() {
            let n = bad.len();
            let shown: Vec<&str> = bad.iter().take(10).map(String::as_str).collect();
            return Ok(Outcome::Refused(format!(
                "{n} change(s) a full build may make differently: {}",
                shown.join(", ")
            )));
        }

        phases.mark("check");
        // The new tree: the base's files as links, the changes copied in.
        let partial = self.root.join(format!(".partial-{}", self.key));
        if partial.exists() {
            std::fs::remove_dir_all(&partial)
                .with_context(|| format!("removing {}", partial.display()))?;
        }
        diff::link_tree(&self.base.tree, &partial)?;
        diff::apply(&self.merged, &partial, &changes)?;
        self.mounts.unmount_all()?;

        let as_vec: Vec<(String, String)> = installed
            .iter()
            .map(|(p, v)| (p.clone(), v.clone()))
            .collect();
        let found = sources::read_lists(&self.lists, &as_vec)?;
        super::rootfs::check_suites(&self.inputs.sources, &found)?;
        // What apt made beside the lists (mmdebstrap removes auxfiles too).
        for made in [partial_lists, self.lists.join("auxfiles")] {
            if made.exists() {
                std::fs::remove_dir_all(&made)
                    .with_context(|| format!("removing {}", made.display()))?;
            }
        }
        let apt_state = self.work.join("apt");
        let essential_copy = apt_state.join(ESSENTIAL_STATUS);
        std::fs::copy(self.base_apt().join(ESSENTIAL_STATUS), &essential_copy)
            .with_context(|| format!("writing {}", essential_copy.display()))?;
        let made = Made {
            inputs: serde_json::to_value(self.inputs).context("encoding the rootfs inputs")?,
            base: Some(self.base.key.clone()),
            added: new
                .iter()
                .map(|p| (p.clone(), installed[p].clone()))
                .collect(),
            host: self.host.clone(),
        };
        phases.mark("tree");
        tracing::info!(
            "rootfs {}: {} on {} ({phases})",
            self.key,
            made.added
                .iter()
                .map(|(p, v)| format!("{p} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.base.key
        );
        Ok(Outcome::Layered(Box::new(Staged {
            tree: partial,
            apt: apt_state,
            sources: found,
            made,
            work: self.work.clone(),
        })))
    }

    /// What mmdebstrap asks apt for after the essential packages, for `includes`.
    fn packages(&self, includes: &[String]) -> anyhow::Result<Vec<String>> {
        apt::mmdebstrap_packages(
            super::rootfs::VARIANT,
            &self.inputs.suite.to_string(),
            &self.arch,
            includes,
        )
    }

    fn config(
        &self,
        name: &str,
        status: &Path,
        extended_states: Option<&Path>,
    ) -> anyhow::Result<apt::AptConfig> {
        let none = self.work.join("extended_states-none");
        apt::AptConfig::write(
            &self.work.join(format!("apt-{name}.conf")),
            &self.merged,
            &self.arch,
            status,
            extended_states.unwrap_or(&none),
            &self.lists,
            // One each: the three apt runs are side by side.
            &self.work.join(format!("srcpkgcache-{name}.bin")),
        )
    }

    fn mount_overlay(&mut self) -> anyhow::Result<()> {
        let opt = |p: &Path| -> anyhow::Result<String> {
            let s = p.display().to_string();
            if s.contains([',', ':', '\\']) {
                bail!("{s}: a path with ',', ':' or '\\' cannot be an overlay layer");
            }
            Ok(s)
        };
        let options = format!(
            "lowerdir={},upperdir={},workdir={},redirect_dir=off,index=off,metacopy=off,xino=off",
            opt(&self.base.tree)?,
            opt(&self.upper)?,
            opt(&self.work.join("overlay-work"))?
        );
        let merged = self.merged.clone();
        self.mounts
            .mount(&["-t", "overlay", "-o", &options], "overlay", &merged)
    }

    /// mmdebstrap's chroot while the rest of the packages go in: /proc, /sys, /dev/pts,
    /// /dev/shm, no service started (policy-rc.d, start-stop-daemon replaced), the
    /// package cache; all undone afterwards, and what mmdebstrap cleans up cleaned.
    fn install(&mut self) -> anyhow::Result<()> {
        let m = self.merged.clone();
        self.mounts
            .mount(&["-t", "proc", "-o", "ro"], "proc", &m.join("proc"))?;
        self.mounts.mount(
            &["-t", "sysfs", "-o", "ro,nosuid,nodev,noexec"],
            "sys",
            &m.join("sys"),
        )?;
        self.mounts.mount(
            &[
                "-t",
                "devpts",
                "-o",
                "noexec,nosuid,uid=5,mode=620,ptmxmode=666",
            ],
            "none",
            &m.join("dev/pts"),
        )?;
        if Path::new("/dev/shm").is_dir() && m.join("dev/shm").is_dir() {
            self.mounts
                .mount(&["-o", "bind"], "/dev/shm", &m.join("dev/shm"))?;
        }
        // The package cache: the debs of earlier builds, and new downloads kept after.
        let before = link_debs(self.debs, &self.archives)?;
        let archives = self.archives.display().to_string();
        self.mounts.mount(
            &["-o", "bind"],
            &archives,
            &m.join("var/cache/apt/archives"),
        )?;

        let policy = m.join("usr/sbin/policy-rc.d");
        std::fs::write(&policy, "#!/bin/sh\nexit 101\n")
            .with_context(|| format!("writing {}", policy.display()))?;
        set_mode(&policy, 0o755)?;
        let ssd = m.join("usr/sbin/start-stop-daemon");
        let ssd_real = m.join("usr/sbin/start-stop-daemon.REAL");
        let had_ssd = ssd.is_file();
        if had_ssd {
            std::fs::rename(&ssd, &ssd_real)
                .with_context(|| format!("moving {} aside", ssd.display()))?;
            std::fs::write(
                &ssd,
                "#!/bin/sh\necho \"Warning: Fake start-stop-daemon called, doing nothing\">&2\n",
            )
            .with_context(|| format!("writing {}", ssd.display()))?;
            set_mode(&ssd, 0o755)?;
        }

        let conf = self.config(
            "install",
            &m.join("var/lib/dpkg/status"),
            Some(&m.join("var/lib/apt/extended_states")),
        )?;
        let result = self
            .packages(&self.inputs.package_list())
            .and_then(|p| conf.install(&p));

        // Undone whether apt succeeded or not.
        let _ = std::fs::remove_file(&policy);
        if had_ssd && ssd_real.exists() {
            std::fs::rename(&ssd_real, &ssd)
                .with_context(|| format!("putting {} back", ssd.display()))?;
        }
        for sub in [
            "var/cache/apt/archives",
            "dev/shm",
            "dev/pts",
            "sys",
            "proc",
        ] {
            self.mounts.unmount_below(&m.join(sub))?;
        }
        let log = result?;
        tracing::debug!("apt-get: {log}");
        keep_new_debs(&self.archives, self.debs, &before)?;
        cleanup(&m)
    }
}

/// Seconds per phase of a layered install, for the log.
struct Phases {
    last: std::time::Instant,
    done: Vec<(&'static str, f64)>,
}

impl Phases {
    fn new() -> Self {
        Phases {
            last: std::time::Instant::now(),
            done: Vec::new(),
        }
    }

    fn mark(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        self.done
            .push((name, now.duration_since(self.last).as_secs_f64()));
        self.last = now;
    }
}

impl std::fmt::Display for Phases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .done
            .iter()
            .map(|(n, s)| format!("{n} {s:.1} s"))
            .collect();
        f.write_str(&parts.join(", "))
    }
}

fn set_mode(p: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", p.display()))
}

fn deb_names(dir: &Path) -> anyhow::Result<BTreeSet<std::ffi::OsString>> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".deb") && entry.path().is_file() {
            out.insert(name);
        }
    }
    Ok(out)
}

/// Put every cached .deb into `archives` (hard links, or copies across file systems).
fn link_debs(debs: &Path, archives: &Path) -> anyhow::Result<BTreeSet<std::ffi::OsString>> {
    std::fs::create_dir_all(debs).with_context(|| format!("creating {}", debs.display()))?;
    let names = deb_names(debs)?;
    for name in &names {
        link_or_copy(&debs.join(name), &archives.join(name))?;
    }
    Ok(names)
}

/// Keep what apt downloaded in the package cache.
fn keep_new_debs(
    archives: &Path,
    debs: &Path,
    before: &BTreeSet<std::ffi::OsString>,
) -> anyhow::Result<()> {
    for name in deb_names(archives)? {
        if !before.contains(&name) && !debs.join(&name).exists() {
            link_or_copy(&archives.join(&name), &debs.join(&name))?;
        }
    }
    Ok(())
}

fn link_or_copy(from: &Path, to: &Path) -> anyhow::Result<()> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))
}

/// What mmdebstrap removes at the end of a build (apt's binary caches, the logs that
/// make a tree unreproducible, leftovers in /run and /tmp, its own configuration), so
/// that the layered tree has it no more than a full build's.
fn cleanup(m: &Path) -> anyhow::Result<()> {
    for rel in [
        "etc/apt/apt.conf.d/00mmdebstrap",
        "var/cache/apt/pkgcache.bin",
        "var/cache/apt/srcpkgcache.bin",
        "var/log/dpkg.log",
        "var/log/apt/history.log",
        "var/log/apt/term.log",
        "var/log/alternatives.log",
        "var/cache/ldconfig/aux-cache",
        "var/log/apt/eipp.log.xz",
        "var/lib/dbus/machine-id",
    ] {
        let p = m.join(rel);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
        }
    }
    let partial = m.join("var/cache/apt/archives/partial");
    if partial.is_dir() {
        empty_dir(&partial, &[])?;
    }
    // An empty machine-id, as mmdebstrap leaves it (made anew only if a script wrote one).
    let id = m.join("etc/machine-id");
    if std::fs::metadata(&id)
        .map(|md| md.len() > 0)
        .unwrap_or(false)
    {
        std::fs::remove_file(&id).with_context(|| format!("removing {}", id.display()))?;
        std::fs::File::create(&id).with_context(|| format!("writing {}", id.display()))?;
    }
    empty_dir(&m.join("run"), &["lock"])?;
    empty_dir(&m.join("tmp"), &[])
}

fn empty_dir(dir: &Path, keep: &[&str]) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        if keep.iter().any(|k| entry.file_name() == *k) {
            continue;
        }
        let p = entry.path();
        let r = if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.with_context(|| format!("removing {}", p.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipe(packages: &[&str]) -> stela_recipe::Recipe {
        let list: Vec<String> = packages.iter().map(|p| format!("\"{p}\"")).collect();
        stela_recipe::Recipe::parse(
            &format!(
                "name = \"x\"\nversion = \"1\"\npackages = [{}]\n",
                list.join(", ")
            ),
            "r.toml",
            Path::new("."),
        )
        .expect("recipe")
    }

    fn cached(root: &Path, r: &stela_recipe::Recipe, base: Option<&str>) -> String {
        let inputs = r.rootfs_inputs();
        let key = inputs.digest().to_string();
        let tree = root.join(&key);
        std::fs::create_dir_all(&tree).expect("mkdir");
        std::fs::write(tree.join(super::super::rootfs::COMPLETE), &key).expect("w");
        std::fs::write(sources::file_for(&tree), "{\"suites\":[],\"offered\":{}}").expect("w");
        let apt = apt_dir(root, &key);
        std::fs::create_dir_all(apt.join(LISTS)).expect("mkdir");
        std::fs::write(apt.join(ESSENTIAL_STATUS), "").expect("w");
        let made = Made {
            inputs: serde_json::to_value(&inputs).expect("json"),
            base: base.map(str::to_owned),
            added: BTreeMap::new(),
            host: host(),
        };
        std::fs::write(
            made_file(root, &key),
            serde_json::to_vec(&made).expect("json"),
        )
        .expect("w");
        key
    }

    fn host() -> BTreeMap<String, String> {
        [("apt".to_owned(), "2.6.1".to_owned())].into()
    }

    #[test]
    fn the_largest_tree_whose_packages_are_a_subset_is_the_base() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let small = cached(root, &recipe(&[]), None);
        let bigger = cached(root, &recipe(&["less"]), None);
        // Not a subset of the wanted set: never a base.
        cached(root, &recipe(&["zsh"]), None);
        // Another mirror: never a base.
        let other = stela_recipe::Recipe::parse(
            "name = \"x\"\nversion = \"1\"\n[debian]\nmirror = \"http://example.invalid/debian\"\n",
            "r.toml",
            Path::new("."),
        )
        .expect("recipe");
        cached(root, &other, None);
        let want = recipe(&["less", "vim-tiny"]).rootfs_inputs();
        let found: Vec<String> = bases(root, &want, &host())
            .expect("bases")
            .into_iter()
            .map(|b| b.key)
            .collect();
        assert_eq!(found, [bigger.clone(), small.clone()]);
        // The same package set is the tree itself, not a base.
        let same = recipe(&["less"]).rootfs_inputs();
        let found: Vec<String> = bases(root, &same, &host())
            .expect("bases")
            .into_iter()
            .map(|b| b.key)
            .collect();
        assert_eq!(found, std::slice::from_ref(&small));
        // Other host tools: no base.
        let newer: BTreeMap<String, String> = [("apt".to_owned(), "3.0".to_owned())].into();
        assert!(bases(root, &want, &newer).expect("bases").is_empty());
        assert!(bases(root, &want, &BTreeMap::new())
            .expect("bases")
            .is_empty());
        // A tree without its apt state cannot be a base.
        std::fs::remove_dir_all(apt_dir(root, &bigger)).expect("rm");
        let found: Vec<String> = bases(root, &want, &host())
            .expect("bases")
            .into_iter()
            .map(|b| b.key)
            .collect();
        assert_eq!(found, [small]);
    }
}
