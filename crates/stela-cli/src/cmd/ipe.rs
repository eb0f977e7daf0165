//! `stela ipe`: the IPE policies of stela images: print what a recipe installs, sign a
//! policy, check one offline.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use stela_ipe::{image_policy, Policy, Stage};
use stela_keys::pkcs7::{sign_attached, CertificateInclusion, SignedMessage};
use stela_keys::{Certificate, FileSigner};
use stela_recipe::{IpeMode, Recipe};

use crate::output::write_atomic;
use crate::Outcome;

/// `stela ipe ...`.
#[derive(Debug, Subcommand)]
pub enum IpeCommand {
    /// Print the policy a recipe's image loads (default: the built-in recipe).
    Policy(PolicyArgs),
    /// Check a policy's text and sign it with the db key for the kernel (PKCS#7 with the
    /// policy inside, no signed attributes).
    Sign(SignArgs),
    /// Check a policy offline: its grammar as the kernel parses it, and, given the
    /// certificate, its signature. Exit 1 when the signature does not verify.
    Check(CheckArgs),
}

/// Which policy of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StageArg {
    /// The booted system's: signed dm-verity only.
    Host,
    /// The initrd's: also the initramfs.
    Initrd,
}

/// Arguments of `stela ipe policy`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The recipe (default: the built-in one).
    #[arg(value_name = "RECIPE")]
    recipe: Option<PathBuf>,
    /// Which of the two policies.
    #[arg(long, value_enum, default_value_t = StageArg::Host)]
    stage: StageArg,
}

/// Arguments of `stela ipe sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The policy's text.
    #[arg(value_name = "POLICY")]
    policy: PathBuf,
    /// The signing key (PEM or DER): the UEFI db key, whose certificate the kernel has in
    /// its .platform keyring.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// The certificate of the signing key.
    #[arg(long, value_name = "CERT")]
    cert: PathBuf,
    /// Where to write the signed policy (`NAME.p7b` for /usr/lib/ipe).
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
}

/// Arguments of `stela ipe check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// A signed policy (DER PKCS#7, `.p7b`) or a policy's text.
    #[arg(value_name = "POLICY")]
    policy: PathBuf,
    /// The certificate the signature must verify against (the db certificate).
    #[arg(long, value_name = "CERT")]
    cert: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Run `stela ipe`.
pub fn run(cmd: IpeCommand) -> anyhow::Result<Outcome> {
    match cmd {
        IpeCommand::Policy(args) => policy(args),
        IpeCommand::Sign(args) => sign(args),
        IpeCommand::Check(args) => check(args),
    }
}

fn policy(args: PolicyArgs) -> anyhow::Result<Outcome> {
    let recipe = match &args.recipe {
        Some(path) => {
            Recipe::load(path).with_context(|| format!("reading the recipe {}", path.display()))?
        }
        None => Recipe::default_recipe(),
    };
    if recipe.ipe().mode == IpeMode::Off {
        bail!("the recipe sets [ipe] mode = \"off\": its image loads no IPE policy");
    }
    let stage = match args.stage {
        StageArg::Host => Stage::Host,
        StageArg::Initrd => Stage::Initrd,
    };
    print!("{}", image_policy(stage, &recipe.ipe().extra_rules));
    Ok(Outcome::Success)
}

fn read_policy_text(path: &std::path::Path) -> anyhow::Result<Policy> {
    let bytes = stela_limits::read(path, stela_limits::IPE_POLICY)
        .with_context(|| format!("reading {}", path.display()))?;
    Policy::parse_bytes(&bytes)
        .with_context(|| format!("{}: not a valid IPE policy", path.display()))
}

fn sign(args: SignArgs) -> anyhow::Result<Outcome> {
    let policy = read_policy_text(&args.policy)?;
    let signer = FileSigner::load(&args.key, &args.cert).context("loading the signing key")?;
    // What is signed is the text as stela writes it (the same rules; comments and spacing
    // normalised), so the signed policy reads back as the one checked.
    let der = sign_attached(
        &signer,
        policy.to_text().as_bytes(),
        CertificateInclusion::Include,
    )
    .context("signing the policy")?;
    write_atomic(&args.output, &der)?;
    Ok(Outcome::Success)
}

/// What `stela ipe check` found.
#[derive(Debug, serde::Serialize)]
struct CheckReport {
    file: String,
    signed: bool,
    /// "good", "bad", or "not checked" (no certificate given, or an unsigned text).
    signature: String,
    signer: Option<String>,
    policy: Policy,
    text: String,
}

fn check(args: CheckArgs) -> anyhow::Result<Outcome> {
    let path = &args.policy;
    let bytes = stela_limits::read(path, stela_limits::IPE_POLICY)
        .with_context(|| format!("reading {}", path.display()))?;
    // DER begins with a SEQUENCE tag; a policy's text begins with `policy_name=` or a
    // comment.
    let signed = bytes.first() == Some(&0x30);
    let (text_bytes, signature, signer, outcome) = if signed {
        let msg = SignedMessage::from_der(&bytes)
            .with_context(|| format!("{}: not a PKCS#7 signed policy", path.display()))?;
        let Some(data) = msg.embedded_data() else {
            bail!(
                "{}: the PKCS#7 message carries no policy (a detached signature?); the kernel takes the policy inside the signature",
                path.display()
            );
        };
        let data = data.to_vec();
        let claimed = msg.claimed_signer().ok().flatten().map(|c| c.subject());
        match &args.cert {
            None => (data, "not checked".to_owned(), claimed, Outcome::Success),
            Some(cert_path) => {
                let cert = Certificate::from_file(cert_path)
                    .with_context(|| format!("reading the certificate {}", cert_path.display()))?;
                match msg.verify(None, &cert) {
                    Ok(v) => (
                        data,
                        "good".to_owned(),
                        Some(v.signer.subject()),
                        Outcome::Success,
                    ),
                    Err(e) if e.is_bad_signature() => {
                        eprintln!(
                            "{}: the signature does not verify against {}: {e}",
                            path.display(),
                            cert_path.display()
                        );
                        (data, "bad".to_owned(), claimed, Outcome::CheckFailed)
                    }
                    Err(e) => {
                        return Err(e)
                            .with_context(|| format!("{}: checking the signature", path.display()))
                    }
                }
            }
        }
    } else {
        if args.cert.is_some() {
            bail!(
                "{}: a policy's text carries no signature to check; sign it with `stela ipe sign`",
                path.display()
            );
        }
        (bytes, "not checked".to_owned(), None, Outcome::Success)
    };
    let policy = Policy::parse_bytes(&text_bytes)
        .with_context(|| format!("{}: not a valid IPE policy", path.display()))?;
    let report = CheckReport {
        file: path.display().to_string(),
        signed,
        signature,
        signer,
        text: String::from_utf8_lossy(&text_bytes).into_owned(),
        policy,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("encoding JSON")?
        );
    } else {
        println!(
            "policy:    {} version {}",
            report.policy.name, report.policy.version
        );
        println!(
            "signature: {}{}",
            report.signature,
            report
                .signer
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        );
        println!("rules:     {}", report.policy.rules.len());
        print!("{}", report.policy);
    }
    Ok(outcome)
}
