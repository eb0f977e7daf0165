//! The error type of this crate.

use std::fmt;
use std::path::PathBuf;

use crate::guid::Guid;

/// Which copy of the GPT header a problem was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderKind {
    /// The header at LBA 1.
    Primary,
    /// The header at the last LBA of the disk.
    Backup,
}

impl fmt::Display for HeaderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HeaderKind::Primary => "primary GPT header",
            HeaderKind::Backup => "backup GPT header",
        })
    }
}

/// Errors from planning, writing and reading GPT images.
///
/// Partitions are named by their 1-based entry number and label.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GptError {
    /// Text that is not a GUID.
    #[error("{text:?} is not a GUID (expected 8-4-4-4-12 hex digits)")]
    InvalidGuid {
        /// The text given.
        text: String,
    },
    /// A label longer than the 36 UTF-16 code units of a partition entry.
    #[error("partition {index} ({label:?}): label has {units} UTF-16 code units, at most 36 fit")]
    LabelTooLong {
        /// Entry number.
        index: u32,
        /// The label given.
        label: String,
        /// Its length in UTF-16 code units.
        units: usize,
    },
    /// A label containing U+0000, which would end it early.
    #[error("partition {index} ({label:?}): label contains a NUL character")]
    LabelContainsNul {
        /// Entry number.
        index: u32,
        /// The label given.
        label: String,
    },
    /// A partition of size zero.
    #[error("partition {index} ({label:?}): size is zero")]
    ZeroSize {
        /// Entry number.
        index: u32,
        /// Its label.
        label: String,
    },
    /// The nil type GUID, which marks an unused entry.
    #[error("partition {index} ({label:?}): type GUID is nil, which marks an unused entry")]
    NilTypeGuid {
        /// Entry number.
        index: u32,
        /// Its label.
        label: String,
    },
    /// The nil partition GUID.
    #[error("partition {index} ({label:?}): partition GUID is nil")]
    NilPartitionGuid {
        /// Entry number.
        index: u32,
        /// Its label.
        label: String,
    },
    /// Two partitions (or a partition and the disk) with the same unique GUID.
    #[error("partition {index} ({label:?}): GUID {guid} is already used by {other}")]
    DuplicateGuid {
        /// Entry number.
        index: u32,
        /// Its label.
        label: String,
        /// The GUID used twice.
        guid: Guid,
        /// Who else uses it, e.g. `partition 1 ("esp")` or `the disk`.
        other: String,
    },
    /// More partitions than the 128 entries of the table.
    #[error("{count} partitions given, the partition table holds at most 128")]
    TooManyPartitions {
        /// How many were given.
        count: usize,
    },
    /// A disk size that is not whole sectors.
    #[error("disk size {size} bytes is not a multiple of the 512-byte sector")]
    UnalignedDiskSize {
        /// The size given.
        size: u64,
    },
    /// A disk too small for the GPT structures themselves.
    #[error("disk size {size} bytes is too small for a GPT (at least {min} bytes)")]
    DiskTooSmall {
        /// The size given.
        size: u64,
        /// The smallest size that can hold the tables.
        min: u64,
    },
    /// A partition that ends past the last usable sector.
    #[error("partition {index} ({label:?}) does not fit: it would end at byte {end}, the disk's usable space ends at byte {usable_end} (disk size {disk_size})")]
    DoesNotFit {
        /// Entry number.
        index: u32,
        /// Its label.
        label: String,
        /// Byte offset just past the partition.
        end: u64,
        /// Byte offset just past the last usable sector.
        usable_end: u64,
        /// Disk size in bytes.
        disk_size: u64,
    },
    /// A size computation past `u64`.
    #[error("partition {index} ({label:?}): size {size} bytes overflows the disk address space")]
    SizeOverflow {
        /// Entry number.
        index: u32,
        /// Its label.
        label: String,
        /// The size given.
        size: u64,
    },
    /// Content larger than the partition it is copied into.
    #[error(
        "partition {index} ({label:?}): content is larger than the partition ({capacity} bytes)"
    )]
    ContentTooLarge {
        /// Entry number.
        index: u32,
        /// Its label.
        label: String,
        /// Partition size in bytes.
        capacity: u64,
    },
    /// A table read from a disk is not laid out as [`crate::DiskLayout::plan`] lays one
    /// out, so it cannot be written back unchanged but for its entries.
    #[error("the table's {field} is {value}, stela's layout has {expected}")]
    ForeignLayout {
        /// The header field.
        field: &'static str,
        /// Its value.
        value: u64,
        /// What stela writes.
        expected: u64,
    },
    /// No partition with the given entry number.
    #[error("no partition entry {index}")]
    NoSuchEntry {
        /// The entry number looked for.
        index: u32,
    },
    /// No partition with the given label.
    #[error("no partition labelled {label:?}")]
    NoSuchPartition {
        /// The label looked for.
        label: String,
    },
    /// LBA 0 holds no protective MBR.
    #[error("sector 0 holds no protective MBR ({problem})")]
    NoProtectiveMbr {
        /// What is missing.
        problem: &'static str,
    },
    /// A header without the `EFI PART` signature.
    #[error("{header}: no \"EFI PART\" signature at LBA {lba}")]
    BadSignature {
        /// Which header.
        header: HeaderKind,
        /// Where it was looked for.
        lba: u64,
    },
    /// A header whose CRC32 does not match its bytes.
    #[error("{header}: header CRC32 is {stored:#010x}, computed {computed:#010x}")]
    HeaderCrcMismatch {
        /// Which header.
        header: HeaderKind,
        /// The CRC in the header.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// A partition entry array whose CRC32 does not match the header's.
    #[error(
        "{header}: partition entry array CRC32 is {computed:#010x}, the header says {stored:#010x}"
    )]
    EntriesCrcMismatch {
        /// Which header points at the array.
        header: HeaderKind,
        /// The CRC in the header.
        stored: u32,
        /// The CRC of the array.
        computed: u32,
    },
    /// A header field with an impossible or unsupported value.
    #[error("{header}: {field} is {value}, expected {expected}")]
    BadHeaderField {
        /// Which header.
        header: HeaderKind,
        /// The field's name in UEFI 2.10, table 5-5.
        field: &'static str,
        /// Its value.
        value: u64,
        /// What was expected.
        expected: String,
    },
    /// Primary and backup header describe different tables.
    #[error("primary and backup GPT headers disagree on {field}")]
    HeadersDisagree {
        /// The field that differs.
        field: &'static str,
    },
    /// A partition entry outside the usable area or with end before start.
    #[error("partition {index}: {problem}")]
    BadEntry {
        /// Entry number.
        index: u32,
        /// What is wrong.
        problem: String,
    },
    /// An I/O error on a file, with what was being done.
    #[error("{action} {path}")]
    File {
        /// What was being done, e.g. `writing the GPT to`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An I/O error on a stream given by the caller.
    #[error("{action}")]
    Io {
        /// What was being done, e.g. `writing the backup GPT header`.
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl GptError {
    pub(crate) fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> GptError {
        let action = action.into();
        move |source| GptError::Io { action, source }
    }
}
