//! On-disk structures (UEFI 2.10, 5.2.3 and 5.3). All integers little-endian.

use crate::attributes::Attributes;
use crate::guid::Guid;

/// Logical sector size this crate writes and reads.
pub const SECTOR_SIZE: u64 = 512;
/// Number of partition entries in the array.
pub const ENTRY_COUNT: u32 = 128;
/// Size of one partition entry.
pub const ENTRY_SIZE: u32 = 128;
/// Size of the header fields (the rest of its sector is zero).
pub const HEADER_SIZE: u32 = 92;
/// Sectors taken by the partition entry array (128 * 128 bytes).
pub const ENTRY_ARRAY_SECTORS: u64 = (ENTRY_COUNT as u64 * ENTRY_SIZE as u64) / SECTOR_SIZE;
/// Partition name length in UTF-16 code units.
pub const NAME_UNITS: usize = 36;

const SIGNATURE: &[u8; 8] = b"EFI PART";
const REVISION_1_0: u32 = 0x0001_0000;

/// UEFI 2.10, 5.3.2 "GPT Header", table 5-5.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    // 0x00 signature "EFI PART", 0x08 revision, 0x0c header size, 0x10 header CRC32,
    // 0x14 reserved: implied or checked by encode/decode.
    /// 0x18 the LBA holding this header.
    pub my_lba: u64,
    /// 0x20 the LBA of the other header.
    pub alternate_lba: u64,
    /// 0x28 first LBA a partition may use.
    pub first_usable_lba: u64,
    /// 0x30 last LBA a partition may use (inclusive).
    pub last_usable_lba: u64,

    /// 0x38 disk GUID (mixed-endian on disk).
    pub disk_guid: Guid,
    /// 0x48 first LBA of the partition entry array.
    pub partition_entry_lba: u64,
    /// 0x50 number of entries in the array.
    pub number_of_partition_entries: u32,
    /// 0x54 size of one entry.
    pub size_of_partition_entry: u32,
    /// 0x58 CRC32 of the whole entry array.
    pub partition_entry_array_crc32: u32,
}

/// Why a header sector does not decode.
pub(crate) enum HeaderProblem {
    Signature,
    Crc {
        stored: u32,
        computed: u32,
    },
    Field {
        field: &'static str,
        value: u64,
        expected: String,
    },
}

impl Header {
    /// The header's sector: fields, CRC computed over the first `HEADER_SIZE` bytes.
    pub fn encode(&self) -> [u8; SECTOR_SIZE as usize] {
        let mut s = [0u8; SECTOR_SIZE as usize];
        s[0x00..0x08].copy_from_slice(SIGNATURE);
        s[0x08..0x0c].copy_from_slice(&REVISION_1_0.to_le_bytes());
        s[0x0c..0x10].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        // 0x10 CRC32 stays zero while it is computed.
        s[0x18..0x20].copy_from_slice(&self.my_lba.to_le_bytes());
        s[0x20..0x28].copy_from_slice(&self.alternate_lba.to_le_bytes());
        s[0x28..0x30].copy_from_slice(&self.first_usable_lba.to_le_bytes());
        s[0x30..0x38].copy_from_slice(&self.last_usable_lba.to_le_bytes());
        s[0x38..0x48].copy_from_slice(&self.disk_guid.to_mixed_endian());
        s[0x48..0x50].copy_from_slice(&self.partition_entry_lba.to_le_bytes());
        s[0x50..0x54].copy_from_slice(&self.number_of_partition_entries.to_le_bytes());
        s[0x54..0x58].copy_from_slice(&self.size_of_partition_entry.to_le_bytes());
        s[0x58..0x5c].copy_from_slice(&self.partition_entry_array_crc32.to_le_bytes());
        let crc = crc32fast::hash(&s[..HEADER_SIZE as usize]);
        s[0x10..0x14].copy_from_slice(&crc.to_le_bytes());
        s
    }

    /// Decodes and checks signature, revision, header size and CRC.
    pub(crate) fn decode(s: &[u8; SECTOR_SIZE as usize]) -> Result<Header, HeaderProblem> {
        if &s[0x00..0x08] != SIGNATURE {
            return Err(HeaderProblem::Signature);
        }
        let revision = u32_at(s, 0x08);
        if revision >> 16 != 1 {
            return Err(HeaderProblem::Field {
                field: "Revision",
                value: revision.into(),
                expected: format!("major version 1 ({REVISION_1_0:#x})"),
            });
        }
        let header_size = u32_at(s, 0x0c);
        if !(HEADER_SIZE..=SECTOR_SIZE as u32).contains(&header_size) {
            return Err(HeaderProblem::Field {
                field: "HeaderSize",
                value: header_size.into(),
                expected: format!("{HEADER_SIZE} to {SECTOR_SIZE}"),
            });
        }
        let stored = u32_at(s, 0x10);
        let mut copy = *s;
        copy[0x10..0x14].fill(0);
        let computed = crc32fast::hash(&copy[..header_size as usize]);
        if stored != computed {
            return Err(HeaderProblem::Crc { stored, computed });
        }
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&s[0x38..0x48]);
        Ok(Header {
            my_lba: u64_at(s, 0x18),
            alternate_lba: u64_at(s, 0x20),
            first_usable_lba: u64_at(s, 0x28),
            last_usable_lba: u64_at(s, 0x30),
            disk_guid: Guid::from_mixed_endian(guid),
            partition_entry_lba: u64_at(s, 0x48),
            number_of_partition_entries: u32_at(s, 0x50),
            size_of_partition_entry: u32_at(s, 0x54),
            partition_entry_array_crc32: u32_at(s, 0x58),
        })
    }
}

/// UEFI 2.10, 5.3.3 "GPT Partition Entry Array", table 5-6.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// 0x00 partition type GUID; nil marks an unused entry.
    pub type_guid: Guid,
    /// 0x10 unique partition GUID.
    pub partition_guid: Guid,
    /// 0x20 first LBA.
    pub starting_lba: u64,
    /// 0x28 last LBA (inclusive).
    pub ending_lba: u64,
    /// 0x30 attribute bits.
    pub attributes: Attributes,
    /// 0x38 partition name, 36 UTF-16LE code units, NUL padded.
    pub name: [u16; NAME_UNITS],
}

impl Entry {
    /// The entry's 128 bytes.
    pub fn encode(&self) -> [u8; ENTRY_SIZE as usize] {
        let mut e = [0u8; ENTRY_SIZE as usize];
        e[0x00..0x10].copy_from_slice(&self.type_guid.to_mixed_endian());
        e[0x10..0x20].copy_from_slice(&self.partition_guid.to_mixed_endian());
        e[0x20..0x28].copy_from_slice(&self.starting_lba.to_le_bytes());
        e[0x28..0x30].copy_from_slice(&self.ending_lba.to_le_bytes());
        e[0x30..0x38].copy_from_slice(&self.attributes.bits().to_le_bytes());
        for (i, unit) in self.name.iter().enumerate() {
            e[0x38 + 2 * i..0x3a + 2 * i].copy_from_slice(&unit.to_le_bytes());
        }
        e
    }

    /// Decodes the first 128 bytes of an entry (longer entries keep reserved bytes after).
    pub fn decode(e: &[u8]) -> Entry {
        let mut type_guid = [0u8; 16];
        type_guid.copy_from_slice(&e[0x00..0x10]);
        let mut partition_guid = [0u8; 16];
        partition_guid.copy_from_slice(&e[0x10..0x20]);
        let mut name = [0u16; NAME_UNITS];
        for (i, unit) in name.iter_mut().enumerate() {
            *unit = u16::from_le_bytes([e[0x38 + 2 * i], e[0x39 + 2 * i]]);
        }
        Entry {
            type_guid: Guid::from_mixed_endian(type_guid),
            partition_guid: Guid::from_mixed_endian(partition_guid),
            starting_lba: u64_at(e, 0x20),
            ending_lba: u64_at(e, 0x28),
            attributes: Attributes::from_bits(u64_at(e, 0x30)),
            name,
        }
    }

    /// The name up to the first NUL; unpaired surrogates become U+FFFD.
    pub fn label(&self) -> String {
        let end = self.name.iter().position(|&u| u == 0).unwrap_or(NAME_UNITS);
        String::from_utf16_lossy(&self.name[..end])
    }
}

/// The protective MBR of UEFI 2.10, 5.2.3: one partition of type 0xEE covering the disk.
pub fn protective_mbr(total_sectors: u64) -> [u8; SECTOR_SIZE as usize] {
    let mut s = [0u8; SECTOR_SIZE as usize];
    let p = 446; // first partition record
    s[p] = 0x00; // BootIndicator: not bootable
    s[p + 1..p + 4].copy_from_slice(&[0x00, 0x02, 0x00]); // StartingCHS = LBA 1
    s[p + 4] = 0xEE; // OSType: GPT protective
    s[p + 5..p + 8].copy_from_slice(&[0xFF, 0xFF, 0xFF]); // EndingCHS: not representable
    s[p + 8..p + 12].copy_from_slice(&1u32.to_le_bytes()); // StartingLBA
                                                           // SizeInLBA: the disk less LBA 0, or 0xFFFFFFFF if that does not fit.
    let size = u32::try_from(total_sectors - 1).unwrap_or(u32::MAX);
    s[p + 12..p + 16].copy_from_slice(&size.to_le_bytes());
    s[510] = 0x55;
    s[511] = 0xAA;
    s
}

/// Checks that a sector is an MBR with a 0xEE record (a hybrid MBR also passes).
pub(crate) fn check_protective_mbr(s: &[u8; SECTOR_SIZE as usize]) -> Result<(), &'static str> {
    if s[510] != 0x55 || s[511] != 0xAA {
        return Err("no 0x55AA boot signature");
    }
    if (0..4).any(|i| s[446 + 16 * i + 4] == 0xEE) {
        Ok(())
    } else {
        Err("no partition record of type 0xEE")
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_detects_corruption() {
        let h = Header {
            my_lba: 1,
            alternate_lba: 4095,
            first_usable_lba: 34,
            last_usable_lba: 4062,
            disk_guid: Guid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            partition_entry_lba: 2,
            number_of_partition_entries: ENTRY_COUNT,
            size_of_partition_entry: ENTRY_SIZE,
            partition_entry_array_crc32: 0xdead_beef,
        };
        let mut bytes = h.encode();
        assert!(matches!(Header::decode(&bytes), Ok(d) if d == h));
        bytes[0x30] ^= 1;
        assert!(matches!(
            Header::decode(&bytes),
            Err(HeaderProblem::Crc { .. })
        ));
    }

    #[test]
    fn entry_round_trips() {
        let mut name = [0u16; NAME_UNITS];
        for (slot, unit) in name.iter_mut().zip("usr-ä".encode_utf16()) {
            *slot = unit;
        }
        let e = Entry {
            type_guid: crate::types::X86_64.usr,
            partition_guid: Guid::from_u128(7),
            starting_lba: 2048,
            ending_lba: 4095,
            attributes: Attributes::NONE.with_read_only(true),
            name,
        };
        let d = Entry::decode(&e.encode());
        assert_eq!(d, e);
        assert_eq!(d.label(), "usr-ä");
    }

    #[test]
    fn protective_mbr_clamps_size() {
        let small = protective_mbr(4096);
        assert_eq!(&small[446 + 12..446 + 16], &4095u32.to_le_bytes());
        assert!(check_protective_mbr(&small).is_ok());
        let huge = protective_mbr(1 << 40);
        assert_eq!(&huge[446 + 12..446 + 16], &u32::MAX.to_le_bytes());
        assert!(check_protective_mbr(&[0u8; 512]).is_err());
    }
}
