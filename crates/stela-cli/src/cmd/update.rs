//! `stela update check | apply`: move a stela disk to the newest release of its channel.
//!
//! On a running machine the agent reads its configuration from the image; with `--disk`
//! it changes a disk image that is not running (the running version is then the one its
//! default boot entry boots).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use stela_agent::{DeviceConfig, EspAccess, RunningSystem, UpdateSource};
use stela_image::StelaDisk;

use crate::output::print_json;
use crate::Outcome;

/// The update commands.
#[derive(Debug, Subcommand)]
pub enum UpdateCommand {
    /// Say which release an update would install, without changing anything.
    Check(UpdateArgs),
    /// Install the newest release into the slot that does not run.
    Apply(ApplyArgs),
    /// The machine's update state: installed versions, tries left, failed versions, the
    /// last run.
    Status(StatusArgs),
    /// Go back to an installed older version: the running version's boot entry is
    /// marked bad (no tries left), so the older one boots next and the running version
    /// is never offered again on this machine.
    Rollback(RollbackArgs),
    /// After a good boot (run by stela-bless-loader.service after boot-complete.target):
    /// if this boot came through the boot loader copy on trial, make it the default.
    Bless(StatusArgs),
}

/// `rollback`'s arguments.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The installed version to go back to (default: the newest older one).
    #[arg(value_name = "VERSION")]
    to: Option<String>,
    /// Reboot into it now.
    #[arg(long)]
    reboot: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Where to update from and what.
///
/// On a running stela machine (no `--disk`) everything comes from the image:
/// /usr/lib/stela/update.toml (with /etc/stela/update.toml over it), the trusted root
/// /usr/lib/stela/root.json and the state in /var/lib/stela.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Update this disk image, which is not running, in place of the running machine
    /// (the version its default boot entry boots counts as running).
    #[arg(long, requires_all = ["repo", "root"])]
    pub disk: Option<PathBuf>,
    /// The repository: a directory, a file:// or an http(s):// URL.
    #[arg(long)]
    pub repo: Option<String>,
    /// The trusted root (the repository's metadata/1.root.json, or a later one).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// The channel (default: the image's, or stable).
    #[arg(long)]
    pub channel: Option<String>,
    /// Where verified metadata is kept between runs (a later run refuses older
    /// metadata); with --disk, default: a temporary directory.
    #[arg(long)]
    pub datastore: Option<PathBuf>,
    /// With --disk: the boots the new version gets to prove itself (on a machine: the
    /// image's `tries`).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=9))]
    pub tries: u8,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `apply`'s arguments.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    common: UpdateArgs,
    /// Reboot into the new version once it is installed (running machine only).
    #[arg(long, conflicts_with = "disk")]
    reboot: bool,
}

/// `status`'s arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

/// Run a `stela update` subcommand.
pub fn run(c: UpdateCommand) -> anyhow::Result<Outcome> {
    let (args, apply, reboot) = match c {
        UpdateCommand::Check(a) => (a, false, false),
        UpdateCommand::Apply(a) => (a.common, true, a.reboot),
        UpdateCommand::Status(a) => return status(a),
        UpdateCommand::Rollback(a) => return rollback(a),
        UpdateCommand::Bless(a) => return bless(a),
    };
    let Some(disk) = args.disk.clone() else {
        return on_device(args, apply, reboot);
    };
    offline(args, &disk, apply)
}

fn device_config(args: &UpdateArgs) -> anyhow::Result<DeviceConfig> {
    let mut config = DeviceConfig::load()?;
    if let Some(r) = &args.repo {
        config.repository = r.clone();
    }
    if let Some(r) = &args.root {
        config.root = r.clone();
    }
    if let Some(c) = &args.channel {
        config.channel = c.clone();
    }
    if let Some(d) = &args.datastore {
        config.state_dir = d.clone();
    }
    Ok(config)
}

fn status(args: StatusArgs) -> anyhow::Result<Outcome> {
    let system = RunningSystem::detect()?;
    let config = DeviceConfig::load()?;
    let status = stela_agent::device_status(&config, &system)?;
    if args.json {
        print_json(&status)?;
        return Ok(Outcome::Success);
    }
    println!("state: {}", status.state);
    println!("running: {} ({})", status.running, status.root_hash);
    println!("disk: {}", status.disk);
    for v in &status.versions {
        let tries = v
            .tries_left
            .map(|n| format!(", {n} tries left"))
            .unwrap_or_default();
        println!(
            "  slot {}: {} {}{tries}{} [{}]",
            v.slot,
            v.label,
            v.state,
            if v.running { ", running" } else { "" },
            v.entry.as_deref().unwrap_or("no boot entry")
        );
    }
    for b in &status.broken_slots {
        println!("  broken slot {b}");
    }
    if !status.failed.is_empty() {
        println!(
            "failed versions (not installed again): {}",
            status.failed.join(", ")
        );
    }
    if let Some(l) = &status.last_run {
        println!("last {}: {}: {}", l.action, l.result, l.message);
    }
    if let Some(b) = &status.boot_loader {
        let entries: Vec<String> = b
            .entries
            .iter()
            .map(|(c, n)| format!("{c} Boot{n:04X}"))
            .collect();
        println!(
            "boot loader: copy {} is the default ({}); entries: {}",
            b.default,
            b.default_sha256.as_deref().unwrap_or("missing"),
            entries.join(", ")
        );
        if let Some(t) = &b.trial {
            println!(
                "  copy {} on trial (Boot{:04X}, {})",
                t.copy, t.option, t.sha256
            );
        }
        if !b.failed.is_empty() {
            println!("  failed boot loaders: {}", b.failed.join(", "));
        }
    }
    Ok(Outcome::Success)
}

fn bless(args: StatusArgs) -> anyhow::Result<Outcome> {
    let system = RunningSystem::detect()?;
    let config = DeviceConfig::load()?;
    let outcome = stela_agent::device_bless(&config, &system)?;
    if args.json {
        print_json(&outcome)?;
    } else {
        match &outcome {
            stela_agent::loader::BlessOutcome::NothingOnTrial => {
                println!("no boot loader is on trial")
            }
            stela_agent::loader::BlessOutcome::NotBootedThroughTrial { boot_current } => println!(
                "this boot did not come through the boot loader on trial (BootCurrent {})",
                boot_current.map_or("unknown".to_owned(), |n| format!("{n:04X}"))
            ),
            stela_agent::loader::BlessOutcome::Promoted { copy, sha256 } => {
                println!("boot loader copy {copy} ({sha256}) is the default now")
            }
        }
    }
    Ok(Outcome::Success)
}

fn rollback(args: RollbackArgs) -> anyhow::Result<Outcome> {
    let system = RunningSystem::detect()?;
    let config = DeviceConfig::load()?;
    let report = stela_agent::device_rollback(&config, &system, args.to.as_deref())?;
    if args.json {
        print_json(&report)?;
    } else {
        println!(
            "{} marked bad ({}); {} boots next",
            report.from, report.entry, report.to
        );
    }
    if args.reboot {
        reboot_now()?;
    }
    Ok(Outcome::Success)
}

fn reboot_now() -> anyhow::Result<()> {
    eprintln!("stela update: rebooting");
    let status = std::process::Command::new("systemctl")
        .arg("reboot")
        .status()
        .context("running systemctl reboot")?;
    anyhow::ensure!(status.success(), "systemctl reboot failed: {status}");
    Ok(())
}

fn on_device(args: UpdateArgs, apply: bool, reboot: bool) -> anyhow::Result<Outcome> {
    let config = device_config(&args)?;
    let system = RunningSystem::detect()?;
    let outcome = stela_agent::device_run(&config, &system, apply)?;
    if args.json {
        print_json(&outcome)?;
    } else {
        println!("{}", outcome.message());
    }
    if reboot && outcome.wants_reboot() {
        if config.may_reboot_at(jiff::Timestamp::now()) {
            reboot_now()?;
        } else if let Some(w) = &config.window {
            // Installed; the reboot into it waits for the window (a later run, or a
            // reboot by hand).
            eprintln!("stela update: not rebooting outside the maintenance window {w}");
        }
    }
    Ok(Outcome::Success)
}

fn offline(args: UpdateArgs, disk: &std::path::Path, apply: bool) -> anyhow::Result<Outcome> {
    let (Some(repo), Some(root)) = (&args.repo, &args.root) else {
        anyhow::bail!("--disk needs --repo and --root");
    };
    let channel = args.channel.as_deref().unwrap_or("stable");
    let model = StelaDisk::open(disk)?;
    let running = model.default_slot().with_context(|| {
        format!(
            "{}: no boot entry boots a slot of this disk",
            disk.display()
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
    let source = UpdateSource::open(repo, root, &datastore)?;
    // An operator's update of a disk: the channel's version limits hold, its staged
    // rollout (a schedule for machines updating themselves) does not.
    let offer = source.select(name, channel, version, &[], None).offer;
    let Some(offer) = offer else {
        if args.json {
            print_json(&serde_json::json!({"running": version, "update": null}))?;
        } else {
            println!(
                "{name}_{version} is the newest release on channel {}",
                channel
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
                channel
            );
        }
        return Ok(Outcome::Success);
    }
    let report = stela_agent::install(
        &source,
        &offer,
        disk,
        &running_hash,
        &EspAccess::Raw,
        args.tries,
    )?;
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
