//! `verify` names the first difference: which level, which block, what the entry covers.

use std::fs;
use std::path::Path;

use stela_verity::{
    format, verify, Covered, Header, Mismatch, NoProgress, RootHash, Verdict, VerifyMode,
    VerityError, VerityParams,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// 200 blocks of 4 KiB with a superblock: level 1 (one block) at 4096, level 0 (two
/// blocks, 200 digests) at 8192; the second level-0 block's padding starts at
/// 8192 + 4096 + 72 * 32.
const BLOCKS: usize = 200;

fn setup() -> Result<(tempfile::TempDir, RootHash), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let data: Vec<u8> = (0..BLOCKS * 4096)
        .map(|i| (i / 4096 + i % 251) as u8)
        .collect();
    fs::write(dir.path().join("data"), data)?;
    let params = VerityParams {
        salt: "0102".parse()?,
        ..VerityParams::new()?
    };
    let info = format(
        &dir.path().join("data"),
        &dir.path().join("hash"),
        &params,
        &mut NoProgress,
    )?;
    Ok((dir, info.root_hash))
}

fn flip(path: &Path, offset: usize) -> TestResult {
    let mut bytes = fs::read(path)?;
    bytes[offset] ^= 0x80;
    fs::write(path, bytes)?;
    Ok(())
}

fn check(dir: &Path, root: &RootHash) -> Result<Verdict, VerityError> {
    verify(
        &dir.join("data"),
        &dir.join("hash"),
        root,
        &VerifyMode::Superblock,
        &mut NoProgress,
    )
}

#[test]
fn names_the_first_difference() -> TestResult {
    let level0 = 8192;
    let cases: [(&str, usize, Mismatch); 4] = [
        (
            "data",
            130 * 4096 + 9,
            Mismatch::HashBlock {
                level: 0,
                block: 1,
                offset: (level0 + 130 * 32) as u64,
                covered: Covered::DataBlock {
                    index: 130,
                    offset: 130 * 4096,
                },
            },
        ),
        (
            "hash",
            4096 + 32 + 31,
            Mismatch::HashBlock {
                level: 1,
                block: 0,
                offset: 4096 + 63,
                covered: Covered::HashBlock {
                    level: 0,
                    index: 1,
                    offset: (level0 + 4096) as u64,
                },
            },
        ),
        (
            "hash",
            level0 + 4096 + 72 * 32 + 3,
            Mismatch::HashBlock {
                level: 0,
                block: 1,
                offset: (level0 + 4096 + 72 * 32 + 3) as u64,
                covered: Covered::Padding,
            },
        ),
        (
            "hash",
            level0 + 5,
            Mismatch::HashBlock {
                level: 0,
                block: 0,
                offset: (level0 + 5) as u64,
                covered: Covered::DataBlock {
                    index: 0,
                    offset: 0,
                },
            },
        ),
    ];
    for (file, offset, expected) in cases {
        let (dir, root) = setup()?;
        assert!(matches!(check(dir.path(), &root)?, Verdict::Valid(_)));
        flip(&dir.path().join(file), offset)?;
        assert_eq!(
            check(dir.path(), &root)?,
            Verdict::Invalid(expected),
            "{file} at {offset}"
        );
    }
    Ok(())
}

#[test]
fn wrong_root_hash() -> TestResult {
    let (dir, root) = setup()?;
    let mut other = *root.as_bytes();
    other[31] ^= 1;
    let other = RootHash::from_bytes(other);
    assert_eq!(
        check(dir.path(), &other)?,
        Verdict::Invalid(Mismatch::RootHash {
            computed: root,
            expected: other
        })
    );
    Ok(())
}

#[test]
fn file_errors_name_the_file() -> TestResult {
    let (dir, root) = setup()?;
    let hash = dir.path().join("hash");
    let bytes = fs::read(&hash)?;
    fs::write(&hash, &bytes[..bytes.len() - 1])?;
    match check(dir.path(), &root) {
        Err(VerityError::HashTruncated {
            path,
            len,
            expected,
        }) => {
            assert_eq!((path, len + 1), (hash.clone(), expected));
        }
        other => panic!("truncated hash file gave {other:?}"),
    }
    fs::write(&hash, &bytes[..100])?;
    let err = check(dir.path(), &root)
        .map(|_| ())
        .err()
        .ok_or("short superblock accepted")?;
    assert!(matches!(err, VerityError::Superblock { .. }));
    assert_eq!(
        format!(
            "{err}: {}",
            std::error::Error::source(&err)
                .map(|s| s.to_string())
                .unwrap_or_default()
        ),
        format!(
            "invalid verity superblock in {}: 100 bytes, shorter than the 512-byte superblock",
            hash.display()
        )
    );
    // A superblock read without one: the tree alone starts with hash bytes.
    let bare = VerityParams {
        header: Header::NoSuperblock,
        ..VerityParams::new()?
    };
    format(&dir.path().join("data"), &hash, &bare, &mut NoProgress)?;
    let err = check(dir.path(), &root)
        .map(|_| ())
        .err()
        .ok_or("bare tree accepted")?;
    assert!(matches!(err, VerityError::Superblock { .. }), "{err:?}");
    Ok(())
}
