//! Changing a slot's partition entries, as the update agent does around writing it.
//!
//! An update of slot S, ordered for power cuts (DESIGN.md section 4):
//! 1. [`SlotChange::Clear`]: S's entries get the `_empty` label and lose read-only, so
//!    no half-written S is ever taken for a version;
//! 2. write usr, usr-verity and usr-verity-sig into S's byte ranges
//!    ([`crate::Slot::byte_range`]), sync;
//! 3. [`SlotChange::Install`]: the usr pair takes the UUIDs its root hash gives, all
//!    three the version's label and read-only; write the tables, sync.
//!
//! Each step computes a whole new [`DiskLayout`]; the caller writes it with
//! [`stela_gpt::write_tables`] (backup table first, primary last).

use stela_gpt::{Attributes, DiskLayout, VerityPartitionUuids};
use stela_verity::RootHash;

use crate::slot::{Role, SlotId, EMPTY_LABEL};
use crate::{ImageError, StelaDisk};

/// A change of one slot's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotChange<'a> {
    /// Mark the slot unused: label `_empty`, not read-only (UUIDs stay).
    Clear,
    /// Mark the slot as holding a version.
    Install {
        /// `<name>_<version>`.
        label: &'a str,
        /// Its root hash: the usr / usr-verity UUIDs are derived from it.
        root_hash: &'a RootHash,
    },
}

impl StelaDisk {
    /// The partition table after `change` to slot `id`, every partition where it is.
    ///
    /// Errors when the slot is unknown or lacks a partition ([`ImageError::SlotIncomplete`]),
    /// or when the new table is invalid ([`ImageError::Relabel`]: a label too long, a
    /// root hash another slot already holds, a table stela did not lay out).
    pub fn slot_change(
        &self,
        id: SlotId,
        change: SlotChange<'_>,
    ) -> Result<DiskLayout, ImageError> {
        let slot = self.slot(id).ok_or(ImageError::SlotIncomplete {
            slot: id,
            role: Role::UsrVeritySig,
        })?;
        let relabel = |source| ImageError::Relabel { slot: id, source };
        let mut layout = DiskLayout::from_disk(self.gpt()).map_err(relabel)?;
        let (label, attributes, uuids) = match change {
            SlotChange::Clear => (EMPTY_LABEL, Attributes::default(), None),
            SlotChange::Install { label, root_hash } => (
                label,
                Attributes::default().with_read_only(true),
                Some(VerityPartitionUuids::from_root_hash(root_hash.as_bytes())),
            ),
        };
        for role in [Role::Usr, Role::UsrVerity, Role::UsrVeritySig] {
            let index = slot.target(role)?.index;
            let guid = match (role, uuids) {
                (Role::Usr, Some(u)) => Some(u.data),
                (Role::UsrVerity, Some(u)) => Some(u.verity),
                _ => None,
            };
            layout = layout
                .with_entry(index, |spec| {
                    spec.label = label.to_owned();
                    spec.attributes = attributes;
                    if let Some(g) = guid {
                        spec.guid = g;
                    }
                })
                .map_err(relabel)?;
        }
        Ok(layout)
    }
}
