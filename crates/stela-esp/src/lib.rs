//! FAT32 EFI System Partition (ESP) images, written reproducibly with `fatfs`.
//!
//! [`EspBuilder`] collects the volume label, size and files (`EFI/BOOT/BOOTX64.EFI`,
//! from bytes or host files); [`EspBuilder::plan`] validates names, picks a cluster size
//! that makes the volume FAT32 (UEFI 2.10, 13.3.1.1: the ESP is FAT32 on hard disks) and
//! checks that every file fits; the plan then writes a standalone image
//! ([`EspPlan::write_to_path`]) or a region of a disk image ([`EspPlan::write_into`]).
//!
//! [`EspReader`] reads one back (from an image or a disk's partition range, read-only):
//! volume label, every file depth first, a file's bytes.
//!
//! Output is a function of the input alone: fixed volume ID (settable), every timestamp
//! at the FAT epoch (1980-01-01), files written in sorted path order.
//!
//! ```no_run
//! # fn main() -> Result<(), stela_esp::EspError> {
//! let plan = stela_esp::EspBuilder::new(64 << 20)
//!     .label("ESP")
//!     .host_file("EFI/BOOT/BOOTX64.EFI", "/usr/lib/systemd/boot/efi/systemd-bootx64.efi")
//!     .bytes("loader/loader.conf", "timeout 0\n")
//!     .plan()?;
//! plan.write_to_path("esp.img".as_ref())?;
//! # Ok(()) }
//! ```

mod edit;
mod error;
mod fixup;
mod names;
mod plan;
mod read;
mod window;
mod write;

pub use edit::{EspEditor, PARTIAL_SUFFIX};
pub use error::EspError;
pub use names::VolumeLabel;
pub use plan::{EspBuilder, EspPlan, PlannedFile, Source, DEFAULT_VOLUME_ID, FAT32_MIN_CLUSTERS};
pub use read::{EspFile, EspReader, MAX_DIRECTORY_DEPTH};
pub use window::Window;
