//! What an ESP holds: boot loader, UKIs (boot entries), loader.conf, enrolment keys.

use std::fs::File;

use stela_esp::{EspFile, EspReader};
use stela_gpt::GptPartition;
use stela_pe::authenticode::ClaimedSigner;

use crate::boot::BootEntry;

/// systemd-boot's configuration file.
pub const LOADER_CONF: &str = "loader/loader.conf";
/// Where systemd-boot looks for keys to enrol in setup mode (`loader/keys/<set>/`).
pub const KEYS_DIR: &str = "loader/keys/";
/// Largest loader.conf read: it is a few lines.
const MAX_LOADER_CONF: u64 = 64 << 10;

/// An ESP partition of the disk and what could be read from it.
#[derive(Debug, Clone)]
pub struct Esp {
    /// The partition.
    pub partition: GptPartition,
    /// Its contents, or why the FAT file system could not be read.
    pub contents: Result<EspContents, String>,
}

/// The files of a readable ESP.
#[derive(Debug, Clone)]
pub struct EspContents {
    /// FAT volume label.
    pub volume_label: String,
    /// Every file, depth first in directory order.
    pub files: Vec<EspFile>,
    /// `loader/loader.conf`, if present (lossy UTF-8).
    pub loader_conf: Option<String>,
    /// Every file whose name ends in `.efi` (any case), in [`EspContents::files`] order.
    pub efi: Vec<EfiBinary>,
    /// The UKIs in `EFI/Linux/` as systemd-boot names them.
    pub boot_entries: Vec<BootEntry>,
    /// `loader/keys/<set>/<var>.auth` files systemd-boot enrols in setup mode.
    pub enrolment_keys: Vec<String>,
}

impl EspContents {
    /// The boot loaders: EFI binaries outside `EFI/Linux/` (`EFI/BOOT/BOOTX64.EFI`,
    /// `EFI/systemd/systemd-bootx64.efi`).
    pub fn boot_loaders(&self) -> impl Iterator<Item = &EfiBinary> {
        self.efi.iter().filter(|e| e.uki.is_none())
    }
}

/// An EFI binary on an ESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EfiBinary {
    /// Path from the root of the ESP.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Who its first signature says signed it (unchecked), or why that cannot be read.
    pub claimed_signer: Result<ClaimedSigner, String>,
    /// For a UKI (a PE image with a `.linux` section): its text sections.
    pub uki: Option<UkiSections>,
}

/// The text sections of a UKI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UkiSections {
    /// `.cmdline`.
    pub cmdline: Option<String>,
    /// `.osrel`.
    pub os_release: Option<String>,
    /// `.uname`.
    pub uname: Option<String>,
}

pub(crate) fn read(file: File, partition: &GptPartition) -> Esp {
    Esp {
        partition: partition.clone(),
        contents: contents(file, partition).map_err(|e| crate::chain(&e)),
    }
}

fn contents(file: File, p: &GptPartition) -> Result<EspContents, stela_esp::EspError> {
    let range = p.byte_range();
    let len = range.end - range.start;
    let esp = EspReader::open(file, range.start, len)?;
    let files = esp.files()?;
    let loader_conf = match files
        .iter()
        .find(|f| f.path.eq_ignore_ascii_case(LOADER_CONF))
    {
        Some(f) => Some(String::from_utf8_lossy(&esp.read(&f.path, MAX_LOADER_CONF)?).into_owned()),
        None => None,
    };
    let mut efi = Vec::new();
    let mut boot_entries = Vec::new();
    for f in files.iter().filter(|f| is_efi(&f.path)) {
        // One binary in memory at a time; a UKI is tens of MiB.
        let bytes = esp.read(&f.path, len)?;
        let uki = stela_pe::uki::inspect(&f.path, &bytes)
            .ok()
            .filter(|info| info.sections.iter().any(|s| s.name == ".linux"))
            .map(|info| UkiSections {
                cmdline: info.cmdline,
                os_release: info.os_release,
                uname: info.uname,
            });
        if let Some(u) = &uki {
            boot_entries.extend(BootEntry::from_path(&f.path, u.cmdline.as_deref()));
        }
        efi.push(EfiBinary {
            path: f.path.clone(),
            size: f.size,
            claimed_signer: stela_pe::authenticode::claimed_signer(&f.path, &bytes)
                .map_err(|e| e.to_string()),
            uki,
        });
    }
    let enrolment_keys = files
        .iter()
        .filter(|f| f.path.starts_with(KEYS_DIR) && f.path.to_ascii_lowercase().ends_with(".auth"))
        .map(|f| f.path.clone())
        .collect();
    Ok(EspContents {
        volume_label: esp.volume_label(),
        files,
        loader_conf,
        efi,
        boot_entries,
        enrolment_keys,
    })
}

pub(crate) fn is_efi(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".efi")
}
