//! The EFI system partition: signed systemd-boot (from the image's own package), its
//! configuration, the keys it enrols from setup mode, and the UKI with boot counting.

use std::path::{Path, PathBuf};

use anyhow::Context;
use stela_esp::EspBuilder;
use stela_recipe::Recipe;

use super::keys::BuildKeys;
use super::uki::UkiOutput;

/// systemd-boot's configuration: no menu delay, no editing of the command line, and
/// enrolment of `loader/keys/auto` when the firmware is in setup mode.
pub const LOADER_CONF: &str =
    "timeout 0\neditor no\nauto-entries no\nauto-firmware no\nsecure-boot-enroll force\n";

/// The signed boot loader among the outputs (a release carries it, so that machines
/// update their boot loader too).
pub const LOADER_FILE: &str = "boot-loader.efi";

/// Where the build puts the first of the boot loader's two copies; the update agent
/// writes the second (`EFI/stela/loader-b.efi`) and makes UEFI boot entries for both.
pub const LOADER_COPY_A: &str = "EFI/stela/loader-a.efi";

/// Build the ESP image file; returns its path. The signed boot loader goes to
/// `stage/`[`LOADER_FILE`] as well.
pub fn build(
    recipe: &Recipe,
    tree: &Path,
    uki: &UkiOutput,
    keys: &BuildKeys,
    work: &Path,
    stage: &Path,
) -> anyhow::Result<PathBuf> {
    let arch = recipe.debian().architecture.efi_suffix();
    let sdboot_path = match &recipe.boot().loader {
        Some(p) => p.resolved().to_owned(),
        None => tree.join(format!("usr/lib/systemd/boot/efi/systemd-boot{arch}.efi")),
    };
    let sdboot = std::fs::read(&sdboot_path)
        .with_context(|| format!("reading the boot loader {}", sdboot_path.display()))?;
    let signed =
        stela_pe::authenticode::sign(&sdboot_path.display().to_string(), &sdboot, &keys.db)
            .context("signing systemd-boot")?;
    let staged = stage.join(LOADER_FILE);
    std::fs::write(&staged, &signed.bytes)
        .with_context(|| format!("writing {}", staged.display()))?;
    let removable = format!("EFI/BOOT/BOOT{}.EFI", arch.to_uppercase());
    let mut b = EspBuilder::new(recipe.partitions().esp_size.bytes())
        .label("ESP")
        .volume_id(u32::from_le_bytes(
            super::derive(recipe, "esp-volume-id")[..4].try_into()?,
        ))
        .bytes(&removable, signed.bytes.clone())
        .bytes(LOADER_COPY_A, signed.bytes.clone())
        .bytes(&format!("EFI/systemd/systemd-boot{arch}.efi"), signed.bytes)
        .bytes("loader/loader.conf", LOADER_CONF)
        .host_file(&recipe.uki_path(), &uki.path);
    for (name, bytes) in &keys.enrolment {
        b = b.bytes(&format!("loader/keys/auto/{name}.auth"), bytes.clone());
    }
    let plan = b.plan().context("planning the ESP")?;
    let path = work.join("esp.img");
    plan.write_to_path(&path).context("writing the ESP")?;
    Ok(path)
}
