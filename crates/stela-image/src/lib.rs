//! The model of a stela disk (DESIGN.md sections 2 and 3): one type for the build that
//! plans and writes it, `stela inspect` that reads it, and the update agent that reads
//! and changes it on a device. Takes plain typed parameters (no recipe), so the agent
//! can use it without the build.
//!
//! - [`ImagePlan`]: a fresh disk planned from [`PlanInputs`] (architecture, label,
//!   sizes, root hash, the key GUIDs are derived from), then written from the ESP and
//!   slot A's files ([`ImagePlan::write`]).
//! - [`StelaDisk::open`]: the disk read back. Partitions are matched to their content by
//!   type GUID and UUID, never by position: each `usr-verity-sig` partition anchors a
//!   [`Slot`], whose usr / usr-verity pair carries the first / last 128 bits of the
//!   signed root hash as partition UUIDs (DPS). Every ESP is listed with its boot
//!   loader, UKIs as [`BootEntry`]s (version, tries left as systemd-boot names them),
//!   loader.conf and enrolment keys.
//! - [`StelaDisk::faults`] and [`StelaDisk::check`]: every mismatch counts.
//! - The agent's side: [`StelaDisk::inactive_slot`], [`Slot::byte_range`] (where to
//!   write each partition of a slot), [`StelaDisk::slot_change`] (relabel a slot; the
//!   order of an update is in [`change`]).
//!
//! ```no_run
//! # fn main() -> Result<(), stela_image::ImageError> {
//! use stela_image::{Role, StelaDisk};
//! let disk = StelaDisk::open("/dev/vda".as_ref())?;
//! let running: stela_verity::RootHash = "ab".repeat(32).parse().expect("hash");
//! let slot = disk.inactive_slot(&running)?;
//! println!("write usr into bytes {:?} (slot {})", slot.byte_range(Role::Usr)?, slot.id);
//! # Ok(()) }
//! ```

pub mod boot;
pub mod change;
mod check;
mod disk;
mod error;
mod esp;
mod plan;
mod slot;
mod types;

pub use boot::{BootEntry, Tries};
pub use change::SlotChange;
pub use check::{Check, EfiCheck, Fault, Verification};
pub use disk::{PairMember, SignatureContent, SignaturePartition, StelaDisk, MAX_SIGNATURE_BYTES};
pub use error::ImageError;
pub use esp::{EfiBinary, Esp, EspContents, UkiSections, KEYS_DIR, LOADER_CONF};
pub use plan::{verity_slot_size, Contents, ImagePlan, PlanInputs, ESP_LABEL, SIG_PARTITION_SIZE};
pub use slot::{label_version, Role, Slot, SlotId, SlotState, EMPTY_LABEL};
pub use types::{Arch, Payload, SignedTypes};

/// An error and its sources on one line, `a: b: c`: the form a report's `problem`
/// field takes, where no `{:#}` printer runs.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
