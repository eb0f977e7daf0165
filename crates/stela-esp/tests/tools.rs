//! ESP images checked with dosfstools (fsck.fat) and read back with mtools.

// Test helpers outside #[test] functions may panic on unexpected errors too.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;

use stela_esp::{EspBuilder, EspError, EspPlan};

const MIB: u64 = 1 << 20;

fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("{name} is not installed: run `scripts/setup --test`");
}

/// Runs a tool, fails the test unless it exits 0, returns stdout and stderr.
fn run(name: &str, args: &[&str]) -> String {
    let out = Command::new(tool(name))
        .args(args)
        .env("LC_ALL", "C")
        // mtools refuses images whose size is not a whole number of its assumed tracks.
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\n{text}",
        out.status
    );
    text
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Pseudo-random bytes, so that misplaced clusters show.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// (path inside the ESP, content) of the sample ESP.
fn sample_files(dir: &Path) -> (EspBuilder, Vec<(String, Vec<u8>)>) {
    let boot = noise(300 * 1024 + 7, 1);
    let host = dir.join("systemd-bootx64.efi");
    std::fs::write(&host, &boot).unwrap();
    let files = vec![
        ("EFI/BOOT/BOOTX64.EFI".to_owned(), boot),
        (
            "EFI/Linux/demo_1.0+3.efi".to_owned(),
            noise(2 * MIB as usize + 1, 2),
        ),
        (
            "loader/loader.conf".to_owned(),
            b"timeout 0\neditor no\n".to_vec(),
        ),
        ("loader/entries.srel".to_owned(), b"type1\n".to_vec()),
        ("loader/keys/auto/PK.auth".to_owned(), noise(1500, 3)),
        ("loader/random-seed".to_owned(), Vec::new()),
        (
            "a rather long file name with spaces.txt".to_owned(),
            b"long names work\n".to_vec(),
        ),
    ];
    let mut builder = EspBuilder::new(64 * MIB)
        .label("STELA_ESP")
        .volume_id(0x1234_abcd);
    for (path, content) in &files {
        builder = if path == "EFI/BOOT/BOOTX64.EFI" {
            builder.host_file(path, &host)
        } else {
            builder.bytes(path, content.clone())
        };
    }
    (builder, files)
}

fn build(dir: &Path, name: &str) -> (PathBuf, EspPlan, Vec<(String, Vec<u8>)>) {
    let (builder, files) = sample_files(dir);
    let plan = builder.plan().unwrap();
    let image = dir.join(name);
    plan.write_to_path(&image).unwrap();
    (image, plan, files)
}

#[test]
fn fsck_fat_finds_a_clean_fat32_volume() {
    let dir = tempfile::tempdir().unwrap();
    let (image, plan, _) = build(dir.path(), "esp.img");
    assert_eq!(std::fs::metadata(&image).unwrap().len(), 64 * MIB);
    assert_eq!(plan.bytes_per_cluster(), 512);
    let out = run("fsck.fat", &["-n", "-v", s(&image)]);
    // fsck.fat -n exits 1 when it finds anything to repair; `run` requires 0.
    assert!(
        out.contains("2 FATs, 32 bit entries"),
        "fsck.fat -v does not see FAT32:\n{out}"
    );
    assert!(out.contains("512 bytes per cluster"), "{out}");
    let clusters: u32 = out
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_suffix(" bytes)")
                .and_then(|l| l.split_once(" data clusters"))
        })
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no cluster count in:\n{out}"));
    assert!(
        clusters >= stela_esp::FAT32_MIN_CLUSTERS,
        "{clusters} clusters is FAT16"
    );
    assert_eq!(clusters, plan.cluster_count());
    let minfo = run("minfo", &["-i", s(&image), "::"]);
    assert!(minfo.contains("disk type=\"FAT32   \""), "{minfo}");
    assert!(minfo.contains("disk label=\"STELA_ESP  \""), "{minfo}");
    assert!(minfo.contains("serial number: 1234ABCD"), "{minfo}");
}

#[test]
fn mtools_reads_back_the_tree_and_contents() {
    let dir = tempfile::tempdir().unwrap();
    let (image, _, files) = build(dir.path(), "esp.img");

    // `mdir -/ -b` lists every file and directory, recursively, as full paths.
    let listing = run("mdir", &["-/", "-b", "-i", s(&image), "::"]);
    let listed: BTreeSet<String> = listing
        .lines()
        .map(|l| {
            l.trim()
                .trim_start_matches("::/")
                .trim_end_matches('/')
                .to_owned()
        })
        .filter(|l| !l.is_empty() && !l.ends_with("/.") && !l.ends_with("/.."))
        .collect();
    let mut expected: BTreeSet<String> = BTreeSet::new();
    for (path, _) in &files {
        let parts: Vec<&str> = path.split('/').collect();
        for depth in 1..=parts.len() {
            expected.insert(parts[..depth].join("/"));
        }
    }
    assert_eq!(listed, expected, "mdir -/ -b:\n{listing}");

    for (path, content) in &files {
        let out = dir.path().join("readback");
        let _ = std::fs::remove_file(&out);
        run(
            "mcopy",
            &["-n", "-i", s(&image), &format!("::/{path}"), s(&out)],
        );
        assert!(
            std::fs::read(&out).unwrap() == *content,
            "{path} differs after mcopy"
        );
    }
    let conf = run("mtype", &["-i", s(&image), "::/loader/loader.conf"]);
    assert!(conf.contains("timeout 0\neditor no\n"), "{conf}");
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let (first, _, _) = build(a.path(), "one.img");
    let (second, _, _) = build(b.path(), "two.img");
    assert!(
        std::fs::read(&first).unwrap() == std::fs::read(&second).unwrap(),
        "two builds differ"
    );

    // Written into a region of a larger file, the region holds the same bytes.
    let (builder, _) = sample_files(a.path());
    let plan = builder.plan().unwrap();
    let disk = a.path().join("disk.raw");
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&disk)
        .unwrap();
    f.set_len(66 * MIB).unwrap();
    plan.write_into(&mut f, MIB).unwrap();
    let mut region = vec![0u8; 64 * MIB as usize];
    f.seek(SeekFrom::Start(MIB)).unwrap();
    f.read_exact(&mut region).unwrap();
    assert!(
        region == std::fs::read(&first).unwrap(),
        "the region differs from the standalone image"
    );
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).unwrap();
    assert!(
        tail.iter().all(|&b| b == 0),
        "bytes after the region were written"
    );
    let offset_image = format!("{}@@{}", s(&disk), MIB);
    run("mdir", &["-i", &offset_image, "::/EFI/BOOT"]);
}

#[test]
fn a_file_that_does_not_fit_is_named() {
    let err = EspBuilder::new(40 * MIB)
        .bytes("EFI/BOOT/BOOTX64.EFI", vec![1u8; 1000])
        .bytes("EFI/Linux/huge.efi", vec![0u8; 40 * MIB as usize])
        .plan()
        .unwrap_err();
    assert!(
        matches!(&err, EspError::FileDoesNotFit { path, .. } if path == "EFI/Linux/huge.efi"),
        "{err}"
    );
    assert!(err.to_string().contains("EFI/Linux/huge.efi"), "{err}");

    let err = EspBuilder::new(16 * MIB).plan().unwrap_err();
    assert!(
        matches!(err, EspError::TooSmall { size, .. } if size == 16 * MIB),
        "{err}"
    );
    assert!(err.to_string().contains("16777216"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.efi");
    let err = EspBuilder::new(64 * MIB)
        .host_file("EFI/BOOT/BOOTX64.EFI", &missing)
        .plan()
        .unwrap_err();
    assert!(
        err.to_string().contains("EFI/BOOT/BOOTX64.EFI") && err.to_string().contains("missing.efi"),
        "{err}"
    );
}

#[test]
fn a_failed_write_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("grows.efi");
    std::fs::write(&host, b"short").unwrap();
    let plan = EspBuilder::new(64 * MIB)
        .host_file("EFI/x.efi", &host)
        .plan()
        .unwrap();
    std::fs::write(&host, b"longer than planned").unwrap();
    let image = dir.path().join("esp.img");
    let err = plan.write_to_path(&image).unwrap_err();
    assert!(
        matches!(err, EspError::HostFileChanged { planned: 5, .. }),
        "{err}"
    );
    assert!(!image.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}
