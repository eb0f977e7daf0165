//! What a run should look like, set with a builder and checked before anything starts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use uuid::Uuid;

use crate::error::QemuError;

/// Memory given to the guest unless set: enough for a trixie image and its initrd.
pub const DEFAULT_MEMORY_MIB: u32 = 2048;
/// How long [`crate::Machine::run`] waits for the `until` pattern unless set. A first
/// boot under software emulation (OVMF, key enrolment and its reset, kernel, systemd)
/// takes one to two minutes on a 2-core host.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// Which variable store (the firmware's NVRAM: Secure Boot keys, boot entries) to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Vars {
    /// A fresh copy of the empty template in the run directory: setup mode, so
    /// systemd-boot enrols the image's keys on the first boot of every run.
    Fresh,
    /// This file, used in place; it must exist.
    Existing(PathBuf),
    /// This file, created from the template when missing, then kept across runs.
    Persistent(PathBuf),
}

/// Where the serial console goes. It is always written to the log file as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// Only to the log (tests, scripts). The guest gets no input.
    LogOnly,
    /// Also to our stdout; when stdin is a terminal, keystrokes go to the guest and
    /// QEMU's monitor is on the same line (Ctrl-A x quits, Ctrl-A h lists the keys).
    Terminal,
}

/// Which accelerator to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccelChoice {
    /// KVM if a probe guest really runs with it, else TCG.
    Auto,
    /// KVM, failing if it cannot start.
    Kvm,
    /// Software emulation.
    Tcg,
}

/// A run of a disk image: the builder. See the crate documentation for an example.
#[derive(Clone, Debug)]
pub struct QemuConfig {
    pub(crate) image: PathBuf,
    pub(crate) persist: bool,
    pub(crate) tpm: bool,
    pub(crate) tpm_state: Option<PathBuf>,
    pub(crate) memory_mib: u32,
    pub(crate) cpus: Option<u32>,
    pub(crate) uuid: Option<Uuid>,
    pub(crate) vars: Vars,
    pub(crate) firmware_dir: Option<PathBuf>,
    pub(crate) run_dir: Option<PathBuf>,
    pub(crate) log: Option<PathBuf>,
    pub(crate) console: Console,
    pub(crate) until: Option<String>,
    pub(crate) fail: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) silence: Option<Duration>,
    pub(crate) no_reboot: bool,
    pub(crate) power_cycle: bool,
    pub(crate) cut_power: bool,
    /// Later power cycles add to the serial log of the first.
    pub(crate) append_log: bool,
    pub(crate) accel: AccelChoice,
    pub(crate) extra_args: Vec<String>,
    pub(crate) forwards: Vec<Forward>,
}

impl QemuConfig {
    /// A run of `image` (a raw or qcow2 disk image) with the defaults: Secure Boot
    /// firmware with a fresh variable store, no TPM, a throw-away copy-on-write overlay,
    /// 2 GiB of memory, one vCPU per host core, console to the log only.
    pub fn new(image: impl Into<PathBuf>) -> QemuConfig {
        QemuConfig {
            image: image.into(),
            persist: false,
            tpm: false,
            tpm_state: None,
            memory_mib: DEFAULT_MEMORY_MIB,
            cpus: None,
            uuid: None,
            vars: Vars::Fresh,
            firmware_dir: None,
            run_dir: None,
            log: None,
            console: Console::LogOnly,
            until: None,
            fail: None,
            timeout: DEFAULT_TIMEOUT,
            silence: None,
            no_reboot: false,
            power_cycle: false,
            cut_power: false,
            append_log: false,
            accel: AccelChoice::Auto,
            extra_args: Vec::new(),
            forwards: Vec::new(),
        }
    }

    /// Write to the image itself instead of an overlay. Unless set otherwise, the
    /// variable store (`IMAGE.vars.fd`) and the TPM state (`IMAGE.tpm/`) are then kept
    /// beside the image too, so the machine keeps its enrolled keys and TPM.
    pub fn persist(mut self, persist: bool) -> QemuConfig {
        self.persist = persist;
        self
    }
    /// Attach a TPM 2.0 (swtpm).
    pub fn tpm(mut self, tpm: bool) -> QemuConfig {
        self.tpm = tpm;
        self
    }
    /// Keep the TPM state in this directory (created if missing).
    pub fn tpm_state(mut self, dir: impl Into<PathBuf>) -> QemuConfig {
        self.tpm_state = Some(dir.into());
        self
    }
    /// Guest memory in MiB.
    pub fn memory_mib(mut self, mib: u32) -> QemuConfig {
        self.memory_mib = mib;
        self
    }
    /// Number of vCPUs (default: the host's cores).
    pub fn cpus(mut self, cpus: u32) -> QemuConfig {
        self.cpus = Some(cpus);
        self
    }
    /// SMBIOS system UUID (`-uuid`): what `systemd.machine_id=firmware` reads.
    pub fn uuid(mut self, uuid: Uuid) -> QemuConfig {
        self.uuid = Some(uuid);
        self
    }
    /// The variable store to use.
    pub fn vars(mut self, vars: Vars) -> QemuConfig {
        self.vars = vars;
        self
    }
    /// Directory holding `OVMF_CODE_4M.secboot.fd` and `OVMF_VARS_4M.fd`.
    pub fn firmware_dir(mut self, dir: impl Into<PathBuf>) -> QemuConfig {
        self.firmware_dir = Some(dir.into());
        self
    }
    /// Keep the run's files (overlay, variable store, TPM state, serial log) in this
    /// directory instead of a temporary one that is removed at the end.
    pub fn run_dir(mut self, dir: impl Into<PathBuf>) -> QemuConfig {
        self.run_dir = Some(dir.into());
        self
    }
    /// Write the serial log here (default: `serial.log` in the run directory, or a kept
    /// temporary file when the run directory is temporary).
    pub fn log(mut self, path: impl Into<PathBuf>) -> QemuConfig {
        self.log = Some(path.into());
        self
    }
    /// Where the serial console goes besides the log.
    pub fn console(mut self, console: Console) -> QemuConfig {
        self.console = console;
        self
    }
    /// Succeed as soon as a console line matches this regular expression.
    pub fn until(mut self, pattern: impl Into<String>) -> QemuConfig {
        self.until = Some(pattern.into());
        self
    }
    /// Fail as soon as a console line matches this regular expression.
    pub fn fail(mut self, pattern: impl Into<String>) -> QemuConfig {
        self.fail = Some(pattern.into());
        self
    }
    /// Give up after this long.
    pub fn timeout(mut self, timeout: Duration) -> QemuConfig {
        self.timeout = timeout;
        self
    }
    /// Give up when the console has printed nothing for this long: a guest that hangs
    /// (waits at a prompt, stuck in a unit) ends the run long before the overall
    /// `timeout` of a run with many boots. Unset by default.
    pub fn silence(mut self, limit: Duration) -> QemuConfig {
        self.silence = Some(limit);
        self
    }
    /// Make a guest reset end the run (`-no-reboot`). Off by default: key enrolment
    /// resets the machine once.
    /// Give the guest a network card on QEMU's user network with `restrict=on` (no
    /// route to the host or beyond) and this one way out: TCP to
    /// [`FORWARD_ADDRESS`]`:guest_port` reaches 127.0.0.1:`host_port`. Without forwards
    /// the guest has no network card.
    pub fn forward(mut self, forward: Forward) -> QemuConfig {
        self.forwards.push(forward);
        self
    }

    /// See [`QemuConfig::no_reboot`].
    pub fn no_reboot(mut self, no_reboot: bool) -> QemuConfig {
        self.no_reboot = no_reboot;
        self
    }

    /// Turn each guest reset into a power cycle: QEMU runs with `-no-reboot`, and when
    /// the guest resets, a new QEMU starts on the same disk, variable store and TPM state
    /// (so it needs [`QemuConfig::persist`]), the serial log going on in the same file.
    /// What the guest keeps across a reboot (disk, UEFI variables, TPM) is all there; what
    /// QEMU's warm reset would carry over in its device models is not. On these TCG hosts
    /// a guest hung for good at the firmware's hand-over to systemd-boot after a warm
    /// reset Linux made (two CI runs, 2026-12-02; never after a cold start).
    pub fn power_cycle(mut self, power_cycle: bool) -> QemuConfig {
        self.power_cycle = power_cycle;
        self
    }
    /// When the console matches `until`, cut the power: QEMU is killed at once
    /// (SIGKILL), so the guest gets no chance to write out what it holds in memory, and
    /// what it sent to the disk stays as far as it got. Without this, a match stops QEMU
    /// the same way with SIGTERM a moment later; a test of what a power cut leaves
    /// wants no such moment.
    pub fn cut_power(mut self, cut_power: bool) -> QemuConfig {
        self.cut_power = cut_power;
        self
    }
    /// Force an accelerator instead of probing.
    pub fn accel(mut self, accel: AccelChoice) -> QemuConfig {
        self.accel = accel;
        self
    }
    /// Extra arguments appended to QEMU's command line.
    pub fn extra_args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> QemuConfig {
        self.extra_args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The image path.
    pub fn image(&self) -> &Path {
        &self.image
    }
    /// The run's time limit.
    pub fn time_limit(&self) -> Duration {
        self.timeout
    }

    /// Checks the settings and compiles the patterns.
    pub(crate) fn validate(&self) -> Result<Patterns, QemuError> {
        if !self.image.is_file() {
            return Err(QemuError::MissingImage {
                path: self.image.clone(),
            });
        }
        if self.memory_mib < 128 {
            return Err(QemuError::Setting {
                field: "memory",
                reason: format!(
                    "{} MiB is too little for OVMF (at least 128)",
                    self.memory_mib
                ),
            });
        }
        if self.cpus == Some(0) {
            return Err(QemuError::Setting {
                field: "cpus",
                reason: "must be at least 1".into(),
            });
        }
        if self.timeout.is_zero() {
            return Err(QemuError::Setting {
                field: "timeout",
                reason: "must be longer than zero".into(),
            });
        }
        if self.power_cycle && !self.persist {
            return Err(QemuError::Setting {
                field: "power_cycle",
                reason: "needs persist: the next power cycle starts from the same disk and variable store".into(),
            });
        }
        if self.cut_power && (self.until.is_none() || !self.persist) {
            return Err(QemuError::Setting {
                field: "cut_power",
                reason: "needs an until pattern (the moment of the cut) and persist (a disk that outlives the run)".into(),
            });
        }
        if self.silence.is_some_and(|s| s.is_zero()) {
            return Err(QemuError::Setting {
                field: "silence",
                reason: "must be longer than zero".into(),
            });
        }
        Patterns::compile(self.until.as_deref(), self.fail.as_deref())
    }
}

/// The compiled `until` and `fail` patterns.
#[derive(Clone, Debug)]
pub(crate) struct Patterns {
    pub(crate) until: Option<Regex>,
    pub(crate) fail: Option<Regex>,
}

impl Patterns {
    pub(crate) fn compile(until: Option<&str>, fail: Option<&str>) -> Result<Patterns, QemuError> {
        Ok(Patterns {
            until: compile("until", until)?,
            fail: compile("fail", fail)?,
        })
    }
}

fn compile(which: &'static str, pattern: Option<&str>) -> Result<Option<Regex>, QemuError> {
    pattern
        .map(|p| {
            Regex::new(p).map_err(|source| QemuError::Pattern {
                which,
                pattern: p.to_owned(),
                source,
            })
        })
        .transpose()
}

/// `IMAGE.suffix` beside the image (`disk.raw` -> `disk.raw.vars.fd`).
pub(crate) fn beside(image: &Path, suffix: &str) -> PathBuf {
    let mut name = image.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    image.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pattern_is_named() {
        let image = tempfile::NamedTempFile::new().expect("temp file");
        let err = QemuConfig::new(image.path())
            .until("(unclosed")
            .validate()
            .err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(text, "invalid until pattern \"(unclosed\"");
    }

    #[test]
    fn missing_image_is_named() {
        let err = QemuConfig::new("/nonexistent/disk.raw").validate().err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            text,
            "disk image /nonexistent/disk.raw is not a readable file"
        );
    }

    #[test]
    fn state_files_sit_beside_the_image() {
        assert_eq!(
            beside(Path::new("/a/disk.raw"), ".vars.fd"),
            Path::new("/a/disk.raw.vars.fd")
        );
    }
}

/// The address a guest connects to for a [`Forward`]: in QEMU's user network
/// (10.0.2.0/24), outside what its DHCP server hands out.
pub const FORWARD_ADDRESS: &str = "10.0.2.100";

/// A guest TCP port forwarded to a port on the host's 127.0.0.1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// The port the guest connects to at [`FORWARD_ADDRESS`].
    pub guest_port: u16,
    /// The host's port on 127.0.0.1.
    pub host_port: u16,
    /// The program QEMU starts for each guest connection, with the connection on its
    /// standard input and output: it must copy it to the host port ([`crate::relay`]).
    /// `stela` sets itself (`stela qemu-relay PORT`).
    pub relay: Vec<String>,
}

impl std::str::FromStr for Forward {
    type Err = String;

    /// `GUEST_PORT:HOST_PORT`, or one port for both.
    fn from_str(s: &str) -> Result<Forward, String> {
        let port = |p: &str| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{p:?} is not a TCP port (1 to 65535)"))
        };
        let (g, h) = s.split_once(':').unwrap_or((s, s));
        Ok(Forward {
            guest_port: port(g)?,
            host_port: port(h)?,
            relay: Vec::new(),
        })
    }
}
