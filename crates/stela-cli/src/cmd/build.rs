//! `stela build`: a recipe becomes a signed, verity-protected disk image.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use stela_build::{BuildOptions, Reporter};
use stela_recipe::Recipe;

use crate::Outcome;

/// Arguments of `stela build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The recipe (TOML, see docs/recipe.md); without it, the built-in default appliance.
    #[arg(value_name = "RECIPE")]
    recipe: Option<PathBuf>,
    /// Key directory made by `stela keys init` (overrides the recipe's `keys`). Without
    /// either, a key set is made in ~/.local/share/stela/keys (and you are told so).
    #[arg(long, value_name = "DIR")]
    keys: Option<PathBuf>,
    /// Output directory: the disk image, the update artifacts and manifest.json.
    #[arg(long, value_name = "DIR", default_value = "out")]
    out: PathBuf,
    /// Cache of downloaded packages and built steps, reused between builds.
    #[arg(
        long,
        value_name = "DIR",
        env = "STELA_CACHE",
        default_value = "/var/cache/stela/build"
    )]
    cache: PathBuf,
    /// Print the result (outputs, per-step timings) as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Build even if --out already holds the outputs of the same inputs, unchanged.
    #[arg(long)]
    force: bool,
    /// Then build again into a temporary directory beside --out (another path, umask
    /// 077, another time zone and locale, a package tree and initrd made anew from the
    /// same downloaded packages), compare every output byte for byte, name the first
    /// difference of each differing file, and remove the second build. Exit 1 when they
    /// differ.
    #[arg(long)]
    verify_reproducible: bool,
}

struct Progress {
    quiet: bool,
}

impl Reporter for Progress {
    fn step_started(&mut self, step: &str) {
        if !self.quiet {
            eprintln!("stela build: {step} ...");
        }
    }

    fn step_finished(&mut self, step: &str, elapsed: Duration, cached: bool) {
        if !self.quiet {
            let how = if cached { " (cached)" } else { "" };
            eprintln!(
                "stela build: {step} done in {:.1} s{how}",
                elapsed.as_secs_f64()
            );
        }
    }
}

fn default_keys_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".local/share/stela/keys")
}

/// Use the default key set in `dir`, making it first if it has no db key; the summary of
/// a new set goes to `summary`, the notes to stderr.
fn ensure_default_keys(dir: &Path, summary: &mut dyn Write) -> anyhow::Result<()> {
    if dir.join("db.key").exists() {
        eprintln!(
            "stela build: using the default key set in {}",
            dir.display()
        );
        return Ok(());
    }
    eprintln!(
        "stela build: no keys given; making a new Secure Boot key set in {} (keep PK.key and KEK.key offline)",
        dir.display()
    );
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    crate::cmd::keys::init_default(dir, summary)
}

/// The recipe at `path`, or the built-in one.
pub fn load_recipe(path: Option<&std::path::Path>) -> anyhow::Result<Recipe> {
    match path {
        Some(path) => {
            Recipe::load(path).with_context(|| format!("reading the recipe {}", path.display()))
        }
        None => Ok(Recipe::default_recipe()),
    }
}

/// Run `stela build`.
pub fn run(args: BuildArgs) -> anyhow::Result<Outcome> {
    let recipe = load_recipe(args.recipe.as_deref())?;
    let keys = match (&args.keys, recipe.keys()) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => dir.resolved().to_owned(),
        (None, None) => {
            let dir = default_keys_dir();
            // With --json, stdout carries the build's JSON document and nothing else.
            if args.json {
                ensure_default_keys(&dir, &mut std::io::stderr().lock())?;
            } else {
                ensure_default_keys(&dir, &mut std::io::stdout().lock())?;
            }
            dir
        }
    };
    let keys_for_again = keys.clone();
    let opts = BuildOptions {
        recipe,
        keys,
        out: args.out.clone(),
        cache: args.cache.clone(),
        force: args.force,
    };
    let mut progress = Progress {
        quiet: args.json && !std::io::stderr().is_terminal(),
    };
    let result = stela_build::build(&opts, &mut progress)?;
    if args.json && args.verify_reproducible {
        // One document: the build's, with the comparison (below).
    } else if args.json {
        crate::output::print_json(&result)?;
    } else {
        println!("image:     {}", result.image.display());
        println!("manifest:  {}", result.manifest_path.display());
        println!("root hash: {}", result.manifest.root_hash);
        for s in &result.steps {
            println!(
                "  {:<10} {:>7.1} s{}",
                s.step,
                s.seconds,
                if s.cached { " (cached)" } else { "" }
            );
        }
        println!("  {:<10} {:>7.1} s", "total", result.total_seconds);
        if result.up_to_date {
            println!(
                "up to date: the outputs of these inputs were already there (--force rebuilds)"
            );
        }
        if let Some(kib) = result.peak_rss_kib {
            println!("peak memory of stela: {} MiB", kib / 1024);
        }
    }
    if args.verify_reproducible {
        return build_again_and_compare(&args, &keys_for_again, &result);
    }
    Ok(Outcome::Success)
}

/// `--verify-reproducible`: the second build runs as a child `stela build` (its own
/// umask, time zone and locale, which a process sets for itself and its children).
fn build_again_and_compare(
    args: &BuildArgs,
    keys: &Path,
    first: &stela_build::BuildResult,
) -> anyhow::Result<Outcome> {
    let out = std::path::absolute(&args.out)
        .with_context(|| format!("resolving {}", args.out.display()))?;
    let parent = out.parent().unwrap_or(Path::new("/"));
    let again = tempfile::Builder::new()
        .prefix(".stela-reproduce-")
        .tempdir_in(parent)
        .with_context(|| format!("creating a directory in {}", parent.display()))?;
    let second = again.path().join("out");
    // Its own cache, holding only the first build's downloaded packages: the package tree
    // and the initrd are made anew from the same .debs, so the comparison covers
    // mmdebstrap, the packages' scripts and dracut too, not only the steps after them.
    let cache = again.path().join("cache");
    stela_build::reproducible::seed_package_cache(&args.cache.join("debs"), &cache.join("debs"))?;
    let exe = std::env::current_exe().context("finding the stela executable")?;
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("umask 077 && exec \"$@\"")
        .arg("sh")
        .arg(&exe)
        .arg("build");
    if let Some(r) = &args.recipe {
        cmd.arg(r);
    }
    cmd.arg("--keys")
        .arg(keys)
        .arg("--out")
        .arg(&second)
        .arg("--cache")
        .arg(&cache)
        .arg("--force")
        .arg("--json")
        .env("TZ", "Pacific/Kiritimati")
        .env("LC_ALL", "C")
        .env("LANG", "C")
        .stdout(std::process::Stdio::null());
    eprintln!(
        "stela build: building again in {} to compare",
        second.display()
    );
    let status = cmd.status().context("running the second build")?;
    if !status.success() {
        anyhow::bail!(
            "the second build (in {}) failed: {status}",
            second.display()
        );
    }
    let differences = stela_build::reproducible::compare_outputs(&out, &second)?;
    let mut usr_files = Vec::new();
    if !differences.is_empty() {
        // Kept for a look; the directory is stela's own, named on the way out.
        let kept = again.keep();
        eprintln!(
            "stela build: the second build stays in {} for comparison",
            kept.display()
        );
        if differences
            .iter()
            .any(|d| d.file == stela_build::steps::usr::FILE)
        {
            usr_files = stela_build::reproducible::differing_usr_files(
                &out.join(stela_build::steps::usr::FILE),
                &second.join(stela_build::steps::usr::FILE),
            )
            .unwrap_or_else(|e| {
                vec![format!(
                    "(the usr images could not be compared file by file: {e:#})"
                )]
            });
        }
    }
    if args.json {
        crate::output::print_json(&serde_json::json!({
            "build": first,
            "reproducible": differences.is_empty(),
            "differences": differences,
            "usr_files_differing": usr_files,
        }))?;
    } else if differences.is_empty() {
        println!(
            "reproducible: a second build in another directory made the same files, byte for byte"
        );
    } else {
        for d in &differences {
            println!("DIFFERS  {}: {}", d.file, d.detail);
        }
        for f in &usr_files {
            println!("  in the usr image: {f}");
        }
        println!("not reproducible: {} file(s) differ", differences.len());
    }
    Ok(if differences.is_empty() {
        Outcome::Success
    } else {
        Outcome::CheckFailed
    })
}
