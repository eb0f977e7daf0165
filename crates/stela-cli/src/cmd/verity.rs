//! `stela verity`: not yet written.

use clap::Subcommand;

use crate::Outcome;

/// Subcommands of `stela verity`.
#[derive(Debug, Subcommand)]
pub enum VerityCommand {
    /// Placeholder until the command is written.
    Todo,
}

/// Run a `stela verity` subcommand.
pub fn run(_cmd: VerityCommand) -> anyhow::Result<Outcome> {
    anyhow::bail!("not yet written")
}
