//! One run of the agent on a device: look at the machine, ask the repository, install.

use serde::Serialize;

use crate::device::{read_disk, DeviceConfig, RunningSystem};
use crate::error::AgentError;
use crate::install::{install, InstallReport};
use crate::loader::{BlessOutcome, BootLoader, LoaderTrial};
use crate::source::{HeldBack, RolloutSpot, UpdateSource};
use crate::status::{StateDir, Status};

/// What a run found or did.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum RunOutcome {
    /// The running version is the newest allowed on the channel.
    UpToDate {
        /// The running `<name>_<version>`.
        running: String,
    },
    /// A newer release exists, but the channel's staged rollout has not reached this
    /// machine's wave yet.
    HeldBack {
        /// The running `<name>_<version>`.
        running: String,
        /// What is held back and until when.
        #[serde(flatten)]
        held: HeldBack,
    },
    /// The running version is not blessed yet: one risky change per reboot, so nothing
    /// is installed until it is.
    OnTrial {
        /// The running `<name>_<version>`.
        running: String,
    },
    /// `check`: this release would be installed.
    Offered {
        /// The running `<name>_<version>`.
        running: String,
        /// The release offered.
        offered: String,
        /// Its root hash.
        root_hash: String,
    },
    /// The newest release is installed already and boots next.
    AlreadyInstalled {
        /// The running `<name>_<version>`.
        running: String,
        /// The release.
        installed: String,
    },
    /// The release was installed; it boots next.
    Installed(InstallReport),
    /// `check`: the boot loader of this release would be tried.
    BootLoaderOffered {
        /// The running `<name>_<version>`.
        running: String,
        /// The release whose boot loader it is.
        release: String,
        /// Its SHA-256.
        sha256: String,
    },
    /// A new boot loader was written to the copy that is not the default; the next boot,
    /// and only that one, goes through it.
    BootLoaderStaged {
        /// The running `<name>_<version>`.
        running: String,
        /// The release whose boot loader it is.
        release: String,
        /// The copy and its boot entry.
        trial: LoaderTrial,
    },
    /// A boot loader is on trial: nothing else changes before it is blessed or failed.
    BootLoaderOnTrial {
        /// The running `<name>_<version>`.
        running: String,
        /// The trial.
        trial: LoaderTrial,
        /// Staged in this boot: the reboot that tries it has not happened (an earlier
        /// `apply --reboot` was outside the maintenance window).
        staged_this_boot: bool,
    },
}

impl RunOutcome {
    /// Whether a reboot would start a new version.
    pub fn wants_reboot(&self) -> bool {
        matches!(
            self,
            RunOutcome::Installed(_)
                | RunOutcome::AlreadyInstalled { .. }
                | RunOutcome::BootLoaderStaged { .. }
                | RunOutcome::BootLoaderOnTrial {
                    staged_this_boot: true,
                    ..
                }
        )
    }

    /// One line for a person.
    pub fn message(&self) -> String {
        match self {
            RunOutcome::UpToDate { running } => {
                format!("{running} runs and is the newest release offered")
            }
            RunOutcome::HeldBack { running, held } => format!(
                "{running} runs; {} is held back by the staged rollout: this machine's wave {} sees it {}",
                held.release,
                held.wave,
                held.from.map_or_else(
                    || "once its arrival time on the channel is readable".to_owned(),
                    |t| format!("from {t}")
                )
            ),
            RunOutcome::OnTrial { running } => format!(
                "{running} runs on trial (not blessed yet); nothing is installed before it is"
            ),
            RunOutcome::Offered {
                running, offered, ..
            } => format!("{running} runs; {offered} is offered"),
            RunOutcome::AlreadyInstalled { installed, .. } => {
                format!("{installed} is installed and boots next")
            }
            RunOutcome::Installed(r) => format!(
                "{} installed in slot {} ({} bytes downloaded); it boots next as {}",
                r.label, r.slot, r.downloaded, r.boot_entry
            ),
            RunOutcome::BootLoaderOffered {
                running, release, ..
            } => format!("{running} runs; the boot loader of {release} is offered"),
            RunOutcome::BootLoaderStaged { release, trial, .. } => format!(
                "the boot loader of {release} is in copy {} ({}); the next boot tries it once",
                trial.copy,
                stela_efivars::loadopt::boot_variable_name(trial.option)
            ),
            RunOutcome::BootLoaderOnTrial { trial, .. } => format!(
                "boot loader copy {} is on trial; nothing else changes before a boot through it is good",
                trial.copy
            ),
        }
    }
}

/// The machine's status.
pub fn device_status(config: &DeviceConfig, system: &RunningSystem) -> Result<Status, AgentError> {
    let model = read_disk(&system.disk)?;
    let mut status = Status::gather(&model, &system.root_hash, &StateDir::new(&config.state_dir))?;
    if let Some(l) = boot_loader(config, system, &model)? {
        status.boot_loader = Some(l.status()?);
    }
    Ok(status)
}

/// The machine's boot loader copies, when it was booted by UEFI (efivarfs) and its ESP
/// is mounted; `None` otherwise (the boot loader is then left as it is).
fn boot_loader(
    config: &DeviceConfig,
    system: &RunningSystem,
    model: &stela_image::StelaDisk,
) -> Result<Option<BootLoader>, AgentError> {
    let vars = crate::efivarfs::EfiVars::system();
    let (true, crate::device::EspAccess::Mounted(dir)) = (vars.available(), &system.esp) else {
        return Ok(None);
    };
    let Some(esp) = model.esps().first() else {
        return Ok(None);
    };
    let p = &esp.partition;
    let disk = stela_efivars::loadopt::HardDrive {
        number: p.index,
        start_lba: p.first_lba,
        size_lba: p.last_lba + 1 - p.first_lba,
        partition_guid: p.guid,
    };
    Ok(Some(BootLoader::new(
        vars,
        dir,
        disk,
        &config.state_dir,
        BootLoader::current_boot_id()?,
    )))
}

/// `bless`: after a good boot, make the boot loader copy on trial the default if this
/// boot came through it.
pub fn device_bless(
    config: &DeviceConfig,
    system: &RunningSystem,
) -> Result<BlessOutcome, AgentError> {
    let model = read_disk(&system.disk)?;
    match boot_loader(config, system, &model)? {
        Some(l) => l.bless(),
        None => Ok(BlessOutcome::NothingOnTrial),
    }
}

/// `check` (`apply == false`) or `apply` on the running machine; the result (or the
/// error) is recorded for `status`.
pub fn device_run(
    config: &DeviceConfig,
    system: &RunningSystem,
    apply: bool,
) -> Result<RunOutcome, AgentError> {
    let state = StateDir::new(&config.state_dir);
    let result = run_once(config, system, &state, apply);
    let action = if apply { "apply" } else { "check" };
    let recorded = match &result {
        Ok(o) => state.record(action, Ok(&o.message())),
        Err(e) => state.record(action, Err(&e.to_string())),
    };
    if let Err(e) = recorded {
        tracing::warn!("recording the run's result: {e}");
    }
    result
}

fn run_once(
    config: &DeviceConfig,
    system: &RunningSystem,
    state: &StateDir,
    apply: bool,
) -> Result<RunOutcome, AgentError> {
    let model = read_disk(&system.disk)?;
    let status = Status::gather(&model, &system.root_hash, state)?;
    let running = status.running.clone();
    let (name, version) = running.split_once('_').ok_or_else(|| {
        AgentError::Running(format!(
            "the running slot's label {running:?} is not <name>_<version>"
        ))
    })?;
    let loader = boot_loader(config, system, &model)?;
    if let (Some(l), true) = (&loader, apply) {
        l.settle()?;
        l.ensure_entries()?;
        if let Some(trial) = l.on_trial()? {
            let staged_this_boot = l.staged_this_boot(&trial);
            return Ok(RunOutcome::BootLoaderOnTrial {
                running,
                trial,
                staged_this_boot,
            });
        }
    }
    if apply && status.state == "on-trial" {
        return Ok(RunOutcome::OnTrial { running });
    }
    let datastore = state.datastore();
    std::fs::create_dir_all(&datastore).map_err(|source| AgentError::State {
        path: datastore.clone(),
        what: "creating",
        source,
    })?;
    let source = UpdateSource::open(&config.repository, &config.root, &datastore)?;
    let spot = RolloutSpot {
        position: system.rollout,
        pinned_wave: config.wave,
        now: jiff::Timestamp::now(),
    };
    let selection = source.select(name, &config.channel, version, &status.failed, Some(&spot));
    let offer = selection.offer;
    // The boot loader before a version: one risky change per reboot, and a new boot
    // loader is first tried with a version known to be good. It comes from the release
    // that would be installed, or the running one's.
    if let (Some(l), "running" | "rolled-back") = (&loader, status.state) {
        let release = offer.clone().or_else(|| {
            source
                .offers(name, &config.channel)
                .into_iter()
                .find(|o| o.version == version)
        });
        if let Some(r) = release {
            if let Some(outcome) = boot_loader_step(&source, l, &r, &running, apply)? {
                return Ok(outcome);
            }
        }
    }
    let Some(offer) = offer else {
        return Ok(match selection.held_back {
            Some(held) => RunOutcome::HeldBack { running, held },
            None => RunOutcome::UpToDate { running },
        });
    };
    if let Some(held) = &selection.held_back {
        tracing::info!(
            "{} is held back by the staged rollout; {} is not",
            held.release,
            offer.label()
        );
    }
    if !apply {
        return Ok(RunOutcome::Offered {
            running,
            offered: offer.label(),
            root_hash: offer.root_hash.to_string(),
        });
    }
    let root_hash = offer.root_hash.to_string();
    if status
        .versions
        .iter()
        .any(|v| v.root_hash == root_hash && v.entry.is_some() && v.state != "failed")
    {
        return Ok(RunOutcome::AlreadyInstalled {
            running,
            installed: offer.label(),
        });
    }
    install(
        &source,
        &offer,
        &system.disk,
        &system.root_hash,
        &system.esp,
        config.tries,
    )
    .map(|report| {
        crate::update_hooks::request(std::path::Path::new("/"));
        RunOutcome::Installed(report)
    })
}

/// Offer or stage `release`'s boot loader if it differs from the default copy's and did
/// not fail here; `None` when there is nothing to do.
fn boot_loader_step(
    source: &UpdateSource,
    loader: &BootLoader,
    release: &crate::source::Offer,
    running: &str,
    apply: bool,
) -> Result<Option<RunOutcome>, AgentError> {
    let Ok(t) = release.target(stela_repo::Kind::BootLoader) else {
        return Ok(None);
    };
    let sha256 = hex::encode(&*t.target.hashes.sha256);
    if !loader.wants(&sha256)? {
        return Ok(None);
    }
    if !apply {
        return Ok(Some(RunOutcome::BootLoaderOffered {
            running: running.to_owned(),
            release: release.label(),
            sha256,
        }));
    }
    // A boot loader is about 100 KiB; tough bounds the download by its signed length and
    // checks its SHA-256 before `fetch` returns.
    let mut binary = Vec::new();
    source.fetch(t, |chunk| {
        binary.extend_from_slice(chunk);
        Ok(())
    })?;
    let trial = loader.stage(&binary)?;
    Ok(Some(RunOutcome::BootLoaderStaged {
        running: running.to_owned(),
        release: release.label(),
        trial,
    }))
}

/// What `rollback` did.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackReport {
    /// The version that ran and is now marked bad.
    pub from: String,
    /// The version that boots next.
    pub to: String,
    /// The running version's boot entry, renamed with no tries left.
    pub entry: String,
}

/// Go back to an installed older version (`to`, or the newest installed one below the
/// running version): the running version's boot entry is renamed with no tries left
/// (`+0`), so systemd-boot boots the older one next and the agent never offers the
/// version again. Nothing is deleted; the next update writes over the marked slot.
pub fn device_rollback(
    config: &DeviceConfig,
    system: &RunningSystem,
    to: Option<&str>,
) -> Result<RollbackReport, AgentError> {
    let state = StateDir::new(&config.state_dir);
    let model = read_disk(&system.disk)?;
    let status = Status::gather(&model, &system.root_hash, &state)?;
    let running = status
        .versions
        .iter()
        .find(|v| v.running)
        .ok_or_else(|| AgentError::Running("the running version is not on the disk".into()))?;
    let running_version = running.version.clone().unwrap_or_default();
    let candidates: Vec<_> = status
        .versions
        .iter()
        .filter(|v| !v.running && v.entry.is_some() && v.state != "failed")
        .filter(|v| {
            v.version
                .as_deref()
                .is_some_and(|x| stela_image::boot::compare_versions(x, &running_version).is_lt())
        })
        .collect();
    let target = match to {
        Some(want) => candidates
            .iter()
            .find(|v| v.version.as_deref() == Some(want))
            .ok_or_else(|| {
                AgentError::Running(format!(
                    "version {want} is not an installed, bootable version older than the running {running_version} (installed: {})",
                    status
                        .versions
                        .iter()
                        .map(|v| format!("{} {}", v.label, v.state))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
        None => candidates
            .iter()
            .max_by(|a, b| {
                stela_image::boot::compare_versions(
                    a.version.as_deref().unwrap_or_default(),
                    b.version.as_deref().unwrap_or_default(),
                )
            })
            .ok_or_else(|| {
                AgentError::Running(format!(
                    "no installed version older than the running {running_version} has a boot entry"
                ))
            })?,
    };
    let entry = running
        .entry
        .clone()
        .ok_or_else(|| AgentError::Running("the running version has no boot entry".into()))?;
    let marked = crate::device::bad_entry_name(&entry);
    crate::device::rename_entry(&system.esp, &entry, &marked)?;
    let report = RollbackReport {
        from: running.label.clone(),
        to: target.label.clone(),
        entry: marked,
    };
    let msg = format!("rolled back from {} to {}", report.from, report.to);
    if let Err(e) = state.record("rollback", Ok(&msg)) {
        tracing::warn!("recording the run's result: {e}");
    }
    Ok(report)
}
