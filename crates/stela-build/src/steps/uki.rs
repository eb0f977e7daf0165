//! The Unified Kernel Image, on the image's own systemd stub, signed with the db key.

use std::path::{Path, PathBuf};

use anyhow::Context;
use stela_pe::uki::{Input, UkiInputs};
use stela_recipe::Recipe;

use super::keys::BuildKeys;
use super::verity::VerityOutput;

/// The signed UKI and its command line.
#[derive(Debug, Clone)]
pub struct UkiOutput {
    /// The signed UKI (`<name>_<version>.efi` among the outputs).
    pub path: PathBuf,
    /// The command line inside it.
    pub cmdline: String,
}

/// Assemble and sign the UKI.
pub fn build(
    recipe: &Recipe,
    tree: &Path,
    initrd: &Path,
    verity: &VerityOutput,
    keys: &BuildKeys,
    out: &Path,
) -> anyhow::Result<UkiOutput> {
    let arch = recipe.debian().architecture.efi_suffix();
    let kver = super::initrd::kernel_release(tree)?;
    let read = |p: PathBuf| std::fs::read(&p).with_context(|| format!("reading {}", p.display()));
    let stub_path = tree.join(format!("usr/lib/systemd/boot/efi/linux{arch}.efi.stub"));
    let kernel_path = tree.join(format!("boot/vmlinuz-{kver}"));
    let osrel_path = tree.join("usr/lib/os-release");
    let stub = read(stub_path.clone())?;
    let kernel = read(kernel_path.clone())?;
    let initrd_bytes = read(initrd.to_owned())?;
    let os_release = read(osrel_path.clone())?;
    let cmdline = recipe
        .kernel()
        .cmdline_extra
        .compose(&crate::cmdline::with_ipe_mode(
            crate::cmdline::build_args(&verity.root_hash.to_string(), &verity.signature_der),
            recipe.ipe().mode,
        ))
        .map_err(|e| anyhow::anyhow!("kernel.cmdline_extra: {}", e.0))?;
    let names = [
        stub_path.display().to_string(),
        kernel_path.display().to_string(),
        initrd.display().to_string(),
        osrel_path.display().to_string(),
    ];
    let unsigned = stela_pe::uki::build(&UkiInputs {
        stub: Input {
            name: &names[0],
            data: &stub,
        },
        linux: Input {
            name: &names[1],
            data: &kernel,
        },
        initrd: Input {
            name: &names[2],
            data: &initrd_bytes,
        },
        cmdline: &cmdline,
        os_release: Input {
            name: &names[3],
            data: &os_release,
        },
        uname: Some(&kver),
        sbat: None,
    })
    .context("assembling the UKI")?;
    let signed =
        stela_pe::authenticode::sign("the UKI", &unsigned, &keys.db).context("signing the UKI")?;
    let path = out.join(format!("{}.efi", recipe.label()));
    std::fs::write(&path, &signed.bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(UkiOutput { path, cmdline })
}
