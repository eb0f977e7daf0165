//! `stela sign` and `stela verify`: not yet written.

use clap::Subcommand;

use crate::Outcome;

/// Subcommands of `stela sign`.
#[derive(Debug, Subcommand)]
pub enum SignCommand {
    /// Placeholder until the command is written.
    Todo,
}

/// Subcommands of `stela verify`.
#[derive(Debug, Subcommand)]
pub enum VerifyCommand {
    /// Placeholder until the command is written.
    Todo,
}

/// Run a `stela sign` subcommand.
pub fn run_sign(_cmd: SignCommand) -> anyhow::Result<Outcome> {
    anyhow::bail!("not yet written")
}

/// Run a `stela verify` subcommand.
pub fn run_verify(_cmd: VerifyCommand) -> anyhow::Result<Outcome> {
    anyhow::bail!("not yet written")
}
