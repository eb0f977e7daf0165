//! `stela inspect`: what a disk image holds, and whether its signatures hold.
//!
//! Reads the GPT, every verity signature partition (`*-verity-sig`, the JSON document of
//! the Discoverable Partitions Specification) and every ESP (FAT, read with `fatfs`
//! through a window bounded to the partition), and checks the signatures against a
//! certificate when one is given. The image is opened read-only and never changed.
//!
//! Exit status: 0 when done (and, with `--cert`, every signature verified); 1 when
//! `--cert` was given and a signature did not verify (or could not be checked, or an
//! EFI binary is unsigned); 2 when the image cannot be read or is not a GPT disk.
//!
//! # JSON (`--json`)
//!
//! One object, [`Report`]; the field names below are stable. Byte counts are numbers,
//! GUIDs lowercase `8-4-4-4-12` text, hashes lowercase hex.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use stela_gpt::{types, GptDisk, GptError, GptPartition, Guid, VerityPartitionUuids};
use stela_keys::pkcs7::SignedMessage;
use stela_keys::verity_sig::VeritySignatureDocument;
use stela_keys::Certificate;

use crate::Outcome;

/// Sector size stela-gpt reads and writes.
const SECTOR_SIZE: u64 = 512;

/// Largest verity signature partition content read: the DPS document is a few KiB,
/// anything far larger is not one and must not be pulled into memory.
const MAX_SIGNATURE_BYTES: u64 = 1 << 20;

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
    /// With `--cert`: true if every signature verified. Without: `null`.
    pub all_verified: Option<bool>,
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

    fn failed(&self) -> bool {
        matches!(self, Check::Bad { .. })
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
fn inspect(path: &Path, trusted: Option<(Option<&Path>, &Certificate)>) -> anyhow::Result<Report> {
    let name = path.display().to_string();
    let mut file = File::open(path).with_context(|| format!("opening {name}"))?;
    let disk = match GptDisk::read(&mut file) {
        Ok(disk) => disk,
        Err(e @ (GptError::Io { .. } | GptError::File { .. })) => {
            return Err(e).with_context(|| format!("reading {name}"))
        }
        Err(e) => return Err(e).with_context(|| format!("{name} is not a GPT disk image")),
    };
    let cert = trusted.map(|(_, c)| c);
    let partitions = disk.partitions.iter().map(partition_json).collect();
    let mut verity_signatures = Vec::new();
    let mut esps = Vec::new();
    for p in &disk.partitions {
        if let Some((data_type, verity_type)) = signed_types(p.type_guid) {
            let bytes = read_partition(&mut file, p, MAX_SIGNATURE_BYTES)
                .with_context(|| format!("reading partition {} of {name}", p.index))?;
            verity_signatures.push(verity_sig(&disk, p, &bytes, data_type, verity_type, cert));
        } else if p.type_guid == types::ESP {
            let part = File::open(path).with_context(|| format!("opening {name}"))?;
            esps.push(
                esp(part, p, cert)
                    .with_context(|| format!("reading the ESP, partition {} of {name}", p.index))?,
            );
        }
    }
    let all_verified = cert.map(|_| {
        let sigs = verity_signatures
            .iter()
            .filter_map(|v| v.signature.as_ref());
        let efis = esps
            .iter()
            .flat_map(|e| e.efi.iter().map(|f| &f.authenticode));
        let esp_ok = esps.iter().all(|e| e.problem.is_none());
        esp_ok && !sigs.chain(efis).any(Check::failed)
    });
    Ok(Report {
        image: name,
        disk_size: disk.disk_size,
        disk_guid: disk.disk_guid.to_string(),
        sector_size: SECTOR_SIZE,
        partitions,
        verity_signatures,
        esps,
        checked_against: trusted.map(|(p, c)| CertJson {
            path: p.map(|p| p.display().to_string()).unwrap_or_default(),
            subject: c.subject(),
            fingerprint: hex::encode(c.sha256_fingerprint()),
        }),
        all_verified,
    })
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

/// For a verity signature type: the data and verity hash partition types it signs.
fn signed_types(t: Guid) -> Option<(Guid, Guid)> {
    [types::X86_64, types::ARM64].iter().find_map(|a| {
        if t == a.usr_verity_sig {
            Some((a.usr, a.usr_verity))
        } else if t == a.root_verity_sig {
            Some((a.root, a.root_verity))
        } else {
            None
        }
    })
}

fn read_partition(file: &mut File, p: &GptPartition, cap: u64) -> std::io::Result<Vec<u8>> {
    let range = p.byte_range();
    let len = (range.end - range.start).min(cap);
    file.seek(SeekFrom::Start(range.start))?;
    let mut bytes = Vec::new();
    file.take(len).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn verity_sig(
    disk: &GptDisk,
    p: &GptPartition,
    bytes: &[u8],
    data_type: Guid,
    verity_type: Guid,
    cert: Option<&Certificate>,
) -> VeritySigJson {
    let mut out = VeritySigJson {
        partition: p.index,
        label: p.label.clone(),
        state: "empty",
        problem: None,
        root_hash: None,
        certificate_fingerprint: None,
        signature: None,
        data_partition: None,
        verity_partition: None,
    };
    if bytes.iter().all(|&b| b == 0) {
        return out;
    }
    let doc = match VeritySignatureDocument::from_partition_bytes(bytes) {
        Ok(doc) => doc,
        Err(e) => {
            out.state = "malformed";
            out.problem = Some(e.to_string());
            out.signature = cert.map(|_| Check::Bad {
                reason: format!("malformed signature partition: {e}"),
            });
            return out;
        }
    };
    out.state = "signed";
    out.signature = Some(match cert {
        Some(c) => match doc.verify(c) {
            Ok(()) => Check::Verified { signer: None },
            Err(e) => Check::Bad {
                reason: e.to_string(),
            },
        },
        None => Check::NotChecked { signer: None },
    });
    if let Some(hash) = root_hash_bytes(&doc.root_hash) {
        let uuids = VerityPartitionUuids::from_root_hash(&hash);
        out.data_partition = Some(uuid_match(disk, p, data_type, uuids.data));
        out.verity_partition = Some(uuid_match(disk, p, verity_type, uuids.verity));
    } else {
        out.problem = Some(format!("rootHash {:?} is not 64 hex digits", doc.root_hash));
    }
    out.root_hash = Some(doc.root_hash);
    out.certificate_fingerprint = Some(doc.certificate_fingerprint);
    out
}

fn root_hash_bytes(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.trim()).ok()?;
    bytes.try_into().ok()
}

fn uuid_match(disk: &GptDisk, sig: &GptPartition, type_guid: Guid, expected: Guid) -> UuidMatch {
    let of_type = || disk.partitions.iter().filter(|q| q.type_guid == type_guid);
    let exact = of_type().find(|q| q.guid == expected);
    let found = exact.or_else(|| of_type().find(|q| q.label == sig.label));
    UuidMatch {
        type_name: types::name_of(type_guid).unwrap_or("unknown"),
        expected_uuid: expected.to_string(),
        partition: found.map(|q| q.index),
        uuid: found.map(|q| q.guid.to_string()),
        matches: exact.is_some(),
    }
}

fn esp(file: File, p: &GptPartition, cert: Option<&Certificate>) -> anyhow::Result<EspJson> {
    let mut out = EspJson {
        partition: p.index,
        problem: None,
        volume_label: None,
        loader_conf: None,
        files: Vec::new(),
        efi: Vec::new(),
    };
    let range = p.byte_range();
    let window = stela_esp::Window::new(file, range.start, range.end - range.start)
        .context("seeking to the partition")?;
    // The file is open read-only: should fatfs try to write (it only does to repair
    // its FSInfo sector), the write fails and the image stays as it was.
    let fs = match fatfs::FileSystem::new(window, fatfs::FsOptions::new()) {
        Ok(fs) => fs,
        Err(e) => {
            out.problem = Some(format!("no FAT file system: {e}"));
            return Ok(out);
        }
    };
    out.volume_label = Some(fs.volume_label().trim_end().to_owned());
    let mut stack = vec![(String::new(), fs.root_dir())];
    while let Some((prefix, dir)) = stack.pop() {
        let mut subdirs = Vec::new();
        for entry in dir.iter() {
            let entry = entry.with_context(|| format!("listing /{prefix}"))?;
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            let path = format!("{prefix}{name}");
            if entry.is_dir() {
                subdirs.push((format!("{path}/"), entry.to_dir()));
            } else {
                out.files.push(EspFileJson {
                    path,
                    size: entry.len(),
                });
            }
        }
        // Depth first, in directory order: push in reverse so the first is popped first.
        stack.extend(subdirs.into_iter().rev());
    }
    let read = |path: &str| -> anyhow::Result<Vec<u8>> {
        let mut f = fs
            .root_dir()
            .open_file(path)
            .with_context(|| format!("opening {path}"))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .with_context(|| format!("reading {path}"))?;
        Ok(bytes)
    };
    if let Some(conf) = out
        .files
        .iter()
        .find(|f| f.path.eq_ignore_ascii_case("loader/loader.conf"))
    {
        out.loader_conf = Some(String::from_utf8_lossy(&read(&conf.path)?).into_owned());
    }
    for f in &out.files {
        if !f.path.to_ascii_lowercase().ends_with(".efi") {
            continue;
        }
        let bytes = read(&f.path)?;
        out.efi.push(efi(&f.path, &bytes, cert));
    }
    Ok(out)
}

fn efi(path: &str, bytes: &[u8], cert: Option<&Certificate>) -> EfiJson {
    let authenticode = match cert {
        Some(c) => match stela_pe::authenticode::verify(path, bytes, c) {
            Ok(report) => match report.verdict() {
                stela_pe::authenticode::Verdict::Verified { signer } => Check::Verified {
                    signer: Some(signer),
                },
                stela_pe::authenticode::Verdict::Unsigned => Check::Bad {
                    reason: "unsigned".into(),
                },
                stela_pe::authenticode::Verdict::Bad { reason } => Check::Bad { reason },
                stela_pe::authenticode::Verdict::CannotCheck { reason } => Check::Bad {
                    reason: format!("cannot check: {reason}"),
                },
            },
            Err(e) => Check::Bad {
                reason: e.to_string(),
            },
        },
        None => unchecked_signer(path, bytes),
    };
    let uki = stela_pe::uki::inspect(path, bytes)
        .ok()
        .filter(|info| info.sections.iter().any(|s| s.name == ".linux"))
        .map(|info| UkiJson {
            cmdline: info.cmdline,
            os_release: info.os_release,
            uname: info.uname,
        });
    EfiJson {
        path: path.to_owned(),
        authenticode,
        uki,
    }
}

/// Without `--cert`: who the first signature says signed the file, unchecked.
fn unchecked_signer(path: &str, bytes: &[u8]) -> Check {
    let image = match stela_pe::PeImage::parse(path, bytes) {
        Ok(image) => image,
        Err(e) => {
            return Check::NotChecked {
                signer: Some(format!("? (not a PE image: {e})")),
            }
        }
    };
    let certs = match image.certificates() {
        Ok(certs) => certs,
        Err(e) => {
            return Check::NotChecked {
                signer: Some(format!("? ({e})")),
            }
        }
    };
    let Some(first) = certs.first() else {
        return Check::Unsigned;
    };
    let signer = (first.certificate_type == stela_pe::format::WIN_CERT_TYPE_PKCS_SIGNED_DATA)
        .then(|| der_prefix(first.data))
        .flatten()
        .and_then(|der| SignedMessage::from_der(der).ok())
        .and_then(|msg| msg.certificates().ok())
        .and_then(|certs| leaf_subject(&certs))
        .unwrap_or_else(|| "an unreadable signature".into());
    Check::NotChecked {
        signer: Some(signer),
    }
}

/// The subject of the certificate that issued none of the others (the signer's, in an
/// Authenticode chain).
fn leaf_subject(certs: &[Certificate]) -> Option<String> {
    certs
        .iter()
        .find(|c| {
            !certs
                .iter()
                .any(|other| *other != **c && other.is_issued_by(c))
        })
        .or(certs.first())
        .map(Certificate::subject)
}

/// The first DER element of `data` (`bCertificate` may end in alignment padding).
fn der_prefix(data: &[u8]) -> Option<&[u8]> {
    let first = *data.get(1)?;
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = data
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (2 + n, len)
    };
    data.get(..header.checked_add(len)?)
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
    fn der_prefix_cuts_padding_and_rejects_overruns() {
        assert_eq!(
            der_prefix(&[0x30, 0x01, 0xaa, 0, 0]),
            Some(&[0x30, 0x01, 0xaa][..])
        );
        let mut long = vec![0x30, 0x82, 0x01, 0x00];
        long.extend(vec![7u8; 0x100]);
        long.extend([0u8; 8]);
        assert_eq!(der_prefix(&long).map(<[u8]>::len), Some(0x104));
        assert_eq!(der_prefix(&[0x30, 0x05, 1, 2]), None);
        assert_eq!(der_prefix(&[0x30, 0x80]), None);
        assert_eq!(der_prefix(&[0x30]), None);
    }

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
