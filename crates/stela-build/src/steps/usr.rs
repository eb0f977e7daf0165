//! The /usr image: erofs made by the image's own mkfs.erofs, laid out for small deltas
//! (no inline tail data, fixed time stamps and UUID).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use stela_recipe::Recipe;

use crate::run;

/// The file name of the usr image among the outputs.
pub const FILE: &str = "usr.erofs";

/// The usr image that was made.
#[derive(Debug, Clone)]
pub struct UsrImage {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes (a multiple of 4096).
    pub size: u64,
}

/// Make the erofs image of `tree/usr` at `out`, without the files `exclude` names
/// (relative to /usr).
pub fn build(
    recipe: &Recipe,
    tree: &Path,
    exclude: &[String],
    out: &Path,
) -> anyhow::Result<UsrImage> {
    let uuid = super::derive_uuid(recipe, "usr-erofs-uuid");
    let epoch = super::source_date_epoch()?;
    // mkfs.erofs writes into the directory of `out`, bound into the tree.
    let out_dir = out
        .parent()
        .with_context(|| format!("{} names no directory", out.display()))?;
    let out_name = out
        .file_name()
        .with_context(|| format!("{} names no file", out.display()))?
        .to_string_lossy();
    let bind_rel = "var/tmp/stela-usr-out";
    let bind = super::overlay::Bind::mount(out_dir, &tree.join(bind_rel))?;
    let inner = format!("{bind_rel}/{out_name}");
    let mut cmd = run::command("chroot");
    cmd.env("SOURCE_DATE_EPOCH", epoch.to_string())
        .arg(tree)
        .args(["mkfs.erofs", "-Enoinline_data", "--quiet"])
        .arg(format!("-T{epoch}"))
        .arg(format!("-U{uuid}"))
        .args(exclude.iter().map(|p| format!("--exclude-path={p}")))
        .arg(format!("/{inner}"))
        .arg("/usr");
    run::run(&mut cmd, "making the usr image with mkfs.erofs")?;
    drop(bind);
    let size = std::fs::metadata(out)
        .with_context(|| format!("reading {}", out.display()))?
        .len();
    if size % 4096 != 0 {
        bail!("{} is {size} bytes, not a multiple of 4096", out.display());
    }
    let slot = recipe.partitions().usr_size.bytes();
    if size > slot {
        bail!(
            "the usr image is {size} bytes but partitions.usr_size is {slot}: raise usr_size (keep headroom for later versions)"
        );
    }
    Ok(UsrImage {
        path: out.to_owned(),
        size,
    })
}
