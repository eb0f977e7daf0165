//! The bodies of stela's fuzz targets, one function per target, shared by the cargo-fuzz
//! harness in `fuzz/` and by the corpus replay in this crate's tests (so that `cargo
//! test` runs every committed corpus input on every change).
//!
//! Each function feeds arbitrary bytes to the library entry points that `stela inspect`,
//! `stela keys`, the build and the update agent call on files an attacker can shape.
//! Errors are expected and ignored; a panic, a hang or an unbounded allocation is a bug.

use std::io::Cursor;
use std::path::Path;

/// A target's body: takes any bytes, may return early, must not panic.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name (the file names under `fuzz/fuzz_targets/` and the
/// directories under `fuzz/corpus/`), with their bodies.
pub const TARGETS: &[(&str, Target)] = &[
    ("gpt", gpt),
    ("gpt_crc_fixed", gpt_crc_fixed),
    ("pe", pe),
    ("efivars", efivars),
    ("pkcs7", pkcs7),
    ("verity_superblock", verity_superblock),
    ("esp", esp),
    ("recipe", recipe),
    ("ipe_policy", ipe_policy),
    ("erofs", erofs),
];

/// A certificate to verify signatures against: whatever the input, verification must
/// answer, not crash.
fn trusted() -> Option<stela_keys::Certificate> {
    const DB: &[u8] = include_bytes!("../data/db.crt");
    stela_keys::Certificate::from_pem_or_der(DB, "the fuzz certificate").ok()
}

/// `GptDisk::read` on the input as a disk image (512-byte sectors).
pub fn gpt(data: &[u8]) {
    let _ = stela_gpt::GptDisk::read(&mut Cursor::new(data));
}

/// The input as a disk image whose GPT header and entry array CRCs (primary, and
/// backup where the primary points) are made right first: random bytes seldom get past
/// a CRC, so this reaches the checks behind them.
pub fn gpt_crc_fixed(data: &[u8]) {
    let mut disk = data.to_vec();
    fix_gpt_crcs(&mut disk);
    gpt(&disk);
}

/// Make the primary GPT header's CRCs right, then those of the backup header it points
/// at, in place (for crafting disks whose other fields are wrong on purpose).
pub fn fix_gpt_crcs(disk: &mut [u8]) {
    if let Some(backup) = fix_gpt_header(disk, 1) {
        fix_gpt_header(disk, backup);
    }
}

/// Largest entry array whose CRC the harness recomputes (the reader has its own bound).
const MAX_FIXED_ARRAY: u64 = 1 << 20;

/// Recompute the entry array CRC and the header CRC of the header at `lba`, in place,
/// when the fields they depend on fit the disk. Returns the header's AlternateLBA.
fn fix_gpt_header(disk: &mut [u8], lba: u64) -> Option<u64> {
    let at = usize::try_from(lba.checked_mul(512)?).ok()?;
    let header = disk.get(at..at.checked_add(512)?)?;
    let u32_at =
        |o: usize| u32::from_le_bytes([header[o], header[o + 1], header[o + 2], header[o + 3]]);
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[o..o + 8]);
        u64::from_le_bytes(b)
    };
    let header_size = u32_at(12) as usize;
    let alternate = u64_at(32);
    let entries_lba = u64_at(72);
    let array_len = u64::from(u32_at(80)) * u64::from(u32_at(84));
    if array_len <= MAX_FIXED_ARRAY {
        let start = entries_lba
            .checked_mul(512)
            .and_then(|s| usize::try_from(s).ok());
        let end = start.and_then(|s| s.checked_add(array_len as usize));
        if let (Some(s), Some(e)) = (start, end) {
            if let Some(array) = disk.get(s..e) {
                let crc = crc32fast::hash(array).to_le_bytes();
                disk[at + 88..at + 92].copy_from_slice(&crc);
            }
        }
    }
    if (92..=512).contains(&header_size) {
        disk[at + 16..at + 20].fill(0);
        let crc = crc32fast::hash(&disk[at..at + header_size]).to_le_bytes();
        disk[at + 16..at + 20].copy_from_slice(&crc);
    }
    Some(alternate)
}

/// A PE image: parsed, inspected as a UKI, and its Authenticode signatures verified.
pub fn pe(data: &[u8]) {
    let _ = stela_pe::PeImage::parse("fuzz.efi", data);
    let _ = stela_pe::uki::inspect("fuzz.efi", data);
    if let Some(cert) = trusted() {
        let _ = stela_pe::authenticode::verify("fuzz.efi", data, &cert);
    }
}

/// EFI variables: signature lists, authenticated variables (and their signatures), load
/// options, BootOrder and EFI_TIME.
pub fn efivars(data: &[u8]) {
    let _ = stela_efivars::parse_lists(data);
    if let Ok(auth) = stela_efivars::AuthenticatedVariable::parse(data) {
        if let Some(cert) = trusted() {
            let _ = auth.verify_secure_boot(stela_efivars::SecureBootVariable::Db, &cert);
        }
    }
    let _ = stela_efivars::loadopt::LoadOption::parse(data);
    let _ = stela_efivars::loadopt::parse_boot_order(data);
    if let Some(time) = data.first_chunk::<16>() {
        let _ = stela_efivars::EfiTime::from_bytes(time);
    }
}

/// A PKCS#7 signed message (root hash signatures, `.auth` payloads): parsed and
/// verified, detached and attached.
pub fn pkcs7(data: &[u8]) {
    if let Ok(message) = stela_keys::pkcs7::SignedMessage::from_der(data) {
        if let Some(cert) = trusted() {
            let _ = message.verify(Some(b"fuzz"), &cert);
            let _ = message.verify(None, &cert);
        }
    }
}

/// A dm-verity superblock.
pub fn verity_superblock(data: &[u8]) {
    if let Some(block) = data.first_chunk::<{ stela_verity::superblock::SUPERBLOCK_SIZE }>() {
        let _ = stela_verity::Superblock::parse(block);
    }
}

/// A FAT file system (the ESP): opened, listed, and every file read (at most 1 MiB each).
pub fn esp(data: &[u8]) {
    let len = data.len() as u64;
    let Ok(reader) = stela_esp::EspReader::open(Cursor::new(data), 0, len) else {
        return;
    };
    let _ = reader.volume_label();
    if let Ok(files) = reader.files() {
        for f in files.iter().take(64) {
            let _ = reader.read(&f.path, 1 << 20);
        }
    }
}

/// A recipe, as `stela build` reads it (host paths resolve under a directory that does
/// not exist).
pub fn recipe(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ =
            stela_recipe::Recipe::parse(text, "fuzz.toml", Path::new("/nonexistent-stela-fuzz"));
    }
}

/// An IPE policy as `stela ipe check` reads one: DER (a first byte of 0x30) as a PKCS#7
/// message whose embedded data is the policy, anything else as the policy's text. A
/// policy that parses must parse again, equal, from the text stela writes for it (what
/// `stela ipe sign` signs).
pub fn ipe_policy(data: &[u8]) {
    let text = if data.first() == Some(&0x30) {
        stela_keys::pkcs7::SignedMessage::from_der(data)
            .ok()
            .and_then(|m| m.embedded_data().map(<[u8]>::to_vec))
    } else {
        Some(data.to_vec())
    };
    if let Some(Ok(policy)) = text.map(|t| stela_ipe::Policy::parse_bytes(&t)) {
        let again = stela_ipe::Policy::parse(&policy.to_text());
        assert_eq!(
            again.as_ref(),
            Ok(&policy),
            "the written text reads back differently"
        );
    }
}

/// The input as an erofs image, read as `stela ipe show` reads a slot's usr partition:
/// the host policy's path, a missing one, and a deeper one.
pub fn erofs(data: &[u8]) {
    let len = data.len() as u64;
    if let Ok(mut fs) = stela_erofs::Erofs::open(Cursor::new(data), 0, len) {
        for path in [
            "/lib/ipe/stela_host.p7b",
            "/missing",
            "/a/b/c/d/deep.bin",
            "/",
        ] {
            let _ = fs.read_file(path, 1 << 20);
        }
    }
}
