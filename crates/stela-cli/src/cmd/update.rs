//! `stela update check | apply`: move a stela disk to the newest release of its channel.
//!
//! This first form works on a disk image that is not running (`--disk`): the running
//! version is the one its default boot entry boots.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use stela_agent::UpdateSource;
use stela_image::StelaDisk;

use crate::output::print_json;
use crate::Outcome;

/// The update commands.
#[derive(Debug, Subcommand)]
pub enum UpdateCommand {
    /// Say which release an update would install, without changing anything.
    Check(UpdateArgs),
    /// Install the newest release into the slot that does not run.
    Apply(UpdateArgs),
}

/// Where to update from and what.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The disk image to update.
    #[arg(long)]
    pub disk: PathBuf,
    /// The repository: a directory or a file:// URL.
    #[arg(long)]
    pub repo: String,
    /// The trusted root (the repository's metadata/1.root.json, or a later one).
    #[arg(long)]
    pub root: PathBuf,
    /// The channel.
    #[arg(long, default_value = "stable")]
    pub channel: String,
    /// Where verified metadata is kept between runs (a later run refuses older
    /// metadata); default: a temporary directory.
    #[arg(long)]
    pub datastore: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run a `stela update` subcommand.
pub fn run(c: UpdateCommand) -> anyhow::Result<Outcome> {
    let (args, apply) = match c {
        UpdateCommand::Check(a) => (a, false),
        UpdateCommand::Apply(a) => (a, true),
    };
    let model = StelaDisk::open(&args.disk)?;
    let running = model.default_slot().with_context(|| {
        format!(
            "{}: no boot entry boots a slot of this disk",
            args.disk.display()
        )
    })?;
    let running_hash = *running
        .root_hash()
        .context("the default slot holds no version")?;
    let (name, version) = running.label().split_once('_').with_context(|| {
        format!(
            "slot {} has the label {:?}, not <name>_<version>",
            running.id,
            running.label()
        )
    })?;
    let tmp;
    let datastore = match &args.datastore {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir().context("creating a temporary datastore")?;
            tmp.path().to_owned()
        }
    };
    let source = UpdateSource::open(&args.repo, &args.root, &datastore)?;
    let offer = source.newest_after(name, &args.channel, version, &[]);
    let Some(offer) = offer else {
        if args.json {
            print_json(&serde_json::json!({"running": version, "update": null}))?;
        } else {
            println!(
                "{name}_{version} is the newest release on channel {}",
                args.channel
            );
        }
        return Ok(Outcome::Success);
    };
    if !apply {
        if args.json {
            print_json(
                &serde_json::json!({"running": version, "update": offer.version, "root_hash": offer.root_hash.to_string()}),
            )?;
        } else {
            println!(
                "{name}_{version} runs; {} is offered on channel {}",
                offer.label(),
                args.channel
            );
        }
        return Ok(Outcome::Success);
    }
    let report = stela_agent::install(&source, &offer, &args.disk, &running_hash)?;
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "{} installed in slot {} ({} bytes downloaded); it boots next as {}",
            report.label, report.slot, report.downloaded, report.boot_entry
        );
    }
    Ok(Outcome::Success)
}
