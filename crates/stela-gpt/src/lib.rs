//! GUID Partition Table (GPT) disk images, as UEFI 2.10 chapter 5 defines them, with the
//! partition types of the UAPI Discoverable Partitions Specification.
//!
//! Plan first, then write: [`DiskLayout::plan`] turns [`PartitionSpec`]s into sector ranges
//! (1 MiB aligned) and checks them; [`ImageFile::create`] writes a sparse image holding
//! the protective MBR, primary and backup headers and entry arrays; the caller copies each
//! partition's content in ([`ImageFile::copy_into`]) and renames the image into place
//! ([`ImageFile::persist`]). [`GptDisk::read`] parses and validates an existing GPT.
//!
//! Sectors are 512 bytes; the table has 128 entries of 128 bytes.
//!
//! ```no_run
//! use stela_gpt::{types, Attributes, DiskLayout, DiskSize, Guid, ImageFile, PartitionSpec};
//! # fn main() -> Result<(), stela_gpt::GptError> {
//! let esp = PartitionSpec {
//!     type_guid: types::ESP,
//!     guid: Guid::derived(b"demo_1", "esp"),
//!     label: "esp".into(),
//!     attributes: Attributes::NONE,
//!     size: 64 << 20,
//! };
//! let layout = DiskLayout::plan(Guid::derived(b"demo_1", "disk"), &[esp], DiskSize::Fit)?;
//! let mut image = ImageFile::create("disk.raw".as_ref(), &layout)?;
//! image.copy_into("esp", &mut std::fs::File::open("esp.img").unwrap())?;
//! image.persist()?;
//! # Ok(()) }
//! ```

mod attributes;
mod error;
pub mod format;
mod guid;
mod layout;
mod reader;
pub mod types;
mod writer;

pub use attributes::Attributes;
pub use error::{GptError, HeaderKind};
pub use guid::{Guid, VerityPartitionUuids};
pub use layout::{DiskLayout, DiskSize, PartitionSpec, PlacedPartition, ALIGNMENT};
pub use reader::{GptDisk, GptPartition};
pub use writer::{
    copy_file_into_fresh_partition, copy_into_fresh_partition, copy_into_partition, write_tables,
    ImageFile,
};
