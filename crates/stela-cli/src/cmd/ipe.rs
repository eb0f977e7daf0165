//! `stela ipe`: the IPE policies of stela images: print what a recipe installs, sign a
//! policy, check one offline.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use stela_ipe::{image_policy, Policy, Stage};
use stela_keys::pkcs7::{sign_attached, CertificateInclusion, SignedMessage};
use stela_keys::{Certificate, FileSigner};
use stela_recipe::IpeMode;

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
    /// Show the host policy each installed slot of a disk image carries (read from its
    /// usr image) and whether its UKI enforces it. Exit 1 when a signature does not
    /// verify against --cert.
    Show(ShowArgs),
}

/// Arguments of `stela ipe show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A stela disk image (or a disk holding one).
    #[arg(value_name = "IMAGE")]
    image: PathBuf,
    /// The certificate the policies' signatures must verify against (the db certificate).
    #[arg(long, value_name = "CERT")]
    cert: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
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
        IpeCommand::Show(args) => show(args),
    }
}

fn policy(args: PolicyArgs) -> anyhow::Result<Outcome> {
    let recipe = crate::cmd::build::load_recipe(args.recipe.as_deref())?;
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
    let cert = load_cert(args.cert.as_deref())?;
    let (report, outcome) = examine(&path.display().to_string(), &bytes, cert.as_ref())?;
    print_report(&report, args.json)?;
    Ok(outcome)
}

fn load_cert(path: Option<&std::path::Path>) -> anyhow::Result<Option<Certificate>> {
    path.map(|p| {
        Certificate::from_file(p)
            .with_context(|| format!("reading the certificate {}", p.display()))
    })
    .transpose()
}

fn print_report(report: &CheckReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).context("encoding JSON")?
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
    Ok(())
}

/// Read a signed policy or a policy's text (`what` names it in messages) and check it.
fn examine(
    what: &str,
    bytes: &[u8],
    cert: Option<&Certificate>,
) -> anyhow::Result<(CheckReport, Outcome)> {
    // DER begins with a SEQUENCE tag; a policy's text begins with `policy_name=` or a
    // comment.
    let signed = bytes.first() == Some(&0x30);
    let (text_bytes, signature, signer, outcome) = if signed {
        let msg = SignedMessage::from_der(bytes)
            .with_context(|| format!("{what}: not a PKCS#7 signed policy"))?;
        let Some(data) = msg.embedded_data() else {
            bail!(
                "{what}: the PKCS#7 message carries no policy (a detached signature?); the kernel takes the policy inside the signature"
            );
        };
        let data = data.to_vec();
        // The kernel parses every certificate the message carries and checks the
        // signature with the signer's carried certificate before it looks for that one
        // in its keyrings: a message whose carried certificate is damaged is refused
        // even though the signature is good for the db key. So here.
        msg.certificates()
            .with_context(|| format!("{what}: a certificate carried in the PKCS#7 message"))?;
        let carried = msg
            .claimed_signer()
            .with_context(|| format!("{what}: the PKCS#7 message's signer"))?;
        let claimed = carried.as_ref().map(|c| c.subject());
        let verified = cert.map(|cert| {
            msg.verify(None, cert).and_then(|v| match &carried {
                Some(c) if c.to_der() != cert.to_der() => msg.verify(None, c).map(|_| v),
                _ => Ok(v),
            })
        });
        match verified {
            None => (data, "not checked".to_owned(), claimed, Outcome::Success),
            Some(result) => match result {
                Ok(v) => (
                    data,
                    "good".to_owned(),
                    Some(v.signer.subject()),
                    Outcome::Success,
                ),
                Err(e) if e.is_bad_signature() => {
                    eprintln!("{what}: the signature does not verify: {e}");
                    (data, "bad".to_owned(), claimed, Outcome::CheckFailed)
                }
                Err(e) => return Err(e).with_context(|| format!("{what}: checking the signature")),
            },
        }
    } else {
        if cert.is_some() {
            bail!("{what}: a policy's text carries no signature to check; sign it with `stela ipe sign`");
        }
        (
            bytes.to_vec(),
            "not checked".to_owned(),
            None,
            Outcome::Success,
        )
    };
    let policy = Policy::parse_bytes(&text_bytes)
        .with_context(|| format!("{what}: not a valid IPE policy"))?;
    let report = CheckReport {
        file: what.to_owned(),
        signed,
        signature,
        signer,
        text: String::from_utf8_lossy(&text_bytes).into_owned(),
        policy,
    };
    Ok((report, outcome))
}

/// One slot's policy, for `stela ipe show`.
#[derive(Debug, serde::Serialize)]
struct SlotPolicy {
    slot: String,
    version: Option<String>,
    /// "enforce", "audit" (its UKI has `ipe.enforce=0`), "off" (no policy in /usr), or
    /// "unknown" (no UKI on the ESP boots this slot).
    mode: String,
    policy: Option<CheckReport>,
}

fn show(args: ShowArgs) -> anyhow::Result<Outcome> {
    let disk = stela_image::StelaDisk::open(&args.image)
        .with_context(|| format!("reading {}", args.image.display()))?;
    let cert = load_cert(args.cert.as_deref())?;
    let host_path = Stage::Host.policy_name().install_path();
    // Paths in the usr image are relative to /usr.
    let in_usr = host_path.trim_start_matches("/usr");
    let mut outcome = Outcome::Success;
    let mut slots = Vec::new();
    for slot in disk.slots() {
        let (Some(root_hash), Some(usr)) = (slot.root_hash(), slot.usr.as_ref()) else {
            continue;
        };
        let range = usr.byte_range();
        let file = std::fs::File::open(&args.image)
            .with_context(|| format!("opening {}", args.image.display()))?;
        let what = format!("{}: slot {} {host_path}", args.image.display(), slot.id);
        let mut fs = stela_erofs::Erofs::open(file, range.start, range.end - range.start)
            .with_context(|| {
                format!("{}: slot {}'s usr partition", args.image.display(), slot.id)
            })?;
        let policy = match fs.read_file(in_usr, stela_limits::IPE_POLICY.bytes) {
            Ok(bytes) => {
                let (report, o) = examine(&what, &bytes, cert.as_ref())?;
                if o == Outcome::CheckFailed {
                    outcome = o;
                }
                Some(report)
            }
            Err(stela_erofs::ErofsError::NotFound { .. }) => None,
            Err(e) => return Err(e).with_context(|| what.clone()),
        };
        let cmdline = disk
            .esps()
            .iter()
            .filter_map(|esp| esp.contents.as_ref().ok())
            .flat_map(|c| c.efi.iter())
            .filter_map(|e| e.uki.as_ref().and_then(|u| u.cmdline.clone()))
            .find(|c| stela_image::boot::usrhash(c).as_ref() == Some(root_hash));
        let mode = match (&policy, cmdline) {
            (None, _) => "off",
            (Some(_), None) => "unknown",
            (Some(_), Some(c)) if c.split_whitespace().any(|a| a == "ipe.enforce=0") => "audit",
            (Some(_), Some(_)) => "enforce",
        };
        slots.push(SlotPolicy {
            slot: slot.id.to_string(),
            version: slot.version().map(str::to_owned),
            mode: mode.to_owned(),
            policy,
        });
    }
    if slots.is_empty() {
        bail!("{}: no installed slot", args.image.display());
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&slots).context("encoding JSON")?
        );
    } else {
        for s in &slots {
            println!(
                "slot {} (version {}): IPE {}",
                s.slot,
                s.version.as_deref().unwrap_or("?"),
                s.mode
            );
            if let Some(p) = &s.policy {
                print_report(p, false)?;
            }
        }
    }
    Ok(outcome)
}
