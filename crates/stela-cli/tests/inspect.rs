//! `stela inspect` on a small disk laid out as `stela build` lays one out (DESIGN.md
//! section 2), made here from the library crates and the `stela` subcommands; the
//! partition table is read back with sgdisk, the ESP listing with mtools.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{require_tool, run, run_ok, stela, trixie_root};
use serde_json::Value;
use stela_gpt::{
    copy_into_partition, types, Attributes, DiskLayout, DiskSize, Guid, ImageFile, PartitionSpec,
    VerityPartitionUuids,
};

const LABEL: &str = "demo_1";
const UKI_PATH: &str = "EFI/Linux/demo_1+3.efi";
const LOADER_CONF: &str = "timeout 3\neditor no\nsecure-boot-enroll force\n";
const KERNEL: &str = "boot/vmlinuz-6.12.117+deb13-amd64";
const STUB: &str = "usr/lib/systemd/boot/efi/linuxx64.efi.stub";
const SYSTEMD_BOOT: &str = "usr/lib/systemd/boot/efi/systemd-bootx64.efi";
const OS_RELEASE: &str = "ID=debian\nVERSION_ID=13\nIMAGE_ID=demo\nIMAGE_VERSION=1\n";

/// Everything the tests share: built once per test binary.
struct Fixture {
    /// Kept alive (and on disk) for the whole run.
    _dir: tempfile::TempDir,
    dir: PathBuf,
    disk: PathBuf,
    /// Like `disk`, but the usr partition's UUID is not derived from the root hash and
    /// the ESP is all zeros.
    mismatch: PathBuf,
    db_cert: PathBuf,
    other_cert: PathBuf,
    root_hash: String,
    cmdline: String,
    /// ESP path -> size.
    esp_files: BTreeMap<String, u64>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

fn path_arg(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

fn build_fixture() -> Fixture {
    let trixie = trixie_root();
    for rel in [KERNEL, STUB, SYSTEMD_BOOT] {
        assert!(
            trixie.join(rel).is_file(),
            "{} is missing: run scripts/setup --test",
            trixie.join(rel).display()
        );
    }
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let dir = tmp.path().to_owned();
    let keys = dir.join("keys");
    let other = dir.join("other");
    run_ok(stela().args(["keys", "init"]).arg(&keys));
    run_ok(
        stela()
            .args(["keys", "init", "--common-name", "other"])
            .arg(&other),
    );
    let (db_key, db_cert) = (keys.join("db.key"), keys.join("db.crt"));

    // usr: 1 MiB of data, its verity tree and the signed root hash.
    let usr = dir.join("usr.img");
    let data: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&usr, data).expect("usr data");
    let verity = dir.join("usr.verity");
    let out = run_ok(
        stela()
            .args(["verity", "format", "--json"])
            .arg(&usr)
            .arg(&verity),
    );
    let format: Value = serde_json::from_slice(&out.stdout).expect("verity format JSON");
    let root_hash = format["root_hash"].as_str().expect("root_hash").to_owned();
    let sig_json = dir.join("usr.verity-sig.json");
    run_ok(
        stela()
            .args(["verity", "sign", "--format", "json", "--key"])
            .arg(&db_key)
            .arg("--cert")
            .arg(&db_cert)
            .arg(&root_hash)
            .arg("-o")
            .arg(&sig_json),
    );
    let mut sig = std::fs::read(&sig_json).expect("signature JSON");
    sig.resize(sig.len().div_ceil(4096) * 4096, 0);

    // The UKI and systemd-boot, signed.
    let initrd = dir.join("initrd.img");
    std::fs::write(
        &initrd,
        b"070701 not a real initrd, stela does not look inside\n",
    )
    .expect("initrd");
    let osrel = dir.join("os-release");
    std::fs::write(&osrel, OS_RELEASE).expect("os-release");
    let cmdline = format!("usrhash={root_hash} mount.usrfstype=erofs console=ttyS0");
    let uki = dir.join("uki.efi");
    run_ok(
        stela()
            .args(["uki", "build", "--stub"])
            .arg(trixie.join(STUB))
            .arg("--linux")
            .arg(trixie.join(KERNEL))
            .arg("--initrd")
            .arg(&initrd)
            .args(["--cmdline", &cmdline, "--os-release"])
            .arg(&osrel)
            .arg("-o")
            .arg(&uki),
    );
    let sign = |input: &Path, output: &Path| {
        run_ok(
            stela()
                .args(["sign", "efi", "--key"])
                .arg(&db_key)
                .arg("--cert")
                .arg(&db_cert)
                .arg(input)
                .arg("-o")
                .arg(output),
        );
    };
    sign(&uki, &uki);
    let sdboot = dir.join("systemd-bootx64.efi");
    sign(&trixie.join(SYSTEMD_BOOT), &sdboot);

    let mut esp_sources: Vec<(String, PathBuf)> = vec![
        ("EFI/BOOT/BOOTX64.EFI".into(), sdboot.clone()),
        ("EFI/systemd/systemd-bootx64.efi".into(), sdboot),
        (UKI_PATH.into(), uki),
    ];
    for name in ["PK", "KEK", "db"] {
        let auth = keys.join(format!("loader/keys/stela/{name}.auth"));
        esp_sources.push((format!("loader/keys/auto/{name}.auth"), auth));
    }
    let mut builder = stela_esp::EspBuilder::new(64 << 20)
        .label("ESP")
        .bytes("loader/loader.conf", LOADER_CONF);
    let mut esp_files =
        BTreeMap::from([("loader/loader.conf".to_owned(), LOADER_CONF.len() as u64)]);
    for (path, host) in &esp_sources {
        let len = std::fs::metadata(host)
            .unwrap_or_else(|e| panic!("{}: {e}", host.display()))
            .len();
        esp_files.insert(path.clone(), len);
        builder = builder.host_file(path, host);
    }
    let esp = dir.join("esp.img");
    builder
        .plan()
        .expect("ESP plan")
        .write_to_path(&esp)
        .expect("ESP image");

    let disk = dir.join("disk.raw");
    let hash: [u8; 32] = hex_bytes(&root_hash).try_into().expect("32-byte root hash");
    let uuids = VerityPartitionUuids::from_root_hash(&hash);
    let layout = plan_disk(uuids);
    let mut image = ImageFile::create(&disk, &layout).expect("disk image");
    let parts = layout.partitions().to_vec();
    for (i, content) in [(0, esp.as_path()), (1, &usr), (2, &verity)] {
        let mut f = File::open(content).expect("partition content");
        copy_into_partition(image.file_mut(), &parts[i], &mut f).expect("copying");
    }
    copy_into_partition(image.file_mut(), &parts[3], &mut sig.as_slice()).expect("signature");
    image.persist().expect("persisting the disk");

    // The same signature on a disk whose usr pair has UUIDs the hash does not give, and
    // whose ESP holds no file system.
    let mismatch = dir.join("mismatch.raw");
    let wrong = VerityPartitionUuids {
        data: Guid::derived(b"inspect-test", "wrong-usr"),
        verity: uuids.verity,
    };
    let layout = plan_disk(wrong);
    let mut image = ImageFile::create(&mismatch, &layout).expect("disk image");
    copy_into_partition(
        image.file_mut(),
        &layout.partitions()[3],
        &mut sig.as_slice(),
    )
    .expect("signature");
    image.persist().expect("persisting the disk");

    Fixture {
        dir,
        _dir: tmp,
        disk,
        mismatch,
        db_cert,
        other_cert: other.join("db.crt"),
        root_hash,
        cmdline,
        esp_files,
    }
}

fn hex_bytes(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// ESP, slot A (usr, usr-verity, usr-verity-sig) and an empty slot B, as `stela build`.
fn plan_disk(uuids: VerityPartitionUuids) -> DiskLayout {
    let x = types::X86_64;
    let guid = |what: &str| Guid::derived(b"inspect-test", what);
    let ro = Attributes::NONE.with_read_only(true);
    let spec = |type_guid, guid, label: &str, attributes, size| PartitionSpec {
        type_guid,
        guid,
        label: label.into(),
        attributes,
        size,
    };
    let parts = [
        spec(types::ESP, guid("esp"), "esp", Attributes::NONE, 64 << 20),
        spec(x.usr, uuids.data, LABEL, ro, 2 << 20),
        spec(x.usr_verity, uuids.verity, LABEL, ro, 1 << 20),
        spec(x.usr_verity_sig, guid("sig-a"), LABEL, ro, 64 << 10),
        spec(x.usr, guid("usr-b"), "_empty", Attributes::NONE, 2 << 20),
        spec(
            x.usr_verity,
            guid("verity-b"),
            "_empty",
            Attributes::NONE,
            1 << 20,
        ),
        spec(
            x.usr_verity_sig,
            guid("sig-b"),
            "_empty",
            Attributes::NONE,
            64 << 10,
        ),
    ];
    DiskLayout::plan(guid("disk"), &parts, DiskSize::Fit).expect("layout")
}

fn inspect(args: &[&str]) -> Output {
    run(stela().arg("inspect").args(args))
}

fn inspect_json(args: &[&str]) -> (Option<i32>, Value) {
    let out = inspect(&[args, &["--json"]].concat());
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "inspect --json printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), json)
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The SHA-256 fingerprint of a certificate as openssl computes it, lowercase hex.
fn openssl_fingerprint(cert: &Path) -> String {
    require_tool("openssl");
    let out = run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(cert),
    );
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let (_, value) = line.trim().split_once('=').expect("fingerprint line");
    value.replace(':', "").to_ascii_lowercase()
}

fn openssl_subject_cn(cert: &Path) -> String {
    let out = run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-nameopt", "multiline", "-in"])
            .arg(cert),
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let cn = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("commonName"))
        .expect("commonName");
    cn.trim().trim_start_matches('=').trim().to_owned()
}

#[test]
fn human_output_names_partitions_signatures_and_esp_contents() {
    let f = fixture();
    let out = inspect(&[path_arg(&f.disk)]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = text(&out);
    for name in [
        "esp",
        "usr-x86-64",
        "usr-x86-64-verity",
        "usr-x86-64-verity-sig",
        LABEL,
        "_empty",
    ] {
        assert!(t.contains(name), "{name} missing from:\n{t}");
    }
    assert!(
        t.contains("attributes 0x1000000000000000 (read-only)"),
        "{t}"
    );
    assert!(
        t.contains(&format!("root hash:          {}", f.root_hash)),
        "{t}"
    );
    let fingerprint = openssl_fingerprint(&f.db_cert);
    assert!(
        t.contains(&format!("certificate:        sha256 {fingerprint}")),
        "{t}"
    );
    assert!(
        t.contains("signature:          not checked (no --cert)"),
        "{t}"
    );
    assert!(t.contains("(\"_empty\"): empty"), "{t}");
    assert!(
        t.contains("usr-x86-64:         partition 2 has the derived uuid"),
        "{t}"
    );
    assert!(
        t.contains("usr-x86-64-verity:  partition 3 has the derived uuid"),
        "{t}"
    );
    for line in LOADER_CONF.lines() {
        assert!(
            t.contains(&format!("    {line}\n")),
            "{line} missing from:\n{t}"
        );
    }
    for path in f.esp_files.keys() {
        assert!(t.contains(path.as_str()), "{path} missing from:\n{t}");
    }
    let cn = openssl_subject_cn(&f.db_cert);
    for efi in [
        "EFI/BOOT/BOOTX64.EFI",
        "EFI/systemd/systemd-bootx64.efi",
        UKI_PATH,
    ] {
        let want = format!("{efi}: signed by CN={cn}, not checked");
        assert!(t.contains(&want), "{want:?} missing from:\n{t}");
    }
    assert!(t.contains("uname:   6.12.117+deb13-amd64"), "{t}");
    assert!(t.contains(&format!("cmdline: {}", f.cmdline)), "{t}");
    assert!(t.contains("      IMAGE_ID=demo\n"), "{t}");
    assert!(!t.contains("BAD"), "{t}");
}

#[test]
fn right_certificate_verifies_everything() {
    let f = fixture();
    let (code, j) = inspect_json(&[path_arg(&f.disk), "--cert", path_arg(&f.db_cert)]);
    assert_eq!(code, Some(0), "{j:#}");
    assert_eq!(j["all_verified"], true);
    assert_eq!(
        j["checked_against"]["fingerprint"],
        openssl_fingerprint(&f.db_cert)
    );

    let sigs = j["verity_signatures"]
        .as_array()
        .expect("verity_signatures");
    assert_eq!(sigs.len(), 2, "{j:#}");
    let a = &sigs[0];
    assert_eq!(a["partition"], 4);
    assert_eq!(a["state"], "signed");
    assert_eq!(a["root_hash"], f.root_hash.as_str());
    assert_eq!(
        a["certificate_fingerprint"],
        openssl_fingerprint(&f.db_cert)
    );
    assert_eq!(a["signature"]["status"], "verified");
    assert_eq!(a["data_partition"]["matches"], true);
    assert_eq!(a["data_partition"]["partition"], 2);
    assert_eq!(
        a["data_partition"]["expected_uuid"],
        dashed(&f.root_hash[..32])
    );
    assert_eq!(a["verity_partition"]["matches"], true);
    assert_eq!(a["verity_partition"]["partition"], 3);
    assert_eq!(
        a["verity_partition"]["expected_uuid"],
        dashed(&f.root_hash[32..])
    );
    assert_eq!(sigs[1]["partition"], 7);
    assert_eq!(sigs[1]["state"], "empty");
    assert_eq!(sigs[1]["signature"], Value::Null);

    let esps = j["esps"].as_array().expect("esps");
    assert_eq!(esps.len(), 1);
    let esp = &esps[0];
    assert_eq!(esp["partition"], 1);
    assert_eq!(esp["loader_conf"], LOADER_CONF);
    let files: BTreeMap<String, u64> = esp["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            (
                f["path"].as_str().expect("path").to_owned(),
                f["size"].as_u64().expect("size"),
            )
        })
        .collect();
    assert_eq!(files, f.esp_files);
    let efi = esp["efi"].as_array().expect("efi");
    assert_eq!(efi.len(), 3, "{efi:#?}");
    let cn = openssl_subject_cn(&f.db_cert);
    for e in efi {
        assert_eq!(e["authenticode"]["status"], "verified", "{e:#}");
        assert_eq!(e["authenticode"]["signer"], format!("CN={cn}"), "{e:#}");
    }
    let uki = efi.iter().find(|e| e["path"] == UKI_PATH).expect("the UKI");
    assert_eq!(uki["uki"]["cmdline"], f.cmdline.as_str());
    assert_eq!(uki["uki"]["uname"], "6.12.117+deb13-amd64");
    assert_eq!(uki["uki"]["os_release"], OS_RELEASE);
    let sdboot = efi
        .iter()
        .find(|e| e["path"] == "EFI/BOOT/BOOTX64.EFI")
        .expect("systemd-boot");
    assert_eq!(sdboot["uki"], Value::Null);
}

fn dashed(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[test]
fn another_certificate_fails_every_check() {
    let f = fixture();
    let (code, j) = inspect_json(&[path_arg(&f.disk), "--cert", path_arg(&f.other_cert)]);
    assert_eq!(code, Some(1), "{j:#}");
    assert_eq!(j["all_verified"], false);
    assert_eq!(j["verity_signatures"][0]["signature"]["status"], "bad");
    for e in j["esps"][0]["efi"].as_array().expect("efi") {
        assert_eq!(e["authenticode"]["status"], "bad", "{e:#}");
    }

    let out = inspect(&[path_arg(&f.disk), "--cert", path_arg(&f.other_cert)]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(t.contains("signature:          BAD: "), "{t}");
    assert!(t.contains(&format!("{UKI_PATH}: BAD: ")), "{t}");
    assert!(t.contains("NOT all signatures verified"), "{t}");
}

#[test]
fn a_file_without_gpt_is_an_error_naming_it() {
    let f = fixture();
    let not_gpt = f.dir.join("not-a-disk.img");
    std::fs::write(&not_gpt, vec![0u8; 1 << 20]).expect("file");
    let out = inspect(&[path_arg(&not_gpt)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{} is not a GPT disk", not_gpt.display())),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// `sgdisk -p` and `sgdisk -i N` agree with every field of every partition.
#[test]
fn partition_table_matches_sgdisk() {
    let f = fixture();
    let sgdisk = require_tool("sgdisk");
    let (code, j) = inspect_json(&[path_arg(&f.disk)]);
    assert_eq!(code, Some(0));
    let parts = j["partitions"].as_array().expect("partitions");

    let listing = run_ok(Command::new(&sgdisk).arg("-p").arg(&f.disk));
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let rows: Vec<Vec<&str>> = listing
        .lines()
        .skip_while(|l| !l.starts_with("Number"))
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), parts.len(), "{listing}");
    for (row, p) in rows.iter().zip(parts) {
        // Number, Start, End, Size (two words), Code, Name
        assert_eq!(row[0], p["number"].to_string(), "{listing}");
        assert_eq!(row[1], p["first_lba"].to_string(), "{listing}");
        assert_eq!(row[2], p["last_lba"].to_string(), "{listing}");
        assert_eq!(row[6..].join(" "), p["label"].as_str().expect("label"));
    }

    for p in parts {
        let n = p["number"].to_string();
        let info = run_ok(Command::new(&sgdisk).args(["-i", &n]).arg(&f.disk));
        let info = String::from_utf8_lossy(&info.stdout).into_owned();
        let field = |name: &str| -> String {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or_else(|| panic!("{name} missing in sgdisk -i {n}:\n{info}"))
                .trim()
                .to_owned()
        };
        let type_guid = field("Partition GUID code:");
        let type_guid = type_guid.split_whitespace().next().expect("type GUID");
        assert_eq!(
            type_guid.to_ascii_lowercase(),
            p["type_guid"].as_str().unwrap()
        );
        assert_eq!(
            field("Partition unique GUID:").to_ascii_lowercase(),
            p["uuid"].as_str().unwrap()
        );
        let first: u64 = field("First sector:")
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .expect("first sector");
        assert_eq!(first * 512, p["start"].as_u64().unwrap());
        let sectors: u64 = field("Partition size:")
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .expect("size");
        assert_eq!(sectors * 512, p["size"].as_u64().unwrap());
        assert_eq!(
            format!("0x{}", field("Attribute flags:")),
            p["attributes"].as_str().unwrap()
        );
        assert_eq!(
            field("Partition name:"),
            format!("'{}'", p["label"].as_str().unwrap())
        );
    }
}

/// mtools lists the same files, with the same sizes, as inspect reads through fatfs.
#[test]
fn esp_listing_matches_mtools() {
    let f = fixture();
    let mdir = require_tool("mdir");
    let (_, j) = inspect_json(&[path_arg(&f.disk)]);
    let offset = j["partitions"][0]["start"].as_u64().expect("ESP start");
    let out = run_ok(
        Command::new(&mdir)
            .args(["-/", "-b", "-i"])
            .arg(format!("{}@@{offset}", f.disk.display()))
            .arg("::")
            .env("MTOOLS_SKIP_CHECK", "1"),
    );
    let mut listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.ends_with('/'))
        .map(|l| l.trim_start_matches("::/").to_owned())
        .collect();
    listed.sort();
    let mut ours: Vec<String> = j["esps"][0]["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_owned())
        .collect();
    ours.sort();
    assert_eq!(ours, listed);
}

#[test]
fn uuids_not_derived_from_the_root_hash_and_an_unreadable_esp_are_reported() {
    let f = fixture();
    let (code, j) = inspect_json(&[path_arg(&f.mismatch), "--cert", path_arg(&f.db_cert)]);
    // The verity signature verifies, but the ESP's binaries cannot be checked.
    assert_eq!(code, Some(1), "{j:#}");
    let a = &j["verity_signatures"][0];
    assert_eq!(a["signature"]["status"], "verified");
    assert_eq!(a["data_partition"]["matches"], false);
    assert_eq!(a["data_partition"]["partition"], 2);
    assert_eq!(
        a["data_partition"]["expected_uuid"],
        dashed(&f.root_hash[..32])
    );
    assert_eq!(a["verity_partition"]["matches"], true);
    let problem = j["esps"][0]["problem"].as_str().expect("ESP problem");
    assert!(problem.starts_with("no FAT file system"), "{problem}");

    let out = inspect(&[path_arg(&f.mismatch)]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out);
    let wrong = Guid::derived(b"inspect-test", "wrong-usr");
    let want = format!(
        "usr-x86-64:         MISMATCH: partition 2 has uuid {wrong}, the root hash gives {}",
        dashed(&f.root_hash[..32])
    );
    assert!(t.contains(&want), "{want:?} missing from:\n{t}");
    assert!(t.contains("  cannot read: no FAT file system"), "{t}");
}
