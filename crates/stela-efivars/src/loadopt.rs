//! UEFI boot entries: `EFI_LOAD_OPTION` (the content of `Boot####`), with the two device
//! path nodes a boot loader on a GPT disk needs, and `BootOrder` / `BootNext`.
//!
//! UEFI 2.10, 3.1.3 "Load Options" and 10.3 "Device Path Nodes". A boot entry for a file
//! on the ESP is a short-form device path: a hard drive node (partition number, start and
//! size in logical blocks, the partition's unique GUID) followed by a file path node and
//! the end node. Firmware finds the partition by its GUID on whatever controller the disk
//! sits behind, which is what `efibootmgr` writes too.
//!
//! ```
//! use stela_efivars::loadopt::{HardDrive, LoadOption};
//! use stela_efivars::Guid;
//! let part: Guid = "11111111-2222-3333-4444-555555555555".parse()?;
//! let opt = LoadOption::new(
//!     "stela loader A",
//!     HardDrive { number: 1, start_lba: 2048, size_lba: 1_048_576, partition_guid: part },
//!     "EFI/stela/loader-a.efi",
//! )?;
//! let bytes = opt.encode();
//! assert_eq!(LoadOption::parse(&bytes)?, opt);
//! assert_eq!(LoadOption::parse(&bytes)?.file_path(), r"\EFI\stela\loader-a.efi");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::error::EfiVarsError;
use crate::guid::Guid;

/// `LOAD_OPTION_ACTIVE`: firmware may boot the entry.
pub const LOAD_OPTION_ACTIVE: u32 = 0x0000_0001;

/// Longest description accepted, in UTF-16 units (firmware menus show a line).
pub const MAX_DESCRIPTION: usize = 256;
/// Longest file path accepted, in UTF-16 units.
pub const MAX_PATH: usize = 512;

const MEDIA: u8 = 0x04;
const MEDIA_HARD_DRIVE: u8 = 0x01;
const MEDIA_FILE_PATH: u8 = 0x04;
const END: u8 = 0x7f;
const END_ENTIRE: u8 = 0xff;
const HARD_DRIVE_LEN: usize = 42;
/// `MBRType` 0x02: a GUID partition table.
const MBR_TYPE_GPT: u8 = 0x02;
/// `SignatureType` 0x02: the signature is the partition's unique GUID.
const SIGNATURE_GUID: u8 = 0x02;

fn bad(detail: impl Into<String>) -> EfiVarsError {
    EfiVarsError::LoadOption(detail.into())
}

/// The partition a boot entry points into (UEFI 2.10, 10.3.5.1 "Hard Drive").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HardDrive {
    /// The partition's number in the GPT, from 1.
    pub number: u32,
    /// Its first logical block.
    pub start_lba: u64,
    /// Its length in logical blocks.
    pub size_lba: u64,
    /// The partition's unique GUID.
    pub partition_guid: Guid,
}

/// One `EFI_LOAD_OPTION`: a description and a file on a GPT partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOption {
    attributes: u32,
    description: String,
    disk: HardDrive,
    /// UEFI's form: backslashes, leading backslash.
    file_path: String,
    optional_data: Vec<u8>,
}

impl LoadOption {
    /// An active entry booting `path` (with `/` or `\` separators) on `disk`.
    pub fn new(description: &str, disk: HardDrive, path: &str) -> Result<LoadOption, EfiVarsError> {
        let mut file_path = path.replace('/', "\\");
        if !file_path.starts_with('\\') {
            file_path.insert(0, '\\');
        }
        check_text("description", description, MAX_DESCRIPTION)?;
        check_text("file path", &file_path, MAX_PATH)?;
        if disk.number == 0 {
            return Err(bad(
                "hard drive node: partition number 0 (GPT numbers start at 1)",
            ));
        }
        Ok(LoadOption {
            attributes: LOAD_OPTION_ACTIVE,
            description: description.to_owned(),
            disk,
            file_path,
            optional_data: Vec::new(),
        })
    }

    /// The `Attributes` field.
    pub fn attributes(&self) -> u32 {
        self.attributes
    }

    /// Whether firmware may boot it.
    pub fn is_active(&self) -> bool {
        self.attributes & LOAD_OPTION_ACTIVE != 0
    }

    /// What the firmware's menu shows.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The partition.
    pub fn disk(&self) -> HardDrive {
        self.disk
    }

    /// The file, as UEFI writes it (`\EFI\...`).
    pub fn file_path(&self) -> &str {
        &self.file_path
    }

    /// The file as a path relative to the partition's root, with `/` (`EFI/...`).
    pub fn relative_path(&self) -> String {
        self.file_path.trim_start_matches('\\').replace('\\', "/")
    }

    /// Bytes after the device path, passed to the loaded image (none for stela's entries).
    pub fn optional_data(&self) -> &[u8] {
        &self.optional_data
    }

    /// The variable's content.
    pub fn encode(&self) -> Vec<u8> {
        let mut path = Vec::with_capacity(HARD_DRIVE_LEN + 8 + 2 * self.file_path.len());
        path.extend_from_slice(&[MEDIA, MEDIA_HARD_DRIVE]);
        path.extend_from_slice(&(HARD_DRIVE_LEN as u16).to_le_bytes());
        path.extend_from_slice(&self.disk.number.to_le_bytes());
        path.extend_from_slice(&self.disk.start_lba.to_le_bytes());
        path.extend_from_slice(&self.disk.size_lba.to_le_bytes());
        path.extend_from_slice(&self.disk.partition_guid.to_mixed_endian());
        path.extend_from_slice(&[MBR_TYPE_GPT, SIGNATURE_GUID]);
        let file = ucs2z(&self.file_path);
        path.extend_from_slice(&[MEDIA, MEDIA_FILE_PATH]);
        // Bounded by MAX_PATH in `new` and `parse`.
        path.extend_from_slice(&((4 + file.len()) as u16).to_le_bytes());
        path.extend_from_slice(&file);
        path.extend_from_slice(&[END, END_ENTIRE, 4, 0]);

        let mut out = Vec::new();
        out.extend_from_slice(&self.attributes.to_le_bytes());
        out.extend_from_slice(&(path.len() as u16).to_le_bytes());
        out.extend_from_slice(&ucs2z(&self.description));
        out.extend_from_slice(&path);
        out.extend_from_slice(&self.optional_data);
        out
    }

    /// Read a `Boot####` variable's content. Entries of other shapes (a network boot, a
    /// firmware application, a path through a controller) are refused with a message that
    /// says which node is not a hard drive and file path.
    pub fn parse(bytes: &[u8]) -> Result<LoadOption, EfiVarsError> {
        let attributes = u32::from_le_bytes(take::<4>(bytes, 0, "Attributes")?);
        let path_len = u16::from_le_bytes(take::<2>(bytes, 4, "FilePathListLength")?) as usize;
        let (description, desc_end) = read_ucs2z(bytes, 6, MAX_DESCRIPTION, "Description")?;
        let path_end = desc_end
            .checked_add(path_len)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                bad(format!(
                    "FilePathListLength {path_len} runs past the end of the {}-byte option",
                    bytes.len()
                ))
            })?;
        let path = &bytes[desc_end..path_end];
        let mut disk = None;
        let mut file_path = None;
        let mut at = 0usize;
        loop {
            let node_type = *path
                .get(at)
                .ok_or_else(|| bad(format!("device path ends at byte {at} without an end node")))?;
            let sub = *path
                .get(at + 1)
                .ok_or_else(|| bad("device path node truncated"))?;
            let len =
                u16::from_le_bytes(take::<2>(path, at + 2, "device path node Length")?) as usize;
            if len < 4 || at + len > path.len() {
                return Err(bad(format!(
                    "device path node at byte {at}: Length {len} is outside 4..={}",
                    path.len() - at
                )));
            }
            let body = &path[at + 4..at + len];
            match (node_type, sub) {
                (END, END_ENTIRE) => break,
                (MEDIA, MEDIA_HARD_DRIVE) if disk.is_none() && file_path.is_none() => {
                    if len != HARD_DRIVE_LEN {
                        return Err(bad(format!("hard drive node: Length {len}, not 42")));
                    }
                    if body[36] != MBR_TYPE_GPT || body[37] != SIGNATURE_GUID {
                        return Err(bad(format!(
                            "hard drive node: MBRType {} SignatureType {} (not a GPT partition GUID)",
                            body[36], body[37]
                        )));
                    }
                    let mut guid = [0u8; 16];
                    guid.copy_from_slice(&body[20..36]);
                    disk = Some(HardDrive {
                        number: u32::from_le_bytes(take::<4>(body, 0, "PartitionNumber")?),
                        start_lba: u64::from_le_bytes(take::<8>(body, 4, "PartitionStart")?),
                        size_lba: u64::from_le_bytes(take::<8>(body, 12, "PartitionSize")?),
                        partition_guid: Guid::from_mixed_endian(guid),
                    });
                }
                (MEDIA, MEDIA_FILE_PATH) if disk.is_some() && file_path.is_none() => {
                    let (p, end) = read_ucs2z(body, 0, MAX_PATH, "file path node")?;
                    if end != body.len() {
                        return Err(bad("file path node: bytes after the terminating NUL"));
                    }
                    file_path = Some(p);
                }
                _ => {
                    return Err(bad(format!(
                        "device path node at byte {at} (type {node_type:#04x}, subtype \
                         {sub:#04x}) is not the hard drive, file path, end sequence of a \
                         boot loader on a GPT disk"
                    )))
                }
            }
            at += len;
        }
        if at + 4 != path.len() {
            return Err(bad(format!(
                "{} bytes of FilePathList after its end node",
                path.len() - at - 4
            )));
        }
        let disk = disk.ok_or_else(|| bad("device path has no hard drive node"))?;
        let file_path = file_path.ok_or_else(|| bad("device path has no file path node"))?;
        Ok(LoadOption {
            attributes,
            description,
            disk,
            file_path,
            optional_data: bytes[path_end..].to_vec(),
        })
    }
}

/// `Boot####` for option number `n`.
pub fn boot_variable_name(n: u16) -> String {
    format!("Boot{n:04X}")
}

/// The option number of a `Boot####` name (four upper-case hex digits, as the
/// specification requires).
pub fn parse_boot_variable_name(name: &str) -> Option<u16> {
    let hex = name.strip_prefix("Boot")?;
    if hex.len() != 4
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
    {
        return None;
    }
    u16::from_str_radix(hex, 16).ok()
}

/// `BootOrder`'s content: option numbers, first tried first.
pub fn encode_boot_order(order: &[u16]) -> Vec<u8> {
    order.iter().flat_map(|n| n.to_le_bytes()).collect()
}

/// Read `BootOrder` (or any array of `UINT16`, such as `BootNext` and `BootCurrent`).
pub fn parse_boot_order(bytes: &[u8]) -> Result<Vec<u16>, EfiVarsError> {
    if bytes.len() % 2 != 0 {
        return Err(bad(format!(
            "BootOrder: {} bytes, not a whole number of UINT16",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect())
}

fn check_text(what: &str, s: &str, max: usize) -> Result<(), EfiVarsError> {
    if s.contains('\0') {
        return Err(bad(format!("{what} {s:?} contains NUL")));
    }
    if s.encode_utf16().count() > max {
        return Err(bad(format!("{what} is longer than {max} UTF-16 units")));
    }
    Ok(())
}

fn ucs2z(s: &str) -> Vec<u8> {
    s.encode_utf16()
        .chain(std::iter::once(0))
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// A NUL-terminated UTF-16LE string at `at`: the text and the offset after the NUL.
fn read_ucs2z(
    bytes: &[u8],
    at: usize,
    max: usize,
    field: &str,
) -> Result<(String, usize), EfiVarsError> {
    let mut units = Vec::new();
    let mut i = at;
    loop {
        let u = u16::from_le_bytes(take::<2>(bytes, i, field)?);
        i += 2;
        if u == 0 {
            break;
        }
        if units.len() == max {
            return Err(bad(format!("{field} is longer than {max} UTF-16 units")));
        }
        units.push(u);
    }
    let text = String::from_utf16(&units).map_err(|_| bad(format!("{field} is not UTF-16")))?;
    Ok((text, i))
}

fn take<const N: usize>(bytes: &[u8], at: usize, field: &str) -> Result<[u8; N], EfiVarsError> {
    bytes
        .get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| {
            bad(format!(
                "{field} at byte {at}: the option ends at {}",
                bytes.len()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esp() -> HardDrive {
        HardDrive {
            number: 1,
            start_lba: 2048,
            size_lba: 1_048_576,
            partition_guid: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
                .parse()
                .expect("guid"),
        }
    }

    #[test]
    fn encoding_matches_the_layout_of_the_specification() {
        let opt = LoadOption::new("A", esp(), "EFI/x.efi").expect("option");
        let b = opt.encode();
        // Attributes, FilePathListLength, "A\0".
        assert_eq!(&b[..4], &[1, 0, 0, 0]);
        let path_len = u16::from_le_bytes([b[4], b[5]]) as usize;
        assert_eq!(&b[6..10], &[b'A', 0, 0, 0]);
        // Hard drive node, then the file path node (\EFI\x.efi = 10 units + NUL), end.
        assert_eq!(path_len, 42 + 4 + 22 + 4);
        assert_eq!(&b[10..14], &[4, 1, 42, 0]);
        assert_eq!(&b[10 + 42..10 + 46], &[4, 4, 26, 0]);
        assert_eq!(&b[b.len() - 4..], &[0x7f, 0xff, 4, 0]);
        assert_eq!(b.len(), 10 + path_len);
        // The GUID in UEFI's mixed-endian order, then GPT and GUID signature types.
        assert_eq!(&b[10 + 24..10 + 28], &[0x28, 0x73, 0x2a, 0xc1]);
        assert_eq!(&b[10 + 40..10 + 42], &[2, 2]);
    }

    #[test]
    fn round_trip_and_paths() {
        let opt = LoadOption::new("stela loader B", esp(), "/EFI/stela/loader-b.efi").expect("ok");
        let back = LoadOption::parse(&opt.encode()).expect("parse");
        assert_eq!(back, opt);
        assert_eq!(back.file_path(), r"\EFI\stela\loader-b.efi");
        assert_eq!(back.relative_path(), "EFI/stela/loader-b.efi");
        assert!(back.is_active());
    }

    #[test]
    fn every_truncation_is_refused_with_a_field() {
        let bytes = LoadOption::new("stela", esp(), "EFI/a.efi")
            .expect("ok")
            .encode();
        for n in 0..bytes.len() {
            let err = LoadOption::parse(&bytes[..n]).expect_err("truncated");
            assert!(err.to_string().starts_with("load option: "), "{err}");
        }
    }

    #[test]
    fn other_device_paths_are_named() {
        let mut bytes = LoadOption::new("A", esp(), "EFI/a.efi")
            .expect("ok")
            .encode();
        // Turn the hard drive node (after "A\0") into a PCI node (type 1, subtype 1).
        assert_eq!(bytes[10], 4);
        bytes[10] = 1;
        let err = LoadOption::parse(&bytes).expect_err("pci");
        assert!(err.to_string().contains("type 0x01"), "{err}");
    }

    #[test]
    fn boot_order_and_names() {
        assert_eq!(encode_boot_order(&[1, 0x10]), [1, 0, 0x10, 0]);
        assert_eq!(parse_boot_order(&[1, 0, 0x10, 0]).expect("ok"), [1, 0x10]);
        assert!(parse_boot_order(&[1]).is_err());
        assert_eq!(boot_variable_name(0xa), "Boot000A");
        assert_eq!(parse_boot_variable_name("Boot000A"), Some(10));
        assert_eq!(parse_boot_variable_name("Boot000a"), None);
        assert_eq!(parse_boot_variable_name("BootOrder"), None);
    }
}
