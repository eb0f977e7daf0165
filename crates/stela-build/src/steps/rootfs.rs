//! The root file system: Debian's packages installed by mmdebstrap, cached by the inputs
//! that decide its content (suite, mirror, components, architecture, package set).

use std::path::{Path, PathBuf};

use anyhow::Context;
use stela_recipe::{PackageName, Recipe};

use crate::run;

/// Packages the later steps run from inside the tree, so that their versions come from
/// the target release: dracut builds the initrd, erofs-utils makes the usr image.
pub const BUILD_TOOLS: &[&str] = &[
    "dracut",
    "dracut-core",
    "erofs-utils",
    "kmod",
    "systemd-cryptsetup",
];

const COMPLETE: &str = ".stela-complete";

/// The digest the rootfs is cached under.
pub fn cache_key(recipe: &Recipe) -> String {
    let mut inputs = recipe.rootfs_inputs();
    inputs
        .packages
        .extend(BUILD_TOOLS.iter().map(|p| PackageName::known(p)));
    inputs.digest().to_string()
}

/// Return the cached tree for the recipe, making it first if needed. The bool says
/// whether it came from the cache.
pub fn ensure(recipe: &Recipe, cache: &Path) -> anyhow::Result<(PathBuf, bool)> {
    let key = cache_key(recipe);
    let dir = cache.join("rootfs").join(&key);
    if dir.join(COMPLETE).is_file() {
        tracing::info!("rootfs {key} is cached");
        return Ok((dir, true));
    }
    run::require("mmdebstrap", "mmdebstrap")?;
    let debs = cache.join("debs");
    std::fs::create_dir_all(&debs).with_context(|| format!("creating {}", debs.display()))?;
    let partial = cache.join("rootfs").join(format!(".partial-{key}"));
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("removing a partial tree {}", partial.display()))?;
    }
    std::fs::create_dir_all(cache.join("rootfs"))?;

    let mut packages: Vec<String> = recipe.package_set().iter().map(|p| p.to_string()).collect();
    packages.extend(BUILD_TOOLS.iter().map(|p| p.to_string()));
    let debian = recipe.debian();
    let components: Vec<String> = debian.components.iter().map(|c| c.to_string()).collect();
    let debs_q = shell_quote(&debs);
    let mut cmd = run::command("mmdebstrap");
    cmd.arg("--variant=minbase")
        .arg("--mode=root")
        .arg("--format=directory")
        .arg(format!("--architectures={}", debian.architecture))
        .arg(format!("--components={}", components.join(",")))
        .arg(format!("--include={}", packages.join(",")))
        .arg("--aptopt=Acquire::Retries \"3\"")
        // Downloaded packages are kept between builds: copied in before apt runs and
        // back out before mmdebstrap cleans its cache.
        .arg(format!(
            "--setup-hook=mkdir -p \"$1/var/cache/apt/archives\" && find {debs_q} -name '*.deb' -exec cp -t \"$1/var/cache/apt/archives/\" {{}} +"
        ))
        .arg(format!(
            "--customize-hook=find \"$1/var/cache/apt/archives\" -name '*.deb' -exec cp -n -t {debs_q} {{}} +"
        ))
        .arg(debian.suite.to_string())
        .arg(&partial)
        .arg(debian.mirror.to_string());
    run::run(&mut cmd, "installing Debian packages with mmdebstrap")?;
    std::fs::write(partial.join(COMPLETE), &key)
        .with_context(|| format!("marking {} complete", partial.display()))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::rename(&partial, &dir)
        .with_context(|| format!("moving the new tree to {}", dir.display()))?;
    Ok((dir, false))
}

fn shell_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}
