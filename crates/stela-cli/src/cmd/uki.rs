//! `stela uki`: not yet written.

use clap::Subcommand;

use crate::Outcome;

/// Subcommands of `stela uki`.
#[derive(Debug, Subcommand)]
pub enum UkiCommand {
    /// Placeholder until the command is written.
    Todo,
}

/// Run a `stela uki` subcommand.
pub fn run(_cmd: UkiCommand) -> anyhow::Result<Outcome> {
    anyhow::bail!("not yet written")
}
