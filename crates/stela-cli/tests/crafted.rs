//! Crafted hostile inputs, each against the bound that must stop it: `stela inspect` on
//! GPT disks whose headers are valid (CRCs right) but whose fields claim too much, `stela
//! uki inspect` on a PE whose certificate table claims gigabytes, `stela verity verify`
//! on a superblock with an impossible geometry. Each runs under a 1 GiB address-space
//! limit and a time limit, and must end with exit 2 and a message naming the field.

mod common;

use std::path::Path;
use std::process::Command;

use common::{run, stela};

/// Run stela with `args` (the crafted file is `input` in `dir`) under the limits; the
/// exit code and standard error.
fn run_limited(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = run(Command::new("timeout")
        .arg("60")
        .arg("prlimit")
        .arg("--as=1073741824")
        .arg("--")
        .arg(stela().get_program())
        .args(args)
        .current_dir(dir));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The sgdisk disk of the fuzz corpus (256 sectors, partitions 1 at 34..=100 and 2 at
/// 101..=200), with `craft` applied to both GPTs (it gets the offsets of a header and of
/// its entry array) and the CRCs made right again.
fn crafted_disk(dir: &Path, craft: impl Fn(&mut Vec<u8>, usize, usize)) {
    let mut disk =
        std::fs::read(repo().join("fuzz/corpus/gpt/two-partitions.img")).expect("the seed disk");
    let backup = get_u64(&disk, 512 + 32) as usize * 512;
    let backup_entries = get_u64(&disk, backup + 72) as usize * 512;
    craft(&mut disk, backup, backup_entries);
    craft(&mut disk, 512, 2 * 512);
    stela_fuzz::fix_gpt_crcs(&mut disk);
    std::fs::write(dir.join("input"), disk).expect("write");
}

#[test]
fn crafted_gpt_disks_are_refused_by_the_field_at_fault() {
    common::require_tool("prlimit");
    let t = tempfile::tempdir().expect("tempdir");
    type Craft = Box<dyn Fn(&mut Vec<u8>, usize, usize)>;
    let cases: Vec<(&str, Craft, &[&str])> = vec![
        (
            "four billion partition entries",
            Box::new(|d, h, _| put_u32(d, h + 80, u32::MAX)),
            &["NumberOfPartitionEntries", "at most 1048576 bytes"],
        ),
        (
            "an entry array past the end of the disk",
            Box::new(|d, h, _| put_u64(d, h + 72, u64::MAX - 3)),
            &["PartitionEntryLBA", "inside the disk"],
        ),
        (
            "a partition past the usable LBAs",
            Box::new(|d, _, e| put_u64(d, e + 128 + 40, 1 << 40)),
            &["partition 2", "not inside the usable LBAs"],
        ),
        (
            "overlapping partitions",
            Box::new(|d, _, e| put_u64(d, e + 128 + 32, 50)),
            &["partition 2", "overlaps partition 1"],
        ),
    ];
    for (what, craft, expected) in cases {
        let dir = t.path().join(what.replace(' ', "-"));
        std::fs::create_dir(&dir).expect("mkdir");
        crafted_disk(&dir, craft);
        let (code, err) = run_limited(&dir, &["inspect", "input"]);
        assert_eq!(code, 2, "{what}: exit {code}\n{err}");
        for e in expected {
            assert!(err.contains(e), "{what}: no {e:?} in\n{err}");
        }
    }
}

#[test]
fn a_certificate_table_that_claims_gigabytes_is_refused() {
    common::require_tool("prlimit");
    let t = tempfile::tempdir().expect("tempdir");
    let mut pe = std::fs::read(repo().join("fuzz/corpus/pe/uki-signed.efi")).expect("the seed UKI");
    let pe_at = u32::from_le_bytes(pe[0x3c..0x40].try_into().expect("4 bytes")) as usize;
    // PE32+: the optional header follows the 24-byte PE and COFF headers; the security
    // directory (index 4) is at offset 144 of it, its size 4 bytes further.
    put_u32(&mut pe, pe_at + 24 + 144 + 4, 0xFFFF_0000);
    std::fs::write(t.path().join("input"), pe).expect("write");
    let (code, err) = run_limited(t.path(), &["uki", "inspect", "input"]);
    assert_eq!(code, 2, "exit {code}\n{err}");
    assert!(
        err.contains("certificate table") && err.contains("4294901760 bytes"),
        "{err}"
    );
}

#[test]
fn a_verity_superblock_with_an_impossible_geometry_is_refused() {
    common::require_tool("prlimit");
    let t = tempfile::tempdir().expect("tempdir");
    let mut sb = std::fs::read(repo().join("fuzz/corpus/verity_superblock/usr.verity.sb"))
        .expect("the seed superblock");
    // data_blocks (offset 72) so large that blocks times block size overflows u64.
    put_u64(&mut sb, 72, u64::MAX / 2);
    std::fs::write(t.path().join("input"), &sb).expect("write");
    std::fs::write(t.path().join("data"), [0u8; 4096]).expect("write");
    let root = "00".repeat(32);
    let (code, err) = run_limited(t.path(), &["verity", "verify", "data", "input", &root]);
    assert_eq!(code, 2, "exit {code}\n{err}");
    assert!(
        err.contains("input") && err.contains("data_blocks"),
        "{err}"
    );
}
