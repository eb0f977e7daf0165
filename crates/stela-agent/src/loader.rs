//! The boot loader, A/B: two copies of systemd-boot on the ESP, each with its own UEFI
//! boot entry, so that an update of the boot loader never overwrites the only copy that
//! works.
//!
//! - The *default* copy is the one whose entry comes first in `BootOrder`.
//! - A new boot loader is written over the other copy, and tried once through `BootNext`
//!   (firmware deletes `BootNext` before it starts the entry: whatever happens, the boot
//!   after uses `BootOrder` again, which still starts the default copy).
//! - Once a boot through the new copy reached its health target (`bless`, from a unit
//!   after `boot-complete.target`), its entry goes first in `BootOrder` and it becomes
//!   the removable-media fallback (`EFI/BOOT/BOOTX64.EFI`) too.
//! - A trial that ended in any other boot (the firmware could not start the new copy, or
//!   the boot through it did not reach health and the machine rebooted) marks that boot
//!   loader failed: it is not tried again.
//!
//! One risky change per reboot: the agent stages a boot loader only while the running
//! version is blessed and no version is pending, and installs no version while a boot
//! loader is on trial.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stela_efivars::known::EFI_GLOBAL_VARIABLE;
use stela_efivars::loadopt::{
    boot_variable_name, encode_boot_order, parse_boot_order, parse_boot_variable_name, HardDrive,
    LoadOption,
};

use crate::efivarfs::{EfiVars, VarError};
use crate::error::AgentError;
use crate::status::{read_json, write_json};

/// The two copies of the boot loader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoaderCopy {
    /// `EFI/stela/loader-a.efi`.
    A,
    /// `EFI/stela/loader-b.efi`.
    B,
}

impl LoaderCopy {
    /// Both.
    pub const ALL: [LoaderCopy; 2] = [LoaderCopy::A, LoaderCopy::B];

    /// Its file on the ESP.
    pub fn path(self) -> &'static str {
        match self {
            LoaderCopy::A => "EFI/stela/loader-a.efi",
            LoaderCopy::B => "EFI/stela/loader-b.efi",
        }
    }

    /// Its boot entry's description.
    pub fn description(self) -> &'static str {
        match self {
            LoaderCopy::A => "stela boot loader A",
            LoaderCopy::B => "stela boot loader B",
        }
    }

    /// The other copy.
    pub fn other(self) -> LoaderCopy {
        match self {
            LoaderCopy::A => LoaderCopy::B,
            LoaderCopy::B => LoaderCopy::A,
        }
    }
}

impl std::fmt::Display for LoaderCopy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LoaderCopy::A => "A",
            LoaderCopy::B => "B",
        })
    }
}

/// The removable-media path firmware boots when no boot entry works.
pub fn fallback_path() -> String {
    format!(
        "EFI/BOOT/BOOT{}.EFI",
        std::env::consts::ARCH
            .replace("x86_64", "X64")
            .replace("aarch64", "AA64")
            .to_uppercase()
    )
}

/// A boot loader being tried, kept in the state directory across the reboot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoaderTrial {
    /// The copy it was written to.
    pub copy: LoaderCopy,
    /// Its boot entry number.
    pub option: u16,
    /// SHA-256 of the binary.
    pub sha256: String,
    /// The kernel's boot ID when it was staged: a trial is over only in another boot.
    pub staged_in_boot: String,
    /// Whether `BootNext` was set. The record is written before and again after: a boot
    /// whose record still says `false` followed a power cut before the copy was offered
    /// to the firmware, which is no failure of the copy. (Records of older agents, which
    /// wrote it once after `BootNext`, lack the field.)
    #[serde(default = "set_before_the_field")]
    pub boot_next_set: bool,
}

fn set_before_the_field() -> bool {
    true
}

/// What the boot loader state is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoaderStatus {
    /// The copy `BootOrder` starts.
    pub default: LoaderCopy,
    /// Boot entry numbers of the copies that have one.
    pub entries: Vec<(LoaderCopy, u16)>,
    /// SHA-256 of the default copy's binary.
    pub default_sha256: Option<String>,
    /// The entry this boot came through (`BootCurrent`).
    pub boot_current: Option<u16>,
    /// A trial underway.
    pub trial: Option<LoaderTrial>,
    /// Boot loaders (SHA-256) that failed their trial here.
    pub failed: Vec<String>,
}

/// What [`BootLoader::settle`] found about a finished trial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrialEnd {
    /// No trial, or one still waiting for its reboot or its blessing.
    None,
    /// The power went while the trial was staged, before `BootNext` was set: the copy was
    /// never tried; its record is dropped and the boot loader will be staged again.
    NeverTried {
        /// Its SHA-256.
        sha256: String,
    },
    /// The boot after the trial did not come through the new copy: it failed.
    Failed {
        /// The copy.
        copy: LoaderCopy,
        /// Its SHA-256.
        sha256: String,
    },
}

/// What [`BootLoader::bless`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum BlessOutcome {
    /// No boot loader on trial.
    NothingOnTrial,
    /// This boot did not come through the copy on trial (it is settled as failed at the
    /// next run of the agent, in another boot).
    NotBootedThroughTrial {
        /// The entry this boot came through.
        boot_current: Option<u16>,
    },
    /// The copy on trial is now the default.
    Promoted {
        /// The copy.
        copy: LoaderCopy,
        /// Its SHA-256.
        sha256: String,
    },
}

const TRIAL_FILE: &str = "loader-trial.json";
const FAILED_FILE: &str = "loader-failed.json";

/// The machine's boot loader copies, entries and trial state.
#[derive(Debug, Clone)]
pub struct BootLoader {
    vars: EfiVars,
    esp_dir: PathBuf,
    esp: HardDrive,
    state_dir: PathBuf,
    boot_id: String,
}

fn var_err(e: VarError) -> AgentError {
    AgentError::Io {
        path: e.path,
        what: format!("EFI variable {}: {}", e.name, e.what),
        source: e.source,
    }
}

fn esp_err(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> AgentError {
    let (path, what) = (path.to_owned(), what.to_owned());
    move |source| AgentError::Io { path, what, source }
}

fn sha256_of(path: &Path) -> Result<Option<String>, AgentError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(hex::encode(sha256(&b)))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(esp_err(path, "reading")(e)),
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

impl BootLoader {
    /// The boot loader of a machine whose ESP (`esp`, on its disk) is mounted at
    /// `esp_dir`, with UEFI variables in `vars` and the agent's state in `state_dir`.
    pub fn new(
        vars: EfiVars,
        esp_dir: impl Into<PathBuf>,
        esp: HardDrive,
        state_dir: impl Into<PathBuf>,
        boot_id: impl Into<String>,
    ) -> BootLoader {
        BootLoader {
            vars,
            esp_dir: esp_dir.into(),
            esp,
            state_dir: state_dir.into(),
            boot_id: boot_id.into(),
        }
    }

    /// This boot's ID (`/proc/sys/kernel/random/boot_id`).
    pub fn current_boot_id() -> Result<String, AgentError> {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .map_err(|e| AgentError::Running(format!("reading the boot ID: {e}")))
    }

    fn get_u16s(&self, name: &str) -> Result<Vec<u16>, AgentError> {
        match self.vars.get(name, EFI_GLOBAL_VARIABLE).map_err(var_err)? {
            None => Ok(Vec::new()),
            Some(b) => {
                parse_boot_order(&b).map_err(|e| AgentError::Running(format!("{name}: {e}")))
            }
        }
    }

    /// The entry numbers of both copies that have an entry: the first `Boot####` whose
    /// device path is the copy's file on this ESP.
    fn entries(&self) -> Result<Vec<(LoaderCopy, u16)>, AgentError> {
        let mut found = Vec::new();
        for name in self.vars.names(EFI_GLOBAL_VARIABLE).map_err(var_err)? {
            let Some(n) = parse_boot_variable_name(&name) else {
                continue;
            };
            let Some(bytes) = self.vars.get(&name, EFI_GLOBAL_VARIABLE).map_err(var_err)? else {
                continue;
            };
            // Entries of other shapes (the firmware's own, a network boot) are not ours.
            let Ok(opt) = LoadOption::parse(&bytes) else {
                continue;
            };
            if opt.disk().partition_guid != self.esp.partition_guid {
                continue;
            }
            for copy in LoaderCopy::ALL {
                let ours = opt.relative_path().eq_ignore_ascii_case(copy.path());
                if ours && !found.iter().any(|(c, _)| *c == copy) {
                    found.push((copy, n));
                }
            }
        }
        Ok(found)
    }

    fn entry_of(entries: &[(LoaderCopy, u16)], copy: LoaderCopy) -> Option<u16> {
        entries.iter().find(|(c, _)| *c == copy).map(|(_, n)| *n)
    }

    /// The copy `BootOrder` starts among ours (A when neither is in it).
    fn default_copy(entries: &[(LoaderCopy, u16)], order: &[u16]) -> LoaderCopy {
        order
            .iter()
            .find_map(|n| entries.iter().find(|(_, e)| e == n).map(|(c, _)| *c))
            .unwrap_or(LoaderCopy::A)
    }

    /// Make sure each copy on the ESP has its entry, and `BootOrder` starts with the
    /// default copy's entry then the other's, the firmware's own entries after them.
    /// Changes nothing when that holds already.
    pub fn ensure_entries(&self) -> Result<Vec<(LoaderCopy, u16)>, AgentError> {
        let mut entries = self.entries()?;
        // Read once: the numbers taken now, plus those this loop takes.
        let mut used: Vec<u16> = self
            .vars
            .names(EFI_GLOBAL_VARIABLE)
            .map_err(var_err)?
            .iter()
            .filter_map(|n| parse_boot_variable_name(n))
            .collect();
        for copy in LoaderCopy::ALL {
            if Self::entry_of(&entries, copy).is_some() || !self.esp_dir.join(copy.path()).is_file()
            {
                continue;
            }
            let n = (0..=u16::MAX)
                .find(|n| !used.contains(n))
                .ok_or_else(|| AgentError::Running("every Boot#### number is taken".into()))?;
            let opt = LoadOption::new(copy.description(), self.esp, copy.path())
                .map_err(|e| AgentError::Running(format!("boot entry for {copy}: {e}")))?;
            self.vars
                .set(&boot_variable_name(n), EFI_GLOBAL_VARIABLE, &opt.encode())
                .map_err(var_err)?;
            tracing::info!(
                "boot loader {copy}: boot entry {} made",
                boot_variable_name(n)
            );
            entries.push((copy, n));
            used.push(n);
        }
        let order = self.get_u16s("BootOrder")?;
        let default = Self::default_copy(&entries, &order);
        self.put_first(&entries, default, &order)?;
        Ok(entries)
    }

    /// `BootOrder` = `first`'s entry, the other copy's, then the rest as they were.
    fn put_first(
        &self,
        entries: &[(LoaderCopy, u16)],
        first: LoaderCopy,
        order: &[u16],
    ) -> Result<(), AgentError> {
        let mut want: Vec<u16> = [first, first.other()]
            .iter()
            .filter_map(|c| Self::entry_of(entries, *c))
            .collect();
        let ours = want.clone();
        want.extend(order.iter().filter(|n| !ours.contains(n)));
        if want != order {
            self.vars
                .set("BootOrder", EFI_GLOBAL_VARIABLE, &encode_boot_order(&want))
                .map_err(var_err)?;
            tracing::info!("BootOrder: {want:04X?}");
        }
        Ok(())
    }

    fn trial_path(&self) -> PathBuf {
        self.state_dir.join(TRIAL_FILE)
    }

    fn failed_path(&self) -> PathBuf {
        self.state_dir.join(FAILED_FILE)
    }

    /// Boot loaders (SHA-256) that failed here.
    pub fn failed(&self) -> Result<Vec<String>, AgentError> {
        Ok(read_json::<Vec<String>>(&self.failed_path())?.unwrap_or_default())
    }

    /// The state, for `status`.
    pub fn status(&self) -> Result<LoaderStatus, AgentError> {
        let entries = self.entries()?;
        let order = self.get_u16s("BootOrder")?;
        let default = Self::default_copy(&entries, &order);
        Ok(LoaderStatus {
            default,
            default_sha256: sha256_of(&self.esp_dir.join(default.path()))?,
            boot_current: self.get_u16s("BootCurrent")?.first().copied(),
            trial: read_json(&self.trial_path())?,
            failed: self.failed()?,
            entries,
        })
    }

    /// Close a trial that ended in an earlier boot: it failed unless `bless` promoted it
    /// (which removes the record). Call at the start of every run.
    pub fn settle(&self) -> Result<TrialEnd, AgentError> {
        let Some(trial) = read_json::<LoaderTrial>(&self.trial_path())? else {
            return Ok(TrialEnd::None);
        };
        if trial.staged_in_boot == self.boot_id {
            return Ok(TrialEnd::None);
        }
        let current = self.get_u16s("BootCurrent")?.first().copied();
        if current == Some(trial.option) {
            // This boot came through the new copy and is not blessed (yet).
            return Ok(TrialEnd::None);
        }
        if !trial.boot_next_set {
            // Cut short while staging. BootNext may have been set just before the cut:
            // then this boot consumed it and came through the copy (handled above) or
            // the copy failed and this one boot is lost to it; either way the next
            // `apply` stages it again, from a clean slate.
            self.vars
                .remove("BootNext", EFI_GLOBAL_VARIABLE)
                .map_err(var_err)?;
            remove_state(&self.trial_path())?;
            tracing::warn!(
                "the staging of boot loader {} in copy {} was cut short; it will be staged again",
                trial.sha256,
                trial.copy
            );
            return Ok(TrialEnd::NeverTried {
                sha256: trial.sha256,
            });
        }
        let mut failed = self.failed()?;
        if !failed.contains(&trial.sha256) {
            failed.push(trial.sha256.clone());
            write_json(&self.failed_path(), &failed)?;
        }
        self.vars
            .remove("BootNext", EFI_GLOBAL_VARIABLE)
            .map_err(var_err)?;
        remove_state(&self.trial_path())?;
        tracing::warn!(
            "boot loader {} ({}) did not boot this machine: marked failed; copy {} stays the default",
            trial.copy,
            trial.sha256,
            trial.copy.other()
        );
        Ok(TrialEnd::Failed {
            copy: trial.copy,
            sha256: trial.sha256,
        })
    }

    /// Whether `trial` was staged in this boot, so that it still waits for the reboot
    /// that tries it.
    pub fn staged_this_boot(&self, trial: &LoaderTrial) -> bool {
        trial.staged_in_boot == self.boot_id
    }

    /// Whether a boot loader is on trial (staged, or booted and not blessed).
    pub fn on_trial(&self) -> Result<Option<LoaderTrial>, AgentError> {
        read_json(&self.trial_path())
    }

    /// Whether `sha256` is what the default copy holds already, or failed here.
    pub fn wants(&self, sha256: &str) -> Result<bool, AgentError> {
        let entries = self.entries()?;
        let default = Self::default_copy(&entries, &self.get_u16s("BootOrder")?);
        let current = sha256_of(&self.esp_dir.join(default.path()))?;
        Ok(current.as_deref() != Some(sha256) && !self.failed()?.iter().any(|f| f == sha256))
    }

    /// Write `binary` (signed systemd-boot, already checked against its signed hash) over
    /// the copy that is not the default, and make the next boot, only the next one, go
    /// through it.
    pub fn stage(&self, binary: &[u8]) -> Result<LoaderTrial, AgentError> {
        if let Some(t) = self.on_trial()? {
            return Err(AgentError::Running(format!(
                "boot loader copy {} is on trial already",
                t.copy
            )));
        }
        let entries = self.ensure_entries()?;
        let default = Self::default_copy(&entries, &self.get_u16s("BootOrder")?);
        let copy = default.other();
        tracing::info!(
            "writing boot loader {} to copy {copy} ({})",
            hex::encode(sha256(binary)),
            copy.path()
        );
        crate::device::mounted_put(&self.esp_dir, copy.path(), binary).map_err(esp_err(
            &self.esp_dir.join(copy.path()),
            "writing the boot loader",
        ))?;
        let entries = self.ensure_entries()?;
        let option = Self::entry_of(&entries, copy).ok_or_else(|| {
            AgentError::Running(format!("boot loader copy {copy} has no boot entry"))
        })?;
        let mut trial = LoaderTrial {
            copy,
            option,
            sha256: hex::encode(sha256(binary)),
            staged_in_boot: self.boot_id.clone(),
            boot_next_set: false,
        };
        // The record first: a trial boot is only ever judged with it in place; and it
        // says whether BootNext was set, so that a power cut in between is not taken
        // for a copy that does not start.
        write_json(&self.trial_path(), &trial)?;
        tracing::info!(
            "boot loader trial recorded; setting BootNext to {}",
            boot_variable_name(option)
        );
        self.vars
            .set("BootNext", EFI_GLOBAL_VARIABLE, &option.to_le_bytes())
            .map_err(var_err)?;
        trial.boot_next_set = true;
        write_json(&self.trial_path(), &trial)?;
        tracing::info!(
            "boot loader {} staged in copy {copy}: the next boot goes through {}",
            trial.sha256,
            boot_variable_name(option)
        );
        Ok(trial)
    }

    /// After a boot reached its health target: if it came through the copy on trial,
    /// make that copy the default and the removable-media fallback.
    pub fn bless(&self) -> Result<BlessOutcome, AgentError> {
        let Some(trial) = self.on_trial()? else {
            return Ok(BlessOutcome::NothingOnTrial);
        };
        let current = self.get_u16s("BootCurrent")?.first().copied();
        if trial.staged_in_boot == self.boot_id || current != Some(trial.option) {
            return Ok(BlessOutcome::NotBootedThroughTrial {
                boot_current: current,
            });
        }
        let entries = self.ensure_entries()?;
        self.put_first(&entries, trial.copy, &self.get_u16s("BootOrder")?)?;
        let src = self.esp_dir.join(trial.copy.path());
        let binary = std::fs::read(&src).map_err(esp_err(&src, "reading"))?;
        crate::device::mounted_put(&self.esp_dir, &fallback_path(), &binary)
            .map_err(esp_err(&self.esp_dir.join(fallback_path()), "writing"))?;
        remove_state(&self.trial_path())?;
        tracing::info!("boot loader copy {} is the default now", trial.copy);
        Ok(BlessOutcome::Promoted {
            copy: trial.copy,
            sha256: trial.sha256,
        })
    }
}

fn remove_state(path: &Path) -> Result<(), AgentError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(AgentError::State {
            path: path.to_owned(),
            what: "removing",
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Machine {
        _dir: tempfile::TempDir,
        vars: PathBuf,
        esp: PathBuf,
        state: PathBuf,
        part: HardDrive,
    }

    fn machine() -> Machine {
        let dir = tempfile::tempdir().expect("tmp");
        let (vars, esp, state) = (
            dir.path().join("vars"),
            dir.path().join("esp"),
            dir.path().join("state"),
        );
        for d in [&vars, &esp, &state] {
            std::fs::create_dir_all(d).expect("dir");
        }
        std::fs::create_dir_all(esp.join("EFI/stela")).expect("dir");
        std::fs::write(esp.join(LoaderCopy::A.path()), b"loader v1").expect("a");
        // The firmware's own entry for the disk, booted first before the agent ran.
        let vars_api = EfiVars::at(&vars);
        vars_api
            .set("Boot0001", EFI_GLOBAL_VARIABLE, b"firmware's own entry")
            .expect("boot0001");
        vars_api
            .set("BootOrder", EFI_GLOBAL_VARIABLE, &encode_boot_order(&[1]))
            .expect("order");
        let part = HardDrive {
            number: 1,
            start_lba: 2048,
            size_lba: 1 << 20,
            partition_guid: "6a1f8e52-0a4c-4c4e-9b0e-6f2d3c4b5a69"
                .parse()
                .expect("guid"),
        };
        Machine {
            _dir: dir,
            vars,
            esp,
            state,
            part,
        }
    }

    impl Machine {
        fn loader(&self, boot: &str) -> BootLoader {
            BootLoader::new(
                EfiVars::at(&self.vars),
                &self.esp,
                self.part,
                &self.state,
                boot,
            )
        }
        fn order(&self) -> Vec<u16> {
            let b = EfiVars::at(&self.vars)
                .get("BootOrder", EFI_GLOBAL_VARIABLE)
                .expect("get");
            parse_boot_order(&b.unwrap_or_default()).expect("order")
        }
        /// What firmware does at a boot: BootNext, else the first of BootOrder.
        fn boot(&self) -> u16 {
            let v = EfiVars::at(&self.vars);
            let next = v.get("BootNext", EFI_GLOBAL_VARIABLE).expect("get");
            v.remove("BootNext", EFI_GLOBAL_VARIABLE).expect("rm");
            let n = match next {
                Some(b) => u16::from_le_bytes([b[0], b[1]]),
                None => self.order()[0],
            };
            v.set("BootCurrent", EFI_GLOBAL_VARIABLE, &n.to_le_bytes())
                .expect("set");
            n
        }
    }

    #[test]
    fn entries_are_made_once_and_go_first() {
        let m = machine();
        let l = m.loader("boot-1");
        let e = l.ensure_entries().expect("entries");
        assert_eq!(e, [(LoaderCopy::A, 0)]);
        assert_eq!(m.order(), [0, 1]);
        assert_eq!(l.ensure_entries().expect("again"), e);
        assert_eq!(m.order(), [0, 1]);
        let opt = LoadOption::parse(
            &EfiVars::at(&m.vars)
                .get("Boot0000", EFI_GLOBAL_VARIABLE)
                .expect("get")
                .expect("set"),
        )
        .expect("parse");
        assert_eq!(opt.file_path(), r"\EFI\stela\loader-a.efi");
        assert_eq!(opt.description(), "stela boot loader A");
    }

    #[test]
    fn a_new_loader_is_tried_once_and_promoted_when_blessed() {
        let m = machine();
        let l = m.loader("boot-1");
        l.ensure_entries().expect("entries");
        assert!(l.wants(&hex::encode(sha256(b"loader v2"))).expect("wants"));
        assert!(!l.wants(&hex::encode(sha256(b"loader v1"))).expect("same"));
        let t = l.stage(b"loader v2").expect("stage");
        assert_eq!(t.copy, LoaderCopy::B);
        assert_eq!(
            m.order(),
            [0, 2, 1],
            "BootOrder unchanged but for B's new entry"
        );
        // Before the reboot nothing is settled, and staging again is refused.
        assert!(l.staged_this_boot(&t));
        assert!(!m.loader("boot-2").staged_this_boot(&t));
        assert_eq!(l.settle().expect("settle"), TrialEnd::None);
        assert!(l.stage(b"loader v3").is_err());
        assert_eq!(m.boot(), 2, "the next boot goes through B");
        let l2 = m.loader("boot-2");
        assert_eq!(l2.settle().expect("settle"), TrialEnd::None);
        let b = l2.bless().expect("bless");
        assert!(
            matches!(
                b,
                BlessOutcome::Promoted {
                    copy: LoaderCopy::B,
                    ..
                }
            ),
            "{b:?}"
        );
        assert_eq!(m.order(), [2, 0, 1]);
        assert_eq!(
            std::fs::read(m.esp.join(fallback_path())).expect("fallback"),
            b"loader v2"
        );
        assert_eq!(m.boot(), 2, "and every boot after");
        assert_eq!(l2.status().expect("status").default, LoaderCopy::B);
    }

    #[test]
    fn a_loader_that_does_not_boot_is_marked_failed_and_the_default_stays() {
        let m = machine();
        let l = m.loader("boot-1");
        l.stage(b"broken loader").expect("stage");
        // Firmware consumed BootNext, could not start B, went on with BootOrder: A.
        assert_eq!(m.boot(), 2);
        EfiVars::at(&m.vars)
            .set("BootCurrent", EFI_GLOBAL_VARIABLE, &0u16.to_le_bytes())
            .expect("fell back");
        let l2 = m.loader("boot-2");
        assert!(matches!(
            l2.bless().expect("bless"),
            BlessOutcome::NotBootedThroughTrial { .. }
        ));
        let end = l2.settle().expect("settle");
        assert!(
            matches!(
                end,
                TrialEnd::Failed {
                    copy: LoaderCopy::B,
                    ..
                }
            ),
            "{end:?}"
        );
        assert_eq!(m.order(), [0, 2, 1]);
        let sha = hex::encode(sha256(b"broken loader"));
        assert!(
            !l2.wants(&sha).expect("wants"),
            "a failed loader is not offered again"
        );
        assert_eq!(l2.status().expect("status").failed, [sha]);
        assert!(!m.esp.join(fallback_path()).exists());
    }

    #[test]
    fn a_staging_cut_short_before_boot_next_is_no_failure() {
        let m = machine();
        let l = m.loader("boot-1");
        let t = l.stage(b"loader v2").expect("stage");
        // The fault with the protection off: the record as an agent that wrote it once
        // (without saying whether BootNext was set) leaves it, with BootNext never set.
        let mut old = t.clone();
        old.boot_next_set = true;
        write_json(&l.trial_path(), &old).expect("record");
        let vars = EfiVars::at(&m.vars);
        vars.remove("BootNext", EFI_GLOBAL_VARIABLE).expect("cut");
        vars.set("BootCurrent", EFI_GLOBAL_VARIABLE, &0u16.to_le_bytes())
            .expect("booted A");
        let end = m.loader("boot-2").settle().expect("settle");
        assert!(matches!(end, TrialEnd::Failed { .. }), "{end:?}");
        // With the record as this agent writes it before BootNext: never tried, and the
        // same boot loader is wanted and staged again.
        let m = machine();
        let l = m.loader("boot-1");
        let mut t = l.stage(b"loader v2").expect("stage");
        t.boot_next_set = false;
        write_json(&l.trial_path(), &t).expect("record");
        let vars = EfiVars::at(&m.vars);
        vars.remove("BootNext", EFI_GLOBAL_VARIABLE).expect("cut");
        vars.set("BootCurrent", EFI_GLOBAL_VARIABLE, &0u16.to_le_bytes())
            .expect("booted A");
        let l2 = m.loader("boot-2");
        let end = l2.settle().expect("settle");
        assert_eq!(
            end,
            TrialEnd::NeverTried {
                sha256: t.sha256.clone()
            }
        );
        assert!(l2.failed().expect("failed").is_empty());
        assert!(l2.wants(&t.sha256).expect("wants"));
        assert!(l2.on_trial().expect("trial").is_none());
        assert_eq!(l2.stage(b"loader v2").expect("again").copy, LoaderCopy::B);
    }
}
