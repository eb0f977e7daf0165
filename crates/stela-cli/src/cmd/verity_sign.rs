//! `stela verity sign`: sign a dm-verity root hash for the kernel and for the
//! Discoverable Partitions Specification's signature partition.

use std::path::PathBuf;

use anyhow::Context;
use base64::Engine;
use clap::{Args, ValueEnum};
use stela_keys::pkcs7::CertificateInclusion;
use stela_keys::verity_sig::{parse_root_hash, sign_root_hash, VeritySignatureDocument};
use stela_keys::{FileSigner, Signer};

use crate::output::write_atomic;
use crate::Outcome;

/// What `stela verity sign` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignatureFormat {
    /// DER PKCS#7 detached signature, for `veritysetup --root-hash-signature` and the
    /// kernel (base64 on stdout when no output file is given).
    Pkcs7,
    /// The JSON object of a `usr-verity-sig` / `root-verity-sig` partition.
    Json,
}

/// Arguments of `stela verity sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The signing key (PEM or DER, PKCS#8 or PKCS#1): normally the UEFI db key.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// The certificate of the signing key (PEM or DER).
    #[arg(long, value_name = "CERT")]
    cert: PathBuf,
    /// The root hash, as printed by `stela verity format` (64 hex digits).
    #[arg(value_name = "ROOTHASH")]
    root_hash: String,
    /// Where to write the signature; without it, PKCS#7 is printed in base64 and JSON as text.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SignatureFormat::Pkcs7)]
    format: SignatureFormat,
    /// Embed the signer's certificate in the PKCS#7 (larger; too long for the kernel
    /// command line with RSA-2048 keys).
    #[arg(long)]
    include_cert: bool,
}

/// Run `stela verity sign`.
pub fn run(args: SignArgs) -> anyhow::Result<Outcome> {
    let root = parse_root_hash(&args.root_hash).context("reading ROOTHASH")?;
    let signer = FileSigner::load(&args.key, &args.cert).context("loading the signing key")?;
    let certs = if args.include_cert {
        CertificateInclusion::Include
    } else {
        CertificateInclusion::Omit
    };
    let der = sign_root_hash(&signer, &root, certs).context("signing the root hash")?;
    match (args.format, &args.output) {
        (SignatureFormat::Pkcs7, Some(path)) => write_atomic(path, &der)?,
        (SignatureFormat::Pkcs7, None) => {
            println!("{}", base64::engine::general_purpose::STANDARD.encode(&der))
        }
        (SignatureFormat::Json, out) => {
            let doc = VeritySignatureDocument::new(&root, signer.certificate(), &der);
            let mut text = serde_json::to_vec(&doc).context("encoding the signature JSON")?;
            text.push(b'\n');
            match out {
                Some(path) => write_atomic(path, &text)?,
                None => print!("{}", String::from_utf8_lossy(&text)),
            }
        }
    }
    Ok(Outcome::Success)
}
