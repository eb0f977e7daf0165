//! The GPT disk image, laid out as DESIGN.md section 2: ESP, slot A (usr, usr-verity,
//! usr-verity-sig) labelled `<name>_<version>`, an empty slot B of the same sizes, and
//! room for the root partition that systemd-repart makes at first boot.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context;
use stela_gpt::{
    copy_into_fresh_partition, types, Attributes, DiskLayout, DiskSize, Guid, PartitionSpec,
    VerityPartitionUuids,
};
use stela_recipe::{Architecture, Recipe};

use super::usr::UsrImage;
use super::verity::VerityOutput;

/// Label of an unused slot's partitions.
pub const EMPTY_LABEL: &str = "_empty";

/// Size of a verity signature partition.
pub const SIG_PARTITION_SIZE: u64 = 64 * 1024;

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

/// The partitions of a fresh image.
pub fn plan(recipe: &Recipe, verity: &VerityOutput) -> anyhow::Result<DiskLayout> {
    let arch = match recipe.debian().architecture {
        Architecture::Arm64 => types::ARM64,
        _ => types::X86_64,
    };
    let uuids = VerityPartitionUuids::from_root_hash(verity.root_hash.as_bytes());
    let guid = |what: &str| Guid::derived(&super::derive(recipe, "gpt"), what);
    let usr_size = recipe.partitions().usr_size.bytes();
    let verity_size = verity_slot_size(usr_size);
    let label = recipe.label();
    let ro = Attributes::default().with_read_only(true);
    let mut parts = vec![PartitionSpec {
        type_guid: types::ESP,
        guid: guid("esp"),
        label: "esp".into(),
        attributes: Attributes::default(),
        size: recipe.partitions().esp_size.bytes(),
    }];
    let slot = |data: Guid, hash: Guid, sig: Guid, label: &str, attrs: Attributes| {
        [
            PartitionSpec {
                type_guid: arch.usr,
                guid: data,
                label: label.into(),
                attributes: attrs,
                size: usr_size,
            },
            PartitionSpec {
                type_guid: arch.usr_verity,
                guid: hash,
                label: label.into(),
                attributes: attrs,
                size: verity_size,
            },
            PartitionSpec {
                type_guid: arch.usr_verity_sig,
                guid: sig,
                label: label.into(),
                attributes: attrs,
                size: SIG_PARTITION_SIZE,
            },
        ]
    };
    parts.extend(slot(
        uuids.data,
        uuids.verity,
        guid("usr-verity-sig-a"),
        &label,
        ro,
    ));
    parts.extend(slot(
        guid("usr-b"),
        guid("usr-verity-b"),
        guid("usr-verity-sig-b"),
        EMPTY_LABEL,
        Attributes::default(),
    ));
    let disk_guid = guid("disk");
    let fit =
        DiskLayout::plan(disk_guid, &parts, DiskSize::Fit).context("planning the partitions")?;
    let total = fit.disk_size() + recipe.partitions().root.min_size.bytes();
    DiskLayout::plan(disk_guid, &parts, DiskSize::Bytes(total)).context("planning the disk")
}

/// Write the disk image at `out`.
pub fn build(
    recipe: &Recipe,
    esp: &Path,
    usr: &UsrImage,
    verity: &VerityOutput,
    out: &Path,
) -> anyhow::Result<PathBuf> {
    let layout = plan(recipe, verity)?;
    let mut image =
        stela_gpt::ImageFile::create(out, &layout).context("creating the disk image")?;
    let parts = layout.partitions().to_vec();
    let contents: [(usize, &Path); 4] = [
        (0, esp),
        (1, &usr.path),
        (2, &verity.tree),
        (3, &verity.sig_partition),
    ];
    for (i, path) in contents {
        let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        copy_into_fresh_partition(image.file_mut(), &parts[i], &mut f)
            .with_context(|| format!("copying {} into the image", path.display()))?;
    }
    image.persist().context("finishing the disk image")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("setting the mode of {}", out.display()))?;
    Ok(out.to_owned())
}
