//! `stela inspect` on a small disk laid out as `stela build` lays one out (DESIGN.md
//! section 2): the contents made with the `stela` subcommands, the disk written by
//! `stela_image::ImagePlan` (the build's own plan); the partition table is read back with
//! sgdisk, the ESP listing with mtools. Each fault case injects one fault into a copy
//! of the clean disk (with sgdisk, or by overwriting a partition) and checks that exactly
//! that fault is reported.

mod common;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use common::{require_tool, run, run_ok, stela, trixie_root};
use serde_json::Value;
use stela_gpt::Guid;
use stela_image::{Arch, Contents, ImagePlan, PlanInputs};
use stela_verity::RootHash;

const LABEL: &str = "demo_1";
const UKI_PATH: &str = "EFI/Linux/demo_1+3.efi";
const LOADER_CONF: &str = "timeout 3\neditor no\nsecure-boot-enroll force\n";
const STUB: &str = "usr/lib/systemd/boot/efi/linuxx64.efi.stub";
const SYSTEMD_BOOT: &str = "usr/lib/systemd/boot/efi/systemd-bootx64.efi";
const OS_RELEASE: &str = "ID=debian\nVERSION_ID=13\nIMAGE_ID=demo\nIMAGE_VERSION=1\n";

/// Everything the tests share: built once per test binary.
struct Fixture {
    /// Kept alive (and on disk) for the whole run.
    _dir: tempfile::TempDir,
    dir: PathBuf,
    disk: PathBuf,
    /// The plan `disk` was written from.
    plan: ImagePlan,
    /// `disk` with systemd-boot unsigned (`EFI/BOOT/BOOTX64.EFI`).
    unsigned_efi: PathBuf,
    /// `disk` with the UKI signed by the other key.
    badly_signed_efi: PathBuf,
    db_cert: PathBuf,
    other_cert: PathBuf,
    root_hash: String,
    cmdline: String,
    /// The kernel release, from the file name of the one kernel fetched.
    release: String,
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
    let release = common::trixie_kernel_release();
    let kernel = trixie.join(common::trixie_kernel_path());
    for rel in [STUB, SYSTEMD_BOOT] {
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
            .arg(&kernel)
            .arg("--initrd")
            .arg(&initrd)
            .args(["--cmdline", &cmdline, "--os-release"])
            .arg(&osrel)
            .arg("-o")
            .arg(&uki),
    );
    let sign_with = common::sign_efi;
    let other_uki = dir.join("uki-other.efi");
    sign_with(&other, &uki, &other_uki);
    sign_with(&keys, &uki, &uki);
    let sdboot = dir.join("systemd-bootx64.efi");
    sign_with(&keys, &trixie.join(SYSTEMD_BOOT), &sdboot);

    let mut esp_sources: Vec<(String, PathBuf)> = vec![
        ("EFI/BOOT/BOOTX64.EFI".into(), sdboot.clone()),
        ("EFI/systemd/systemd-bootx64.efi".into(), sdboot.clone()),
        (UKI_PATH.into(), uki.clone()),
    ];
    for name in ["PK", "KEK", "db"] {
        let auth = keys.join(format!("loader/keys/stela/{name}.auth"));
        esp_sources.push((format!("loader/keys/auto/{name}.auth"), auth));
    }
    let esp_files = esp_sources
        .iter()
        .map(|(path, host)| {
            let len = std::fs::metadata(host)
                .unwrap_or_else(|e| panic!("{}: {e}", host.display()))
                .len();
            (path.clone(), len)
        })
        .chain([("loader/loader.conf".to_owned(), LOADER_CONF.len() as u64)])
        .collect();

    let hash: RootHash = root_hash.parse().expect("root hash");
    let plan = ImagePlan::new(&PlanInputs {
        arch: Arch::X86_64,
        label: LABEL,
        esp_size: 64 << 20,
        usr_size: 2 << 20,
        root_min_size: 0,
        root_hash: hash,
        guid_key: b"inspect-test",
    })
    .expect("disk plan");
    // The disk, with the ESP made from `sources` (path on the ESP -> host file).
    let write_disk = |name: &str, sources: &[(String, PathBuf)]| -> PathBuf {
        let mut builder = stela_esp::EspBuilder::new(64 << 20)
            .label("ESP")
            .bytes("loader/loader.conf", LOADER_CONF);
        for (path, host) in sources {
            builder = builder.host_file(path, host);
        }
        let esp = dir.join(format!("{name}.esp"));
        builder
            .plan()
            .expect("ESP plan")
            .write_to_path(&esp)
            .expect("ESP image");
        let disk = dir.join(format!("{name}.raw"));
        plan.write(
            &disk,
            &Contents {
                esp: &esp,
                usr: &usr,
                verity: &verity,
                signature: &sig_json,
            },
        )
        .expect("disk image");
        disk
    };
    let replace = |path: &str, host: &Path| -> Vec<(String, PathBuf)> {
        esp_sources
            .iter()
            .map(|(p, h)| {
                let h = if p == path { host } else { h };
                (p.clone(), h.to_owned())
            })
            .collect()
    };
    let disk = write_disk("disk", &esp_sources);
    let unsigned_efi = write_disk(
        "unsigned-efi",
        &replace("EFI/BOOT/BOOTX64.EFI", &trixie.join(SYSTEMD_BOOT)),
    );
    let badly_signed_efi = write_disk("badly-signed-efi", &replace(UKI_PATH, &other_uki));

    Fixture {
        dir,
        _dir: tmp,
        disk,
        plan,
        unsigned_efi,
        badly_signed_efi,
        db_cert,
        other_cert: other.join("db.crt"),
        root_hash,
        cmdline,
        release,
        esp_files,
    }
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
    assert!(t.contains(&format!("uname:   {}\n", f.release)), "{t}");
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
    assert_eq!(j["faults"], serde_json::json!([]));
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
    assert_eq!(uki["uki"]["uname"], f.release.as_str());
    assert_eq!(uki["uki"]["os_release"], OS_RELEASE);
    let sdboot = efi
        .iter()
        .find(|e| e["path"] == "EFI/BOOT/BOOTX64.EFI")
        .expect("systemd-boot");
    assert_eq!(sdboot["uki"], Value::Null);

    assert_eq!(
        esp["boot_entries"],
        serde_json::json!([{
            "path": UKI_PATH, "id": LABEL, "version": "1", "tries_left": 3,
            "tries_done": 0, "usrhash": f.root_hash,
        }])
    );
    assert_eq!(
        j["slots"],
        serde_json::json!([
            {
                "slot": "A", "label": LABEL, "state": "installed", "version": "1",
                "root_hash": f.root_hash, "problem": null, "usr_partition": 2,
                "verity_partition": 3, "signature_partition": 4,
            },
            {
                "slot": "B", "label": "_empty", "state": "empty", "version": null,
                "root_hash": null, "problem": null, "usr_partition": 5,
                "verity_partition": 6, "signature_partition": 7,
            },
        ])
    );
    assert_eq!(j["default_slot"], "A");
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

/// A copy of the clean disk with one fault, made by `inject`.
fn faulty(name: &str, inject: impl FnOnce(&Path)) -> PathBuf {
    let f = fixture();
    let path = f.dir.join(name);
    std::fs::copy(&f.disk, &path).expect("copying the disk");
    inject(&path);
    path
}

fn overwrite(disk: &Path, at: u64, bytes: &[u8]) {
    let mut file = OpenOptions::new()
        .write(true)
        .open(disk)
        .expect("opening the disk");
    file.seek(SeekFrom::Start(at)).expect("seek");
    file.write_all(bytes).expect("write");
}

/// The project's rule: before a fault is injected, the clean disk verifies.
fn assert_clean_disk_verifies() {
    let f = fixture();
    let (code, j) = inspect_json(&[path_arg(&f.disk), "--cert", path_arg(&f.db_cert)]);
    assert_eq!(
        (code, &j["all_verified"]),
        (Some(0), &Value::Bool(true)),
        "{j:#}"
    );
    assert_eq!(j["faults"], serde_json::json!([]), "{j:#}");
}

/// `inspect --cert` on `disk` fails (exit 1, `all_verified: false`) with exactly one
/// fault, which `check` accepts; returns the report.
fn assert_one_fault(disk: &Path, check: impl Fn(&str) -> bool) -> Value {
    let f = fixture();
    let (code, j) = inspect_json(&[path_arg(disk), "--cert", path_arg(&f.db_cert)]);
    assert_eq!(code, Some(1), "{j:#}");
    assert_eq!(j["all_verified"], false, "{j:#}");
    let faults: Vec<&str> = j["faults"]
        .as_array()
        .expect("faults")
        .iter()
        .map(|f| f.as_str().expect("fault text"))
        .collect();
    assert!(
        matches!(faults.as_slice(), [one] if check(one)),
        "unexpected faults: {faults:#?}"
    );
    j
}

#[test]
fn a_usr_partition_whose_uuid_is_not_derived_from_the_root_hash_fails() {
    assert_clean_disk_verifies();
    let f = fixture();
    let wrong = Guid::derived(b"inspect-test", "wrong-usr");
    let sgdisk = require_tool("sgdisk");
    let disk = faulty("usr-uuid.raw", |d| {
        run_ok(
            Command::new(&sgdisk)
                .arg(format!("--partition-guid=2:{wrong}"))
                .arg(d),
        );
    });
    let want = format!(
        "partition 4: the usr-x86-64 partition 2 has uuid {wrong}, its root hash gives {}",
        dashed(&f.root_hash[..32])
    );
    let j = assert_one_fault(&disk, |fault| fault == want);
    let a = &j["verity_signatures"][0];
    assert_eq!(a["signature"]["status"], "verified");
    assert_eq!(a["data_partition"]["matches"], false);
    assert_eq!(a["data_partition"]["partition"], 2);
    assert_eq!(
        a["data_partition"]["expected_uuid"],
        dashed(&f.root_hash[..32])
    );
    assert_eq!(a["verity_partition"]["matches"], true);
    // The partition with the slot's label is not taken for slot A's usr.
    assert_eq!(j["slots"][0]["state"], "broken");
    assert_eq!(j["slots"][0]["usr_partition"], Value::Null);
    assert_eq!(j["slots"][0]["verity_partition"], 3);

    // Without --cert the mismatch is shown, and nothing is claimed about signatures.
    let out = inspect(&[path_arg(&disk)]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out);
    let line = format!(
        "usr-x86-64:         MISMATCH: partition 2 has uuid {wrong}, the root hash gives {}",
        dashed(&f.root_hash[..32])
    );
    assert!(t.contains(&line), "{line:?} missing from:\n{t}");
    assert!(t.contains(&format!("faults:\n  {want}\n")), "{t}");
}

#[test]
fn a_missing_usr_verity_partition_fails() {
    assert_clean_disk_verifies();
    let f = fixture();
    let sgdisk = require_tool("sgdisk");
    let disk = faulty("no-verity.raw", |d| {
        run_ok(Command::new(&sgdisk).args(["-d", "3"]).arg(d));
    });
    let expected = dashed(&f.root_hash[32..]);
    let want = format!(
        "partition 4: no usr-x86-64-verity partition has the uuid {expected} its root hash gives"
    );
    let j = assert_one_fault(&disk, |fault| fault == want);
    let m = &j["verity_signatures"][0]["verity_partition"];
    assert_eq!(m["matches"], false);
    assert_eq!(m["partition"], Value::Null);

    let t = text(&inspect(&[path_arg(&disk)]));
    let line = format!("usr-x86-64-verity:  MISSING: no partition with uuid {expected}");
    assert!(t.contains(&line), "{line:?} missing from:\n{t}");
}

#[test]
fn an_unreadable_esp_fails() {
    assert_clean_disk_verifies();
    let f = fixture();
    let at = f.plan.esp().offset();
    let disk = faulty("no-fat.raw", |d| overwrite(d, at, &[0u8; 4096]));
    let j = assert_one_fault(&disk, |fault| {
        fault.starts_with("ESP partition 1 cannot be read: no FAT file system")
    });
    let problem = j["esps"][0]["problem"].as_str().expect("ESP problem");
    assert!(problem.starts_with("no FAT file system"), "{problem}");
    assert_eq!(j["esps"][0]["efi"], serde_json::json!([]));
    assert_eq!(j["verity_signatures"][0]["signature"]["status"], "verified");

    let t = text(&inspect(&[path_arg(&disk)]));
    assert!(t.contains("  cannot read: no FAT file system"), "{t}");
}

#[test]
fn a_malformed_signature_partition_fails() {
    assert_clean_disk_verifies();
    let f = fixture();
    let at = f.plan.slot_a()[2].offset();
    let mut junk = br#"{"rootHash":"12ab","certificateFingerprint":"","signature":""}"#.to_vec();
    junk.resize(4096, 0);
    let disk = faulty("malformed-sig.raw", |d| overwrite(d, at, &junk));
    let j = assert_one_fault(&disk, |fault| {
        fault.starts_with("partition 4: malformed verity signature: ")
            && fault.contains("is not 64 hex digits")
    });
    let a = &j["verity_signatures"][0];
    assert_eq!(a["state"], "malformed");
    assert_eq!(a["signature"]["status"], "bad");
    let reason = a["signature"]["reason"].as_str().expect("reason");
    assert!(
        reason.starts_with("malformed signature partition: "),
        "{reason}"
    );
}

#[test]
fn an_unsigned_efi_binary_fails() {
    assert_clean_disk_verifies();
    let f = fixture();
    let j = assert_one_fault(&f.unsigned_efi, |fault| {
        fault == "ESP partition 1: EFI/BOOT/BOOTX64.EFI is unsigned"
    });
    let efi = j["esps"][0]["efi"].as_array().expect("efi");
    let boot = efi
        .iter()
        .find(|e| e["path"] == "EFI/BOOT/BOOTX64.EFI")
        .expect("BOOTX64.EFI");
    assert_eq!(boot["authenticode"]["status"], "bad");
    assert_eq!(boot["authenticode"]["reason"], "unsigned");

    let (code, j) = inspect_json(&[path_arg(&f.unsigned_efi)]);
    assert_eq!(code, Some(0));
    let boot = &j["esps"][0]["efi"][0];
    assert_eq!(boot["path"], "EFI/BOOT/BOOTX64.EFI");
    assert_eq!(boot["authenticode"]["status"], "unsigned");
}

#[test]
fn an_efi_binary_signed_by_another_key_fails() {
    assert_clean_disk_verifies();
    let f = fixture();
    let j = assert_one_fault(&f.badly_signed_efi, |fault| {
        fault.starts_with(&format!("ESP partition 1: {UKI_PATH}: "))
    });
    let efi = j["esps"][0]["efi"].as_array().expect("efi");
    let uki = efi.iter().find(|e| e["path"] == UKI_PATH).expect("the UKI");
    assert_eq!(uki["authenticode"]["status"], "bad", "{uki:#}");

    // Without --cert, the claimed signer is the other key's.
    let (_, j) = inspect_json(&[path_arg(&f.badly_signed_efi)]);
    let efi = j["esps"][0]["efi"].as_array().expect("efi");
    let uki = efi.iter().find(|e| e["path"] == UKI_PATH).expect("the UKI");
    let cn = openssl_subject_cn(&f.other_cert);
    assert_eq!(uki["authenticode"]["signer"], format!("CN={cn}"));
}
