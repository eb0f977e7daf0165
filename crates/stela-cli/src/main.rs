//! `stela`: the command line.
//!
//! The binary is thin: each subcommand lives in its own module under `cmd/`, parses its
//! arguments with clap and calls into the library crates of the workspace.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;
mod output;

/// Build immutable Debian images whose whole boot chain is verified, and keep them updated.
///
/// stela writes the formats of the verified boot chain itself: dm-verity hash trees and
/// their signed root hashes, UEFI Secure Boot keys and authenticated variables,
/// Authenticode signatures, Unified Kernel Images, GPT disks and FAT ESPs.
#[derive(Debug, Parser)]
#[command(
    name = "stela",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    /// Log more (repeat for even more). RUST_LOG overrides this.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// dm-verity hash trees: format, verify, sign root hashes.
    #[command(subcommand)]
    Verity(cmd::verity::VerityCommand),
    /// UEFI Secure Boot keys: PK, KEK, db and their enrolment files.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// Sign a file for the boot chain (Authenticode for EFI binaries).
    #[command(subcommand)]
    Sign(cmd::sign::SignCommand),
    /// Check a signature made for the boot chain.
    #[command(subcommand)]
    Verify(cmd::sign::VerifyCommand),
    /// IPE policies: what an image loads, signing one, checking one offline.
    #[command(subcommand)]
    Ipe(cmd::ipe::IpeCommand),
    /// Unified Kernel Images: assemble a kernel, initrd and command line on systemd's stub.
    #[command(subcommand)]
    Uki(cmd::uki::UkiCommand),
    /// Build a signed, verity-protected disk image from a recipe (default: the built-in
    /// appliance).
    Build(cmd::build::BuildArgs),
    /// Show what a disk image holds and check its signatures.
    Inspect(cmd::inspect::InspectArgs),
    /// Boot a disk image under QEMU with OVMF in Secure Boot mode (and swtpm).
    Qemu(cmd::qemu::QemuArgs),
    /// QEMU's end of a `stela qemu --forward` connection (started by QEMU).
    #[command(hide = true)]
    QemuRelay(cmd::qemu::RelayArgs),
    /// The update repository (TUF): make one, re-sign it, show it.
    #[command(subcommand)]
    Repo(cmd::repo::RepoCommand),
    /// Publish the release of a `stela build` output into an update repository.
    Publish(cmd::repo::PublishArgs),
    /// Update a stela disk from a repository: check for, or install, the newest release.
    #[command(subcommand)]
    Update(cmd::update::UpdateCommand),
    /// Check an image's packages (its SBOM) against the Debian security tracker's data.
    Audit(cmd::audit::AuditArgs),
    /// Check a build's output files against its signed provenance.
    VerifyRelease(cmd::verify_release::VerifyReleaseArgs),
}

/// What a command found, for the exit code: 0 yes, 1 "checked, the answer is no".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The command did what was asked, or the check passed.
    Success,
    /// A check ran to the end and found a mismatch (a bad signature, a corrupted tree).
    CheckFailed,
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Verity(c) => cmd::verity::run(c),
        Command::Keys(c) => cmd::keys::run(c),
        Command::Sign(c) => cmd::sign::run_sign(c),
        Command::Verify(c) => cmd::sign::run_verify(c),
        Command::Ipe(c) => cmd::ipe::run(c),
        Command::Uki(c) => cmd::uki::run(c),
        Command::Qemu(args) => cmd::qemu::run(args),
        Command::QemuRelay(args) => cmd::qemu::relay(args),
        Command::Build(args) => cmd::build::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Repo(c) => cmd::repo::run(c),
        Command::Publish(args) => cmd::repo::publish(args),
        Command::Update(c) => cmd::update::run(c),
        Command::Audit(args) => cmd::audit::run(args),
        Command::VerifyRelease(args) => cmd::verify_release::run(args),
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .compact()
        .init();
}

/// The error and its causes, joined with ": ", each said once. Many errors (tough's,
/// ours that wrap them) repeat their cause in their own message and also return it as
/// their source; `{:#}` would print it again for every level.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let said = cause.to_string();
        if text.contains(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::CheckFailed) => ExitCode::from(1),
        Err(e) => {
            eprintln!("stela: {}", error_text(&e));
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn a_cause_repeated_in_its_wrapper_is_said_once() {
        #[derive(Debug)]
        struct Inner;
        impl std::fmt::Display for Inner {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("threshold not met")
            }
        }
        impl std::error::Error for Inner {}
        #[derive(Debug)]
        struct Outer(Inner);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "verifying timestamp: {}", self.0)
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = anyhow::Error::new(Outer(Inner)).context("the repository");
        assert_eq!(
            format!("{e:#}"),
            "the repository: verifying timestamp: threshold not met: threshold not met"
        );
        assert_eq!(
            error_text(&e),
            "the repository: verifying timestamp: threshold not met"
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
