//! Reading and validating a GPT: protective MBR, both headers, both entry arrays.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use crate::attributes::Attributes;
use crate::error::{GptError, HeaderKind};
use crate::format::{check_protective_mbr, Entry, Header, HeaderProblem, SECTOR_SIZE};
use crate::guid::Guid;

/// Largest entry array this reader accepts (the UEFI minimum is 16 KiB; tools use that).
const MAX_ENTRY_ARRAY: u64 = 1 << 20;

/// A partition as found in a GPT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GptPartition {
    /// 1-based entry number.
    pub index: u32,
    /// Partition type.
    pub type_guid: Guid,
    /// Unique partition GUID.
    pub guid: Guid,
    /// Name.
    pub label: String,
    /// Attribute bits.
    pub attributes: Attributes,
    /// First sector.
    pub first_lba: u64,
    /// Last sector (inclusive).
    pub last_lba: u64,
}

impl GptPartition {
    /// Byte range on the disk.
    pub fn byte_range(&self) -> Range<u64> {
        self.first_lba * SECTOR_SIZE..(self.last_lba + 1) * SECTOR_SIZE
    }
}

/// A GPT whose headers, CRCs and entries were all checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GptDisk {
    /// Disk GUID.
    pub disk_guid: Guid,
    /// Disk size in bytes.
    pub disk_size: u64,
    /// First LBA partitions may use.
    pub first_usable_lba: u64,
    /// Last LBA partitions may use (inclusive).
    pub last_usable_lba: u64,
    /// Used entries (non-nil type), in entry order.
    pub partitions: Vec<GptPartition>,
}

impl GptDisk {
    /// Reads the GPT of the image file at `path`.
    pub fn read_file(path: &Path) -> Result<GptDisk, GptError> {
        let mut file = std::fs::File::open(path).map_err(|source| GptError::File {
            action: "opening",
            path: path.to_owned(),
            source,
        })?;
        GptDisk::read(&mut file)
    }

    /// Reads and validates the GPT of a disk image with 512-byte sectors.
    ///
    /// Both headers must be present and intact, their CRCs and their entry arrays' CRCs
    /// must match, they must point at each other and describe the same table. Errors
    /// name the header (primary or backup) or the partition entry at fault.
    pub fn read<R: Read + Seek>(disk: &mut R) -> Result<GptDisk, GptError> {
        let disk_size = disk
            .seek(SeekFrom::End(0))
            .map_err(GptError::io("finding the disk size"))?;
        let total_sectors = disk_size / SECTOR_SIZE;
        if total_sectors < 3 {
            return Err(GptError::DiskTooSmall {
                size: disk_size,
                min: 3 * SECTOR_SIZE,
            });
        }
        let mbr = read_sector(disk, 0, "reading the protective MBR")?;
        check_protective_mbr(&mbr).map_err(|problem| GptError::NoProtectiveMbr { problem })?;

        let primary = read_header(disk, HeaderKind::Primary, 1, total_sectors)?;
        let primary_entries = read_entries(disk, HeaderKind::Primary, &primary, total_sectors)?;
        let backup = read_header(
            disk,
            HeaderKind::Backup,
            primary.alternate_lba,
            total_sectors,
        )?;
        let _ = read_entries(disk, HeaderKind::Backup, &backup, total_sectors)?;
        if backup.alternate_lba != 1 {
            return Err(field(
                HeaderKind::Backup,
                "AlternateLBA",
                backup.alternate_lba,
                "1".into(),
            ));
        }
        let disagree = |field| Err(GptError::HeadersDisagree { field });
        if backup.disk_guid != primary.disk_guid {
            return disagree("DiskGUID");
        }
        if (backup.first_usable_lba, backup.last_usable_lba)
            != (primary.first_usable_lba, primary.last_usable_lba)
        {
            return disagree("FirstUsableLBA / LastUsableLBA");
        }
        if (
            backup.number_of_partition_entries,
            backup.size_of_partition_entry,
        ) != (
            primary.number_of_partition_entries,
            primary.size_of_partition_entry,
        ) {
            return disagree("NumberOfPartitionEntries / SizeOfPartitionEntry");
        }
        if backup.partition_entry_array_crc32 != primary.partition_entry_array_crc32 {
            return disagree("PartitionEntryArrayCRC32 (the two entry arrays differ)");
        }

        let partitions = parse_entries(&primary, &primary_entries)?;
        Ok(GptDisk {
            disk_guid: primary.disk_guid,
            disk_size,
            first_usable_lba: primary.first_usable_lba,
            last_usable_lba: primary.last_usable_lba,
            partitions,
        })
    }
}

fn field(header: HeaderKind, field: &'static str, value: u64, expected: String) -> GptError {
    GptError::BadHeaderField {
        header,
        field,
        value,
        expected,
    }
}

fn read_sector<R: Read + Seek>(disk: &mut R, lba: u64, what: &str) -> Result<[u8; 512], GptError> {
    let mut s = [0u8; SECTOR_SIZE as usize];
    disk.seek(SeekFrom::Start(lba * SECTOR_SIZE))
        .and_then(|_| disk.read_exact(&mut s))
        .map_err(GptError::io(what))?;
    Ok(s)
}

fn read_header<R: Read + Seek>(
    disk: &mut R,
    kind: HeaderKind,
    lba: u64,
    total_sectors: u64,
) -> Result<Header, GptError> {
    let last = total_sectors - 1;
    if kind == HeaderKind::Backup && lba != last {
        // The backup header belongs at the last LBA; anything else means a resized disk
        // or a damaged primary header.
        return Err(field(
            HeaderKind::Primary,
            "AlternateLBA",
            lba,
            format!("the last LBA, {last}"),
        ));
    }
    let sector = read_sector(disk, lba, &format!("reading the {kind}"))?;
    let header = Header::decode(&sector).map_err(|problem| match problem {
        HeaderProblem::Signature => GptError::BadSignature { header: kind, lba },
        HeaderProblem::Crc { stored, computed } => GptError::HeaderCrcMismatch {
            header: kind,
            stored,
            computed,
        },
        HeaderProblem::Field {
            field: name,
            value,
            expected,
        } => field(kind, name, value, expected),
    })?;
    if header.my_lba != lba {
        return Err(field(kind, "MyLBA", header.my_lba, lba.to_string()));
    }
    if header.first_usable_lba > header.last_usable_lba || header.last_usable_lba >= last {
        return Err(field(
            kind,
            "LastUsableLBA",
            header.last_usable_lba,
            format!(
                "between FirstUsableLBA ({}) and the last LBA ({last})",
                header.first_usable_lba
            ),
        ));
    }
    let size = header.size_of_partition_entry;
    if size < 128 || !size.is_power_of_two() {
        return Err(field(
            kind,
            "SizeOfPartitionEntry",
            size.into(),
            "128 x 2^n".into(),
        ));
    }
    Ok(header)
}

fn read_entries<R: Read + Seek>(
    disk: &mut R,
    kind: HeaderKind,
    header: &Header,
    total_sectors: u64,
) -> Result<Vec<u8>, GptError> {
    let len =
        u64::from(header.number_of_partition_entries) * u64::from(header.size_of_partition_entry);
    if len > MAX_ENTRY_ARRAY {
        return Err(field(
            kind,
            "NumberOfPartitionEntries",
            header.number_of_partition_entries.into(),
            format!("an array of at most {MAX_ENTRY_ARRAY} bytes"),
        ));
    }
    let end_lba = header
        .partition_entry_lba
        .checked_add(len.div_ceil(SECTOR_SIZE));
    if header.partition_entry_lba < 2 || end_lba.is_none_or(|end| end > total_sectors) {
        return Err(field(
            kind,
            "PartitionEntryLBA",
            header.partition_entry_lba,
            "an array inside the disk".into(),
        ));
    }
    let mut array = vec![0u8; len as usize];
    disk.seek(SeekFrom::Start(header.partition_entry_lba * SECTOR_SIZE))
        .and_then(|_| disk.read_exact(&mut array))
        .map_err(GptError::io(format!(
            "reading the partition entry array of the {kind}"
        )))?;
    let computed = crc32fast::hash(&array);
    if computed != header.partition_entry_array_crc32 {
        return Err(GptError::EntriesCrcMismatch {
            header: kind,
            stored: header.partition_entry_array_crc32,
            computed,
        });
    }
    Ok(array)
}

fn parse_entries(header: &Header, array: &[u8]) -> Result<Vec<GptPartition>, GptError> {
    let mut partitions = Vec::new();
    for (i, raw) in array
        .chunks_exact(header.size_of_partition_entry as usize)
        .enumerate()
    {
        let entry = Entry::decode(raw);
        if entry.type_guid.is_nil() {
            continue;
        }
        let index = i as u32 + 1;
        if entry.starting_lba > entry.ending_lba
            || entry.starting_lba < header.first_usable_lba
            || entry.ending_lba > header.last_usable_lba
        {
            return Err(GptError::BadEntry {
                index,
                problem: format!(
                    "LBAs {}..={} are not inside the usable LBAs {}..={}",
                    entry.starting_lba,
                    entry.ending_lba,
                    header.first_usable_lba,
                    header.last_usable_lba
                ),
            });
        }
        partitions.push(GptPartition {
            index,
            type_guid: entry.type_guid,
            guid: entry.partition_guid,
            label: entry.label(),
            attributes: entry.attributes,
            first_lba: entry.starting_lba,
            last_lba: entry.ending_lba,
        });
    }
    for (i, a) in partitions.iter().enumerate() {
        if let Some(b) = partitions[i + 1..]
            .iter()
            .find(|b| a.first_lba <= b.last_lba && b.first_lba <= a.last_lba)
        {
            return Err(GptError::BadEntry {
                index: b.index,
                problem: format!("overlaps partition {}", a.index),
            });
        }
    }
    Ok(partitions)
}
