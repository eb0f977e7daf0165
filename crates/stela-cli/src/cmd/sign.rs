//! `stela sign` and `stela verify`: Authenticode signatures of EFI binaries.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::Serialize;
use stela_keys::{Certificate, FileSigner};
use stela_pe::authenticode::{self, SignatureStatus, Verdict};

use crate::Outcome;

/// Subcommands of `stela sign`.
#[derive(Debug, Subcommand)]
pub enum SignCommand {
    /// Sign an EFI binary (systemd-boot, a UKI, a kernel) with Authenticode.
    ///
    /// Signatures the file already has are replaced, not kept: the result carries
    /// exactly one signature, by the given key.
    Efi(SignEfiArgs),
}

/// Arguments of `stela sign efi`.
#[derive(Debug, Args)]
pub struct SignEfiArgs {
    /// The private key (PEM or DER, RSA).
    #[arg(long)]
    key: PathBuf,
    /// The certificate of the key (PEM or DER), embedded in the signature.
    #[arg(long)]
    cert: PathBuf,
    /// The EFI binary to sign.
    input: PathBuf,
    /// Where to write the signed binary (may be the input itself).
    #[arg(short, long)]
    output: PathBuf,
}

/// Subcommands of `stela verify`.
#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// Check the Authenticode signatures of an EFI binary against a certificate.
    ///
    /// Exit status: 0 if a signature verifies, 1 if the file is unsigned or no signature
    /// holds (modified after signing, signed by another key), 2 if it cannot be checked.
    Efi(VerifyEfiArgs),
}

/// Arguments of `stela verify efi`.
#[derive(Debug, Args)]
pub struct VerifyEfiArgs {
    /// The trusted certificate (PEM or DER): the signer or its issuer.
    #[arg(long)]
    cert: PathBuf,
    /// The EFI binary to check.
    file: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Run a `stela sign` subcommand.
pub fn run_sign(cmd: SignCommand) -> anyhow::Result<Outcome> {
    match cmd {
        SignCommand::Efi(args) => sign_efi(args),
    }
}

/// Run a `stela verify` subcommand.
pub fn run_verify(cmd: VerifyCommand) -> anyhow::Result<Outcome> {
    match cmd {
        VerifyCommand::Efi(args) => verify_efi(args),
    }
}

fn sign_efi(args: SignEfiArgs) -> anyhow::Result<Outcome> {
    let signer = FileSigner::load(&args.key, &args.cert).context("loading the signing key")?;
    let name = args.input.display().to_string();
    let data = stela_limits::read(&args.input, stela_limits::PE_IMAGE)
        .with_context(|| format!("reading {name}"))?;
    let signed = authenticode::sign(&name, &data, &signer).context("signing with Authenticode")?;
    crate::output::write_atomic(&args.output, &signed.bytes)?;
    tracing::info!(
        "signed {name} (Authenticode SHA-256 {}) into {}",
        hex::encode(signed.digest),
        args.output.display()
    );
    Ok(Outcome::Success)
}

/// `stela verify efi --json` output.
#[derive(Debug, Serialize)]
struct VerifyJson {
    file: String,
    /// The recomputed Authenticode SHA-256, hex.
    digest: String,
    /// "verified", "bad", "unsigned" or "cannot-check".
    verdict: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    signer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    signatures: Vec<SignatureJson>,
}

#[derive(Debug, Serialize)]
struct SignatureJson {
    offset: usize,
    signed_digest: Option<String>,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    signer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

fn verify_efi(args: VerifyEfiArgs) -> anyhow::Result<Outcome> {
    let trusted = Certificate::from_file(&args.cert).context("loading the trusted certificate")?;
    let name = args.file.display().to_string();
    let data = stela_limits::read(&args.file, stela_limits::PE_IMAGE)
        .with_context(|| format!("reading {name}"))?;
    let report = authenticode::verify(&name, &data, &trusted)
        .context("checking the Authenticode signatures")?;
    let verdict = report.verdict();
    let (word, signer, reason) = match &verdict {
        Verdict::Verified { signer } => ("verified", Some(signer.clone()), None),
        Verdict::Bad { reason } => ("bad", None, Some(reason.clone())),
        Verdict::Unsigned => ("unsigned", None, None),
        Verdict::CannotCheck { reason } => ("cannot-check", None, Some(reason.clone())),
    };
    if args.json {
        let signatures = report
            .signatures
            .iter()
            .map(|s| {
                let (status, signer, reason) = match &s.status {
                    SignatureStatus::Verified { signer } => {
                        ("verified", Some(signer.clone()), None)
                    }
                    SignatureStatus::Bad { reason } => ("bad", None, Some(reason.clone())),
                    SignatureStatus::CannotCheck { reason } => {
                        ("cannot-check", None, Some(reason.clone()))
                    }
                };
                SignatureJson {
                    offset: s.offset,
                    signed_digest: s.signed_digest.as_ref().map(hex::encode),
                    status,
                    signer,
                    reason,
                }
            })
            .collect();
        crate::output::print_json(&VerifyJson {
            file: name.clone(),
            digest: hex::encode(report.digest),
            verdict: word,
            signer,
            reason: reason.clone(),
            signatures,
        })?;
    } else {
        match &verdict {
            Verdict::Verified { signer } => println!("{name}: verified by {signer}"),
            Verdict::Bad { reason } => println!("{name}: bad signature: {reason}"),
            Verdict::Unsigned => println!("{name}: not signed"),
            Verdict::CannotCheck { .. } => {}
        }
    }
    match verdict {
        Verdict::Verified { .. } => Ok(Outcome::Success),
        Verdict::Bad { .. } | Verdict::Unsigned => Ok(Outcome::CheckFailed),
        Verdict::CannotCheck { .. } => anyhow::bail!(
            "{name}: cannot check the signature: {}",
            reason.unwrap_or_default()
        ),
    }
}
