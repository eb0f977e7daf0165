//! Reading a stela disk into the model: partitions matched to their content by type
//! GUID and UUID, never by position.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use stela_gpt::{types, GptDisk, GptError, GptPartition, Guid, VerityPartitionUuids};
use stela_keys::verity_sig::VeritySignatureDocument;
use stela_verity::RootHash;

use crate::boot::{default_entry, BootEntry};
use crate::esp::{self, Esp};
use crate::slot::{label_version, Role, Slot, SlotId, SlotState};
use crate::types::{Payload, SignedTypes};
use crate::ImageError;

/// Largest verity signature partition content read: the DPS document is a few KiB,
/// anything far larger is not one and must not be pulled into memory.
pub const MAX_SIGNATURE_BYTES: u64 = 1 << 20;

/// A `*-verity-sig` partition and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignaturePartition {
    /// The partition.
    pub partition: GptPartition,
    /// What its type says it signs.
    pub signs: SignedTypes,
    /// Its content.
    pub content: SignatureContent,
}

/// The content of a verity signature partition.
// One per signature partition, a few per disk: boxing would only complicate matching.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureContent {
    /// All zeros: an unused slot.
    Empty,
    /// Not a DPS signature document.
    Malformed {
        /// Why, in one line.
        problem: String,
    },
    /// A signature document, and the pair its root hash names.
    Signed {
        /// The document (not checked: see [`crate::StelaDisk::check`]).
        document: VeritySignatureDocument,
        /// The data partition (usr or root) the root hash names.
        data: PairMember,
        /// The verity hash partition the root hash names.
        verity: PairMember,
    },
}

impl SignatureContent {
    /// `signed`, `empty` or `malformed`.
    pub fn state(&self) -> &'static str {
        match self {
            SignatureContent::Empty => "empty",
            SignatureContent::Malformed { .. } => "malformed",
            SignatureContent::Signed { .. } => "signed",
        }
    }
}

/// Whether a partition carries the UUID derived from a root hash (DPS: first 128 bits
/// for the data partition, last 128 bits for the verity partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairMember {
    /// The partition type looked for.
    pub type_guid: Guid,
    /// The UUID derived from the root hash.
    pub expected_uuid: Guid,
    /// The partition of that type with that UUID; failing that (to say which one is
    /// wrong), the one of that type with the signature partition's label.
    pub partition: Option<GptPartition>,
    /// True if a partition of that type has the expected UUID.
    pub matches: bool,
}

/// A stela disk as read from an image file or a block device.
#[derive(Debug, Clone)]
pub struct StelaDisk {
    path: PathBuf,
    gpt: GptDisk,
    signatures: Vec<SignaturePartition>,
    slots: Vec<Slot>,
    esps: Vec<Esp>,
}

impl StelaDisk {
    /// Reads the disk at `path` (opened read-only, never changed): the GPT, every
    /// verity signature partition, every ESP.
    ///
    /// Errors only when the file cannot be read or holds no valid GPT; what is wrong
    /// inside (an unreadable ESP, a malformed signature) is in the model and in
    /// [`StelaDisk::faults`].
    pub fn open(path: &Path) -> Result<StelaDisk, ImageError> {
        let open = || {
            File::open(path).map_err(|source| ImageError::Open {
                path: path.to_owned(),
                source,
            })
        };
        let mut file = open()?;
        let gpt = match GptDisk::read(&mut file) {
            Ok(gpt) => gpt,
            Err(source @ (GptError::Io { .. } | GptError::File { .. })) => {
                return Err(ImageError::ReadGpt {
                    path: path.to_owned(),
                    source,
                })
            }
            Err(source) => {
                return Err(ImageError::NotGpt {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let mut signatures = Vec::new();
        let mut esps = Vec::new();
        for p in &gpt.partitions {
            if let Some(signs) = SignedTypes::of(p.type_guid) {
                let bytes = read_capped(&mut file, p, MAX_SIGNATURE_BYTES).map_err(|source| {
                    ImageError::ReadPartition {
                        path: path.to_owned(),
                        index: p.index,
                        source,
                    }
                })?;
                signatures.push(SignaturePartition {
                    partition: p.clone(),
                    signs,
                    content: signature_content(&gpt, p, signs, &bytes),
                });
            } else if p.type_guid == types::ESP {
                esps.push(esp::read(open()?, p));
            }
        }
        let slots = slots(&gpt, &signatures);
        Ok(StelaDisk {
            path: path.to_owned(),
            gpt,
            signatures,
            slots,
            esps,
        })
    }

    /// The path the disk was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The partition table.
    pub fn gpt(&self) -> &GptDisk {
        &self.gpt
    }

    /// Every `*-verity-sig` partition (usr and root), in entry order.
    pub fn signatures(&self) -> &[SignaturePartition] {
        &self.signatures
    }

    /// The A/B slots (one per usr-verity-sig partition), in entry order.
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// The slot named `id`.
    pub fn slot(&self, id: SlotId) -> Option<&Slot> {
        self.slots.iter().find(|s| s.id == id)
    }

    /// The slot holding the version with this root hash (on a device, the `usrhash=`
    /// of `/proc/cmdline` names the running one).
    pub fn slot_holding(&self, root_hash: &RootHash) -> Option<&Slot> {
        self.slots.iter().find(|s| s.root_hash() == Some(root_hash))
    }

    /// The slot an update writes: one not holding `running` (the root hash of the
    /// version that runs, or, offline, [`StelaDisk::default_slot`]'s). An empty slot is
    /// preferred; failing that, the single other slot.
    ///
    /// Errors when every slot holds `running` or several non-empty ones could be taken.
    pub fn inactive_slot(&self, running: &RootHash) -> Result<&Slot, ImageError> {
        let others: Vec<&Slot> = self
            .slots
            .iter()
            .filter(|s| s.root_hash() != Some(running))
            .collect();
        if let Some(empty) = others.iter().find(|s| s.state == SlotState::Empty) {
            return Ok(empty);
        }
        match others.as_slice() {
            [one] => Ok(one),
            [] => Err(ImageError::NoInactiveSlot {
                reason: format!(
                    "{} slot(s), none but the one holding {running}",
                    self.slots.len()
                ),
            }),
            many => Err(ImageError::NoInactiveSlot {
                reason: format!(
                    "slots {} all hold other versions",
                    many.iter()
                        .map(|s| s.id.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    /// Every ESP, in entry order.
    pub fn esps(&self) -> &[Esp] {
        &self.esps
    }

    /// The boot entries of every readable ESP.
    pub fn boot_entries(&self) -> impl Iterator<Item = &BootEntry> {
        self.esps
            .iter()
            .filter_map(|e| e.contents.as_ref().ok())
            .flat_map(|c| c.boot_entries.iter())
    }

    /// The entry systemd-boot boots by default (see [`crate::boot::default_entry`]).
    pub fn default_entry(&self) -> Option<&BootEntry> {
        let entries: Vec<BootEntry> = self.boot_entries().cloned().collect();
        let id = default_entry(&entries)?.path.clone();
        self.boot_entries().find(|e| e.path == id)
    }

    /// The slot the default entry boots (by its `usrhash=`): the booted one on the next
    /// boot, as far as the disk can tell.
    pub fn default_slot(&self) -> Option<&Slot> {
        self.slot_holding(self.default_entry()?.usrhash.as_ref()?)
    }

    /// The installed versions: slots holding a version, each with the boot entry whose
    /// `usrhash=` is its root hash (DESIGN.md 3: both make a version installed).
    pub fn versions(&self) -> Vec<(&Slot, Option<&BootEntry>)> {
        self.slots
            .iter()
            .filter_map(|s| {
                let hash = s.root_hash()?;
                Some((
                    s,
                    self.boot_entries()
                        .find(|e| e.usrhash.as_ref() == Some(hash)),
                ))
            })
            .collect()
    }
}

fn read_capped(file: &mut File, p: &GptPartition, cap: u64) -> std::io::Result<Vec<u8>> {
    let range = p.byte_range();
    let len = (range.end - range.start).min(cap);
    file.seek(SeekFrom::Start(range.start))?;
    let mut bytes = Vec::new();
    file.take(len).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn signature_content(
    gpt: &GptDisk,
    sig: &GptPartition,
    signs: SignedTypes,
    bytes: &[u8],
) -> SignatureContent {
    if bytes.iter().all(|&b| b == 0) {
        return SignatureContent::Empty;
    }
    let document = match VeritySignatureDocument::from_partition_bytes(bytes) {
        Ok(doc) => doc,
        Err(e) => {
            return SignatureContent::Malformed {
                problem: crate::chain(&e),
            }
        }
    };
    let uuids = VerityPartitionUuids::from_root_hash(document.root_hash.as_bytes());
    SignatureContent::Signed {
        data: pair_member(gpt, sig, signs.data, uuids.data),
        verity: pair_member(gpt, sig, signs.verity, uuids.verity),
        document,
    }
}

fn pair_member(gpt: &GptDisk, sig: &GptPartition, type_guid: Guid, expected: Guid) -> PairMember {
    let of_type = || gpt.partitions.iter().filter(|q| q.type_guid == type_guid);
    let exact = of_type().find(|q| q.guid == expected);
    let found = exact.or_else(|| of_type().find(|q| q.label == sig.label));
    PairMember {
        type_guid,
        expected_uuid: expected,
        partition: found.cloned(),
        matches: exact.is_some(),
    }
}

/// Slots from the usr signature partitions: signed ones take the pair their hash
/// names, then unsigned ones the single unclaimed partition of each type with their
/// label.
fn slots(gpt: &GptDisk, signatures: &[SignaturePartition]) -> Vec<Slot> {
    let usr: Vec<&SignaturePartition> = signatures
        .iter()
        .filter(|s| s.signs.payload == Payload::Usr)
        .collect();
    let mut claimed: Vec<u32> = Vec::new();
    for s in &usr {
        if let SignatureContent::Signed { data, verity, .. } = &s.content {
            for m in [data, verity] {
                if let (true, Some(p)) = (m.matches, &m.partition) {
                    claimed.push(p.index);
                }
            }
        }
    }
    let by_label = |type_guid: Guid, label: &str, claimed: &[u32]| {
        let mut c = gpt.partitions.iter().filter(|p| {
            p.type_guid == type_guid && p.label == label && !claimed.contains(&p.index)
        });
        match (c.next(), c.next()) {
            (Some(one), None) => Some(one.clone()),
            _ => None,
        }
    };
    let mut slots = Vec::new();
    for (n, s) in usr.iter().enumerate() {
        let Some(id) = SlotId::nth(n) else { break };
        let label = s.partition.label.as_str();
        let (usr_p, verity_p, state) = match &s.content {
            SignatureContent::Signed {
                document,
                data,
                verity,
            } => {
                let problem = [(data, Role::Usr), (verity, Role::UsrVerity)]
                    .into_iter()
                    .find(|(m, _)| !m.matches)
                    .map(|(m, role)| match &m.partition {
                        Some(p) => format!(
                            "the {role} partition {} has uuid {}, the root hash gives {}",
                            p.index, p.guid, m.expected_uuid
                        ),
                        None => format!("no {role} partition has uuid {}", m.expected_uuid),
                    });
                let state = match problem {
                    Some(problem) => SlotState::Broken { problem },
                    None => SlotState::Installed {
                        root_hash: document.root_hash,
                        version: label_version(label).map(str::to_owned),
                    },
                };
                // Only the partitions the hash names: one found by label is not the pair.
                let exact = |m: &PairMember| m.partition.clone().filter(|_| m.matches);
                (exact(data), exact(verity), state)
            }
            other => {
                let t = s.signs.arch.types();
                let u = by_label(t.usr, label, &claimed);
                let v = by_label(t.usr_verity, label, &claimed);
                claimed.extend(u.iter().chain(v.iter()).map(|p| p.index));
                let state = match other {
                    SignatureContent::Malformed { problem } => SlotState::Broken {
                        problem: format!("malformed signature partition: {problem}"),
                    },
                    _ => SlotState::Empty,
                };
                (u, v, state)
            }
        };
        // What an update writes: the pair, or for a slot without one the partitions of
        // its label (not counted as claimed: they are no pair).
        let t = s.signs.arch.types();
        let targets = match &state {
            SlotState::Installed { .. } => [usr_p.clone(), verity_p.clone()],
            _ => [
                usr_p.clone().or_else(|| by_label(t.usr, label, &claimed)),
                verity_p
                    .clone()
                    .or_else(|| by_label(t.usr_verity, label, &claimed)),
            ],
        };
        slots.push(Slot {
            id,
            arch: s.signs.arch,
            signature: s.partition.clone(),
            usr: usr_p,
            verity: verity_p,
            targets,
            state,
        });
    }
    slots
}
