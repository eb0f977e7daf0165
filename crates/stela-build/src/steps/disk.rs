//! The GPT disk image, as `stela_image` plans and writes it (DESIGN.md section 2): this
//! step only turns the recipe into the plan's plain inputs.

use std::path::{Path, PathBuf};

use anyhow::Context;
use stela_image::{Arch, Contents, ImagePlan, PlanInputs};
use stela_recipe::{Architecture, Recipe};

use super::usr::UsrImage;
use super::verity::VerityOutput;

/// The partitions of a fresh image.
pub fn plan(recipe: &Recipe, verity: &VerityOutput) -> anyhow::Result<ImagePlan> {
    let arch = match recipe.debian().architecture {
        Architecture::Arm64 => Arch::Arm64,
        _ => Arch::X86_64,
    };
    let parts = recipe.partitions();
    ImagePlan::new(&PlanInputs {
        arch,
        label: &recipe.label(),
        esp_size: parts.esp_size.bytes(),
        usr_size: parts.usr_size.bytes(),
        root_min_size: parts.root.min_size.bytes(),
        root_hash: verity.root_hash,
        guid_key: &super::derive(recipe, "gpt"),
    })
    .context("planning the disk")
}

/// Write the disk image at `out`.
pub fn build(
    recipe: &Recipe,
    esp: &Path,
    usr: &UsrImage,
    verity: &VerityOutput,
    out: &Path,
) -> anyhow::Result<PathBuf> {
    plan(recipe, verity)?
        .write(
            out,
            &Contents {
                esp,
                usr: &usr.path,
                verity: &verity.tree,
                signature: &verity.sig_partition,
            },
        )
        .context("writing the disk image")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("setting the mode of {}", out.display()))?;
    Ok(out.to_owned())
}
