//! `stela repo init | refresh | show | rules` and `stela publish`: the update repository.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use stela_repo::{InitOptions, Period, Role, RoleKeyDir, Settings};

use crate::output::print_json;
use crate::Outcome;

/// The repository commands.
#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Make a new TUF repository in DIR (absent or empty), and the role keys that KEYS
    /// lacks.
    Init(InitArgs),
    /// Re-sign snapshot and timestamp with new versions and expiry (run it from a timer,
    /// well within the timestamp's validity).
    Refresh(RefreshArgs),
    /// Verify the repository from its first root and list its roles and releases.
    Show(ShowArgs),
    /// Sign the rules of a channel into the targets metadata: the lowest and highest
    /// version devices may install, and the waves of a staged rollout.
    Rules(RulesArgs),
}

/// `stela repo rules`.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// The repository directory.
    pub dir: PathBuf,
    /// The role key directory (targets.pem, snapshot.pem and timestamp.pem are used).
    #[arg(long)]
    pub keys: PathBuf,
    /// The channel the rules apply to.
    #[arg(long, default_value = "stable")]
    pub channel: String,
    /// Versions below this are never installed.
    #[arg(long, value_name = "VERSION")]
    pub min_version: Option<String>,
    /// Versions above this are never installed (a fleet-wide stop).
    #[arg(long, value_name = "VERSION")]
    pub max_version: Option<String>,
    /// A wave of the staged rollout, PERCENT%:HOURSh (for example 10%:0h, then
    /// 100%:48h); repeat, growing to 100%.
    #[arg(long, value_name = "PERCENT%:HOURSh")]
    pub wave: Vec<stela_repo::Wave>,
    /// Remove the channel's rules instead: every device sees each release at once.
    #[arg(long, conflicts_with_all = ["min_version", "max_version", "wave"])]
    pub clear: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `stela repo init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The repository directory (served as static files: metadata/ and targets/).
    pub dir: PathBuf,
    /// The role key directory: root-N.pem, targets.pem, snapshot.pem, timestamp.pem
    /// (Ed25519, PKCS#8 PEM). Missing keys are made; existing ones are used.
    #[arg(long)]
    pub keys: PathBuf,
    /// How many root keys the root role has.
    #[arg(long, default_value_t = 1)]
    pub root_keys: usize,
    /// How many root keys must sign a new root.
    #[arg(long, default_value_t = 1)]
    pub threshold: u64,
    /// Validity of root.json (a number and s, m, h, d or w).
    #[arg(long)]
    pub root_expires: Option<Period>,
    /// Validity of each targets.json.
    #[arg(long)]
    pub targets_expires: Option<Period>,
    /// Validity of each snapshot.json.
    #[arg(long)]
    pub snapshot_expires: Option<Period>,
    /// Validity of each timestamp.json.
    #[arg(long)]
    pub timestamp_expires: Option<Period>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `stela repo refresh`.
#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// The repository directory.
    pub dir: PathBuf,
    /// The role key directory (snapshot.pem and timestamp.pem are used).
    #[arg(long)]
    pub keys: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `stela repo show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The repository directory.
    pub dir: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `stela publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// A `stela build` output directory (manifest.json, usr.erofs, usr.verity, ...).
    pub build_out: PathBuf,
    /// The repository directory.
    #[arg(long)]
    pub repo: PathBuf,
    /// The role key directory (targets.pem, snapshot.pem and timestamp.pem are used).
    #[arg(long)]
    pub keys: PathBuf,
    /// The channel to publish on; publishing a release that is on another channel adds
    /// this channel to it.
    #[arg(long, default_value = "stable")]
    pub channel: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run a `stela repo` subcommand.
pub fn run(c: RepoCommand) -> anyhow::Result<Outcome> {
    let now = jiff::Timestamp::now();
    match c {
        RepoCommand::Init(a) => {
            let mut settings = Settings::default();
            for (role, p) in [
                (Role::Root, a.root_expires),
                (Role::Targets, a.targets_expires),
                (Role::Snapshot, a.snapshot_expires),
                (Role::Timestamp, a.timestamp_expires),
            ] {
                if let Some(p) = p {
                    settings.expires.set(role, p);
                }
            }
            let opts = InitOptions {
                root_keys: a.root_keys,
                threshold: a.threshold,
                settings,
            };
            let r = stela_repo::init(&a.dir, &RoleKeyDir::new(&a.keys), &opts, now)?;
            if a.json {
                print_json(&r)?;
            } else {
                println!(
                    "repository {} made; root expires {}",
                    r.repo.display(),
                    r.root_expires
                );
                for k in &r.keys_made {
                    println!("  new key {}", k.display());
                }
                println!(
                    "devices trust {} first: give it to the recipe's [update] table",
                    r.root.display()
                );
            }
        }
        RepoCommand::Refresh(a) => {
            let r = stela_repo::refresh(&a.dir, &RoleKeyDir::new(&a.keys), now)?;
            if a.json {
                print_json(&r)?;
            } else {
                println!(
                    "snapshot {} and timestamp {} signed; the timestamp expires {}",
                    r.snapshot_version, r.timestamp_version, r.timestamp_expires
                );
            }
        }
        RepoCommand::Rules(a) => {
            let rules = (!a.clear).then(|| stela_repo::ChannelRules {
                channel: a.channel.clone(),
                min_version: a.min_version.clone(),
                max_version: a.max_version.clone(),
                waves: a.wave.clone(),
            });
            let r =
                stela_repo::set_rules(&a.dir, &RoleKeyDir::new(&a.keys), &a.channel, rules, now)?;
            if a.json {
                print_json(&r)?;
            } else {
                match &r.rules {
                    Some(rules) => println!(
                        "channel {}: versions {} to {}, waves {} (targets version {})",
                        r.channel,
                        rules.min_version.as_deref().unwrap_or("any"),
                        rules.max_version.as_deref().unwrap_or("any"),
                        if rules.waves.is_empty() {
                            "none (all at once)".to_owned()
                        } else {
                            rules
                                .waves
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(" ")
                        },
                        r.targets_version
                    ),
                    None => println!(
                        "channel {}: rules removed (targets version {})",
                        r.channel, r.targets_version
                    ),
                }
            }
        }
        RepoCommand::Show(a) => {
            let s = stela_repo::show(&a.dir)?;
            if a.json {
                print_json(&s)?;
            } else {
                for (role, version, expires) in &s.roles {
                    println!("{role:<10} version {version:<5} expires {expires}");
                }
                for r in &s.releases {
                    println!(
                        "{}_{}  {}  channels {}  {} bytes",
                        r.name,
                        r.version,
                        r.root_hash,
                        r.channels.join(","),
                        r.bytes
                    );
                }
            }
        }
    }
    Ok(Outcome::Success)
}

/// Run `stela publish`.
pub fn publish(a: PublishArgs) -> anyhow::Result<Outcome> {
    let r = stela_repo::publish(
        &a.repo,
        &RoleKeyDir::new(&a.keys),
        &a.build_out,
        &a.channel,
        jiff::Timestamp::now(),
    )?;
    if a.json {
        print_json(&r)?;
    } else if r.promoted {
        println!(
            "{}_{} is now also on channel {}",
            r.name, r.version, r.channel
        );
    } else {
        println!(
            "{}_{} published on channel {} (targets version {}); usr image {} bytes, {} compressed",
            r.name, r.version, r.channel, r.targets_version, r.usr_bytes.0, r.usr_bytes.1
        );
    }
    Ok(Outcome::Success)
}
