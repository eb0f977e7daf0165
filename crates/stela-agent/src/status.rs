//! What the agent tells about a machine (`stela update status`) and what it keeps
//! between runs: the versions that failed their tries (never offered again) and the
//! last run's result.
//!
//! The state comes from the disk itself, read through the image model: the slots, and
//! the boot entries with systemd-boot's counters. Nothing in the state directory can
//! make a version look good; it only remembers refusals and the last error.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stela_image::boot::compare_versions;
use stela_image::{SlotState, StelaDisk};
use stela_verity::RootHash;

use crate::error::AgentError;

/// One installed version.
#[derive(Debug, Clone, Serialize)]
pub struct VersionStatus {
    /// The slot holding it.
    pub slot: String,
    /// `<name>_<version>`.
    pub label: String,
    /// The version.
    pub version: Option<String>,
    /// Its root hash.
    pub root_hash: String,
    /// Whether the machine runs it.
    pub running: bool,
    /// Its boot entry on the ESP, if any.
    pub entry: Option<String>,
    /// Tries left, while it is on trial (`None` once blessed).
    pub tries_left: Option<u32>,
    /// `running`, `good` (blessed), `on-trial` (boots next or is being tried),
    /// `failed` (tries used up), or `no-boot-entry`.
    pub state: &'static str,
}

/// The machine's update state.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// One word: `up-to-date`... see [`Status::gather`].
    pub state: &'static str,
    /// The running `<name>_<version>`.
    pub running: String,
    /// The running root hash.
    pub root_hash: String,
    /// The disk.
    pub disk: String,
    /// Every installed version.
    pub versions: Vec<VersionStatus>,
    /// Versions that failed their tries here: never installed again.
    pub failed: Vec<String>,
    /// Slots neither empty nor holding a version (an update cut short), with why.
    pub broken_slots: Vec<String>,
    /// The last `check` or `apply`.
    pub last_run: Option<LastRun>,
    /// The boot loader's copies, boot entries and trial (a running machine with UEFI
    /// variables and a mounted ESP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub boot_loader: Option<crate::loader::LoaderStatus>,
}

/// The last run's result, kept in the state directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastRun {
    /// `check` or `apply`.
    pub action: String,
    /// Seconds since the epoch.
    pub at: u64,
    /// `ok` or `error`.
    pub result: String,
    /// What happened, or the error.
    pub message: String,
}

const FAILED_FILE: &str = "failed.json";
const LAST_RUN_FILE: &str = "last-run.json";

fn state_err<'a>(
    path: &'a Path,
    what: &'static str,
) -> impl FnOnce(std::io::Error) -> AgentError + 'a {
    move |source| AgentError::State {
        path: path.to_owned(),
        what,
        source,
    }
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(
    path: &Path,
) -> Result<Option<T>, AgentError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| AgentError::Config {
                path: path.to_owned(),
                reason: format!("unreadable agent state: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(state_err(path, "reading")(e)),
    }
}

/// Write `value` to `path` whole: a temporary file, synced, renamed.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), AgentError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(state_err(dir, "creating"))?;
    let tmp = path.with_extension("json.partial");
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| AgentError::Config {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    std::fs::write(&tmp, bytes).map_err(state_err(&tmp, "writing"))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(state_err(&tmp, "syncing"))?;
    std::fs::rename(&tmp, path).map_err(state_err(path, "renaming into place"))
}

/// The agent's state directory.
#[derive(Debug, Clone)]
pub struct StateDir(PathBuf);

impl StateDir {
    /// The state directory at `dir` (created when first written).
    pub fn new(dir: &Path) -> StateDir {
        StateDir(dir.to_owned())
    }

    /// Where verified TUF metadata is kept.
    pub fn datastore(&self) -> PathBuf {
        self.0.join("tuf")
    }

    /// The versions that failed their tries, oldest first.
    pub fn failed(&self) -> Result<Vec<String>, AgentError> {
        Ok(read_json(&self.0.join(FAILED_FILE))?.unwrap_or_default())
    }

    /// Remember that `versions` failed (added to those known).
    pub fn add_failed(&self, versions: &[String]) -> Result<Vec<String>, AgentError> {
        let mut all = self.failed()?;
        let before = all.len();
        for v in versions {
            if !all.contains(v) {
                all.push(v.clone());
            }
        }
        if all.len() != before {
            write_json(&self.0.join(FAILED_FILE), &all)?;
        }
        Ok(all)
    }

    /// The last run.
    pub fn last_run(&self) -> Result<Option<LastRun>, AgentError> {
        read_json(&self.0.join(LAST_RUN_FILE))
    }

    /// Record a run's result.
    pub fn record(&self, action: &str, result: Result<&str, &str>) -> Result<(), AgentError> {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let (result, message) = match result {
            Ok(m) => ("ok", m),
            Err(m) => ("error", m),
        };
        write_json(
            &self.0.join(LAST_RUN_FILE),
            &LastRun {
                action: action.to_owned(),
                at,
                result: result.to_owned(),
                message: message.to_owned(),
            },
        )
    }
}

impl Status {
    /// The state of the machine running `running` from `model`, with what `state`
    /// remembers; versions whose entries are now bad are added to the failed ones.
    ///
    /// `state` is one of: `on-trial` (the running version is not blessed yet),
    /// `rolled-back` (a newer version failed its tries and the machine runs an older
    /// one), `update-pending` (a newer version is installed and boots next), `running`.
    pub fn gather(
        model: &StelaDisk,
        running: &RootHash,
        state: &StateDir,
    ) -> Result<Status, AgentError> {
        let run_slot = model.slot_holding(running).ok_or_else(|| {
            AgentError::Running(format!(
                "{}: no slot holds the running root hash {running}",
                model.path().display()
            ))
        })?;
        let running_version = run_slot.version().unwrap_or_default().to_owned();
        let mut versions = Vec::new();
        let mut bad = Vec::new();
        for (slot, entry) in model.versions() {
            let is_running = slot.id == run_slot.id;
            let tries = entry.and_then(|e| e.tries);
            let vstate = match entry {
                None => "no-boot-entry",
                Some(e) if e.is_bad() => "failed",
                Some(_) if tries.is_some() => "on-trial",
                Some(_) if is_running => "running",
                Some(_) => "good",
            };
            if vstate == "failed" {
                if let Some(v) = slot.version() {
                    bad.push(v.to_owned());
                }
            }
            versions.push(VersionStatus {
                slot: slot.id.to_string(),
                label: slot.label().to_owned(),
                version: slot.version().map(str::to_owned),
                root_hash: slot.root_hash().map(|h| h.to_string()).unwrap_or_default(),
                running: is_running,
                entry: entry.map(|e| e.path.clone()),
                tries_left: tries.map(|t| t.left),
                state: vstate,
            });
        }
        // A running version whose entry reads bad is being booted as the last resort:
        // it is not refused (nothing else is left), only newer failed ones are.
        bad.retain(|v| compare_versions(v, &running_version).is_gt());
        let failed = state.add_failed(&bad)?;
        let newer = |s: &VersionStatus| {
            s.version
                .as_deref()
                .is_some_and(|v| compare_versions(v, &running_version).is_gt())
        };
        let me = versions.iter().find(|v| v.running);
        let overall = if me.is_some_and(|v| v.tries_left.is_some()) {
            "on-trial"
        } else if versions.iter().any(|v| newer(v) && v.state == "failed") {
            "rolled-back"
        } else if versions.iter().any(|v| newer(v) && v.state == "on-trial") {
            "update-pending"
        } else {
            "running"
        };
        let broken_slots = model
            .slots()
            .iter()
            .filter_map(|s| match &s.state {
                SlotState::Broken { problem } => Some(format!("{}: {problem}", s.id)),
                _ => None,
            })
            .collect();
        Ok(Status {
            state: overall,
            running: run_slot.label().to_owned(),
            root_hash: running.to_string(),
            disk: model.path().display().to_string(),
            versions,
            failed,
            broken_slots,
            last_run: state.last_run()?,
            boot_loader: None,
        })
    }
}
