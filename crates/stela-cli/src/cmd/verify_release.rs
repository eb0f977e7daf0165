//! `stela verify-release`: a build output directory against its signed provenance.
//!
//! Exit status: 0 when the provenance's signature verifies with the certificate and
//! every file it names is there with its recorded SHA-256; 1 when the signature holds
//! but a file is missing or changed; 2 when the signature does not verify or the
//! provenance cannot be read.

use std::path::{Path, PathBuf};

use clap::Args;
use stela_keys::Certificate;

use crate::Outcome;

/// Arguments of `stela verify-release`.
#[derive(Debug, Args)]
pub struct VerifyReleaseArgs {
    /// The `stela build` output directory (holding `provenance.dsse.json`).
    pub dir: PathBuf,
    /// The certificate of the key that signs releases (the key directory's `db.crt`).
    #[arg(long)]
    pub cert: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

fn sha256(path: &Path) -> std::io::Result<String> {
    stela_build::manifest::sha256_file(path)
        .map(|(_, h)| h)
        .map_err(|e| match e.downcast::<std::io::Error>() {
            Ok(io) => io,
            Err(other) => std::io::Error::other(format!("{other:#}")),
        })
}

/// Run `stela verify-release`.
pub fn run(args: VerifyReleaseArgs) -> anyhow::Result<Outcome> {
    let cert = Certificate::from_file(&args.cert)?;
    let v = stela_provenance::verify_dir(&args.dir, &cert, sha256)?;
    if args.json {
        crate::output::print_json(&v)?;
    } else {
        for (name, want, got) in &v.differing {
            println!("CHANGED  {name}: the provenance says SHA-256 {want}, the file has {got}");
        }
        for name in &v.missing {
            println!("MISSING  {name}");
        }
        println!(
            "{}: provenance signed by {}; {} of {} files as built",
            args.dir.display(),
            cert.subject(),
            v.matching.len(),
            v.matching.len() + v.differing.len() + v.missing.len()
        );
    }
    Ok(if v.all_match() {
        Outcome::Success
    } else {
        Outcome::CheckFailed
    })
}
