//! `stela uki`: build a Unified Kernel Image on systemd's stub, and show what one holds.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use stela_keys::FileSigner;
use stela_pe::uki::{self, Input, UkiInputs};

use crate::Outcome;

/// Subcommands of `stela uki`.
#[derive(Debug, Subcommand)]
pub enum UkiCommand {
    /// Assemble a UKI: systemd's EFI stub with the kernel, initrd, command line and
    /// os-release as sections (the layout of `ukify build`), optionally signed.
    Build(Box<BuildArgs>),
    /// List the sections of a UKI (or any PE image) and its command line, os-release and
    /// kernel release.
    Inspect(InspectArgs),
}

/// Arguments of `stela uki build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// systemd's EFI stub, from the image's own systemd-boot-efi (linuxx64.efi.stub).
    #[arg(long)]
    stub: PathBuf,
    /// The kernel (an EFI-stub vmlinuz).
    #[arg(long)]
    linux: PathBuf,
    /// The initrd.
    #[arg(long)]
    initrd: PathBuf,
    /// The kernel command line.
    #[arg(long)]
    cmdline: String,
    /// The os-release file of the image.
    #[arg(long)]
    os_release: PathBuf,
    /// The kernel release (uname -r); read from the kernel's boot header if not given.
    #[arg(long)]
    uname: Option<String>,
    /// SBAT lines to add (a CSV file starting with the "sbat,1,SBAT Version,..." line).
    #[arg(long)]
    sbat: Option<PathBuf>,
    /// Sign the UKI with this key (Authenticode); needs --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// The certificate of --key.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// Where to write the UKI.
    #[arg(short, long)]
    output: PathBuf,
}

/// Arguments of `stela uki inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The UKI.
    file: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Run a `stela uki` subcommand.
pub fn run(cmd: UkiCommand) -> anyhow::Result<Outcome> {
    match cmd {
        UkiCommand::Build(args) => build(*args),
        UkiCommand::Inspect(args) => inspect(args),
    }
}

fn read(path: &Path) -> anyhow::Result<(String, Vec<u8>)> {
    let name = path.display().to_string();
    let data = stela_limits::read(path, stela_limits::PE_IMAGE)
        .with_context(|| format!("reading {name}"))?;
    Ok((name, data))
}

fn input((name, data): &(String, Vec<u8>)) -> Input<'_> {
    Input {
        name: name.as_str(),
        data: data.as_slice(),
    }
}

fn build(args: BuildArgs) -> anyhow::Result<Outcome> {
    // Load the key first: a wrong key should fail before the work, not after.
    let signer = match (&args.key, &args.cert) {
        (Some(key), Some(cert)) => {
            Some(FileSigner::load(key, cert).context("loading the signing key")?)
        }
        _ => None,
    };
    let stub = read(&args.stub)?;
    let linux = read(&args.linux)?;
    let initrd = read(&args.initrd)?;
    let osrel = read(&args.os_release)?;
    let sbat = args.sbat.as_deref().map(read).transpose()?;
    let inputs = UkiInputs {
        stub: input(&stub),
        linux: input(&linux),
        initrd: input(&initrd),
        cmdline: &args.cmdline,
        os_release: input(&osrel),
        uname: args.uname.as_deref(),
        sbat: sbat.as_ref().map(input),
    };
    let plan = uki::plan(&inputs).context("planning the UKI")?;
    for s in plan.sections() {
        tracing::debug!(
            "{:<8} vaddr {:#010x} vsize {:#010x} file {:#010x} size {:#010x} {:?}",
            s.name,
            s.virtual_address,
            s.virtual_size,
            s.file_offset,
            s.raw_size,
            s.placement
        );
    }
    let mut bytes = plan.render();
    let out_name = args.output.display().to_string();
    if let Some(signer) = &signer {
        bytes = stela_pe::authenticode::sign(&out_name, &bytes, signer)
            .context("signing the UKI")?
            .bytes;
    }
    crate::output::write_atomic(&args.output, &bytes)?;
    tracing::info!(
        "wrote {} UKI {out_name} ({} bytes)",
        if signer.is_some() {
            "signed"
        } else {
            "unsigned"
        },
        bytes.len()
    );
    Ok(Outcome::Success)
}

/// `stela uki inspect --json` output.
#[derive(Debug, Serialize)]
struct InspectJson {
    file: String,
    sections: Vec<SectionJson>,
    cmdline: Option<String>,
    os_release: Option<String>,
    uname: Option<String>,
    sbat: Option<String>,
    signatures: usize,
}

#[derive(Debug, Serialize)]
struct SectionJson {
    name: String,
    virtual_address: u32,
    virtual_size: u32,
    file_offset: u32,
    raw_size: u32,
    characteristics: u32,
    sha256: String,
}

fn inspect(args: InspectArgs) -> anyhow::Result<Outcome> {
    let (name, data) = read(&args.file)?;
    let info = uki::inspect(&name, &data).context("inspecting the image")?;
    if args.json {
        return crate::output::print_json(&InspectJson {
            file: name,
            sections: info
                .sections
                .iter()
                .map(|s| SectionJson {
                    name: s.name.clone(),
                    virtual_address: s.virtual_address,
                    virtual_size: s.virtual_size,
                    file_offset: s.file_offset,
                    raw_size: s.raw_size,
                    characteristics: s.characteristics,
                    sha256: hex::encode(s.sha256),
                })
                .collect(),
            cmdline: info.cmdline,
            os_release: info.os_release,
            uname: info.uname,
            sbat: info.sbat,
            signatures: info.signatures,
        })
        .map(|()| Outcome::Success);
    }
    println!(
        "{name}: {} sections, {} signature(s)",
        info.sections.len(),
        info.signatures
    );
    println!(
        "  {:<8}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}",
        "name", "vaddr", "vsize", "offset", "size", "flags"
    );
    for s in &info.sections {
        println!(
            "  {:<8}  {:#010x}  {:#010x}  {:#010x}  {:#010x}  {:#010x}",
            s.name, s.virtual_address, s.virtual_size, s.file_offset, s.raw_size, s.characteristics
        );
    }
    for (label, text) in [
        ("cmdline", &info.cmdline),
        ("os-release", &info.os_release),
        ("uname", &info.uname),
        ("sbat", &info.sbat),
    ] {
        if let Some(text) = text {
            println!("{label}:");
            for line in text.lines() {
                println!("    {line}");
            }
        }
    }
    Ok(Outcome::Success)
}
