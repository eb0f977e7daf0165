//! `stela verity format` / `verify` against veritysetup, and their exit codes.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SALT: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const UUID: &str = "6d3b4a59-1c2e-4f80-9a7b-0c1d2e3f4a5b";

fn stela(args: &[&str]) -> Output {
    match Command::new(env!("CARGO_BIN_EXE_stela"))
        .args(args)
        .output()
    {
        Ok(out) => out,
        Err(e) => panic!("cannot run stela: {e}"),
    }
}

fn veritysetup(args: &[&str]) -> Output {
    match Command::new("veritysetup").args(args).output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run veritysetup ({e}): run scripts/setup --test"),
    }
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The value of a `Name: value` line.
fn field(out: &Output, name: &str) -> Option<String> {
    text(&out.stdout).lines().find_map(|l| {
        l.strip_prefix(name)?
            .strip_prefix(':')
            .map(|v| v.trim().to_owned())
    })
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// A directory with `blocks` 4 KiB blocks of varied data in `data`.
fn setup(blocks: usize) -> Result<(tempfile::TempDir, PathBuf), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let mut x: u32 = 0x1234_5678;
    let bytes: Vec<u8> = (0..blocks * 4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    fs::write(&data, bytes)?;
    Ok((dir, data))
}

/// Format with stela (fixed salt and UUID); the root hash it printed.
fn format(data: &Path, hash: &Path, extra: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let mut args = vec!["verity", "format", s(data), s(hash), "--salt", SALT];
    args.extend(extra);
    let out = stela(&args);
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    Ok(field(&out, "Root hash").ok_or("no Root hash line")?)
}

#[test]
fn format_matches_veritysetup() -> TestResult {
    let (dir, data) = setup(300)?;
    for (name, extra) in [
        ("sb", &["--uuid", UUID][..]),
        (
            "sb512",
            &[
                "--uuid",
                UUID,
                "--data-block-size",
                "512",
                "--hash-block-size",
                "512",
            ],
        ),
        ("bare", &["--no-superblock"]),
    ] {
        let ours = dir.path().join(format!("{name}.ours"));
        let theirs = dir.path().join(format!("{name}.theirs"));
        let root = format(&data, &ours, extra)?;
        let mut args = vec!["format", s(&data), s(&theirs), "--salt", SALT];
        args.extend(extra);
        let out = veritysetup(&args);
        assert_eq!(code(&out), Some(0), "{out:?}");
        assert_eq!(field(&out, "Root hash"), Some(root.clone()), "{name}");
        assert!(
            fs::read(&ours)? == fs::read(&theirs)?,
            "{name}: hash files differ"
        );

        let mut args = vec!["verify", s(&data), s(&ours), root.as_str()];
        if name == "bare" {
            args.extend(["--no-superblock", "--salt", SALT]);
        }
        let out = veritysetup(&args);
        assert_eq!(code(&out), Some(0), "{name}: veritysetup verify: {out:?}");
        // `stela verity verify` takes veritysetup's verify arguments unchanged.
        let out = stela(&[&["verity"][..], &args].concat());
        assert_eq!(code(&out), Some(0), "{name}: {}", text(&out.stderr));
    }
    Ok(())
}

#[test]
fn json_report() -> TestResult {
    let (dir, data) = setup(129)?;
    let hash = dir.path().join("hash");
    let out = stela(&[
        "verity",
        "format",
        s(&data),
        s(&hash),
        "--salt",
        SALT,
        "--uuid",
        UUID,
        "--json",
    ]);
    assert_eq!(code(&out), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(v["salt"], SALT);
    assert_eq!(v["uuid"], UUID);
    assert_eq!(v["data_blocks"], 129);
    assert_eq!(v["hash_blocks"], 3);
    assert_eq!(v["hash_size"], fs::metadata(&hash)?.len());
    let root = v["root_hash"].as_str().ok_or("no root_hash")?;
    let out = veritysetup(&["verify", s(&data), s(&hash), root]);
    assert_eq!(code(&out), Some(0), "{out:?}");
    Ok(())
}

/// Flip one byte of `path` at `offset`.
fn flip(path: &Path, offset: usize) -> TestResult {
    let mut bytes = fs::read(path)?;
    bytes[offset] ^= 0x01;
    fs::write(path, bytes)?;
    Ok(())
}

#[test]
fn corruption_exits_1_naming_the_block() -> TestResult {
    let (dir, data) = setup(200)?;
    let hash = dir.path().join("hash");
    let root = format(&data, &hash, &["--uuid", UUID])?;
    let verify = |d: &Path, h: &Path, r: &str| stela(&["verity", "verify", s(d), s(h), r]);
    assert_eq!(code(&verify(&data, &hash, &root)), Some(0));

    // A byte of data block 150.
    let bad_data = dir.path().join("bad-data");
    fs::copy(&data, &bad_data)?;
    flip(&bad_data, 150 * 4096 + 77)?;
    let out = verify(&bad_data, &hash, &root);
    assert_eq!(code(&out), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("data block 150 "),
        "{}",
        text(&out.stderr)
    );

    // Layout with superblock, 200 blocks: level 1 at 4096, level 0 at 8192.
    // The digest of data block 3 in level 0, then the digest of level 0 block 1 in level 1.
    for (offset, expect) in [
        (8192 + 3 * 32 + 5, "data block 3 "),
        (4096 + 32 + 1, "level 0 hash block 1 "),
    ] {
        let bad_hash = dir.path().join("bad-hash");
        fs::copy(&hash, &bad_hash)?;
        flip(&bad_hash, offset)?;
        let out = verify(&data, &bad_hash, &root);
        assert_eq!(code(&out), Some(1), "{out:?}");
        assert!(text(&out.stderr).contains(expect), "{}", text(&out.stderr));
        // veritysetup agrees that it is corrupt.
        assert_ne!(
            code(&veritysetup(&["verify", s(&data), s(&bad_hash), &root])),
            Some(0)
        );
    }

    // A root hash of other data.
    let other = format!(
        "{}{}",
        &root[..63],
        if root.ends_with('0') { '1' } else { '0' }
    );
    let out = verify(&data, &hash, &other);
    assert_eq!(code(&out), Some(1), "{out:?}");
    assert!(
        text(&out.stderr).contains("root hash mismatch"),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}

#[test]
fn bad_hash_files_exit_2_naming_the_file() -> TestResult {
    let (dir, data) = setup(200)?;
    let hash = dir.path().join("hash");
    let root = format(&data, &hash, &[])?;
    let bytes = fs::read(&hash)?;

    let truncated = dir.path().join("truncated");
    fs::write(&truncated, &bytes[..bytes.len() - 4096])?;
    let bad_magic = dir.path().join("bad-magic");
    let mut b = bytes.clone();
    b[0] = b'V';
    fs::write(&bad_magic, &b)?;
    let bad_version = dir.path().join("bad-version");
    let mut b = bytes.clone();
    b[8] = 7;
    fs::write(&bad_version, &b)?;
    let short_data = dir.path().join("short-data");
    fs::write(&short_data, &fs::read(&data)?[..100 * 4096])?;

    for (d, h, expect) in [
        (
            &data,
            &truncated,
            format!("hash file {} is truncated", truncated.display()),
        ),
        (
            &data,
            &bad_magic,
            format!(
                "invalid verity superblock in {}: bad magic",
                bad_magic.display()
            ),
        ),
        (
            &data,
            &bad_version,
            format!(
                "{}: unsupported superblock version 7",
                bad_version.display()
            ),
        ),
        (
            &short_data,
            &hash,
            format!("data file {} is 409600 bytes", short_data.display()),
        ),
    ] {
        let out = stela(&["verity", "verify", s(d), s(h), &root]);
        assert_eq!(code(&out), Some(2), "{out:?}");
        assert!(
            text(&out.stderr).contains(&expect),
            "{} lacks {expect}",
            text(&out.stderr)
        );
    }
    Ok(())
}

#[test]
fn no_output_left_on_error() -> TestResult {
    let (dir, data) = setup(3)?;
    let unaligned = dir.path().join("unaligned");
    fs::write(&unaligned, vec![1u8; 5000])?;
    let hash = dir.path().join("hash");
    let out = stela(&["verity", "format", s(&unaligned), s(&hash)]);
    assert_eq!(code(&out), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("not a multiple of the 4096-byte data block"));
    let out = stela(&["verity", "format", s(&dir.path().join("missing")), s(&hash)]);
    assert_eq!(code(&out), Some(2), "{out:?}");
    // The data as its own hash file would be destroyed: refused, data kept.
    let before = fs::read(&data)?;
    let out = stela(&["verity", "format", s(&data), s(&data)]);
    assert_eq!(code(&out), Some(2), "{out:?}");
    assert!(fs::read(&data)? == before);

    let mut names: Vec<_> = fs::read_dir(dir.path())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    assert_eq!(names, ["data", "unaligned"]);
    Ok(())
}
