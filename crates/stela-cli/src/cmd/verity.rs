//! `stela verity`: build and check dm-verity hash trees (as `veritysetup format` / `verify`
//! do, byte for byte), and sign root hashes.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use stela_verity::{
    BlockSize, Header, NoProgress, RootHash, Salt, Uuid, Verdict, VerifyMode, VerityInfo,
    VerityParams, ALGORITHM,
};

use crate::output::print_json;
use crate::Outcome;

/// Subcommands of `stela verity`.
#[derive(Debug, Subcommand)]
pub enum VerityCommand {
    /// Build the hash tree of DATA into HASHFILE and print its root hash.
    ///
    /// The hash file is byte for byte what `veritysetup format` writes with the same salt
    /// and UUID (format version 1, sha256); it replaces HASHFILE only once complete.
    Format(FormatArgs),
    /// Check DATA against the tree in HASHFILE and ROOTHASH.
    ///
    /// Exits 0 if every block matches, 1 naming the first block that does not, 2 if the
    /// files cannot be read as a tree.
    Verify(VerifyArgs),
    /// Sign a root hash (PKCS#7) for the kernel and the usr-verity-sig partition.
    Sign(super::verity_sign::SignArgs),
}

/// Block sizes and salt, as veritysetup takes them.
#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Salt in hex, `-` for none [default: 32 random bytes].
    #[arg(long, value_name = "HEX")]
    salt: Option<Salt>,
    /// Data block size in bytes, a power of two from 512 to 65536.
    #[arg(long, value_name = "N", default_value_t = BlockSize::DEFAULT)]
    data_block_size: BlockSize,
    /// Hash block size in bytes, a power of two from 512 to 65536.
    #[arg(long, value_name = "N", default_value_t = BlockSize::DEFAULT)]
    hash_block_size: BlockSize,
}

/// Arguments of `stela verity format`.
#[derive(Debug, Args)]
pub struct FormatArgs {
    /// The data, e.g. an erofs image of /usr: a whole number of data blocks.
    #[arg(value_name = "DATA")]
    data: PathBuf,
    /// Where to write the hash tree.
    #[arg(value_name = "HASHFILE")]
    hash: PathBuf,
    #[command(flatten)]
    tree: TreeArgs,
    /// UUID of the superblock [default: random].
    #[arg(long, conflicts_with = "no_superblock")]
    uuid: Option<Uuid>,
    /// Write the tree alone, without the superblock (then give the parameters to verify).
    #[arg(long)]
    no_superblock: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `stela verity verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The data.
    #[arg(value_name = "DATA")]
    data: PathBuf,
    /// The hash tree.
    #[arg(value_name = "HASHFILE")]
    hash: PathBuf,
    /// The expected root hash (64 hex digits).
    #[arg(value_name = "ROOTHASH")]
    root_hash: RootHash,
    /// HASHFILE has no superblock: take salt and block sizes from the options.
    #[arg(long, requires = "salt")]
    no_superblock: bool,
    /// Salt in hex, `-` for none (only with --no-superblock).
    #[arg(long, value_name = "HEX", requires = "no_superblock")]
    salt: Option<Salt>,
    /// Data block size (only with --no-superblock).
    #[arg(long, value_name = "N", requires = "no_superblock", default_value_t = BlockSize::DEFAULT)]
    data_block_size: BlockSize,
    /// Hash block size (only with --no-superblock).
    #[arg(long, value_name = "N", requires = "no_superblock", default_value_t = BlockSize::DEFAULT)]
    hash_block_size: BlockSize,
}

/// `stela verity format --json`: what veritysetup prints, with stable names.
#[derive(Debug, Serialize)]
struct FormatReport {
    root_hash: String,
    salt: String,
    /// `null` without a superblock.
    uuid: Option<String>,
    hash_type: u32,
    hash_algorithm: &'static str,
    data_block_size: u32,
    hash_block_size: u32,
    data_blocks: u64,
    hash_blocks: u64,
    /// Bytes of the hash file.
    hash_size: u64,
    superblock: bool,
}

impl From<&VerityInfo> for FormatReport {
    fn from(i: &VerityInfo) -> Self {
        Self {
            root_hash: i.root_hash.to_string(),
            salt: hex_or_empty(&i.salt),
            uuid: i.uuid.map(|u| u.to_string()),
            hash_type: 1,
            hash_algorithm: ALGORITHM,
            data_block_size: i.data_block_size.get(),
            hash_block_size: i.hash_block_size.get(),
            data_blocks: i.data_blocks,
            hash_blocks: i.hash_blocks,
            hash_size: i.hash_size,
            superblock: i.uuid.is_some(),
        }
    }
}

/// JSON carries the salt as plain hex, `""` when empty (not veritysetup's `-`).
fn hex_or_empty(salt: &Salt) -> String {
    salt.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Run a `stela verity` subcommand.
pub fn run(cmd: VerityCommand) -> anyhow::Result<Outcome> {
    match cmd {
        VerityCommand::Format(args) => format(args),
        VerityCommand::Verify(args) => verify(args),
        VerityCommand::Sign(args) => super::verity_sign::run(args),
    }
}

fn format(args: FormatArgs) -> anyhow::Result<Outcome> {
    let salt = match args.tree.salt {
        Some(s) => s,
        None => Salt::random().context("making a salt")?,
    };
    let header = if args.no_superblock {
        Header::NoSuperblock
    } else {
        Header::Superblock {
            uuid: args.uuid.unwrap_or_else(Uuid::new_v4),
        }
    };
    let params = VerityParams {
        data_block_size: args.tree.data_block_size,
        hash_block_size: args.tree.hash_block_size,
        salt,
        header,
    };
    tracing::info!(data = %args.data.display(), hash = %args.hash.display(), "formatting");
    let info = stela_verity::format(&args.data, &args.hash, &params, &mut NoProgress)
        .with_context(|| format!("formatting the hash tree of {}", args.data.display()))?;
    if args.json {
        print_json(&FormatReport::from(&info))?;
    } else {
        print_info(&args.hash, &info);
    }
    Ok(Outcome::Success)
}

/// The lines `veritysetup format` prints, one `Name: value` each.
fn print_info(hash: &std::path::Path, i: &VerityInfo) {
    println!("VERITY header information for {}", hash.display());
    println!(
        "UUID: {}",
        i.uuid.map(|u| u.to_string()).unwrap_or_default()
    );
    println!("Hash type: 1");
    println!("Data blocks: {}", i.data_blocks);
    println!("Data block size: {}", i.data_block_size);
    println!("Hash blocks: {}", i.hash_blocks);
    println!("Hash block size: {}", i.hash_block_size);
    println!("Hash algorithm: {ALGORITHM}");
    println!("Salt: {}", i.salt);
    println!("Root hash: {}", i.root_hash);
    println!("Hash device size: {} [bytes]", i.hash_size);
}

fn verify(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let mode = match (args.no_superblock, args.salt) {
        (true, Some(salt)) => VerifyMode::NoSuperblock {
            data_block_size: args.data_block_size,
            hash_block_size: args.hash_block_size,
            salt,
        },
        // clap requires --salt with --no-superblock.
        (true, None) => anyhow::bail!("--no-superblock needs --salt"),
        (false, _) => VerifyMode::Superblock,
    };
    let verdict = stela_verity::verify(
        &args.data,
        &args.hash,
        &args.root_hash,
        &mode,
        &mut NoProgress,
    )
    .with_context(|| {
        format!(
            "verifying {} against {}",
            args.data.display(),
            args.hash.display()
        )
    })?;
    match verdict {
        Verdict::Valid(info) => {
            println!(
                "{}: {} data blocks verified, root hash {}",
                args.data.display(),
                info.data_blocks,
                info.root_hash
            );
            Ok(Outcome::Success)
        }
        Verdict::Invalid(mismatch) => {
            eprintln!(
                "stela: verification of {} against {} failed: {mismatch}",
                args.data.display(),
                args.hash.display()
            );
            Ok(Outcome::CheckFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: VerityCommand,
    }

    #[test]
    fn parses_veritysetup_style_options() {
        let ok = Cli::try_parse_from([
            "verity",
            "format",
            "d",
            "h",
            "--salt",
            "ab",
            "--data-block-size",
            "512",
            "--uuid",
            "12345678-9abc-4def-8123-456789abcdef",
        ]);
        assert!(ok.is_ok(), "{ok:?}");
        for bad in [
            &["verity", "format", "d", "h", "--data-block-size", "1000"][..],
            &["verity", "format", "d", "h", "--salt", "xyz"],
            &[
                "verity",
                "format",
                "d",
                "h",
                "--no-superblock",
                "--uuid",
                "12345678-9abc-4def-8123-456789abcdef",
            ],
            &["verity", "verify", "d", "h", "abcd"],
            &[
                "verity",
                "verify",
                "d",
                "h",
                &"0".repeat(64),
                "--no-superblock",
            ],
            &[
                "verity",
                "verify",
                "d",
                "h",
                &"0".repeat(64),
                "--salt",
                "ab",
            ],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "accepted {bad:?}");
        }
    }
}
