//! The build pipeline: a validated [`stela_recipe::Recipe`] becomes a GPT disk image whose
//! boot chain is verified end to end, plus the split artifacts an update needs.
//!
//! ```text
//! rootfs (mmdebstrap, cached by its inputs) -> customise (files, units, /etc -> factory)
//!   -> initrd (dracut from the image, cached) -> usr.erofs -> verity + signed root hash
//!   -> UKI (the image's own stub) -> Authenticode -> ESP -> GPT image + manifest
//! ```
//!
//! Every step is a function in [`steps`]; [`build`] runs them in order, reports each to a
//! [`Reporter`] and writes the outputs into a staging directory that is renamed into
//! place only when everything succeeded.

pub mod cmdline;
pub mod manifest;
pub mod reproducible;
pub mod run;
pub mod steps;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use stela_recipe::Recipe;

/// What `stela build` was asked to do.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The validated recipe.
    pub recipe: Recipe,
    /// The key directory made by `stela keys init` (db.key, db.crt, PK/KEK/db .auth).
    pub keys: PathBuf,
    /// Where the outputs go (created; must not hold a previous build of another image).
    pub out: PathBuf,
    /// Where downloaded packages and cached steps are kept between builds.
    pub cache: PathBuf,
    /// Build even if `out` already holds the outputs of the same inputs.
    pub force: bool,
}

/// Hears about the steps as they run (the CLI draws progress from it).
pub trait Reporter {
    /// A step starts.
    fn step_started(&mut self, step: &str);
    /// A step ended; `cached` when its output came from the cache.
    fn step_finished(&mut self, step: &str, elapsed: Duration, cached: bool);
}

/// How long one step took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepTiming {
    /// The step's name.
    pub step: String,
    /// Seconds it took.
    pub seconds: f64,
    /// Whether its result came from the cache.
    pub cached: bool,
}

/// What a finished build produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildResult {
    /// The disk image.
    pub image: PathBuf,
    /// The manifest file.
    pub manifest_path: PathBuf,
    /// The manifest's content.
    pub manifest: manifest::Manifest,
    /// Per-step timings.
    pub steps: Vec<StepTiming>,
    /// Seconds for the whole build.
    pub total_seconds: f64,
    /// True when `out` already held the outputs of the same inputs and nothing was built.
    pub up_to_date: bool,
    /// The build's peak resident memory in KiB: stela itself, not the tools it ran.
    pub peak_rss_kib: Option<u64>,
}

/// The peak resident set size of this process (`VmHWM` in /proc/self/status), KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub(crate) struct Timer<'a> {
    reporter: &'a mut dyn Reporter,
    timings: Vec<StepTiming>,
}

impl<'a> Timer<'a> {
    pub(crate) fn step<T>(
        &mut self,
        name: &str,
        f: impl FnOnce() -> anyhow::Result<(T, bool)>,
    ) -> anyhow::Result<T> {
        self.reporter.step_started(name);
        let start = Instant::now();
        let (value, cached) = f().with_context(|| format!("step {name}"))?;
        let elapsed = start.elapsed();
        self.reporter.step_finished(name, elapsed, cached);
        self.timings.push(StepTiming {
            step: name.to_owned(),
            seconds: elapsed.as_secs_f64(),
            cached,
        });
        Ok(value)
    }

    /// Report a step that ran on another thread and took `elapsed`.
    fn record(&mut self, name: &str, elapsed: Duration, cached: bool) {
        self.reporter.step_finished(name, elapsed, cached);
        self.timings.push(StepTiming {
            step: name.to_owned(),
            seconds: elapsed.as_secs_f64(),
            cached,
        });
    }
}

/// Run the whole pipeline.
///
/// Outputs are staged in a hidden directory beside `out` and moved into `out` at the end,
/// so a failed build leaves the previous outputs (or nothing) rather than a half-written
/// image.
///
/// Sets the process umask to 022 (see the first lines).
pub fn build(opts: &BuildOptions, reporter: &mut dyn Reporter) -> anyhow::Result<BuildResult> {
    let start = Instant::now();
    // The same modes for what the build and its tools create, whatever the caller's
    // umask: under 077, /usr/lib/repart.d and the drop-ins stela writes came out 0700 and
    // 0600 in the image, and the image differed from one built under 022.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let out = absolute_out(&opts.out)?;
    // Refuse a bad --out before minutes of work, not after.
    steps::publish::check_out(&out)?;
    steps::source_date_epoch()?;
    let keys = steps::keys::BuildKeys::load(&opts.keys)?;
    let out_parent = parent_dir(&out);
    std::fs::create_dir_all(&out_parent)
        .with_context(|| format!("creating {}", out_parent.display()))?;
    std::fs::create_dir_all(&opts.cache)
        .with_context(|| format!("creating the cache {}", opts.cache.display()))?;
    // Absolute from here on: the tools the steps run (apt, md5sum, dpkg in a chroot) take
    // paths relative to directories of their own, and a relative `--cache` sent the
    // layered install to the full build.
    let cache = std::path::absolute(&opts.cache)
        .with_context(|| format!("making the cache path {} absolute", opts.cache.display()))?;
    let stage = tempfile::Builder::new()
        .prefix(".stela-build-")
        .tempdir_in(&out_parent)
        .with_context(|| format!("creating a staging directory in {}", out_parent.display()))?;
    let work = tempfile::Builder::new()
        .prefix("work-")
        .tempdir_in(&cache)
        .with_context(|| format!("creating a work directory in {}", cache.display()))?;

    let mut timer = Timer {
        reporter,
        timings: Vec::new(),
    };
    let recipe = &opts.recipe;
    let rootfs = timer.step("rootfs", || steps::rootfs::ensure(recipe, &cache))?;
    let inputs = steps::uptodate::inputs_digest(recipe, &rootfs, &opts.keys)?;
    if !opts.force {
        if let Some(manifest) = steps::uptodate::check(&out, &inputs) {
            tracing::info!(
                "{} holds the outputs of these inputs: nothing to build",
                out.display()
            );
            return Ok(BuildResult {
                image: out.join(&manifest.image),
                manifest_path: out.join(manifest::FILE),
                manifest,
                steps: std::mem::take(&mut timer.timings),
                total_seconds: start.elapsed().as_secs_f64(),
                up_to_date: true,
                peak_rss_kib: peak_rss_kib(),
            });
        }
    }
    // Declared after `work`, so unmounted before the work directory is removed.
    let overlay =
        steps::overlay::Overlay::mount(&rootfs.tree, work.path(), &work.path().join("tree"))?;
    let tree = overlay.path().to_owned();
    let packages = timer.step("customise", || {
        steps::customise::run(recipe, &tree).map(|p| (p, false))
    })?;
    let initrd_policy = timer.step("ipe", || {
        steps::ipe::install(recipe, &tree, &keys.db).map(|p| (p, false))
    })?;
    // The initrd (dracut in the tree's chroot, mostly one core) and the usr image with
    // its hash tree read the same tree and write different places (/var/tmp of the tree,
    // the staging directory); side by side they take the time of the longer one.
    timer.reporter.step_started("initrd");
    let (initrd, usr_side) = std::thread::scope(|scope| {
        let initrd = scope.spawn(|| {
            let started = Instant::now();
            steps::initrd::build(recipe, &tree, &cache, work.path(), initrd_policy.as_ref())
                .map(|(path, cached)| (path, cached, started.elapsed()))
                .context("step initrd")
        });
        let usr_side = (|| {
            let stripped = timer.step("strip", || {
                steps::buildtools::strip(recipe, &tree).map(|s| (s, false))
            })?;
            let usr = timer.step("usr", || {
                let usr = stage.path().join(steps::usr::FILE);
                steps::usr::build(recipe, &tree, &stripped.usr_exclusions, &usr).map(|u| (u, false))
            })?;
            let verity = timer.step("verity", || {
                steps::verity::build(recipe, &usr, stage.path(), &keys).map(|v| (v, false))
            })?;
            anyhow::Ok((stripped, usr, verity))
        })();
        let initrd = initrd
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("step initrd: the thread panicked")));
        (initrd, usr_side)
    });
    let (initrd, initrd_cached, initrd_secs) = initrd?;
    timer.record("initrd", initrd_secs, initrd_cached);
    let (stripped, usr, verity) = usr_side?;
    let shipped: Vec<(String, String)> = packages
        .iter()
        .filter(|(name, _)| !stripped.not_shipped.contains(name))
        .cloned()
        .collect();
    let uki = timer.step("uki", || {
        steps::uki::build(recipe, &tree, &initrd, &verity, &keys, stage.path()).map(|u| (u, false))
    })?;
    let esp = timer.step("esp", || {
        steps::esp::build(recipe, &tree, &uki, &keys, work.path(), stage.path()).map(|e| (e, false))
    })?;
    let image_name = format!("{}.raw", recipe.label());
    let image = timer.step("disk", || {
        steps::disk::build(recipe, &esp, &usr, &verity, &stage.path().join(&image_name))
            .map(|d| (d, false))
    })?;
    timer.step("sbom", || {
        steps::sbom::write(
            recipe,
            &tree,
            &shipped,
            &rootfs.sources,
            &verity.root_hash.to_string(),
            stage.path(),
        )
        .map(|s| (s, false))
    })?;
    let manifest = timer.step("manifest", || {
        let inputs = manifest::Inputs {
            packages: &shipped,
            build_tools: &packages,
            sources: &rootfs.sources,
        };
        manifest::write(recipe, stage.path(), &image, &verity, &inputs).map(|m| (m, false))
    })?;
    timer.step("provenance", || {
        steps::provenance::write(recipe, &manifest, &rootfs.sources, &keys.db, stage.path())
            .map(|p| (p, false))
    })?;
    steps::uptodate::record(stage.path(), &inputs, &manifest)?;
    let steps_timings = std::mem::take(&mut timer.timings);

    steps::publish::replace_dir(stage, &out)?;
    Ok(BuildResult {
        image: out.join(&image_name),
        manifest_path: out.join(manifest::FILE),
        manifest,
        steps: steps_timings,
        total_seconds: start.elapsed().as_secs_f64(),
        up_to_date: false,
        peak_rss_kib: peak_rss_kib(),
    })
}

/// `--out` as an absolute path without `.` or `..`, so that `--out .` names the directory
/// itself (whose parent holds the staging directory).
fn absolute_out(out: &Path) -> anyhow::Result<PathBuf> {
    if out.exists() {
        return std::fs::canonicalize(out)
            .with_context(|| format!("resolving --out {}", out.display()));
    }
    let parent = parent_dir(out);
    let name = out
        .file_name()
        .with_context(|| format!("--out {}: names no directory", out.display()))?;
    if parent.exists() {
        let parent = std::fs::canonicalize(&parent)
            .with_context(|| format!("resolving {}", parent.display()))?;
        Ok(parent.join(name))
    } else {
        Ok(std::path::absolute(out)
            .with_context(|| format!("resolving --out {}", out.display()))?)
    }
}

fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    }
}
