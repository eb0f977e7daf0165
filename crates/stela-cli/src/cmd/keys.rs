//! `stela keys`: not yet written.

use clap::Subcommand;

use crate::Outcome;

/// Subcommands of `stela keys`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Placeholder until the command is written.
    Todo,
}

/// Run a `stela keys` subcommand.
pub fn run(_cmd: KeysCommand) -> anyhow::Result<Outcome> {
    anyhow::bail!("not yet written")
}
