//! systemd's own tools agree with stela-gpt: type GUIDs (systemd-id128) and whole
//! images, including verity partition UUIDs derived from a root hash (systemd-dissect).

// Test helpers outside #[test] functions may panic on unexpected errors too.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{path_str, run, run_status, spec};
use stela_gpt::{types, Attributes, DiskLayout, DiskSize, Guid, ImageFile, VerityPartitionUuids};

const MIB: u64 = 1 << 20;

#[test]
fn every_type_guid_matches_systemd_id128() {
    for (name, guid) in types::ALL {
        let out = run("systemd-id128", &["show", name]);
        // A "NAME ID" header line (systemd 252), then "<name> <32 hex digits>".
        let systemd: Guid = out
            .lines()
            .find_map(
                |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                    [n, id] if n == *name => Some(id),
                    _ => None,
                },
            )
            .unwrap_or_else(|| panic!("systemd-id128 show {name} does not list it: {out}"))
            .parse()
            .unwrap();
        assert_eq!(*guid, systemd, "{name}");
    }
    // The generic names resolve to this machine's architecture, x86-64 on the build hosts.
    if cfg!(target_arch = "x86_64") {
        let out = run("systemd-id128", &["show", "usr-verity-sig"]);
        assert!(
            out.contains(&types::X86_64.usr_verity_sig.to_simple_string()),
            "{out}"
        );
    }
}

/// Writes a GPT image holding `contents` (label -> file) and returns its path.
fn image_with(dir: &Path, parts: &[(stela_gpt::PartitionSpec, &Path)]) -> std::path::PathBuf {
    let specs: Vec<_> = parts.iter().map(|(s, _)| s.clone()).collect();
    let layout =
        DiskLayout::plan(Guid::derived(b"dissect", "disk"), &specs, DiskSize::Fit).unwrap();
    let path = dir.join("disk.raw");
    let mut image = ImageFile::create(&path, &layout).unwrap();
    for (p, (_, content)) in layout.partitions().iter().zip(parts) {
        let mut f = std::fs::File::open(content).unwrap();
        stela_gpt::copy_into_partition(image.file_mut(), p, &mut f).unwrap();
    }
    image.persist().unwrap();
    path
}

fn small_erofs(dir: &Path) -> std::path::PathBuf {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("lib")).unwrap();
    std::fs::write(tree.join("lib/os-release"), "ID=stela-test\n").unwrap();
    std::fs::write(tree.join("lib/blob"), vec![7u8; 256 * 1024]).unwrap();
    let img = dir.join("usr.erofs");
    run(
        "mkfs.erofs",
        &["--quiet", "-T0", path_str(&img), path_str(&tree)],
    );
    img
}

fn require_root() {
    // systemd-dissect attaches loop devices, which needs root (CI runs as root).
    let (ok, id) = run_status("id", &["-u"]);
    assert!(
        ok && id.trim() == "0",
        "systemd-dissect needs root for loop devices (id -u: {id})"
    );
}

#[test]
fn systemd_dissect_finds_the_esp_and_usr() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let esp = dir.path().join("esp.fat");
    std::fs::File::create(&esp)
        .unwrap()
        .set_len(34 * MIB)
        .unwrap();
    run("mkfs.fat", &["-F", "32", "-n", "ESP", path_str(&esp)]);
    let usr = small_erofs(dir.path());
    let usr_guid = Guid::derived(b"dissect", "usr");
    let image = image_with(
        dir.path(),
        &[
            (
                spec(
                    types::ESP,
                    Guid::derived(b"dissect", "esp"),
                    "esp",
                    Attributes::NONE,
                    34 * MIB,
                ),
                &esp,
            ),
            (
                spec(
                    types::X86_64.usr,
                    usr_guid,
                    "stela_1",
                    Attributes::NONE.with_read_only(true),
                    4 * MIB,
                ),
                &usr,
            ),
        ],
    );
    let out = run("systemd-dissect", &["--json=short", path_str(&image)]);
    let json: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let mounts = json["mounts"]
        .as_array()
        .unwrap_or_else(|| panic!("no mounts: {out}"));
    let find = |designator: &str| {
        mounts
            .iter()
            .find(|m| m["designator"] == designator)
            .unwrap_or_else(|| panic!("systemd-dissect found no {designator} partition: {out}"))
    };
    let esp = find("esp");
    assert_eq!(esp["fstype"], "vfat", "{out}");
    assert_eq!(esp["partno"], 1, "{out}");
    let usr = find("usr");
    assert_eq!(usr["fstype"], "erofs", "{out}");
    assert_eq!(usr["architecture"], "x86-64", "{out}");
    assert_eq!(usr["partition_uuid"], usr_guid.to_string(), "{out}");
    assert_eq!(usr["partition_label"], "stela_1", "{out}");
    assert_eq!(usr["rw"], "ro", "{out}");
    assert_eq!(json["osRelease"][0], "ID=stela-test", "{out}");
}

/// Runs veritysetup on `data`, returns the hash tree file and the root hash.
fn verity(dir: &Path, data: &Path) -> (std::path::PathBuf, [u8; 32]) {
    let tree = dir.join("verity");
    let out = run("veritysetup", &["format", path_str(data), path_str(&tree)]);
    let hex = out
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))
        .unwrap_or_else(|| panic!("no root hash in: {out}"))
        .trim();
    let mut hash = [0u8; 32];
    for (i, b) in hash.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    (tree, hash)
}

/// systemd-dissect 252 treats `--root-hash` as a root (not usr) hash, so the root types
/// stand in for usr here; systemd derives both pairs' UUIDs with the same code.
#[test]
fn systemd_dissect_pairs_verity_partitions_by_derived_uuids() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let data = small_erofs(dir.path());
    let (tree, hash) = verity(dir.path(), &data);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let uuids = VerityPartitionUuids::from_root_hash(&hash);
    let ro = Attributes::NONE.with_read_only(true);
    let image = image_with(
        dir.path(),
        &[
            (
                spec(types::X86_64.root, uuids.data, "root", ro, 4 * MIB),
                &data,
            ),
            (
                spec(
                    types::X86_64.root_verity,
                    uuids.verity,
                    "root-verity",
                    ro,
                    MIB,
                ),
                &tree,
            ),
        ],
    );
    let out = run(
        "systemd-dissect",
        &[
            "--json=short",
            &format!("--root-hash={hex}"),
            path_str(&image),
        ],
    );
    let json: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let root = json["mounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["designator"] == "root"))
        .unwrap_or_else(|| panic!("no root partition: {out}"));
    assert_eq!(root["verity"], "yes", "{out}");
    assert_eq!(root["partition_uuid"], uuids.data.to_string(), "{out}");

    // The GPT (mixed-endian) byte order of the same hash bytes is not what systemd wants.
    let wrong = |g: Guid| Guid::from_mixed_endian(*g.as_bytes());
    let other = tempfile::tempdir().unwrap();
    let image = image_with(
        other.path(),
        &[
            (
                spec(types::X86_64.root, wrong(uuids.data), "root", ro, 4 * MIB),
                &data,
            ),
            (
                spec(
                    types::X86_64.root_verity,
                    wrong(uuids.verity),
                    "root-verity",
                    ro,
                    MIB,
                ),
                &tree,
            ),
        ],
    );
    let (ok, out) = run_status(
        "systemd-dissect",
        &[
            "--json=short",
            &format!("--root-hash={hex}"),
            path_str(&image),
        ],
    );
    assert!(
        !ok && out.contains("No root partition for specified root hash"),
        "{out}"
    );
}
