//! `stela sign efi`, `stela verify efi` and `stela uki`, checked with the tools Debian users
//! trust: sbsign/sbverify (sbsigntool), objdump (binutils), and trixie's own ukify with
//! python3-pefile, on trixie's real systemd-boot, stub and kernel.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stela_keys::{CertificateProfile, FileSigner, Signer};

const SETUP: &str = "run `scripts/setup --test`";

fn trixie_file(rel: &str) -> PathBuf {
    let p = common::trixie_root().join(rel);
    assert!(p.is_file(), "{} is missing: {SETUP}", p.display());
    p
}

fn stub() -> PathBuf {
    trixie_file("usr/lib/systemd/boot/efi/linuxx64.efi.stub")
}

fn systemd_boot() -> PathBuf {
    trixie_file("usr/lib/systemd/boot/efi/systemd-bootx64.efi")
}

fn kernel() -> PathBuf {
    trixie_file(&common::trixie_kernel_path())
}

/// An external tool, which must be installed.
fn tool(name: &str) -> Command {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(found, "{name} is not installed: {SETUP}");
    Command::new(name)
}

/// A python3 that can import pefile (Debian's python3-pefile is for /usr/bin/python3,
/// which a python3 earlier in PATH may not be).
fn python() -> Command {
    for candidate in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(candidate)
            .args(["-c", "import pefile"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return Command::new(candidate);
        }
    }
    panic!("no python3 with the pefile module (python3-pefile): {SETUP}");
}

fn ukify() -> Command {
    let mut c = python();
    c.arg(trixie_file("usr/bin/ukify"));
    c
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    out
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stela<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    run(Command::new(env!("CARGO_BIN_EXE_stela")).args(args))
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A key and self-signed certificate written as PEM files.
struct Key {
    key: PathBuf,
    cert: PathBuf,
}

fn make_key(dir: &Path, cn: &str) -> Key {
    let signer = FileSigner::generate_self_signed(&CertificateProfile {
        common_name: cn.into(),
        validity_days: 30,
        ca: false,
    })
    .expect("generating a test key");
    let key = dir.join(format!("{cn}.key"));
    let cert = dir.join(format!("{cn}.crt"));
    std::fs::write(&key, signer.key().to_pkcs8_pem().expect("key PEM")).expect("write key");
    std::fs::write(&cert, signer.certificate().to_pem().expect("cert PEM")).expect("write cert");
    Key { key, cert }
}

fn sign(k: &Key, input: &Path, output: &Path) -> Output {
    stela([
        "sign".as_ref(),
        "efi".as_ref(),
        "--key".as_ref(),
        k.key.as_os_str(),
        "--cert".as_ref(),
        k.cert.as_os_str(),
        input.as_os_str(),
        "-o".as_ref(),
        output.as_os_str(),
    ])
}

fn verify_json(cert: &Path, file: &Path) -> (i32, serde_json::Value) {
    let out = stela([
        "verify".as_ref(),
        "efi".as_ref(),
        "--cert".as_ref(),
        cert.as_os_str(),
        file.as_os_str(),
        "--json".as_ref(),
    ]);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify --json printed no JSON ({e}): {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    (code(&out), json)
}

fn verify(cert: &Path, file: &Path) -> Output {
    stela([
        "verify".as_ref(),
        "efi".as_ref(),
        "--cert".as_ref(),
        cert.as_os_str(),
        file.as_os_str(),
    ])
}

/// pefile's own CheckSum computation agrees with the stored one.
fn assert_checksum_valid(file: &Path) {
    let out = ok(python().args([
        "-c",
        "import sys, pefile; print(pefile.PE(sys.argv[1], fast_load=True).verify_checksum())",
        &file.display().to_string(),
    ]));
    assert_eq!(
        out.trim(),
        "True",
        "pefile says the CheckSum of {} is wrong",
        file.display()
    );
}

#[test]
fn sbverify_accepts_what_stela_signs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = make_key(dir.path(), "db");
    for (input, was_signed) in [(systemd_boot(), false), (stub(), false), (kernel(), true)] {
        let out_path = dir.path().join("signed.efi");
        let out = sign(&db, &input, &out_path);
        assert_eq!(
            code(&out),
            0,
            "signing {}: {}",
            input.display(),
            text(&out.stderr)
        );
        assert_eq!(
            text(&out.stderr).contains("replacing 1 existing signature"),
            was_signed,
            "{}: {}",
            input.display(),
            text(&out.stderr)
        );
        ok(tool("sbverify").arg("--cert").arg(&db.cert).arg(&out_path));
        assert_checksum_valid(&out_path);
        let (rc, json) = verify_json(&db.cert, &out_path);
        assert_eq!(rc, 0, "{json}");
        assert_eq!(json["verdict"], "verified");
        assert_eq!(json["signer"], "CN=db");
        // Debian's signature on the kernel was replaced, not kept.
        assert_eq!(
            json["signatures"].as_array().map(Vec::len),
            Some(1),
            "{json}"
        );
    }
}

#[test]
fn stela_verifies_what_sbsign_signs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = make_key(dir.path(), "db");
    for input in [systemd_boot(), stub()] {
        let signed = dir.path().join("sbsigned.efi");
        ok(tool("sbsign")
            .arg("--key")
            .arg(&db.key)
            .arg("--cert")
            .arg(&db.cert)
            .arg("--output")
            .arg(&signed)
            .arg(&input));
        let (rc, json) = verify_json(&db.cert, &signed);
        assert_eq!(rc, 0, "{}: {json}", input.display());
        // stela's image hash is the digest sbsign signed.
        assert_eq!(json["signatures"][0]["signed_digest"], json["digest"]);
    }
}

#[test]
fn image_hash_matches_debians_kernel_signature() {
    // The Debian kernel is signed by Debian's key with its own tooling: the digest it
    // carries must be the one stela computes. The signer is not trusted here: exit 1.
    let dir = tempfile::tempdir().expect("tempdir");
    let db = make_key(dir.path(), "db");
    let (rc, json) = verify_json(&db.cert, &kernel());
    assert_eq!(rc, 1, "{json}");
    assert_eq!(json["verdict"], "bad");
    assert_eq!(
        json["signatures"][0]["signed_digest"], json["digest"],
        "{json}"
    );
    let reason = json["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("Debian Secure Boot Signer"), "{reason}");
}

#[test]
fn verify_rejects_modified_foreign_unsigned_and_truncated_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = make_key(dir.path(), "db");
    let other = make_key(dir.path(), "other");
    let signed = dir.path().join("signed.efi");
    assert_eq!(code(&sign(&db, &stub(), &signed)), 0);
    let bytes = std::fs::read(&signed).expect("read");

    // One byte flipped in .text (at 0x1000, inside the stub's code).
    let mut flipped = bytes.clone();
    flipped[0x1000] ^= 0x01;
    let flipped_path = dir.path().join("flipped.efi");
    std::fs::write(&flipped_path, &flipped).expect("write");
    let out = verify(&db.cert, &flipped_path);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("the image was modified after it was signed: digest "),
        "{}",
        text(&out.stdout)
    );

    // Signed by another key.
    let out = verify(&other.cert, &signed);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("bad signature"),
        "{}",
        text(&out.stdout)
    );

    // Unsigned.
    let out = verify(&db.cert, &stub());
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).ends_with(": not signed\n"),
        "{}",
        text(&out.stdout)
    );

    // Truncated inside .text: cannot be checked at all, and the error names the file.
    let truncated = dir.path().join("truncated.efi");
    std::fs::write(&truncated, &bytes[..0x8000]).expect("write");
    let out = verify(&db.cert, &truncated);
    assert_eq!(code(&out), 2, "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: section .text has raw data",
            truncated.display()
        )) && err.contains("past the end of the file"),
        "{err}"
    );
}

#[test]
fn failed_signing_leaves_no_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = make_key(dir.path(), "db");
    let other = make_key(dir.path(), "other");
    let mismatched = Key {
        key: db.key.clone(),
        cert: other.cert.clone(),
    };
    let out_path = dir.path().join("out.efi");
    let out = sign(&mismatched, &stub(), &out_path);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("does not match the certificate"),
        "{}",
        text(&out.stderr)
    );
    let out = stela(uki_args(
        &tiny_inputs(dir.path()),
        &out_path,
        Some(&mismatched),
    ));
    assert_eq!(code(&out), 2);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !n.ends_with(".key") && !n.ends_with(".crt") && !TINY_INPUTS.contains(&n.as_str())
        })
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

const TINY_INPUTS: [&str; 3] = ["initrd.cpio", "os-release", "sbat.csv"];
const CMDLINE: &str = "console=ttyS0 quiet usrhash=0123abcd";
const OS_RELEASE: &str = "PRETTY_NAME=\"stela test\"\nID=debian\nVERSION_ID=13\n";
const USER_SBAT: &str =
    "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n\
                         stela-test,1,stela,stela-test,1,https://example.invalid/\n";

struct UkiFiles {
    initrd: PathBuf,
    os_release: PathBuf,
    sbat: PathBuf,
}

fn tiny_inputs(dir: &Path) -> UkiFiles {
    let f = UkiFiles {
        initrd: dir.join(TINY_INPUTS[0]),
        os_release: dir.join(TINY_INPUTS[1]),
        sbat: dir.join(TINY_INPUTS[2]),
    };
    // Not a real cpio: the UKI carries the initrd as opaque bytes.
    let initrd: Vec<u8> = (0..1500u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&f.initrd, initrd).expect("write initrd");
    std::fs::write(&f.os_release, OS_RELEASE).expect("write os-release");
    std::fs::write(&f.sbat, USER_SBAT).expect("write sbat");
    f
}

fn uki_args(f: &UkiFiles, out: &Path, key: Option<&Key>) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["uki".into(), "build".into()];
    args.extend(["--stub".into(), stub().into()]);
    args.extend(["--linux".into(), kernel().into()]);
    args.extend(["--initrd".into(), f.initrd.clone().into()]);
    args.extend(["--cmdline".into(), CMDLINE.into()]);
    args.extend(["--os-release".into(), f.os_release.clone().into()]);
    args.extend(["--uname".into(), common::trixie_kernel_release().into()]);
    args.extend(["--sbat".into(), f.sbat.clone().into()]);
    if let Some(k) = key {
        args.extend(["--key".into(), k.key.clone().into()]);
        args.extend(["--cert".into(), k.cert.clone().into()]);
    }
    args.extend(["-o".into(), out.into()]);
    args
}

/// objdump -h: (name, VMA, file offset, flags line) per section.
fn objdump_sections(file: &Path) -> Vec<(String, u64, u64, String)> {
    let out = ok(tool("objdump").arg("-h").arg(file));
    let lines: Vec<&str> = out.lines().collect();
    let mut sections = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // "Idx Name Size VMA LMA File-off Algn", then a line of flags.
        if cols.len() == 7 && cols[0].parse::<u32>().is_ok() {
            let hex = |s: &str| u64::from_str_radix(s, 16).expect("objdump hex");
            let flags = lines
                .get(i + 1)
                .map(|l| l.trim().to_owned())
                .unwrap_or_default();
            sections.push((cols[1].to_owned(), hex(cols[3]), hex(cols[5]), flags));
        }
    }
    sections
}

#[test]
fn uki_matches_ukify_and_reads_back_with_objdump_and_ukify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = tiny_inputs(dir.path());
    let ours = dir.path().join("stela.efi");
    let out = stela(uki_args(&f, &ours, None));
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));

    // objdump: the sections in ukify's order, each above the previous one in memory and
    // in the file, with the flags systemd-stub expects.
    let sections = objdump_sections(&ours);
    let names: Vec<&str> = sections.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        [
            ".text", ".rodata", ".data", ".sbat", ".sdmagic", ".reloc", ".osrel", ".cmdline",
            ".uname", ".linux", ".initrd"
        ]
    );
    for pair in sections.windows(2) {
        assert!(pair[1].1 > pair[0].1 && pair[1].2 > pair[0].2, "{pair:?}");
    }
    for (name, vma, _, flags) in &sections[6..] {
        assert_eq!(vma % 0x1000, 0, "{name} at {vma:#x}");
        let kind = if name == ".linux" { "CODE" } else { "DATA" };
        assert_eq!(
            flags,
            &format!("CONTENTS, ALLOC, LOAD, READONLY, {kind}"),
            "{name}"
        );
    }

    // ukify inspect reads back the exact texts.
    let json = ok(ukify().arg("inspect").arg(&ours).arg("--json=short"));
    let json: serde_json::Value = serde_json::from_str(&json).expect("ukify inspect JSON");
    assert_eq!(json[".cmdline"]["text"], CMDLINE);
    assert_eq!(json[".osrel"]["text"], OS_RELEASE);
    assert_eq!(json[".uname"]["text"], common::trixie_kernel_release());
    let sbat = json[".sbat"]["text"].as_str().unwrap_or_default();
    assert!(sbat.starts_with("sbat,1,SBAT Version,"), "{sbat}");
    assert!(sbat.contains("\nsystemd-stub,1,"), "{sbat}");
    assert!(
        sbat.ends_with("\nstela-test,1,stela,stela-test,1,https://example.invalid/\n"),
        "{sbat}"
    );
    assert_eq!(
        json[".linux"]["size"],
        std::fs::metadata(kernel()).expect("kernel").len()
    );

    // ukify build from the same inputs: the same bytes, except CheckSum (ukify leaves it 0).
    let theirs = dir.path().join("ukify.efi");
    ok(ukify()
        .arg("build")
        .arg("--stub")
        .arg(stub())
        .arg("--linux")
        .arg(kernel())
        .arg("--initrd")
        .arg(&f.initrd)
        .arg("--cmdline")
        .arg(CMDLINE)
        .arg("--os-release")
        .arg(format!("@{}", f.os_release.display()))
        .arg("--uname")
        .arg(common::trixie_kernel_release())
        .arg("--sbat")
        .arg(format!("@{}", f.sbat.display()))
        .arg("--output")
        .arg(&theirs));
    assert_eq!(objdump_sections(&theirs), sections);
    let a = std::fs::read(&ours).expect("read");
    let b = std::fs::read(&theirs).expect("read");
    assert_eq!(a.len(), b.len());
    let checksum = stela_pe::PeImage::parse("stela.efi", &a)
        .expect("parse")
        .checksum_offset();
    let differing: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    assert!(
        differing
            .iter()
            .all(|i| (checksum..checksum + 4).contains(i)),
        "bytes differ outside CheckSum at {:x?}",
        &differing[..differing.len().min(16)]
    );
    assert_checksum_valid(&ours);

    // stela's own inspect agrees.
    let out = stela([
        "uki".as_ref(),
        "inspect".as_ref(),
        ours.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).expect("inspect JSON");
    assert_eq!(info["cmdline"], CMDLINE);
    assert_eq!(info["uname"], common::trixie_kernel_release());
    assert_eq!(info["sections"][9]["name"], ".linux");
    assert_eq!(info["sections"][9]["sha256"], json[".linux"]["sha256"]);
}

#[test]
fn signed_uki_passes_sbverify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = make_key(dir.path(), "db");
    let f = tiny_inputs(dir.path());
    let uki = dir.path().join("uki.efi");
    let out = stela(uki_args(&f, &uki, Some(&db)));
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    ok(tool("sbverify").arg("--cert").arg(&db.cert).arg(&uki));
    let out = verify(&db.cert, &uki);
    assert_eq!(code(&out), 0, "{}", text(&out.stdout));
    assert_checksum_valid(&uki);
    // The UKI is signed; signing does not change what the stub reads.
    let json = ok(ukify().arg("inspect").arg(&uki).arg("--json=short"));
    let json: serde_json::Value = serde_json::from_str(&json).expect("ukify inspect JSON");
    assert_eq!(json[".cmdline"]["text"], CMDLINE);
}

#[test]
fn uki_build_refuses_bad_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = tiny_inputs(dir.path());
    let uki = dir.path().join("uki.efi");
    assert_eq!(code(&stela(uki_args(&f, &uki, None))), 0);

    // A UKI as the stub.
    let mut args = uki_args(&f, &dir.path().join("twice.efi"), None);
    args[3] = uki.clone().into();
    let out = stela(&args);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains(&format!(
            "{}: the stub already has a .osrel section",
            uki.display()
        )),
        "{}",
        text(&out.stderr)
    );

    // An empty kernel.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").expect("write");
    let mut args = uki_args(&f, &dir.path().join("nokernel.efi"), None);
    args[5] = empty.clone().into();
    let out = stela(&args);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains(&format!("{}: the kernel is empty", empty.display())),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("twice.efi").exists() && !dir.path().join("nokernel.efi").exists());
}
