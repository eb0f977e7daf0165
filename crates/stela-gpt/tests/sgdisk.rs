//! GPT images checked with gdisk's `sgdisk`, and sgdisk's images read with stela-gpt.

// Test helpers outside #[test] functions may panic on unexpected errors too.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use common::{path_str, run, spec};
use stela_gpt::{
    types, Attributes, DiskLayout, DiskSize, GptDisk, GptError, Guid, HeaderKind, ImageFile,
    PartitionSpec,
};

const MIB: u64 = 1 << 20;

fn sample_partitions() -> Vec<PartitionSpec> {
    let hash: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(1));
    let uuids = stela_gpt::VerityPartitionUuids::from_root_hash(&hash);
    let ro = Attributes::NONE.with_read_only(true);
    vec![
        spec(
            types::ESP,
            Guid::derived(b"t", "esp"),
            "esp",
            Attributes::NONE.with_required(true),
            8 * MIB,
        ),
        spec(types::X86_64.usr, uuids.data, "demo_1.0", ro, 5 * MIB + 512),
        spec(
            types::X86_64.usr_verity,
            uuids.verity,
            "demo_1.0",
            ro.with_no_auto(true),
            300 * 1024,
        ),
        spec(
            types::X86_64.usr_verity_sig,
            Guid::derived(b"t", "sig"),
            "demo_1.0",
            ro,
            16 * 1024,
        ),
        spec(
            types::X86_64.root,
            Guid::derived(b"t", "root"),
            "räöt",
            Attributes::NONE
                .with_grow_fs(true)
                .with_legacy_bios_bootable(true)
                .with_no_block_io(true),
            MIB,
        ),
        spec(
            types::LINUX_GENERIC,
            Guid::derived(b"t", "max"),
            &"L".repeat(36),
            Attributes::from_bits(1 << 48),
            512,
        ),
    ]
}

fn write_image(path: &Path, partitions: &[PartitionSpec], size: DiskSize) -> DiskLayout {
    let layout = DiskLayout::plan(Guid::derived(b"t", "disk"), partitions, size).unwrap();
    ImageFile::create(path, &layout).unwrap().persist().unwrap();
    layout
}

/// `sgdisk -i N` as field name -> value.
fn sgdisk_info(image: &Path, index: u32) -> HashMap<String, String> {
    run("sgdisk", &["-i", &index.to_string(), path_str(image)])
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn sgdisk_verifies_and_reads_back_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.raw");
    let layout = write_image(&image, &sample_partitions(), DiskSize::Fit);
    assert_eq!(std::fs::metadata(&image).unwrap().len(), layout.disk_size());

    let verify = run("sgdisk", &["-v", path_str(&image)]);
    assert!(verify.contains("No problems found"), "sgdisk -v:\n{verify}");

    let print = run("sgdisk", &["-p", path_str(&image)]);
    assert!(
        print.contains(&format!(
            "Disk identifier (GUID): {}",
            layout.disk_guid().to_string().to_uppercase()
        )),
        "{print}"
    );
    assert!(
        print.contains("Partition table holds up to 128 entries"),
        "{print}"
    );

    for p in layout.partitions() {
        let info = sgdisk_info(&image, p.index);
        let type_code = &info["Partition GUID code"];
        assert!(
            type_code.starts_with(&p.spec.type_guid.to_string().to_uppercase()),
            "{type_code}"
        );
        assert_eq!(
            info["Partition unique GUID"],
            p.spec.guid.to_string().to_uppercase()
        );
        assert_eq!(info["Partition name"], format!("'{}'", p.spec.label));
        assert_eq!(
            info["Attribute flags"],
            format!("{:016x}", p.spec.attributes.bits())
        );
        let first: u64 = info["First sector"]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let last: u64 = info["Last sector"]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            (first, last),
            (p.first_lba, p.last_lba),
            "partition {}",
            p.index
        );
        assert_eq!(
            first % 2048,
            0,
            "partition {} is not 1 MiB aligned",
            p.index
        );
        assert_eq!((last + 1 - first) * 512, p.spec.size.div_ceil(512) * 512);
    }

    // Our reader agrees with what we planned.
    let disk = GptDisk::read_file(&image).unwrap();
    assert_eq!(disk.disk_guid, layout.disk_guid());
    assert_eq!(disk.disk_size, layout.disk_size());
    assert_eq!(disk.partitions.len(), layout.partitions().len());
    for (read, planned) in disk.partitions.iter().zip(layout.partitions()) {
        assert_eq!(read.index, planned.index);
        assert_eq!(read.type_guid, planned.spec.type_guid);
        assert_eq!(read.guid, planned.spec.guid);
        assert_eq!(read.label, planned.spec.label);
        assert_eq!(read.attributes, planned.spec.attributes);
        assert_eq!(read.byte_range(), planned.byte_range());
    }
}

#[test]
fn an_explicit_disk_size_is_used_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.raw");
    let layout = write_image(
        &image,
        &sample_partitions()[..2],
        DiskSize::Bytes(100 * MIB + 4096),
    );
    assert_eq!(std::fs::metadata(&image).unwrap().len(), 100 * MIB + 4096);
    let verify = run("sgdisk", &["-v", path_str(&image)]);
    assert!(verify.contains("No problems found"), "sgdisk -v:\n{verify}");
    let print = run("sgdisk", &["-p", path_str(&image)]);
    let last_usable = layout.last_usable_lba();
    assert!(
        print.contains(&format!("last usable sector is {last_usable}")),
        "{print}"
    );
    assert_eq!(last_usable, (100 * MIB + 4096) / 512 - 34);
}

#[test]
fn reader_parses_an_image_made_by_sgdisk() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("sgdisk.raw");
    std::fs::File::create(&image)
        .unwrap()
        .set_len(40 * MIB)
        .unwrap();
    let disk_guid = Guid::derived(b"sgdisk", "disk");
    let esp_guid = Guid::derived(b"sgdisk", "esp");
    let usr_guid = Guid::derived(b"sgdisk", "usr");
    run(
        "sgdisk",
        &[
            "-o",
            "-U",
            &disk_guid.to_string(),
            "-n",
            "1:2048:+10M",
            "-t",
            &format!("1:{}", types::ESP),
            "-c",
            "1:EFI System",
            "-u",
            &format!("1:{esp_guid}"),
            "-A",
            "1:set:0",
            "-n",
            "3:0:+7M",
            "-t",
            &format!("3:{}", types::ARM64.usr),
            "-c",
            "3:os_2.5",
            "-u",
            &format!("3:{usr_guid}"),
            "-A",
            "3:set:60",
            "-A",
            "3:set:59",
            "-A",
            "3:set:63",
            path_str(&image),
        ],
    );
    let disk = GptDisk::read_file(&image).unwrap();
    assert_eq!(disk.disk_guid, disk_guid);
    assert_eq!(disk.disk_size, 40 * MIB);
    assert_eq!(disk.first_usable_lba, 34);
    assert_eq!(disk.last_usable_lba, 40 * MIB / 512 - 34);
    let [esp, usr] = &disk.partitions[..] else {
        panic!("expected two partitions, got {:?}", disk.partitions)
    };
    assert_eq!(
        (esp.index, esp.type_guid, esp.guid),
        (1, types::ESP, esp_guid)
    );
    assert_eq!(esp.label, "EFI System");
    assert_eq!(esp.attributes, Attributes::NONE.with_required(true));
    assert_eq!(esp.byte_range(), MIB..11 * MIB);
    assert_eq!(
        (usr.index, usr.type_guid, usr.guid),
        (3, types::ARM64.usr, usr_guid)
    );
    assert_eq!(usr.label, "os_2.5");
    assert!(usr.attributes.read_only() && usr.attributes.grow_fs() && usr.attributes.no_auto());
    assert!(!usr.attributes.required());
    assert_eq!(usr.byte_range(), 11 * MIB..18 * MIB);
}

fn corrupt(image: &Path, offset: u64) {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .unwrap();
    let mut byte = [0u8; 1];
    f.seek(SeekFrom::Start(offset)).unwrap();
    std::io::Read::read_exact(&mut f, &mut byte).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&[byte[0] ^ 0x40]).unwrap();
}

#[test]
fn corruption_is_reported_naming_the_header() {
    let dir = tempfile::tempdir().unwrap();
    let parts = sample_partitions();

    // A byte of the primary header's LastUsableLBA.
    let image = dir.path().join("primary.raw");
    write_image(&image, &parts, DiskSize::Fit);
    corrupt(&image, 512 + 0x30);
    let err = GptDisk::read_file(&image).unwrap_err();
    assert!(
        matches!(
            err,
            GptError::HeaderCrcMismatch {
                header: HeaderKind::Primary,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("primary GPT header: header CRC32 is"),
        "{err}"
    );

    // A byte of the backup header's disk GUID.
    let image = dir.path().join("backup.raw");
    let layout = write_image(&image, &parts, DiskSize::Fit);
    corrupt(&image, layout.disk_size() - 512 + 0x40);
    let err = GptDisk::read_file(&image).unwrap_err();
    assert!(
        matches!(
            err,
            GptError::HeaderCrcMismatch {
                header: HeaderKind::Backup,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("backup GPT header"), "{err}");

    // A label byte in the primary entry array.
    let image = dir.path().join("entries.raw");
    write_image(&image, &parts, DiskSize::Fit);
    corrupt(&image, 1024 + 0x38);
    let err = GptDisk::read_file(&image).unwrap_err();
    assert!(
        matches!(
            err,
            GptError::EntriesCrcMismatch {
                header: HeaderKind::Primary,
                ..
            }
        ),
        "{err}"
    );

    // The signature of the backup header.
    let image = dir.path().join("signature.raw");
    let layout = write_image(&image, &parts, DiskSize::Fit);
    corrupt(&image, layout.disk_size() - 512);
    let err = GptDisk::read_file(&image).unwrap_err();
    assert!(
        matches!(
            err,
            GptError::BadSignature {
                header: HeaderKind::Backup,
                ..
            }
        ),
        "{err}"
    );

    // sgdisk sees the same damage: our corruption really is corruption.
    let verify = common::run_status("sgdisk", &["-v", path_str(&image)]).1;
    assert!(verify.contains("Backup header: ERROR"), "{verify}");
}

#[test]
fn content_is_copied_in_and_oversized_content_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.raw");
    let parts = sample_partitions();
    let layout = DiskLayout::plan(Guid::derived(b"t", "disk"), &parts, DiskSize::Fit).unwrap();
    let mut file = ImageFile::create(&image, &layout).unwrap();

    let content: Vec<u8> = (0..300 * 1024).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        file.copy_into("esp", &mut &content[..]).unwrap(),
        content.len() as u64
    );

    // 16 KiB + 1 byte into the 16 KiB signature partition.
    let too_big = vec![0xAAu8; 16 * 1024 + 1];
    let sig = &layout.partitions()[3];
    let err = stela_gpt::copy_into_partition(file.file_mut(), sig, &mut &too_big[..]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "partition 4 (\"demo_1.0\"): content is larger than the partition (16384 bytes)"
    );
    let err = file.copy_into("nope", &mut &content[..]).unwrap_err();
    assert!(matches!(err, GptError::NoSuchPartition { .. }), "{err}");
    file.persist().unwrap();

    let bytes = std::fs::read(&image).unwrap();
    let esp = layout.partition("esp").unwrap().byte_range();
    assert_eq!(
        &bytes[esp.start as usize..esp.start as usize + content.len()],
        &content[..]
    );
    // The refused content left the next partition untouched.
    let after = (sig.offset() + sig.len()) as usize;
    assert!(bytes[sig.offset() as usize..after + 512]
        .iter()
        .all(|&b| b == 0));
    assert!(GptDisk::read_file(&image).is_ok());
}

#[test]
fn a_dropped_image_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.raw");
    let layout = DiskLayout::plan(
        Guid::derived(b"t", "disk"),
        &sample_partitions(),
        DiskSize::Fit,
    )
    .unwrap();
    drop(ImageFile::create(&image, &layout).unwrap());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
