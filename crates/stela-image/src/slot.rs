//! A/B slots: a usr, usr-verity and usr-verity-sig partition that hold one version.
//!
//! The signature partition is the slot's anchor. A signed slot's pair is the usr and
//! usr-verity partitions whose UUIDs are the first and last 128 bits of the root hash in
//! the signature (DPS); no other partition stands in for them. An empty or malformed
//! slot's pair is the one unclaimed partition of each type that carries the signature
//! partition's label (`_empty` until an update writes the slot). Slots are named A, B, …
//! in the entry order of their signature partitions, as the build writes them.

use std::fmt;
use std::ops::Range;

use stela_gpt::GptPartition;
use stela_verity::RootHash;

use crate::types::Arch;
use crate::ImageError;

/// Label of an unused slot's partitions.
pub const EMPTY_LABEL: &str = "_empty";

/// A slot's name: `A`, `B`, ….
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotId(u8);

impl SlotId {
    /// Slot A, where the build installs the first version.
    pub const A: SlotId = SlotId(0);
    /// Slot B, empty in a fresh image.
    pub const B: SlotId = SlotId(1);

    /// The `n`-th slot, from 0 (`None` past `Z`).
    pub fn nth(n: usize) -> Option<SlotId> {
        u8::try_from(n).ok().filter(|&n| n < 26).map(SlotId)
    }
}

impl fmt::Display for SlotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", char::from(b'A' + self.0))
    }
}

/// The three partitions of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The erofs image of `/usr`.
    Usr,
    /// Its dm-verity hash tree.
    UsrVerity,
    /// The signed root hash (DPS JSON).
    UsrVeritySig,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Usr => "usr",
            Role::UsrVerity => "usr-verity",
            Role::UsrVeritySig => "usr-verity-sig",
        })
    }
}

/// What a slot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotState {
    /// Its signature partition is all zeros: free for an update.
    Empty,
    /// A signed version whose usr pair carries the UUIDs its root hash gives.
    Installed {
        /// The signed root hash.
        root_hash: RootHash,
        /// `<version>` of the `<name>_<version>` label, when the label has that form.
        version: Option<String>,
    },
    /// Neither: a malformed signature, or a pair missing or not derived from the hash.
    Broken {
        /// What is wrong, in one line.
        problem: String,
    },
}

/// One A/B slot of a stela disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Its name.
    pub id: SlotId,
    /// The architecture of its partition types.
    pub arch: Arch,
    /// The usr-verity-sig partition.
    pub signature: GptPartition,
    /// The usr partition: for a signed slot only the one whose UUID the root hash
    /// gives (`None` when none has it; the slot is then [`SlotState::Broken`]).
    pub usr: Option<GptPartition>,
    /// The usr-verity partition, found the same way.
    pub verity: Option<GptPartition>,
    /// The usr and usr-verity partitions an update writes: the pair of an installed
    /// slot; for an empty or broken one the partitions of those types that carry the
    /// slot's label. An update cut short after the signature was written and before the
    /// pair was relabelled leaves a signature naming partitions the slot does not have;
    /// the slot must still be writable again.
    pub targets: [Option<GptPartition>; 2],
    /// What it holds.
    pub state: SlotState,
}

impl Slot {
    /// The slot's label: its signature partition's (`<name>_<version>` or `_empty`).
    pub fn label(&self) -> &str {
        &self.signature.label
    }

    /// The root hash of the version it holds (only for [`SlotState::Installed`]).
    pub fn root_hash(&self) -> Option<&RootHash> {
        match &self.state {
            SlotState::Installed { root_hash, .. } => Some(root_hash),
            _ => None,
        }
    }

    /// The version it holds (only for [`SlotState::Installed`] with a versioned label).
    pub fn version(&self) -> Option<&str> {
        match &self.state {
            SlotState::Installed { version, .. } => version.as_deref(),
            _ => None,
        }
    }

    /// The partition in `role`.
    pub fn partition(&self, role: Role) -> Result<&GptPartition, ImageError> {
        let p = match role {
            Role::Usr => self.usr.as_ref(),
            Role::UsrVerity => self.verity.as_ref(),
            Role::UsrVeritySig => Some(&self.signature),
        };
        p.ok_or(ImageError::SlotIncomplete {
            slot: self.id,
            role,
        })
    }

    /// The partition in `role` that an update writes (see [`Slot::targets`]).
    pub fn target(&self, role: Role) -> Result<&GptPartition, ImageError> {
        let p = match role {
            Role::Usr => self.targets[0].as_ref(),
            Role::UsrVerity => self.targets[1].as_ref(),
            Role::UsrVeritySig => Some(&self.signature),
        };
        p.ok_or(ImageError::SlotIncomplete {
            slot: self.id,
            role,
        })
    }

    /// The byte range on the disk of the partition in `role`: where an update writes
    /// that partition's new content (and nothing outside it).
    pub fn byte_range(&self, role: Role) -> Result<Range<u64>, ImageError> {
        self.target(role).map(GptPartition::byte_range)
    }
}

/// The `<version>` of a `<name>_<version>` label (image names hold no `_`).
pub fn label_version(label: &str) -> Option<&str> {
    let (name, version) = label.split_once('_')?;
    (!name.is_empty() && !version.is_empty()).then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_and_label_versions() {
        assert_eq!(SlotId::A.to_string(), "A");
        assert_eq!(SlotId::nth(1), Some(SlotId::B));
        assert_eq!(SlotId::nth(26), None);
        assert_eq!(label_version("demo_1.2"), Some("1.2"));
        assert_eq!(label_version("demo_1_rc"), Some("1_rc"));
        assert_eq!(label_version(EMPTY_LABEL), None);
        assert_eq!(label_version("demo"), None);
        assert_eq!(label_version("demo_"), None);
    }
}
