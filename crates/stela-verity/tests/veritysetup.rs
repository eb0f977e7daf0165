//! The library against `veritysetup` (cryptsetup): same salt and UUID, same bytes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stela_verity::{
    format, format_to, verify, BlockSize, Header, NoProgress, RootHash, Salt, Uuid, Verdict,
    VerifyMode, VerityParams,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const UUID: &str = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0";

/// Deterministic, non-repeating bytes (xorshift), so every block hashes differently.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn veritysetup(args: &[&str]) -> Output {
    match Command::new("veritysetup").args(args).output() {
        Ok(out) => out,
        Err(e) => panic!("cannot run veritysetup ({e}): run scripts/setup --test"),
    }
}

/// The `Root hash:` field of veritysetup's report.
fn root_hash_of(out: &Output) -> Result<RootHash, Box<dyn std::error::Error>> {
    let text = String::from_utf8(out.stdout.clone())?;
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))
        .ok_or_else(|| format!("no root hash in veritysetup output: {text}"))?;
    Ok(value.trim().parse()?)
}

struct Case {
    blocks: usize,
    data_block: u32,
    hash_block: u32,
    salt: &'static str,
    superblock: bool,
    /// Tree levels this case is meant to exercise (checked, so the table stays honest).
    levels: usize,
}

const fn case(blocks: usize, data_block: u32, hash_block: u32, levels: usize) -> Case {
    Case {
        blocks,
        data_block,
        hash_block,
        salt: "5a1700000000000000000000000000000000000000000000000000000000c0de",
        superblock: true,
        levels,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(1, 4096, 4096, 0),
        case(3, 4096, 4096, 1),
        case(128, 4096, 4096, 1),
        case(129, 4096, 4096, 2),
        // 16 digests per 512-byte hash block: three levels from little data.
        case(300, 4096, 512, 3),
        case(300, 512, 512, 3),
        case(1000, 512, 4096, 2),
        case(129, 4096, 1024, 2),
        case(2, 65536, 65536, 1),
        Case {
            superblock: false,
            ..case(129, 4096, 4096, 2)
        },
        Case {
            superblock: false,
            ..case(1, 4096, 4096, 0)
        },
        Case {
            salt: "-",
            ..case(5, 4096, 4096, 1)
        },
        Case {
            salt: "ab",
            ..case(200, 512, 1024, 2)
        },
    ]
}

fn params(c: &Case) -> Result<VerityParams, Box<dyn std::error::Error>> {
    Ok(VerityParams {
        data_block_size: BlockSize::new(c.data_block)?,
        hash_block_size: BlockSize::new(c.hash_block)?,
        salt: c.salt.parse()?,
        header: if c.superblock {
            Header::Superblock {
                uuid: UUID.parse()?,
            }
        } else {
            Header::NoSuperblock
        },
    })
}

fn reference(c: &Case, data: &Path, hash: &Path) -> Output {
    let (dbs, hbs) = (c.data_block.to_string(), c.hash_block.to_string());
    let mut args = vec![
        "format",
        "--salt",
        c.salt,
        "--data-block-size",
        &dbs,
        "--hash-block-size",
        &hbs,
    ];
    if c.superblock {
        args.extend(["--uuid", UUID]);
    } else {
        args.push("--no-superblock");
    }
    let (d, h) = (path_str(data), path_str(hash));
    args.extend([d, h]);
    let out = veritysetup(&args);
    assert!(out.status.success(), "veritysetup {args:?}: {out:?}");
    out
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

#[test]
fn byte_identical_to_veritysetup() -> TestResult {
    let dir = tempfile::tempdir()?;
    for (n, c) in cases().iter().enumerate() {
        let what = format!(
            "case {n}: {} x {} bytes, hash blocks {}, salt {}, superblock {}",
            c.blocks, c.data_block, c.hash_block, c.salt, c.superblock
        );
        let data_path = dir.path().join(format!("data{n}"));
        let theirs: PathBuf = dir.path().join(format!("theirs{n}"));
        let ours: PathBuf = dir.path().join(format!("ours{n}"));
        let bytes = data(c.blocks * c.data_block as usize, n as u64 + 1);
        std::fs::write(&data_path, &bytes)?;

        let their_root = root_hash_of(&reference(c, &data_path, &theirs))?;
        let params = params(c)?;
        let info = format(&data_path, &ours, &params, &mut NoProgress)?;
        let (a, b) = (std::fs::read(&theirs)?, std::fs::read(&ours)?);
        assert_eq!(info.root_hash, their_root, "{what}");
        assert_eq!(a.len(), b.len(), "{what}: hash file sizes");
        if let Some(at) = a.iter().zip(&b).position(|(x, y)| x != y) {
            panic!("{what}: hash files differ first at byte {at}");
        }
        assert_eq!(info.hash_size, b.len() as u64, "{what}");
        let layout = stela_verity::Layout::new(
            c.blocks as u64,
            params.data_block_size,
            params.hash_block_size,
            &params.header,
        )
        .ok_or("no layout")?;
        assert_eq!(layout.levels().len(), c.levels, "{what}: levels");

        // The streaming API writes the same bytes.
        let mut out = std::io::Cursor::new(Vec::new());
        let streamed = format_to(
            &bytes[..],
            bytes.len() as u64,
            &mut out,
            &params,
            &mut NoProgress,
        )?;
        assert_eq!(streamed, info, "{what}");
        assert!(out.into_inner() == b, "{what}: format_to wrote other bytes");

        // veritysetup accepts ours, and so does our verify.
        let root = info.root_hash.to_string();
        let mut args = vec![
            "verify",
            path_str(&data_path),
            path_str(&ours),
            root.as_str(),
        ];
        let (dbs, hbs) = (c.data_block.to_string(), c.hash_block.to_string());
        if !c.superblock {
            args.extend([
                "--no-superblock",
                "--salt",
                c.salt,
                "--data-block-size",
                &dbs,
                "--hash-block-size",
                &hbs,
            ]);
        }
        let out = veritysetup(&args);
        assert!(out.status.success(), "{what}: veritysetup verify: {out:?}");
        let mode = if c.superblock {
            VerifyMode::Superblock
        } else {
            VerifyMode::NoSuperblock {
                data_block_size: params.data_block_size,
                hash_block_size: params.hash_block_size,
                salt: params.salt.clone(),
            }
        };
        let verdict = verify(&data_path, &ours, &info.root_hash, &mode, &mut NoProgress)?;
        assert_eq!(verdict, Verdict::Valid(info), "{what}");
    }
    Ok(())
}

#[test]
fn random_defaults_are_accepted_by_veritysetup() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (d, h) = (dir.path().join("data"), dir.path().join("hash"));
    std::fs::write(&d, data(40 * 4096, 7))?;
    let params = VerityParams::new()?;
    let info = format(&d, &h, &params, &mut NoProgress)?;
    assert_eq!(info.salt.as_bytes().len(), Salt::RANDOM_LEN);
    let Some(uuid) = info.uuid else {
        panic!("no uuid by default")
    };
    assert_eq!(uuid.get_version_num(), 4);
    assert_ne!(uuid, Uuid::nil());
    let out = veritysetup(&["dump", path_str(&h)]);
    let text = String::from_utf8(out.stdout)?;
    assert!(text.contains(&uuid.to_string()), "{text}");
    let root = info.root_hash.to_string();
    let out = veritysetup(&["verify", path_str(&d), path_str(&h), &root]);
    assert!(out.status.success(), "{out:?}");
    Ok(())
}
