//! The model read back from disks `ImagePlan` writes, checked against sgdisk (the
//! independent reader of the table), with one fault injected per case by sgdisk or by
//! overwriting a partition.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use stela_esp::EspBuilder;
use stela_gpt::{types, Guid, VerityPartitionUuids};
use stela_image::{
    Arch, Contents, Fault, ImageError, ImagePlan, PlanInputs, Role, SignatureContent, SlotChange,
    SlotId, SlotState, StelaDisk,
};
use stela_keys::pkcs7::CertificateInclusion;
use stela_keys::verity_sig::{sign_root_hash, VeritySignatureDocument};
use stela_keys::{CertificateProfile, FileSigner, Signer};
use stela_verity::{NoProgress, RootHash, VerityParams};

const LABEL: &str = "demo_1";
const UKI: &str = "EFI/Linux/demo_1+3.efi";
const MIB: u64 = 1 << 20;

fn signer(cn: &str) -> FileSigner {
    FileSigner::generate_self_signed(&CertificateProfile {
        common_name: cn.into(),
        validity_days: 10,
        ca: false,
    })
    .expect("key")
}

/// The unpacked trixie packages the CLI tests use too.
fn trixie(rel: &str) -> PathBuf {
    let cache =
        std::env::var("STELA_TEST_CACHE").unwrap_or_else(|_| "/var/cache/stela/trixie".into());
    let p = Path::new(&cache).join("root").join(rel);
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup --test",
        p.display()
    );
    p
}

fn kernel() -> PathBuf {
    let boot = trixie("boot");
    let kernels: Vec<PathBuf> = std::fs::read_dir(&boot)
        .expect("boot dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-"))
        })
        .collect();
    assert_eq!(
        kernels.len(),
        1,
        "one kernel in {}: {kernels:?}",
        boot.display()
    );
    kernels.into_iter().next().expect("kernel")
}

fn sgdisk() -> PathBuf {
    ["/usr/sbin/sgdisk", "/sbin/sgdisk", "/usr/bin/sgdisk"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("the test needs sgdisk: run scripts/setup --test")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    disk: PathBuf,
    plan: ImagePlan,
    root_hash: RootHash,
    db: FileSigner,
}

/// A disk as the build writes one: signed systemd-boot and UKI on the ESP, slot A
/// holding a verity-protected usr, slot B empty.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("dir");
    let dir = tmp.path().to_owned();
    let db = signer("db");
    let usr = dir.join("usr.img");
    std::fs::write(
        &usr,
        (0..MIB as u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    )
    .expect("usr");
    let tree = dir.join("usr.verity");
    let params = VerityParams::new().expect("params");
    let root_hash = stela_verity::format(&usr, &tree, &params, &mut NoProgress)
        .expect("verity")
        .root_hash;
    let sig = dir.join("sig");
    let der = sign_root_hash(&db, &root_hash, CertificateInclusion::Omit).expect("sign");
    let doc = VeritySignatureDocument::new(&root_hash, db.certificate(), &der);
    std::fs::write(&sig, doc.to_partition_bytes().expect("bytes")).expect("sig");

    let read = |p: &Path| std::fs::read(p).expect("read");
    let sdboot_path = trixie("usr/lib/systemd/boot/efi/systemd-bootx64.efi");
    let sdboot = stela_pe::authenticode::sign("sd", &read(&sdboot_path), &db)
        .expect("sign")
        .bytes;
    let stub = read(&trixie("usr/lib/systemd/boot/efi/linuxx64.efi.stub"));
    let linux = read(&kernel());
    let cmdline = format!("usrhash={root_hash} mount.usrfstype=erofs");
    let input = |name, data| stela_pe::uki::Input { name, data };
    let uki = stela_pe::uki::build(&stela_pe::uki::UkiInputs {
        stub: input("stub", &stub),
        linux: input("vmlinuz", &linux),
        initrd: input("initrd", b"070701 not an initrd"),
        cmdline: &cmdline,
        os_release: input("os-release", b"ID=debian\nIMAGE_VERSION=1\n"),
        uname: None,
        sbat: None,
    })
    .expect("uki");
    let uki = stela_pe::authenticode::sign("uki", &uki, &db)
        .expect("sign")
        .bytes;
    let esp = dir.join("esp.img");
    EspBuilder::new(64 * MIB)
        .label("ESP")
        .bytes("EFI/BOOT/BOOTX64.EFI", sdboot)
        .bytes(UKI, uki)
        .bytes("loader/loader.conf", "timeout 0\n")
        .bytes("loader/keys/auto/db.auth", vec![1u8; 100])
        .plan()
        .expect("esp plan")
        .write_to_path(&esp)
        .expect("esp");

    let plan = ImagePlan::new(&PlanInputs {
        arch: Arch::X86_64,
        label: LABEL,
        esp_size: 64 * MIB,
        usr_size: 2 * MIB,
        root_min_size: 4 * MIB,
        root_hash,
        guid_key: b"stela-image-test",
    })
    .expect("plan");
    let disk = dir.join("disk.raw");
    plan.write(
        &disk,
        &Contents {
            esp: &esp,
            usr: &usr,
            verity: &tree,
            signature: &sig,
        },
    )
    .expect("write");
    Fixture {
        _dir: tmp,
        dir,
        disk,
        plan,
        root_hash,
        db,
    }
}

/// A copy of the fixture's disk, changed by `f`.
fn variant(f: &Fixture, name: &str, change: impl FnOnce(&Path)) -> PathBuf {
    let p = f.dir.join(name);
    std::fs::copy(&f.disk, &p).expect("copy");
    change(&p);
    p
}

fn overwrite(disk: &Path, at: u64, bytes: &[u8]) {
    let mut file = OpenOptions::new().write(true).open(disk).expect("open");
    file.seek(SeekFrom::Start(at)).expect("seek");
    file.write_all(bytes).expect("write");
}

#[test]
fn the_plan_reads_back_as_written_and_verifies() {
    let f = fixture();
    let disk = StelaDisk::open(&f.disk).expect("open");
    assert_eq!(disk.faults(), []);
    let uuids = VerityPartitionUuids::from_root_hash(f.root_hash.as_bytes());

    let [a, b] = disk.slots() else {
        panic!("two slots: {:#?}", disk.slots())
    };
    assert_eq!(a.id, SlotId::A);
    assert_eq!(
        a.state,
        SlotState::Installed {
            root_hash: f.root_hash,
            version: Some("1".into())
        }
    );
    assert_eq!(a.usr.as_ref().map(|p| p.guid), Some(uuids.data));
    assert_eq!(a.verity.as_ref().map(|p| p.guid), Some(uuids.verity));
    assert_eq!(a.label(), LABEL);
    assert_eq!(b.state, SlotState::Empty);
    assert_eq!(b.label(), "_empty");
    let planned = f.plan.layout().partitions();
    assert_eq!(
        b.byte_range(Role::Usr).expect("usr B"),
        planned[4].byte_range()
    );
    assert_eq!(
        b.byte_range(Role::UsrVerity).expect("verity B"),
        planned[5].byte_range()
    );
    assert_eq!(
        b.byte_range(Role::UsrVeritySig).expect("sig B"),
        planned[6].byte_range()
    );

    let [esp] = disk.esps() else {
        panic!("one ESP")
    };
    let c = esp.contents.as_ref().expect("readable ESP");
    assert_eq!(c.volume_label, "ESP");
    assert_eq!(c.loader_conf.as_deref(), Some("timeout 0\n"));
    assert_eq!(c.enrolment_keys, ["loader/keys/auto/db.auth"]);
    let loaders: Vec<&str> = c.boot_loaders().map(|e| e.path.as_str()).collect();
    assert_eq!(loaders, ["EFI/BOOT/BOOTX64.EFI"]);
    let [entry] = c.boot_entries.as_slice() else {
        panic!("one UKI")
    };
    assert_eq!((entry.path.as_str(), entry.id.as_str()), (UKI, LABEL));
    assert_eq!(entry.tries.map(|t| (t.left, t.done)), Some((3, 0)));
    assert_eq!(entry.usrhash, Some(f.root_hash));
    assert_eq!(disk.default_slot().map(|s| s.id), Some(SlotId::A));
    let versions: Vec<(SlotId, Option<&str>)> = disk
        .versions()
        .iter()
        .map(|(s, e)| (s.id, e.map(|e| e.path.as_str())))
        .collect();
    assert_eq!(versions, [(SlotId::A, Some(UKI))]);

    let good = disk.check(f.db.certificate());
    assert!(good.all_verified(), "{:#?}", good.faults);
    assert_eq!(good.efi.len(), 2);
    let other = disk.check(signer("other").certificate());
    assert!(!other.all_verified());
    assert!(
        other
            .faults
            .iter()
            .any(|f| matches!(f, Fault::BadVeritySignature { partition: 4, .. })),
        "{:#?}",
        other.faults
    );
    assert!(other
        .faults
        .iter()
        .any(|f| matches!(f, Fault::BadEfiSignature { esp: 1, path, .. } if path == UKI)));
}

/// sgdisk reads the same table the plan laid out, field by field.
#[test]
fn sgdisk_agrees_with_the_plan_and_the_reader() {
    let f = fixture();
    let disk = StelaDisk::open(&f.disk).expect("open");
    let sgdisk = sgdisk();
    run(Command::new(&sgdisk).arg("-v").arg(&f.disk));
    assert_eq!(
        disk.gpt().partitions.len(),
        f.plan.layout().partitions().len()
    );
    for (p, planned) in disk
        .gpt()
        .partitions
        .iter()
        .zip(f.plan.layout().partitions())
    {
        let info = run(Command::new(&sgdisk)
            .args(["-i", &p.index.to_string()])
            .arg(&f.disk));
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("{name} in {info}"))
                .trim()
                .to_owned()
        };
        let type_guid = field("Partition GUID code:");
        let type_guid = type_guid.split_whitespace().next().expect("type");
        assert_eq!(type_guid.to_ascii_lowercase(), p.type_guid.to_string());
        assert_eq!(p.type_guid, planned.spec.type_guid);
        assert_eq!(
            field("Partition unique GUID:").to_ascii_lowercase(),
            p.guid.to_string()
        );
        assert_eq!(p.guid, planned.spec.guid);
        let first: u64 = field("First sector:")
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .expect("first sector");
        assert_eq!((first, p.first_lba), (planned.first_lba, planned.first_lba));
        assert_eq!(
            field("Partition name:"),
            format!("'{}'", planned.spec.label)
        );
    }
}

#[test]
fn a_usr_partition_not_named_by_the_root_hash_is_a_mismatch() {
    let f = fixture();
    let wrong = Guid::derived(b"test", "wrong");
    let disk = variant(&f, "mismatch.raw", |d| {
        run(Command::new(sgdisk())
            .arg(format!("--partition-guid=2:{wrong}"))
            .arg(d));
    });
    let disk = StelaDisk::open(&disk).expect("open");
    let expected = VerityPartitionUuids::from_root_hash(f.root_hash.as_bytes()).data;
    assert_eq!(
        disk.faults(),
        [Fault::PairMismatch {
            signature: 4,
            type_guid: types::X86_64.usr,
            expected,
            partition: 2,
            found: wrong,
        }]
    );
    assert!(
        matches!(&disk.slots()[0].state, SlotState::Broken { problem } if problem.contains(&wrong.to_string()))
    );
    // The partition that carries the slot's label is not taken for the pair, but it is
    // where an update writes usr (an update cut short must be writable again).
    assert_eq!(disk.slots()[0].usr, None);
    let p2 = disk
        .gpt()
        .partitions
        .iter()
        .find(|p| p.index == 2)
        .expect("partition 2");
    assert_eq!(
        disk.slots()[0].byte_range(Role::Usr).ok(),
        Some(p2.byte_range())
    );
    assert!(!disk.check(f.db.certificate()).all_verified());
}

#[test]
fn a_missing_verity_partition_is_reported() {
    let f = fixture();
    let disk = variant(&f, "missing.raw", |d| {
        run(Command::new(sgdisk()).args(["-d", "3"]).arg(d));
    });
    let disk = StelaDisk::open(&disk).expect("open");
    let expected = VerityPartitionUuids::from_root_hash(f.root_hash.as_bytes()).verity;
    assert_eq!(
        disk.faults(),
        [Fault::PairMissing {
            signature: 4,
            type_guid: types::X86_64.usr_verity,
            expected,
        }]
    );
}

#[test]
fn a_malformed_signature_partition_is_reported() {
    let f = fixture();
    let at = f.plan.slot_a()[2].offset();
    let disk = variant(&f, "malformed.raw", |d| {
        overwrite(d, at, b"{\"rootHash\": 1}")
    });
    let disk = StelaDisk::open(&disk).expect("open");
    let faults = disk.faults();
    assert!(
        matches!(faults.as_slice(), [Fault::MalformedSignature { partition: 4, problem }] if problem.starts_with("parsing the verity signature JSON")),
        "{faults:#?}"
    );
    assert!(matches!(
        disk.signatures()[0].content,
        SignatureContent::Malformed { .. }
    ));
    assert!(matches!(disk.slots()[0].state, SlotState::Broken { .. }));
}

#[test]
fn an_unreadable_esp_is_reported() {
    let f = fixture();
    let at = f.plan.esp().offset();
    let disk = variant(&f, "noesp.raw", |d| overwrite(d, at, &[0u8; 4096]));
    let disk = StelaDisk::open(&disk).expect("open");
    let faults = disk.faults();
    assert!(
        matches!(faults.as_slice(), [Fault::UnreadableEsp { partition: 1, problem }] if problem.starts_with("no FAT file system")),
        "{faults:#?}"
    );
}

#[test]
fn a_file_without_gpt_is_not_a_gpt_disk() {
    let dir = tempfile::tempdir().expect("dir");
    let p = dir.path().join("zeros");
    std::fs::write(&p, vec![0u8; MIB as usize]).expect("write");
    let err = StelaDisk::open(&p).unwrap_err();
    assert!(
        matches!(&err, ImageError::NotGpt { path, .. } if path == &p),
        "{err}"
    );
    let err = StelaDisk::open(&dir.path().join("absent")).unwrap_err();
    assert!(matches!(err, ImageError::Open { .. }), "{err}");
}

/// The agent's path: find the inactive slot, write it, relabel it; the result reads
/// back as a second installed version, and sgdisk accepts the new table.
#[test]
fn an_update_into_the_inactive_slot_reads_back_as_installed() {
    let f = fixture();
    let disk = StelaDisk::open(&f.disk).expect("open");
    assert_eq!(
        disk.inactive_slot(&f.root_hash).expect("inactive").id,
        SlotId::B
    );
    let unknown = RootHash::from_bytes([7; 32]);
    assert_eq!(
        disk.inactive_slot(&unknown).expect("inactive").id,
        SlotId::B
    );

    let b = disk.slot(SlotId::B).expect("B");
    let new_hash = RootHash::from_bytes(std::array::from_fn(|i| 0x40 + i as u8));
    let der = sign_root_hash(&f.db, &new_hash, CertificateInclusion::Omit).expect("sign");
    let doc = VeritySignatureDocument::new(&new_hash, f.db.certificate(), &der);
    let sig_at = b.byte_range(Role::UsrVeritySig).expect("sig").start;
    let layout = disk
        .slot_change(
            SlotId::B,
            SlotChange::Install {
                label: "demo_2",
                root_hash: &new_hash,
            },
        )
        .expect("change");
    let updated = variant(&f, "updated.raw", |d| {
        overwrite(d, sig_at, &doc.to_partition_bytes().expect("bytes"));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(d)
            .expect("open");
        stela_gpt::write_tables(&mut file, &layout).expect("tables");
    });
    run(Command::new(sgdisk()).arg("-v").arg(&updated));
    let after = StelaDisk::open(&updated).expect("open");
    let b = after.slot(SlotId::B).expect("B");
    assert_eq!(
        b.state,
        SlotState::Installed {
            root_hash: new_hash,
            version: Some("2".into())
        }
    );
    assert_eq!(b.label(), "demo_2");
    assert_eq!(after.faults(), []);
    // Both slots hold a version now: the one not running is the one to write.
    assert_eq!(
        after.inactive_slot(&new_hash).expect("inactive").id,
        SlotId::A
    );
    assert!(matches!(
        after.inactive_slot(&unknown),
        Err(ImageError::NoInactiveSlot { .. })
    ));
    // The same root hash in both slots would give two partitions one UUID.
    let err = after
        .slot_change(
            SlotId::A,
            SlotChange::Install {
                label: "demo_2",
                root_hash: &new_hash,
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::Relabel {
                slot: SlotId::A,
                ..
            }
        ),
        "{err}"
    );
    let cleared = after
        .slot_change(SlotId::A, SlotChange::Clear)
        .expect("clear");
    assert!(cleared.partitions()[1..4]
        .iter()
        .all(|p| p.spec.label == "_empty"));
}

/// systemd-dissect (systemd's own reader of DPS images) finds the ESP and slot A's usr
/// partition of a planned disk, with the UUID derived from the root hash (root only:
/// it attaches loop devices).
#[test]
fn systemd_dissect_finds_the_esp_and_slot_a() {
    let id = run(Command::new("id").arg("-u"));
    assert_eq!(
        id.trim(),
        "0",
        "systemd-dissect needs root for loop devices"
    );
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("dir");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("lib")).expect("tree");
    std::fs::write(tree.join("lib/os-release"), "ID=stela-image-test\n").expect("osrel");
    let usr = dir.path().join("usr.erofs");
    run(Command::new("mkfs.erofs")
        .args(["--quiet", "-T0"])
        .arg(&usr)
        .arg(&tree));
    let verity = dir.path().join("usr.verity");
    let params = VerityParams::new().expect("params");
    let root_hash = stela_verity::format(&usr, &verity, &params, &mut NoProgress)
        .expect("verity")
        .root_hash;
    let esp = dir.path().join("esp.img");
    EspBuilder::new(64 * MIB)
        .bytes("loader/loader.conf", "timeout 0\n")
        .plan()
        .expect("esp plan")
        .write_to_path(&esp)
        .expect("esp");
    let sig = dir.path().join("sig");
    std::fs::write(&sig, [0u8; 512]).expect("sig");
    let disk = dir.path().join("disk.raw");
    ImagePlan::new(&PlanInputs {
        arch: Arch::X86_64,
        label: LABEL,
        esp_size: 64 * MIB,
        usr_size: 4 * MIB,
        root_min_size: 0,
        root_hash,
        guid_key: b"dissect",
    })
    .expect("plan")
    .write(
        &disk,
        &Contents {
            esp: &esp,
            usr: &usr,
            verity: &verity,
            signature: &sig,
        },
    )
    .expect("write");
    // Without a usr hash, systemd-dissect 252 picks the usr partition whose label sorts
    // highest in its version order, which skips `_`: "_empty" ("empty") beats "demo_1"
    // ("demo1"), and the empty slot B cannot be mounted. The initrd finds slot A by the
    // UUID `usrhash=` gives, so booting is unaffected; here slot B's usr is dropped.
    run(Command::new(sgdisk()).args(["-d", "5"]).arg(&disk));
    let out = run(Command::new("systemd-dissect")
        .arg("--json=short")
        .arg(&disk));
    let find = |designator: &str| {
        let key = format!("\"designator\":\"{designator}\"");
        let at = out
            .find(&key)
            .unwrap_or_else(|| panic!("systemd-dissect found no {designator}: {out}"));
        // The mount object around the designator: from its `{` to its `}`.
        let start = out[..at].rfind('{').expect("object start");
        let end = at + out[at..].find('}').expect("object end");
        out[start..=end].to_owned()
    };
    let esp = find("esp");
    assert!(esp.contains("\"partno\":1"), "{esp}");
    assert!(esp.contains("\"fstype\":\"vfat\""), "{esp}");
    let usr = find("usr");
    let uuid = VerityPartitionUuids::from_root_hash(root_hash.as_bytes()).data;
    assert!(
        usr.contains(&format!("\"partition_uuid\":\"{uuid}\"")),
        "{usr}"
    );
    assert!(
        usr.contains(&format!("\"partition_label\":\"{LABEL}\"")),
        "{usr}"
    );
    assert!(usr.contains("\"fstype\":\"erofs\""), "{usr}");
    assert!(usr.contains("\"partno\":2"), "{usr}");
}
