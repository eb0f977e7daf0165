//! GPT partition attribute bits.

use std::fmt;

/// The 64 attribute bits of a partition entry.
///
/// Bits 0-2 are defined by UEFI 2.10 (5.3.3, "Defined GPT Partition Entry - Attributes"),
/// bits 48-63 are type specific; the Discoverable Partitions Specification gives bits 59,
/// 60 and 63 a meaning for its types ("Partition Attribute Flags").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Attributes(u64);

impl Attributes {
    /// Bit 0, "Required Partition": the platform needs it to function.
    pub const REQUIRED: u32 = 0;
    /// Bit 1, "No Block IO Protocol": firmware must not add a block I/O protocol.
    pub const NO_BLOCK_IO: u32 = 1;
    /// Bit 2, "Legacy BIOS Bootable".
    pub const LEGACY_BIOS_BOOTABLE: u32 = 2;
    /// Bit 59, DPS "grow-file-system" (`SD_GPT_FLAG_GROWFS`).
    pub const GROW_FS: u32 = 59;
    /// Bit 60, DPS "read-only" (`SD_GPT_FLAG_READ_ONLY`).
    pub const READ_ONLY: u32 = 60;
    /// Bit 63, DPS "no-auto" (`SD_GPT_FLAG_NO_AUTO`): not discovered automatically.
    pub const NO_AUTO: u32 = 63;

    /// No bit set.
    pub const NONE: Attributes = Attributes(0);

    /// From the raw 64-bit field.
    pub const fn from_bits(bits: u64) -> Attributes {
        Attributes(bits)
    }

    /// The raw 64-bit field.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether bit `bit` (0-63) is set; bits above 63 read as unset.
    pub const fn bit(self, bit: u32) -> bool {
        bit < 64 && self.0 & (1 << bit) != 0
    }

    /// A copy with bit `bit` (0-63) set or cleared; bits above 63 are ignored.
    pub const fn with_bit(self, bit: u32, value: bool) -> Attributes {
        if bit >= 64 {
            return self;
        }
        if value {
            Attributes(self.0 | (1 << bit))
        } else {
            Attributes(self.0 & !(1 << bit))
        }
    }

    /// Bit 0, required partition.
    pub const fn required(self) -> bool {
        self.bit(Self::REQUIRED)
    }
    /// Sets or clears bit 0, required partition.
    pub const fn with_required(self, value: bool) -> Attributes {
        self.with_bit(Self::REQUIRED, value)
    }
    /// Bit 1, no block I/O protocol.
    pub const fn no_block_io(self) -> bool {
        self.bit(Self::NO_BLOCK_IO)
    }
    /// Sets or clears bit 1, no block I/O protocol.
    pub const fn with_no_block_io(self, value: bool) -> Attributes {
        self.with_bit(Self::NO_BLOCK_IO, value)
    }
    /// Bit 2, legacy BIOS bootable.
    pub const fn legacy_bios_bootable(self) -> bool {
        self.bit(Self::LEGACY_BIOS_BOOTABLE)
    }
    /// Sets or clears bit 2, legacy BIOS bootable.
    pub const fn with_legacy_bios_bootable(self, value: bool) -> Attributes {
        self.with_bit(Self::LEGACY_BIOS_BOOTABLE, value)
    }
    /// Bit 59, grow the file system to the partition size when mounted.
    pub const fn grow_fs(self) -> bool {
        self.bit(Self::GROW_FS)
    }
    /// Sets or clears bit 59, grow-file-system.
    pub const fn with_grow_fs(self, value: bool) -> Attributes {
        self.with_bit(Self::GROW_FS, value)
    }
    /// Bit 60, mount read-only.
    pub const fn read_only(self) -> bool {
        self.bit(Self::READ_ONLY)
    }
    /// Sets or clears bit 60, read-only.
    pub const fn with_read_only(self, value: bool) -> Attributes {
        self.with_bit(Self::READ_ONLY, value)
    }
    /// Bit 63, exclude from automatic discovery.
    pub const fn no_auto(self) -> bool {
        self.bit(Self::NO_AUTO)
    }
    /// Sets or clears bit 63, no-auto.
    pub const fn with_no_auto(self, value: bool) -> Attributes {
        self.with_bit(Self::NO_AUTO, value)
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Attributes({:#018x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_bits_map_to_their_positions() {
        let cases: [(Attributes, u64); 6] = [
            (Attributes::NONE.with_required(true), 1 << 0),
            (Attributes::NONE.with_no_block_io(true), 1 << 1),
            (Attributes::NONE.with_legacy_bios_bootable(true), 1 << 2),
            (Attributes::NONE.with_grow_fs(true), 1 << 59),
            (Attributes::NONE.with_read_only(true), 1 << 60),
            (Attributes::NONE.with_no_auto(true), 1 << 63),
        ];
        for (attrs, bits) in cases {
            assert_eq!(attrs.bits(), bits);
        }
        let all = Attributes::from_bits(u64::MAX);
        assert!(all.required() && all.no_block_io() && all.legacy_bios_bootable());
        assert!(all.grow_fs() && all.read_only() && all.no_auto());
        assert!(!all.with_read_only(false).read_only());
        assert_eq!(Attributes::NONE.with_bit(64, true), Attributes::NONE);
    }
}
