//! Planning: from partition sizes to sector ranges, before any byte is written.

use std::collections::HashMap;
use std::ops::Range;

use crate::attributes::Attributes;
use crate::error::GptError;
use crate::format::{
    Entry, Header, ENTRY_ARRAY_SECTORS, ENTRY_COUNT, ENTRY_SIZE, NAME_UNITS, SECTOR_SIZE,
};
use crate::guid::Guid;
use crate::reader::GptDisk;

/// Partitions start on 1 MiB boundaries, as fdisk, sgdisk and systemd-repart place them.
pub const ALIGNMENT: u64 = 1 << 20;
const ALIGNMENT_SECTORS: u64 = ALIGNMENT / SECTOR_SIZE;
/// LBA 0 (protective MBR), LBA 1 (header), then the entry array.
const FIRST_USABLE_LBA: u64 = 2 + ENTRY_ARRAY_SECTORS;
/// The backup entry array and backup header after the last usable LBA.
const BACKUP_SECTORS: u64 = ENTRY_ARRAY_SECTORS + 1;

/// One partition as the caller wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSpec {
    /// Partition type, e.g. [`crate::types::ESP`].
    pub type_guid: Guid,
    /// Unique partition GUID.
    pub guid: Guid,
    /// Name, at most 36 UTF-16 code units.
    pub label: String,
    /// Attribute bits.
    pub attributes: Attributes,
    /// Size in bytes; rounded up to whole 512-byte sectors.
    pub size: u64,
}

/// How large the disk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskSize {
    /// Just large enough: the last partition's end rounded up to 1 MiB, plus 1 MiB
    /// for the backup table (so the image size is a whole number of MiB).
    Fit,
    /// Exactly this many bytes (a multiple of 512).
    Bytes(u64),
}

/// A partition with its place on the disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedPartition {
    /// 1-based entry number (`/dev/sdaN`'s N).
    pub index: u32,
    /// What was asked for.
    pub spec: PartitionSpec,
    /// First sector.
    pub first_lba: u64,
    /// Last sector (inclusive, as GPT stores it).
    pub last_lba: u64,
}

impl PlacedPartition {
    /// Byte offset of the partition on the disk.
    pub fn offset(&self) -> u64 {
        self.first_lba * SECTOR_SIZE
    }
    /// Partition size in bytes (the requested size rounded up to sectors).
    pub fn len(&self) -> u64 {
        (self.last_lba + 1 - self.first_lba) * SECTOR_SIZE
    }
    /// Always false: planning rejects empty partitions.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Byte range on the disk.
    pub fn byte_range(&self) -> Range<u64> {
        self.offset()..self.offset() + self.len()
    }
}

/// A complete, validated GPT layout: the writer only renders it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskLayout {
    disk_guid: Guid,
    total_sectors: u64,
    partitions: Vec<PlacedPartition>,
}

impl DiskLayout {
    /// Places `partitions` one after another, each starting on a 1 MiB boundary, in the
    /// given order (entry 1 is the first).
    ///
    /// Errors name the partition: a label over 36 UTF-16 code units or containing NUL, a
    /// size of zero, a nil type or partition GUID, a GUID used twice (the disk GUID
    /// included), or a partition that does not end before the backup table.
    pub fn plan(
        disk_guid: Guid,
        partitions: &[PartitionSpec],
        size: DiskSize,
    ) -> Result<DiskLayout, GptError> {
        if partitions.len() > ENTRY_COUNT as usize {
            return Err(GptError::TooManyPartitions {
                count: partitions.len(),
            });
        }
        let fixed_sectors = match size {
            DiskSize::Fit => None,
            DiskSize::Bytes(bytes) => {
                if bytes % SECTOR_SIZE != 0 {
                    return Err(GptError::UnalignedDiskSize { size: bytes });
                }
                let min = (FIRST_USABLE_LBA + BACKUP_SECTORS) * SECTOR_SIZE;
                if bytes < min {
                    return Err(GptError::DiskTooSmall { size: bytes, min });
                }
                Some(bytes / SECTOR_SIZE)
            }
        };

        let mut seen: HashMap<Guid, String> = HashMap::new();
        seen.insert(disk_guid, "the disk".to_owned());
        let mut placed = Vec::with_capacity(partitions.len());
        let mut next_lba = ALIGNMENT_SECTORS;
        for (i, spec) in partitions.iter().enumerate() {
            let index = i as u32 + 1;
            validate(index, spec)?;
            if let Some(other) = seen.get(&spec.guid) {
                return Err(GptError::DuplicateGuid {
                    index,
                    label: spec.label.clone(),
                    guid: spec.guid,
                    other: other.clone(),
                });
            }
            seen.insert(spec.guid, format!("partition {index} ({:?})", spec.label));

            let overflow = || GptError::SizeOverflow {
                index,
                label: spec.label.clone(),
                size: spec.size,
            };
            let sectors = spec.size.div_ceil(SECTOR_SIZE);
            let first_lba = next_lba;
            let last_lba = first_lba.checked_add(sectors - 1).ok_or_else(overflow)?;
            if let Some(total) = fixed_sectors {
                let last_usable = total - BACKUP_SECTORS - 1;
                if last_lba > last_usable {
                    return Err(GptError::DoesNotFit {
                        index,
                        label: spec.label.clone(),
                        end: (last_lba + 1).saturating_mul(SECTOR_SIZE),
                        usable_end: (last_usable + 1) * SECTOR_SIZE,
                        disk_size: total * SECTOR_SIZE,
                    });
                }
            }
            next_lba = align_up(last_lba + 1).ok_or_else(overflow)?;
            placed.push(PlacedPartition {
                index,
                spec: spec.clone(),
                first_lba,
                last_lba,
            });
        }

        let total_sectors = match fixed_sectors {
            Some(total) => total,
            None => next_lba + ALIGNMENT_SECTORS,
        };
        Ok(DiskLayout {
            disk_guid,
            total_sectors,
            partitions: placed,
        })
    }

    /// The layout of a disk that was read, every partition where it lies (entry numbers
    /// kept), so that entries can be changed ([`DiskLayout::with_entry`]) and the tables
    /// written again ([`crate::write_tables`]) without moving a partition.
    ///
    /// The table must be laid out as [`DiskLayout::plan`] lays one out (128 entries
    /// after LBA 1, the backup at the end); the entries are checked as `plan` checks
    /// them.
    pub fn from_disk(disk: &GptDisk) -> Result<DiskLayout, GptError> {
        let total_sectors = disk.disk_size / SECTOR_SIZE;
        let layout = DiskLayout {
            disk_guid: disk.disk_guid,
            total_sectors,
            partitions: disk
                .partitions
                .iter()
                .map(|p| PlacedPartition {
                    index: p.index,
                    spec: PartitionSpec {
                        type_guid: p.type_guid,
                        guid: p.guid,
                        label: p.label.clone(),
                        attributes: p.attributes,
                        size: (p.last_lba + 1 - p.first_lba) * SECTOR_SIZE,
                    },
                    first_lba: p.first_lba,
                    last_lba: p.last_lba,
                })
                .collect(),
        };
        for (field, value, expected) in [
            ("FirstUsableLBA", disk.first_usable_lba, FIRST_USABLE_LBA),
            (
                "LastUsableLBA",
                disk.last_usable_lba,
                layout.last_usable_lba(),
            ),
        ] {
            if value != expected {
                return Err(GptError::ForeignLayout {
                    field,
                    value,
                    expected,
                });
            }
        }
        layout.check_entries()?;
        Ok(layout)
    }

    /// A copy with entry `index`'s type, GUID, label or attributes changed by `change`
    /// (its place and size stay), checked as [`DiskLayout::plan`] checks entries.
    pub fn with_entry(
        &self,
        index: u32,
        change: impl FnOnce(&mut PartitionSpec),
    ) -> Result<DiskLayout, GptError> {
        let mut next = self.clone();
        let p = next
            .partitions
            .iter_mut()
            .find(|p| p.index == index)
            .ok_or(GptError::NoSuchEntry { index })?;
        let size = p.spec.size;
        change(&mut p.spec);
        p.spec.size = size;
        next.check_entries()?;
        Ok(next)
    }

    fn check_entries(&self) -> Result<(), GptError> {
        let mut seen: HashMap<Guid, String> = HashMap::new();
        seen.insert(self.disk_guid, "the disk".to_owned());
        for p in &self.partitions {
            if p.index == 0 || p.index > ENTRY_COUNT {
                return Err(GptError::NoSuchEntry { index: p.index });
            }
            validate(p.index, &p.spec)?;
            if let Some(other) = seen.get(&p.spec.guid) {
                return Err(GptError::DuplicateGuid {
                    index: p.index,
                    label: p.spec.label.clone(),
                    guid: p.spec.guid,
                    other: other.clone(),
                });
            }
            seen.insert(
                p.spec.guid,
                format!("partition {} ({:?})", p.index, p.spec.label),
            );
        }
        Ok(())
    }

    /// The disk GUID.
    pub fn disk_guid(&self) -> Guid {
        self.disk_guid
    }
    /// Disk size in bytes.
    pub fn disk_size(&self) -> u64 {
        self.total_sectors * SECTOR_SIZE
    }
    /// Disk size in sectors.
    pub fn total_sectors(&self) -> u64 {
        self.total_sectors
    }
    /// The partitions, in entry order.
    pub fn partitions(&self) -> &[PlacedPartition] {
        &self.partitions
    }
    /// The partition with this label (the first, if several share it).
    pub fn partition(&self, label: &str) -> Result<&PlacedPartition, GptError> {
        self.partitions
            .iter()
            .find(|p| p.spec.label == label)
            .ok_or_else(|| GptError::NoSuchPartition {
                label: label.to_owned(),
            })
    }
    /// First LBA partitions may use.
    pub fn first_usable_lba(&self) -> u64 {
        FIRST_USABLE_LBA
    }
    /// Last LBA partitions may use (inclusive).
    pub fn last_usable_lba(&self) -> u64 {
        self.total_sectors - BACKUP_SECTORS - 1
    }
    /// First LBA of the backup partition entry array.
    pub fn backup_entries_lba(&self) -> u64 {
        self.total_sectors - BACKUP_SECTORS
    }

    /// The 128-entry array, 16 KiB.
    pub fn entry_array(&self) -> Vec<u8> {
        let mut array = vec![0u8; (ENTRY_COUNT * ENTRY_SIZE) as usize];
        for p in &self.partitions {
            let mut name = [0u16; NAME_UNITS];
            for (slot, unit) in name.iter_mut().zip(p.spec.label.encode_utf16()) {
                *slot = unit;
            }
            let entry = Entry {
                type_guid: p.spec.type_guid,
                partition_guid: p.spec.guid,
                starting_lba: p.first_lba,
                ending_lba: p.last_lba,
                attributes: p.spec.attributes,
                name,
            };
            let at = (p.index - 1) as usize * ENTRY_SIZE as usize;
            array[at..at + ENTRY_SIZE as usize].copy_from_slice(&entry.encode());
        }
        array
    }

    /// Primary (LBA 1) and backup (last LBA) headers for an entry array with this CRC.
    pub fn headers(&self, entries_crc32: u32) -> (Header, Header) {
        let last_lba = self.total_sectors - 1;
        let primary = Header {
            my_lba: 1,
            alternate_lba: last_lba,
            first_usable_lba: self.first_usable_lba(),
            last_usable_lba: self.last_usable_lba(),
            disk_guid: self.disk_guid,
            partition_entry_lba: 2,
            number_of_partition_entries: ENTRY_COUNT,
            size_of_partition_entry: ENTRY_SIZE,
            partition_entry_array_crc32: entries_crc32,
        };
        let backup = Header {
            my_lba: last_lba,
            alternate_lba: 1,
            partition_entry_lba: self.backup_entries_lba(),
            ..primary.clone()
        };
        (primary, backup)
    }
}

fn validate(index: u32, spec: &PartitionSpec) -> Result<(), GptError> {
    let label = || spec.label.clone();
    let units = spec.label.encode_utf16().count();
    if units > NAME_UNITS {
        return Err(GptError::LabelTooLong {
            index,
            label: label(),
            units,
        });
    }
    if spec.label.contains('\0') {
        return Err(GptError::LabelContainsNul {
            index,
            label: label(),
        });
    }
    if spec.size == 0 {
        return Err(GptError::ZeroSize {
            index,
            label: label(),
        });
    }
    if spec.type_guid.is_nil() {
        return Err(GptError::NilTypeGuid {
            index,
            label: label(),
        });
    }
    if spec.guid.is_nil() {
        return Err(GptError::NilPartitionGuid {
            index,
            label: label(),
        });
    }
    Ok(())
}

fn align_up(lba: u64) -> Option<u64> {
    Some(lba.checked_add(ALIGNMENT_SECTORS - 1)? / ALIGNMENT_SECTORS * ALIGNMENT_SECTORS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types;

    fn spec(label: &str, size: u64, n: u128) -> PartitionSpec {
        PartitionSpec {
            type_guid: types::LINUX_GENERIC,
            guid: Guid::from_u128(n),
            label: label.to_owned(),
            attributes: Attributes::NONE,
            size,
        }
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn fit_aligns_every_partition_to_a_mebibyte() {
        let layout = DiskLayout::plan(
            Guid::from_u128(100),
            &[spec("a", 3 * MIB + 1, 1), spec("b", 512, 2)],
            DiskSize::Fit,
        )
        .unwrap();
        let p = layout.partitions();
        assert_eq!(p[0].byte_range(), MIB..4 * MIB + 512);
        assert_eq!(p[1].byte_range(), 5 * MIB..5 * MIB + 512);
        assert_eq!(layout.disk_size(), 7 * MIB);
        assert!(layout.last_usable_lba() * SECTOR_SIZE >= p[1].byte_range().end);
    }

    #[test]
    fn plan_errors_name_the_partition() {
        let guid = Guid::from_u128(100);
        let long = "x".repeat(37);
        let err = DiskLayout::plan(guid, &[spec(&long, MIB, 1)], DiskSize::Fit).unwrap_err();
        assert!(
            matches!(
                err,
                GptError::LabelTooLong {
                    index: 1,
                    units: 37,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains(&long));
        // 36 code units of a character outside the BMP would be 72: too long.
        let err =
            DiskLayout::plan(guid, &[spec(&"😀".repeat(19), MIB, 1)], DiskSize::Fit).unwrap_err();
        assert!(
            matches!(err, GptError::LabelTooLong { units: 38, .. }),
            "{err}"
        );

        let err = DiskLayout::plan(guid, &[spec("a", MIB, 1), spec("b", 0, 2)], DiskSize::Fit)
            .unwrap_err();
        assert!(matches!(err, GptError::ZeroSize { index: 2, .. }), "{err}");

        let err = DiskLayout::plan(guid, &[spec("a", MIB, 1), spec("b", MIB, 1)], DiskSize::Fit)
            .unwrap_err();
        assert_eq!(err.to_string(), "partition 2 (\"b\"): GUID 00000000-0000-0000-0000-000000000001 is already used by partition 1 (\"a\")");
        let err = DiskLayout::plan(guid, &[spec("a", MIB, 100)], DiskSize::Fit).unwrap_err();
        assert!(err.to_string().ends_with("the disk"), "{err}");

        let err = DiskLayout::plan(
            guid,
            &[spec("a", MIB, 1), spec("big", 8 * MIB, 2)],
            DiskSize::Bytes(8 * MIB),
        )
        .unwrap_err();
        assert!(
            matches!(err, GptError::DoesNotFit { index: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("\"big\""), "{err}");

        let err = DiskLayout::plan(guid, &[], DiskSize::Bytes(1000)).unwrap_err();
        assert!(
            matches!(err, GptError::UnalignedDiskSize { size: 1000 }),
            "{err}"
        );
    }

    #[test]
    fn a_partition_may_end_at_the_last_usable_sector() {
        let disk = 4 * MIB;
        let usable = disk - MIB - BACKUP_SECTORS * SECTOR_SIZE;
        let layout = DiskLayout::plan(
            Guid::from_u128(100),
            &[spec("a", usable, 1)],
            DiskSize::Bytes(disk),
        )
        .unwrap();
        assert_eq!(layout.partitions()[0].last_lba, layout.last_usable_lba());
        let err = DiskLayout::plan(
            Guid::from_u128(100),
            &[spec("a", usable + 1, 1)],
            DiskSize::Bytes(disk),
        );
        assert!(matches!(err, Err(GptError::DoesNotFit { .. })));
    }
}
