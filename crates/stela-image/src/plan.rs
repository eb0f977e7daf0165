//! Planning and writing a fresh stela disk (DESIGN.md section 2): ESP, slot A (usr,
//! usr-verity, usr-verity-sig) labelled `<name>_<version>`, an empty slot B of the same
//! sizes, and room for the root partition systemd-repart makes at first boot.
//!
//! Plan first ([`ImagePlan::new`], from plain typed inputs: no recipe), then write
//! ([`ImagePlan::write`]): the layout is complete and checked before a byte is written.

use std::fs::File;
use std::path::{Path, PathBuf};

use stela_gpt::{
    copy_file_into_fresh_partition, types, Attributes, DiskLayout, DiskSize, Guid, ImageFile,
    PartitionSpec, PlacedPartition, VerityPartitionUuids,
};
use stela_verity::RootHash;

use crate::slot::EMPTY_LABEL;
use crate::types::Arch;
use crate::ImageError;

/// Size of a verity signature partition.
pub const SIG_PARTITION_SIZE: u64 = 64 * 1024;
/// The ESP's partition label.
pub const ESP_LABEL: &str = "esp";

/// Bytes of hash tree a usr slot of `slot` bytes needs at most (4 KiB blocks, 32-byte
/// digests: 1/128 for the first level, less above), rounded up to MiB.
pub fn verity_slot_size(slot: u64) -> u64 {
    let mut blocks = slot.div_ceil(4096);
    let mut hash_blocks = 1; // superblock
    while blocks > 1 {
        blocks = blocks.div_ceil(128);
        hash_blocks += blocks;
    }
    (hash_blocks * 4096).div_ceil(1 << 20) * (1 << 20)
}

/// What a fresh disk is planned from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInputs<'a> {
    /// The architecture (partition types).
    pub arch: Arch,
    /// The label of slot A's partitions, `<name>_<version>`.
    pub label: &'a str,
    /// ESP size in bytes.
    pub esp_size: u64,
    /// Size of each usr partition in bytes (with headroom for later versions).
    pub usr_size: u64,
    /// Bytes left free after the partitions for the root partition.
    pub root_min_size: u64,
    /// Slot A's root hash: its usr / usr-verity UUIDs are derived from it.
    pub root_hash: RootHash,
    /// Key the other GUIDs are derived from ([`Guid::derived`]; the same key gives the
    /// same disk).
    pub guid_key: &'a [u8],
}

/// The files slot A and the ESP are filled from.
#[derive(Debug, Clone, Copy)]
pub struct Contents<'a> {
    /// The ESP image.
    pub esp: &'a Path,
    /// The usr (erofs) image.
    pub usr: &'a Path,
    /// Its verity hash tree.
    pub verity: &'a Path,
    /// The signature partition content (the DPS JSON, NUL-padded).
    pub signature: &'a Path,
}

/// A planned fresh disk: the partitions and where each lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePlan {
    layout: DiskLayout,
}

/// Entry numbers of the plan (1-based, as [`PlacedPartition::index`]).
const ESP: usize = 0;
const USR_A: usize = 1;
const VERITY_A: usize = 2;
const SIG_A: usize = 3;

impl ImagePlan {
    /// Plans the partitions and the disk size.
    pub fn new(inputs: &PlanInputs<'_>) -> Result<ImagePlan, ImageError> {
        let t = inputs.arch.types();
        let uuids = VerityPartitionUuids::from_root_hash(inputs.root_hash.as_bytes());
        let guid = |what: &str| Guid::derived(inputs.guid_key, what);
        let verity_size = verity_slot_size(inputs.usr_size);
        let ro = Attributes::default().with_read_only(true);
        let spec = |type_guid, guid, label: &str, attributes, size| PartitionSpec {
            type_guid,
            guid,
            label: label.into(),
            attributes,
            size,
        };
        let slot = |data, hash, sig, label: &str, attrs| {
            [
                spec(t.usr, data, label, attrs, inputs.usr_size),
                spec(t.usr_verity, hash, label, attrs, verity_size),
                spec(t.usr_verity_sig, sig, label, attrs, SIG_PARTITION_SIZE),
            ]
        };
        let mut parts = vec![spec(
            types::ESP,
            guid("esp"),
            ESP_LABEL,
            Attributes::default(),
            inputs.esp_size,
        )];
        parts.extend(slot(
            uuids.data,
            uuids.verity,
            guid("usr-verity-sig-a"),
            inputs.label,
            ro,
        ));
        parts.extend(slot(
            guid("usr-b"),
            guid("usr-verity-b"),
            guid("usr-verity-sig-b"),
            EMPTY_LABEL,
            Attributes::default(),
        ));
        let plan_err = |source| ImageError::Plan {
            label: inputs.label.to_owned(),
            source,
        };
        let disk_guid = guid("disk");
        let fit = DiskLayout::plan(disk_guid, &parts, DiskSize::Fit).map_err(plan_err)?;
        let total = fit.disk_size() + inputs.root_min_size;
        let layout =
            DiskLayout::plan(disk_guid, &parts, DiskSize::Bytes(total)).map_err(plan_err)?;
        Ok(ImagePlan { layout })
    }

    /// The GPT layout.
    pub fn layout(&self) -> &DiskLayout {
        &self.layout
    }

    /// The ESP partition.
    pub fn esp(&self) -> &PlacedPartition {
        &self.layout.partitions()[ESP]
    }

    /// Slot A's usr, usr-verity and usr-verity-sig partitions.
    pub fn slot_a(&self) -> [&PlacedPartition; 3] {
        let p = self.layout.partitions();
        [&p[USR_A], &p[VERITY_A], &p[SIG_A]]
    }

    /// Writes the disk image at `out` (sparse; renamed into place when complete, so a
    /// failure leaves no partial image): the tables, then the ESP and slot A.
    pub fn write(&self, out: &Path, contents: &Contents<'_>) -> Result<PathBuf, ImageError> {
        let write_err = |source| ImageError::Write {
            path: out.to_owned(),
            source,
        };
        let mut image = ImageFile::create(out, &self.layout).map_err(write_err)?;
        let [usr, verity, sig] = self.slot_a();
        for (part, path) in [
            (self.esp(), contents.esp),
            (usr, contents.usr),
            (verity, contents.verity),
            (sig, contents.signature),
        ] {
            let content_err = |source| ImageError::Content {
                content: path.to_owned(),
                index: part.index,
                label: part.spec.label.clone(),
                source,
            };
            let f = File::open(path).map_err(|source| ImageError::OpenContent {
                content: path.to_owned(),
                source,
            })?;
            copy_file_into_fresh_partition(image.file_mut(), part, &f).map_err(content_err)?;
        }
        image.persist().map_err(write_err)?;
        Ok(out.to_owned())
    }
}
