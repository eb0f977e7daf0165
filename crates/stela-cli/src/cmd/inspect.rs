//! `stela inspect`: what a disk image holds, and whether its signatures hold.
//!
//! The image is read by [`stela_image::StelaDisk`] (the GPT, every verity signature
//! partition with the pair its root hash names, every ESP), and checked against a
//! certificate when one is given; this module only turns the model into the report and
//! prints it. The image is opened read-only and never changed.
//!
//! Exit status: 0 when done (and, with `--cert`, nothing is wrong); 1 when `--cert` was
//! given and any fault was found: a signature that does not verify (or cannot be
//! checked), an unsigned EFI binary, a malformed signature partition, a usr / usr-verity
//! partition missing or not carrying the UUID its root hash gives, an unreadable ESP;
//! 2 when the image cannot be read or is not a GPT disk.
//!
//! # JSON (`--json`)
//!
//! One object, [`Report`]; the field names below are stable. Byte counts are numbers,
//! GUIDs lowercase `8-4-4-4-12` text, hashes lowercase hex.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use stela_gpt::{types, GptPartition};
use stela_image::{
    EfiBinary, EspContents, PairMember, SignatureContent, SignaturePartition, StelaDisk,
    Verification,
};
use stela_keys::Certificate;
use stela_pe::authenticode::ClaimedSigner;

use crate::Outcome;

/// Sector size stela-gpt reads and writes.
const SECTOR_SIZE: u64 = 512;

/// Arguments of `stela inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The disk image (a file holding a GPT disk, as `stela build` writes it).
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    /// Check every signature (verity root hashes, Authenticode of the EFI binaries)
    /// against this certificate (PEM or DER), normally the db certificate.
    #[arg(long, value_name = "CERT")]
    cert: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

/// `stela inspect --json` output.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The image path as given.
    pub image: String,
    /// Disk size in bytes.
    pub disk_size: u64,
    /// Disk GUID.
    pub disk_guid: String,
    /// Sector size in bytes (always 512).
    pub sector_size: u64,
    /// Every used partition entry, in entry order.
    pub partitions: Vec<PartitionJson>,
    /// One entry per `*-verity-sig` partition, in entry order.
    pub verity_signatures: Vec<VeritySigJson>,
    /// One entry per ESP, in entry order.
    pub esps: Vec<EspJson>,
    /// The certificate given with `--cert`, or `null`.
    pub checked_against: Option<CertJson>,
    /// With `--cert`: true if no fault was found. Without: `null`.
    pub all_verified: Option<bool>,
    /// The A/B slots, one per usr-verity-sig partition, in entry order.
    pub slots: Vec<SlotJson>,
    /// The slot the default boot entry boots (`A`, `B`), or `null`.
    pub default_slot: Option<String>,
    /// Every fault found, one line each: without `--cert` those the disk shows by
    /// itself (malformed signature partitions, pairs not named by their root hash,
    /// unreadable ESPs); with it, also every signature that did not verify.
    pub faults: Vec<String>,
}

/// An A/B slot.
#[derive(Debug, Serialize)]
pub struct SlotJson {
    /// `A`, `B`, ….
    pub slot: String,
    /// The label of its signature partition (`<name>_<version>` or `_empty`).
    pub label: String,
    /// `installed`, `empty` or `broken`.
    pub state: &'static str,
    /// The version it holds, or `null`.
    pub version: Option<String>,
    /// The root hash of the version it holds, or `null`.
    pub root_hash: Option<String>,
    /// Why it is broken, else `null`.
    pub problem: Option<String>,
    /// Entry number of its usr partition; `null` when not found (a signed slot's pair
    /// must carry the UUIDs its root hash gives).
    pub usr_partition: Option<u32>,
    /// Entry number of its usr-verity partition, found the same way.
    pub verity_partition: Option<u32>,
    /// Entry number of its usr-verity-sig partition.
    pub signature_partition: u32,
}

/// A UKI as systemd-boot sees it.
#[derive(Debug, Serialize)]
pub struct BootEntryJson {
    /// Path on the ESP.
    pub path: String,
    /// The entry id (file name without boot counter and `.efi`).
    pub id: String,
    /// `<version>` of a `<name>_<version>` id, or `null`.
    pub version: Option<String>,
    /// Tries left, `null` when the name has no boot counter (blessed).
    pub tries_left: Option<u32>,
    /// Tries used, `null` without a boot counter.
    pub tries_done: Option<u32>,
    /// The `usrhash=` of its command line, or `null`.
    pub usrhash: Option<String>,
}

/// A partition entry.
#[derive(Debug, Serialize)]
pub struct PartitionJson {
    /// 1-based entry number.
    pub number: u32,
    /// Type GUID.
    pub type_guid: String,
    /// The type's `systemd-id128` name (`esp`, `usr-x86-64-verity-sig`, ...) or `null`.
    pub type_name: Option<&'static str>,
    /// Partition label (GPT name).
    pub label: String,
    /// Unique partition GUID.
    pub uuid: String,
    /// First sector.
    pub first_lba: u64,
    /// Last sector (inclusive).
    pub last_lba: u64,
    /// Byte offset on the disk.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// The 64 attribute bits, as `0x` and 16 hex digits.
    pub attributes: String,
    /// Names of the set attribute bits: `required`, `no-block-io`,
    /// `legacy-bios-bootable`, `grow-fs`, `read-only`, `no-auto`, else `bit-<n>`.
    pub flags: Vec<String>,
}

/// The result of checking one signature.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Check {
    /// Verified against `--cert`.
    Verified {
        /// The signer's subject, when known.
        signer: Option<String>,
    },
    /// Checked against `--cert` and did not verify (or could not be checked).
    Bad {
        /// Why, in one line.
        reason: String,
    },
    /// No `--cert`: not checked.
    NotChecked {
        /// The subject of the certificate the signature carries, when it carries one.
        signer: Option<String>,
    },
    /// The file carries no signature (without `--cert`; with it, this is `bad`).
    Unsigned,
}

impl Check {
    fn human(&self) -> String {
        match self {
            Check::Verified { signer: Some(s) } => format!("verified (signed by {s})"),
            Check::Verified { signer: None } => "verified".into(),
            Check::Bad { reason } => format!("BAD: {reason}"),
            Check::NotChecked { signer: Some(s) } => format!("signed by {s}, not checked"),
            Check::NotChecked { signer: None } => "not checked (no --cert)".into(),
            Check::Unsigned => "unsigned".into(),
        }
    }
}

/// A `*-verity-sig` partition.
#[derive(Debug, Serialize)]
pub struct VeritySigJson {
    /// Entry number of the signature partition.
    pub partition: u32,
    /// Its label.
    pub label: String,
    /// `signed` (a JSON document), `empty` (all zero: an unused slot) or `malformed`.
    pub state: &'static str,
    /// Why the content is malformed, else `null`.
    pub problem: Option<String>,
    /// `rootHash` of the document.
    pub root_hash: Option<String>,
    /// `certificateFingerprint` of the document (SHA-256 of the DER certificate).
    pub certificate_fingerprint: Option<String>,
    /// The signature check; `null` for an empty partition.
    pub signature: Option<Check>,
    /// The data partition (usr or root) the root hash names, when the hash is valid.
    pub data_partition: Option<UuidMatch>,
    /// The verity hash partition the root hash names, when the hash is valid.
    pub verity_partition: Option<UuidMatch>,
}

/// Whether a partition carries the UUID derived from a root hash (DPS: first 128 bits
/// for the data partition, last 128 bits for the verity partition).
#[derive(Debug, Serialize)]
pub struct UuidMatch {
    /// The partition type looked for (`systemd-id128` name).
    pub type_name: &'static str,
    /// The UUID derived from the root hash.
    pub expected_uuid: String,
    /// The partition of that type with that UUID; failing that, the one of that type
    /// with the signature partition's label; else `null`.
    pub partition: Option<u32>,
    /// That partition's UUID.
    pub uuid: Option<String>,
    /// True if a partition of that type has the expected UUID.
    pub matches: bool,
}

/// An EFI System Partition.
#[derive(Debug, Serialize)]
pub struct EspJson {
    /// Entry number.
    pub partition: u32,
    /// Why the FAT file system could not be read, else `null` (then the lists are empty).
    pub problem: Option<String>,
    /// FAT volume label.
    pub volume_label: Option<String>,
    /// Contents of `loader/loader.conf`, or `null` if absent.
    pub loader_conf: Option<String>,
    /// Every file, depth first in directory order.
    pub files: Vec<EspFileJson>,
    /// Every file whose name ends in `.efi` (any case).
    pub efi: Vec<EfiJson>,
    /// The UKIs in `EFI/Linux/`, with systemd-boot's boot counting.
    pub boot_entries: Vec<BootEntryJson>,
}

/// A file on an ESP.
#[derive(Debug, Serialize)]
pub struct EspFileJson {
    /// Path from the root, `/`-separated, as the long names spell it.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// An EFI binary on an ESP.
#[derive(Debug, Serialize)]
pub struct EfiJson {
    /// Path from the root of the ESP.
    pub path: String,
    /// The Authenticode check.
    pub authenticode: Check,
    /// For a UKI (a PE image with a `.linux` section): its text sections, else `null`.
    pub uki: Option<UkiJson>,
}

/// The text sections of a UKI.
#[derive(Debug, Serialize)]
pub struct UkiJson {
    /// `.cmdline`.
    pub cmdline: Option<String>,
    /// `.osrel`.
    pub os_release: Option<String>,
    /// `.uname`.
    pub uname: Option<String>,
}

/// The certificate signatures were checked against.
#[derive(Debug, Serialize)]
pub struct CertJson {
    /// The path given.
    pub path: String,
    /// Its subject.
    pub subject: String,
    /// SHA-256 of its DER encoding.
    pub fingerprint: String,
}

/// Run `stela inspect`.
pub fn run(args: InspectArgs) -> anyhow::Result<Outcome> {
    let trusted = args
        .cert
        .as_deref()
        .map(|p| {
            Certificate::from_file(p)
                .with_context(|| format!("reading the certificate {}", p.display()))
        })
        .transpose()?;
    let report = inspect(
        &args.image,
        trusted.as_ref().map(|c| (args.cert.as_deref(), c)),
    )?;
    if args.json {
        crate::output::print_json(&report)?;
    } else {
        print_human(&report);
    }
    Ok(match report.all_verified {
        Some(false) => Outcome::CheckFailed,
        _ => Outcome::Success,
    })
}

/// Read everything `inspect` reports from the image at `path`.
fn inspect(
    path: &std::path::Path,
    trusted: Option<(Option<&std::path::Path>, &Certificate)>,
) -> anyhow::Result<Report> {
    let disk = StelaDisk::open(path)?;
    let checked = trusted.map(|(_, c)| disk.check(c));
    let faults = match &checked {
        Some(v) => v.faults.clone(),
        None => disk.faults(),
    };
    Ok(Report {
        image: path.display().to_string(),
        disk_size: disk.gpt().disk_size,
        disk_guid: disk.gpt().disk_guid.to_string(),
        sector_size: SECTOR_SIZE,
        partitions: disk.gpt().partitions.iter().map(partition_json).collect(),
        verity_signatures: disk
            .signatures()
            .iter()
            .map(|s| verity_sig(s, checked.as_ref()))
            .collect(),
        esps: disk
            .esps()
            .iter()
            .map(|e| {
                let n = e.partition.index;
                match &e.contents {
                    Ok(c) => esp(n, c, checked.as_ref()),
                    Err(problem) => EspJson {
                        partition: n,
                        problem: Some(problem.clone()),
                        volume_label: None,
                        loader_conf: None,
                        files: Vec::new(),
                        efi: Vec::new(),
                        boot_entries: Vec::new(),
                    },
                }
            })
            .collect(),
        checked_against: trusted.map(|(p, c)| CertJson {
            path: p.map(|p| p.display().to_string()).unwrap_or_default(),
            subject: c.subject(),
            fingerprint: hex::encode(c.sha256_fingerprint()),
        }),
        all_verified: checked.as_ref().map(Verification::all_verified),
        slots: disk.slots().iter().map(slot_json).collect(),
        default_slot: disk.default_slot().map(|s| s.id.to_string()),
        faults: faults.iter().map(ToString::to_string).collect(),
    })
}

fn slot_json(s: &stela_image::Slot) -> SlotJson {
    use stela_image::SlotState;
    let (state, problem) = match &s.state {
        SlotState::Installed { .. } => ("installed", None),
        SlotState::Empty => ("empty", None),
        SlotState::Broken { problem } => ("broken", Some(problem.clone())),
    };
    SlotJson {
        slot: s.id.to_string(),
        label: s.label().to_owned(),
        state,
        version: s.version().map(str::to_owned),
        root_hash: s.root_hash().map(ToString::to_string),
        problem,
        usr_partition: s.usr.as_ref().map(|p| p.index),
        verity_partition: s.verity.as_ref().map(|p| p.index),
        signature_partition: s.signature.index,
    }
}

fn partition_json(p: &GptPartition) -> PartitionJson {
    let range = p.byte_range();
    PartitionJson {
        number: p.index,
        type_guid: p.type_guid.to_string(),
        type_name: types::name_of(p.type_guid),
        label: p.label.clone(),
        uuid: p.guid.to_string(),
        first_lba: p.first_lba,
        last_lba: p.last_lba,
        start: range.start,
        size: range.end - range.start,
        attributes: format!("{:#018x}", p.attributes.bits()),
        flags: flag_names(p.attributes.bits()),
    }
}

fn flag_names(bits: u64) -> Vec<String> {
    use stela_gpt::Attributes as A;
    (0..64)
        .filter(|b| bits & (1u64 << b) != 0)
        .map(|b| {
            match b {
                A::REQUIRED => "required",
                A::NO_BLOCK_IO => "no-block-io",
                A::LEGACY_BIOS_BOOTABLE => "legacy-bios-bootable",
                A::GROW_FS => "grow-fs",
                A::READ_ONLY => "read-only",
                A::NO_AUTO => "no-auto",
                _ => return format!("bit-{b}"),
            }
            .to_owned()
        })
        .collect()
}

fn check_json(c: &stela_image::Check) -> Check {
    match c {
        stela_image::Check::Verified { signer } => Check::Verified {
            signer: signer.clone(),
        },
        stela_image::Check::Bad { reason } => Check::Bad {
            reason: reason.clone(),
        },
    }
}

fn verity_sig(s: &SignaturePartition, checked: Option<&Verification>) -> VeritySigJson {
    let n = s.partition.index;
    let mut out = VeritySigJson {
        partition: n,
        label: s.partition.label.clone(),
        state: s.content.state(),
        problem: None,
        root_hash: None,
        certificate_fingerprint: None,
        signature: checked.and_then(|v| v.verity_check(n)).map(check_json),
        data_partition: None,
        verity_partition: None,
    };
    match &s.content {
        SignatureContent::Empty => {}
        SignatureContent::Malformed { problem } => out.problem = Some(problem.clone()),
        SignatureContent::Signed {
            document,
            data,
            verity,
        } => {
            out.signature
                .get_or_insert(Check::NotChecked { signer: None });
            out.root_hash = Some(document.root_hash.to_string());
            out.certificate_fingerprint = Some(document.certificate_fingerprint.clone());
            out.data_partition = Some(uuid_match(data));
            out.verity_partition = Some(uuid_match(verity));
        }
    }
    out
}

fn uuid_match(m: &PairMember) -> UuidMatch {
    UuidMatch {
        type_name: types::name_of(m.type_guid).unwrap_or("unknown"),
        expected_uuid: m.expected_uuid.to_string(),
        partition: m.partition.as_ref().map(|p| p.index),
        uuid: m.partition.as_ref().map(|p| p.guid.to_string()),
        matches: m.matches,
    }
}

fn esp(partition: u32, c: &EspContents, checked: Option<&Verification>) -> EspJson {
    EspJson {
        partition,
        problem: None,
        volume_label: Some(c.volume_label.clone()),
        loader_conf: c.loader_conf.clone(),
        files: c
            .files
            .iter()
            .map(|f| EspFileJson {
                path: f.path.clone(),
                size: f.size,
            })
            .collect(),
        efi: c.efi.iter().map(|b| efi(partition, b, checked)).collect(),
        boot_entries: c
            .boot_entries
            .iter()
            .map(|e| BootEntryJson {
                path: e.path.clone(),
                id: e.id.clone(),
                version: e.version().map(str::to_owned),
                tries_left: e.tries.map(|t| t.left),
                tries_done: e.tries.map(|t| t.done),
                usrhash: e.usrhash.map(|h| h.to_string()),
            })
            .collect(),
    }
}

fn efi(esp: u32, b: &EfiBinary, checked: Option<&Verification>) -> EfiJson {
    let authenticode = match checked {
        Some(v) => v
            .efi_check(esp, &b.path)
            .map(check_json)
            .unwrap_or_else(|| Check::Bad {
                reason: "not checked".into(),
            }),
        None => match &b.claimed_signer {
            Ok(ClaimedSigner::Unsigned) => Check::Unsigned,
            Ok(ClaimedSigner::Subject(s)) => Check::NotChecked {
                signer: Some(s.clone()),
            },
            Ok(ClaimedSigner::Unreadable { .. }) => Check::NotChecked {
                signer: Some("an unreadable signature".into()),
            },
            Err(e) => Check::NotChecked {
                signer: Some(format!("? ({e})")),
            },
        },
    };
    EfiJson {
        path: b.path.clone(),
        authenticode,
        uki: b.uki.as_ref().map(|u| UkiJson {
            cmdline: u.cmdline.clone(),
            os_release: u.os_release.clone(),
            uname: u.uname.clone(),
        }),
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn print_human(r: &Report) {
    println!(
        "{}: GPT disk {}, {} bytes ({}), {} partitions",
        r.image,
        r.disk_guid,
        r.disk_size,
        human_size(r.disk_size),
        r.partitions.len()
    );
    if let Some(c) = &r.checked_against {
        println!(
            "checking signatures against {} ({}, sha256 {})",
            c.path, c.subject, c.fingerprint
        );
    }
    println!();
    println!(
        "  {:>3}  {:>10}  {:>10}  {:>10}  {:<24}  {:<36}  label",
        "#", "start", "end", "size", "type", "partition uuid"
    );
    for p in &r.partitions {
        let type_name = p
            .type_name
            .map_or_else(|| p.type_guid.clone(), str::to_owned);
        println!(
            "  {:>3}  {:>10}  {:>10}  {:>10}  {:<24}  {:<36}  {}",
            p.number,
            p.first_lba,
            p.last_lba,
            human_size(p.size),
            type_name,
            p.uuid,
            p.label
        );
        if !p.flags.is_empty() {
            println!(
                "  {:>3}  attributes {} ({})",
                "",
                p.attributes,
                p.flags.join(", ")
            );
        }
    }
    for v in &r.verity_signatures {
        println!();
        println!(
            "verity signature, partition {} ({:?}): {}",
            v.partition, v.label, v.state
        );
        if let Some(problem) = &v.problem {
            println!("  {:<19} {problem}", "problem:");
        }
        if let Some(h) = &v.root_hash {
            println!("  {:<19} {h}", "root hash:");
        }
        if let Some(f) = &v.certificate_fingerprint {
            println!("  {:<19} sha256 {f}", "certificate:");
        }
        if let Some(s) = &v.signature {
            println!("  {:<19} {}", "signature:", s.human());
        }
        for m in [&v.data_partition, &v.verity_partition]
            .into_iter()
            .flatten()
        {
            let what = match (m.matches, m.partition) {
                (true, Some(n)) => {
                    format!("partition {n} has the derived uuid {}", m.expected_uuid)
                }
                (false, Some(n)) => format!(
                    "MISMATCH: partition {n} has uuid {}, the root hash gives {}",
                    m.uuid.as_deref().unwrap_or("?"),
                    m.expected_uuid
                ),
                (_, None) => format!("MISSING: no partition with uuid {}", m.expected_uuid),
            };
            println!("  {:<19} {what}", format!("{}:", m.type_name));
        }
    }
    for e in &r.esps {
        println!();
        match &e.volume_label {
            Some(l) => println!("ESP, partition {} (FAT volume {l:?})", e.partition),
            None => println!("ESP, partition {}", e.partition),
        }
        if let Some(problem) = &e.problem {
            println!("  cannot read: {problem}");
            continue;
        }
        match &e.loader_conf {
            Some(conf) => {
                println!("  loader/loader.conf:");
                for line in conf.lines() {
                    println!("    {line}");
                }
            }
            None => println!("  loader/loader.conf: absent"),
        }
        println!("  files:");
        for f in &e.files {
            println!("    {:>12}  {}", f.size, f.path);
        }
        for f in &e.efi {
            println!("  {}: {}", f.path, f.authenticode.human());
            if let Some(u) = &f.uki {
                println!("    uname:   {}", u.uname.as_deref().unwrap_or("(none)"));
                println!("    cmdline: {}", u.cmdline.as_deref().unwrap_or("(none)"));
                match &u.os_release {
                    Some(osrel) => {
                        println!("    os-release:");
                        for line in osrel.lines() {
                            println!("      {line}");
                        }
                    }
                    None => println!("    os-release: (none)"),
                }
            }
        }
    }
    if !r.faults.is_empty() {
        println!();
        println!("faults:");
        for f in &r.faults {
            println!("  {f}");
        }
    }
    if let Some(ok) = r.all_verified {
        println!();
        println!(
            "{}",
            if ok {
                "all signatures verified"
            } else {
                "NOT all signatures verified"
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_bits_are_named() {
        assert_eq!(flag_names(0), Vec::<String>::new());
        assert_eq!(
            flag_names((1 << 60) | (1 << 63) | 1 | (1 << 48)),
            ["required", "bit-48", "read-only", "no-auto"]
        );
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(64 << 20), "64.0 MiB");
        assert_eq!(human_size(1536), "1.5 KiB");
    }
}
