//! A running virtual machine: swtpm and QEMU as children, the serial console streamed
//! into the log (and the terminal) and matched as it arrives.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::accel::{kvm_works, Accel};
use crate::args::{qemu_args, Plan};
use crate::config::{beside, AccelChoice, Console, Patterns, QemuConfig, Vars};
use crate::error::QemuError;
use crate::firmware::Firmware;
use crate::tools;
use crate::watch::{Hit, LineMatcher};

/// How a wait ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// A console line matched the `until` pattern (the line, without escape codes).
    Matched(String),
    /// A console line matched the `fail` pattern.
    FailMatched(String),
    /// The time ran out first.
    TimedOut,
    /// The console printed nothing for the configured silence limit
    /// ([`crate::QemuConfig::silence`]): the guest hangs.
    Silent(Duration),
    /// QEMU exited by itself first: the guest powered off (status 0), reset with
    /// `no_reboot`, or QEMU failed. `stderr` is the end of what QEMU printed.
    Exited {
        /// QEMU's exit status.
        status: ExitStatus,
        /// The last few KiB of QEMU's stderr.
        stderr: String,
    },
}

/// The result of [`Machine::run`].
#[derive(Clone, Debug)]
pub struct Report {
    /// How the run ended.
    pub outcome: Outcome,
    /// From QEMU's start to the end of the wait.
    pub elapsed: Duration,
    /// The serial log, kept after the run.
    pub log: PathBuf,
    /// The accelerator used.
    pub accel: Accel,
}

/// Most guest resets a power-cycling run follows ([`QemuConfig::power_cycle`]).
const MAX_POWER_CYCLES: u32 = 24;

/// After this long without console output, the unfinished last line is matched too
/// (a prompt that waits for input never gets its newline).
const QUIET: Duration = Duration::from_millis(200);
/// How much of QEMU's stderr is kept for error reports.
const STDERR_TAIL: usize = 4096;
/// swtpm creates its socket within milliseconds; this only bounds a broken start.
const TPM_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// QEMU flushes its block devices on SIGTERM; a healthy QEMU exits well within this.
const QEMU_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// swtpm writes its state and exits at once on SIGTERM (or by itself once QEMU is gone).
const SWTPM_STOP_TIMEOUT: Duration = Duration::from_secs(5);

enum RunDir {
    Kept(PathBuf),
    Temporary(TempDir),
}

impl RunDir {
    fn path(&self) -> &Path {
        match self {
            RunDir::Kept(p) => p,
            RunDir::Temporary(t) => t.path(),
        }
    }
}

/// A virtual machine started from a [`QemuConfig`]. Dropping it stops QEMU and swtpm.
///
/// QEMU and swtpm also get a parent-death signal (through `setpriv`), so they do not
/// outlive a killed caller. That signal is tied to the starting thread: wait for and
/// drop the machine on the thread that started it.
pub struct Machine {
    qemu: Option<Child>,
    swtpm: Option<Child>,
    console: Receiver<Vec<u8>>,
    reader: Option<JoinHandle<()>>,
    stderr_tail: Arc<Mutex<Vec<u8>>>,
    /// Set before we stop QEMU, so its "terminating on signal" line is not echoed.
    stopping: Arc<AtomicBool>,
    stderr_reader: Option<JoinHandle<()>>,
    matcher: LineMatcher,
    /// See [`QemuConfig::silence`].
    silence: Option<Duration>,
    /// When the console last printed something.
    last_output: Instant,
    /// Console bytes received after the last hit, not yet matched.
    pending: Vec<u8>,
    exit: Option<ExitStatus>,
    log: PathBuf,
    accel: Accel,
    started: Instant,
    // Held for their Drop (removal) at the end of the run; declared last so the
    // children are stopped first.
    _tpm_socket_dir: Option<TempDir>,
    _run_dir: RunDir,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("log", &self.log)
            .field("accel", &self.accel)
            .field("exit", &self.exit)
            .finish_non_exhaustive()
    }
}

impl Machine {
    /// Starts a run, waits for `until` / `fail` / the time limit / QEMU's exit, stops
    /// the machine and reports how it ended.
    pub fn run(config: &QemuConfig) -> Result<Report, QemuError> {
        if config.power_cycle {
            return Machine::run_power_cycling(config);
        }
        let mut machine = Machine::start(config)?;
        let outcome = machine.wait_for(
            config.until.as_deref(),
            config.fail.as_deref(),
            config.timeout,
        )?;
        let elapsed = machine.elapsed();
        if config.cut_power && matches!(outcome, Outcome::Matched(_)) {
            machine.cut_power()?;
        }
        machine.stop()?;
        Ok(Report {
            outcome,
            elapsed,
            log: machine.log.clone(),
            accel: machine.accel,
        })
    }

    /// [`Machine::run`] with [`QemuConfig::power_cycle`]: a guest reset (QEMU exits
    /// successfully under `-no-reboot` before a match) starts the next QEMU; the timeout
    /// covers all of them.
    fn run_power_cycling(config: &QemuConfig) -> Result<Report, QemuError> {
        let started = Instant::now();
        let mut cycle = config.clone().no_reboot(true);
        cycle.power_cycle = false;
        for n in 1..=MAX_POWER_CYCLES {
            let left = config.timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            let mut machine = Machine::start(&cycle)?;
            let outcome =
                machine.wait_for(config.until.as_deref(), config.fail.as_deref(), left)?;
            if config.cut_power && matches!(outcome, Outcome::Matched(_)) {
                machine.cut_power()?;
            }
            machine.stop()?;
            let (log, accel) = (machine.log.clone(), machine.accel);
            drop(machine);
            match outcome {
                Outcome::Exited { status, .. } if status.success() && config.until.is_some() => {
                    tracing::info!("the guest reset (power cycle {n}); starting it again");
                    cycle.append_log = true;
                }
                outcome => {
                    return Ok(Report {
                        outcome,
                        elapsed: started.elapsed(),
                        log,
                        accel,
                    })
                }
            }
        }
        Err(QemuError::Setting {
            field: "power_cycle",
            reason: format!(
                "the guest reset {MAX_POWER_CYCLES} times, or the timeout passed, without a match"
            ),
        })
    }

    /// Prepares the run directory (overlay, variable store, TPM), starts swtpm and QEMU
    /// and begins streaming the console. `until`/`fail`/`timeout` of the config are
    /// not used here: see [`Machine::wait_for`].
    pub fn start(config: &QemuConfig) -> Result<Machine, QemuError> {
        config.validate()?;
        let qemu = tools::QEMU.find()?;
        let setpriv = tools::SETPRIV.find()?;
        let firmware = Firmware::locate(config.firmware_dir.as_deref())?;
        let run_dir = match &config.run_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(QemuError::file("creating", dir))?;
                RunDir::Kept(dir.clone())
            }
            None => RunDir::Temporary(
                tempfile::Builder::new()
                    .prefix("stela-qemu-")
                    .tempdir()
                    .map_err(QemuError::file(
                        "creating a run directory in",
                        std::env::temp_dir(),
                    ))?,
            ),
        };
        let dir = run_dir.path().to_owned();
        let image = std::path::absolute(&config.image)
            .map_err(QemuError::file("resolving", &config.image))?;
        let image_format = detect_format(&image)?;

        let (disk, disk_format) = if config.persist {
            (image.clone(), image_format)
        } else {
            (create_overlay(&image, image_format, &dir)?, "qcow2")
        };
        let vars = prepare_vars(config, &firmware, &image, &dir)?;
        let log = open_log(config, &run_dir)?;

        let accel = choose_accel(config.accel, &qemu, &dir)?;
        let (swtpm, tpm_socket_dir) = if config.tpm {
            let state = config.tpm_state.clone().unwrap_or_else(|| {
                if config.persist {
                    beside(&image, ".tpm")
                } else {
                    dir.join("tpm")
                }
            });
            let (child, sockdir) = start_swtpm(&setpriv, &state, &dir)?;
            (Some(child), Some(sockdir))
        } else {
            (None, None)
        };

        let interactive = config.console == Console::Terminal && std::io::stdin().is_terminal();
        let plan = Plan {
            accel,
            firmware_code: firmware.code.clone(),
            vars,
            disk,
            disk_format,
            memory_mib: config.memory_mib,
            cpus: config.cpus.unwrap_or_else(host_cores),
            uuid: config.uuid,
            tpm_socket: tpm_socket_dir.as_ref().map(|d| d.path().join(SWTPM_SOCKET)),
            console: config.console,
            interactive,
            no_reboot: config.no_reboot,
            extra: config.extra_args.clone(),
            forwards: config.forwards.clone(),
        };
        let args = qemu_args(&plan);
        tracing::info!(
            "starting {} {}",
            qemu.display(),
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut cmd = Command::new(&setpriv);
        cmd.args(["--pdeathsig", "TERM", "--"])
            .arg(&qemu)
            .args(&args)
            .stdin(if interactive {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|source| QemuError::Spawn {
            program: qemu.display().to_string(),
            source,
        })?;

        let (tx, rx) = mpsc::channel();
        let echo = config.console == Console::Terminal;
        let reader = child
            .stdout
            .take()
            .map(|out| std::thread::spawn(move || stream_console(out, log.1, echo, tx)));
        let stderr_tail = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let stderr_reader = child.stderr.take().map(|err| {
            let tail = Arc::clone(&stderr_tail);
            let quiet = Arc::clone(&stopping);
            std::thread::spawn(move || collect_stderr(err, tail, echo, quiet))
        });
        Ok(Machine {
            qemu: Some(child),
            swtpm,
            console: rx,
            reader,
            stderr_tail,
            stopping,
            stderr_reader,
            matcher: LineMatcher::new(None, None),
            silence: config.silence,
            last_output: started,
            pending: Vec::new(),
            exit: None,
            log: log.0,
            accel,
            started,
            _tpm_socket_dir: tpm_socket_dir,
            _run_dir: run_dir,
        })
    }

    /// Watches the console until a line matches `until` (success) or `fail`, QEMU
    /// exits, or `timeout` passes (`Duration::MAX`: no limit). Can be called again for
    /// the next phase of a boot; console output after a hit is kept for that call.
    pub fn wait_for(
        &mut self,
        until: Option<&str>,
        fail: Option<&str>,
        timeout: Duration,
    ) -> Result<Outcome, QemuError> {
        let patterns = Patterns::compile(until, fail)?;
        self.matcher.set_patterns(patterns.until, patterns.fail);
        let deadline = Instant::now().checked_add(timeout);
        let mut chunk = std::mem::take(&mut self.pending);
        loop {
            if let Some((hit, used)) = self.matcher.feed(&chunk) {
                self.pending = chunk.split_off(used);
                return Ok(outcome_of(hit));
            }
            if let Some(status) = self.exit {
                return Ok(self.exited(status));
            }
            let wait = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) => left.min(QUIET),
                    None => return Ok(Outcome::TimedOut),
                },
                None => QUIET,
            };
            chunk = match self.console.recv_timeout(wait) {
                Ok(bytes) => {
                    self.last_output = Instant::now();
                    bytes
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(hit) = self.matcher.match_partial() {
                        return Ok(outcome_of(hit));
                    }
                    if let Some(limit) = self.silence {
                        if self.last_output.elapsed() >= limit {
                            return Ok(Outcome::Silent(limit));
                        }
                    }
                    Vec::new()
                }
                Err(RecvTimeoutError::Disconnected) => {
                    // QEMU closed its stdout: it has exited (or is about to).
                    let status = self.reap_qemu()?;
                    self.exit = Some(status);
                    Vec::new()
                }
            };
        }
    }

    /// Time since QEMU started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
    /// The serial log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }
    /// The accelerator in use.
    pub fn accel(&self) -> Accel {
        self.accel
    }

    /// Kills QEMU at once (SIGKILL): a power cut ([`QemuConfig::cut_power`]). swtpm and
    /// the console readers are left to [`Machine::stop`].
    pub fn cut_power(&mut self) -> Result<(), QemuError> {
        if let Some(child) = self.qemu.as_mut() {
            if self.exit.is_none() {
                self.stopping.store(true, Ordering::Relaxed);
                let err = |action| {
                    move |source| QemuError::Process {
                        action,
                        program: "qemu-system-x86_64",
                        source,
                    }
                };
                if child.try_wait().map_err(err("checking"))?.is_none() {
                    child.kill().map_err(err("killing"))?;
                    child.wait().map_err(err("waiting for"))?;
                    tracing::info!("power cut: QEMU killed");
                }
            }
        }
        Ok(())
    }

    /// Stops QEMU (SIGTERM, then SIGKILL after a grace period) and swtpm, and waits for
    /// the console to be written out to the log.
    pub fn stop(&mut self) -> Result<(), QemuError> {
        let mut result = Ok(());
        if let Some(mut child) = self.qemu.take() {
            if self.exit.is_none() {
                self.stopping.store(true, Ordering::Relaxed);
                result = terminate(&mut child, "qemu-system-x86_64", QEMU_STOP_TIMEOUT).map(|_| ());
            }
        }
        if let Some(mut child) = self.swtpm.take() {
            let stopped = terminate(&mut child, "swtpm", SWTPM_STOP_TIMEOUT).map(|_| ());
            result = result.and(stopped);
        }
        for handle in [self.reader.take(), self.stderr_reader.take()]
            .into_iter()
            .flatten()
        {
            if handle.join().is_err() {
                tracing::warn!("a console reader thread panicked; the log may be incomplete");
            }
        }
        result
    }

    fn reap_qemu(&mut self) -> Result<ExitStatus, QemuError> {
        match self.qemu.as_mut() {
            Some(child) => child.wait().map_err(|source| QemuError::Process {
                action: "waiting for",
                program: "qemu-system-x86_64",
                source,
            }),
            None => Err(QemuError::Process {
                action: "waiting for",
                program: "qemu-system-x86_64",
                source: std::io::Error::other("it was already stopped"),
            }),
        }
    }

    fn exited(&mut self, status: ExitStatus) -> Outcome {
        // The stderr reader ends with QEMU; join it so the tail is complete.
        if let Some(handle) = self.stderr_reader.take() {
            if handle.join().is_err() {
                tracing::warn!("the stderr reader thread panicked");
            }
        }
        let tail = self
            .stderr_tail
            .lock()
            .map(|t| t.clone())
            .unwrap_or_default();
        Outcome::Exited {
            status,
            stderr: String::from_utf8_lossy(&tail).trim().to_owned(),
        }
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!("stopping the virtual machine: {e}");
        }
    }
}

fn outcome_of(hit: Hit) -> Outcome {
    match hit {
        Hit::Until(line) => Outcome::Matched(line),
        Hit::Fail(line) => Outcome::FailMatched(line),
    }
}

fn host_cores() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(1))
        .unwrap_or(1)
}

/// qcow2 images start with "QFI\xfb"; anything else is attached as raw.
fn detect_format(image: &Path) -> Result<&'static str, QemuError> {
    let mut magic = [0u8; 4];
    let mut f = File::open(image).map_err(QemuError::file("opening", image))?;
    let n = f
        .read(&mut magic)
        .map_err(QemuError::file("reading", image))?;
    Ok(if n == 4 && magic == *b"QFI\xfb" {
        "qcow2"
    } else {
        "raw"
    })
}

fn create_overlay(image: &Path, format: &str, dir: &Path) -> Result<PathBuf, QemuError> {
    let qemu_img = tools::QEMU_IMG.find()?;
    let overlay = dir.join("disk.qcow2");
    let out = Command::new(&qemu_img)
        .args(["create", "-q", "-f", "qcow2", "-F", format, "-b"])
        .arg(image)
        .arg(&overlay)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| QemuError::Spawn {
            program: qemu_img.display().to_string(),
            source,
        })?;
    if !out.status.success() {
        return Err(QemuError::ToolFailed {
            program: "qemu-img create".into(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(overlay)
}

fn prepare_vars(
    config: &QemuConfig,
    firmware: &Firmware,
    image: &Path,
    dir: &Path,
) -> Result<PathBuf, QemuError> {
    let vars = match (&config.vars, config.persist) {
        (Vars::Fresh, true) => Vars::Persistent(beside(image, ".vars.fd")),
        (v, _) => v.clone(),
    };
    match vars {
        Vars::Fresh => {
            let copy = dir.join("OVMF_VARS.fd");
            copy_template(&firmware.vars_template, &copy)?;
            Ok(copy)
        }
        Vars::Existing(path) => {
            if !path.is_file() {
                return Err(QemuError::File {
                    action: "opening the variable store",
                    path,
                    source: std::io::ErrorKind::NotFound.into(),
                });
            }
            Ok(path)
        }
        Vars::Persistent(path) => {
            if !path.exists() {
                tracing::info!("new variable store {} (setup mode)", path.display());
                copy_template(&firmware.vars_template, &path)?;
            }
            Ok(path)
        }
    }
}

/// Copies the template and makes the copy writable (the template is root's, 0644).
fn copy_template(template: &Path, to: &Path) -> Result<(), QemuError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::copy(template, to)
        .map_err(QemuError::file("copying the OVMF variable store to", to))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o644))
        .map_err(QemuError::file("making writable", to))
}

fn open_log(config: &QemuConfig, run_dir: &RunDir) -> Result<(PathBuf, File), QemuError> {
    let path = match (&config.log, run_dir) {
        (Some(p), _) => p.clone(),
        (None, RunDir::Kept(dir)) => dir.join("serial.log"),
        (None, RunDir::Temporary(_)) => {
            // The run directory goes away at the end; the log must not.
            let (file, path) = tempfile::Builder::new()
                .prefix("stela-qemu-")
                .suffix(".log")
                .tempfile()
                .map_err(QemuError::file(
                    "creating a log file in",
                    std::env::temp_dir(),
                ))?
                .keep()
                .map_err(|e| QemuError::File {
                    action: "keeping",
                    path: e.file.path().to_owned(),
                    source: e.error,
                })?;
            return Ok((path, file));
        }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(QemuError::file("creating", parent))?;
    }
    let file = if config.append_log {
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
    } else {
        File::create(&path)
    }
    .map_err(QemuError::file("creating the serial log", &path))?;
    Ok((path, file))
}

fn choose_accel(choice: AccelChoice, qemu: &Path, dir: &Path) -> Result<Accel, QemuError> {
    match choice {
        AccelChoice::Kvm => Ok(Accel::Kvm),
        AccelChoice::Tcg => Ok(Accel::Tcg),
        AccelChoice::Auto => match kvm_works(qemu, dir)? {
            Ok(()) => Ok(Accel::Kvm),
            Err(reason) => {
                tracing::warn!("KVM cannot run the guest ({reason}): using TCG (software emulation, much slower)");
                Ok(Accel::Tcg)
            }
        },
    }
}

const SWTPM_SOCKET: &str = "swtpm.sock";

/// Starts swtpm; its socket lives in a short temporary directory because a Unix socket
/// path must fit in 108 bytes and run directories can be deep.
fn start_swtpm(
    setpriv: &Path,
    state: &Path,
    run_dir: &Path,
) -> Result<(Child, TempDir), QemuError> {
    let swtpm = tools::SWTPM.find()?;
    std::fs::create_dir_all(state)
        .map_err(QemuError::file("creating the TPM state directory", state))?;
    let sockdir = tempfile::Builder::new()
        .prefix("stela-tpm-")
        .tempdir_in("/tmp")
        .map_err(QemuError::file("creating a socket directory in", "/tmp"))?;
    let socket = sockdir.path().join(SWTPM_SOCKET);
    // swtpm writes its own log to a file (it refuses `--log fd=2`); its stderr, for
    // start-up errors, is appended to the same file.
    let log = run_dir.join("swtpm.log");
    File::create(&log).map_err(QemuError::file("creating", &log))?;
    let stderr = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .map_err(QemuError::file("opening", &log))?;
    let mut log_arg = std::ffi::OsString::from("file=");
    log_arg.push(&log);
    let mut tpmstate = std::ffi::OsString::from("dir=");
    tpmstate.push(state);
    let mut ctrl = std::ffi::OsString::from("type=unixio,path=");
    ctrl.push(&socket);
    let mut child = Command::new(setpriv)
        .args(["--pdeathsig", "KILL", "--"])
        .arg(&swtpm)
        .args(["socket", "--tpm2", "--terminate", "--log"])
        .arg(log_arg)
        .arg("--tpmstate")
        .arg(tpmstate)
        .arg("--ctrl")
        .arg(ctrl)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|source| QemuError::Spawn {
            program: swtpm.display().to_string(),
            source,
        })?;
    let start = Instant::now();
    while !socket.exists() {
        let exited = child.try_wait().map_err(|source| QemuError::Process {
            action: "waiting for",
            program: "swtpm",
            source,
        })?;
        if let Some(status) = exited {
            return Err(QemuError::ToolFailed {
                program: "swtpm".into(),
                status,
                stderr: std::fs::read_to_string(&log)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            });
        }
        if start.elapsed() > TPM_READY_TIMEOUT {
            terminate(&mut child, "swtpm", TPM_READY_TIMEOUT)?;
            return Err(QemuError::TpmNotReady {
                path: socket,
                seconds: TPM_READY_TIMEOUT.as_secs(),
                log,
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok((child, sockdir))
}

/// SIGTERM, wait up to `grace`, then SIGKILL; always reaps the child.
fn terminate(
    child: &mut Child,
    program: &'static str,
    grace: Duration,
) -> Result<ExitStatus, QemuError> {
    let err = |action| {
        move |source| QemuError::Process {
            action,
            program,
            source,
        }
    };
    if let Some(status) = child.try_wait().map_err(err("checking"))? {
        return Ok(status);
    }
    let pid = rustix::process::Pid::from_child(child);
    if let Err(e) = rustix::process::kill_process(pid, rustix::process::Signal::TERM) {
        tracing::debug!("SIGTERM to {program}: {e}");
    }
    let start = Instant::now();
    while start.elapsed() < grace {
        if let Some(status) = child.try_wait().map_err(err("waiting for"))? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    tracing::warn!(
        "{program} did not stop within {} s of SIGTERM: killing it",
        grace.as_secs()
    );
    child.kill().map_err(err("killing"))?;
    child.wait().map_err(err("waiting for"))
}

/// Copies QEMU's stdout (the serial console) to the log, optionally to our stdout, and
/// to the matcher. Each chunk is written out before it is matched, so the log holds
/// everything up to a hit.
fn stream_console(mut out: impl Read, mut log: File, echo: bool, tx: mpsc::Sender<Vec<u8>>) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut log_ok = true;
    loop {
        let n = match out.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("reading the serial console: {e}");
                break;
            }
        };
        let bytes = &buf[..n];
        if log_ok {
            if let Err(e) = log.write_all(bytes) {
                tracing::warn!("writing the serial log: {e}; the log stops here");
                log_ok = false;
            }
        }
        if echo {
            let mut stdout = std::io::stdout().lock();
            // A closed stdout (a pager quit) must not stop the run or the log.
            if stdout
                .write_all(bytes)
                .and_then(|_| stdout.flush())
                .is_err()
            {
                tracing::debug!("stdout closed; console still logged");
            }
        }
        // The receiver is gone when the machine was dropped; keep logging until EOF.
        let _ = tx.send(bytes.to_vec());
    }
    if let Err(e) = log.sync_all() {
        tracing::warn!("syncing the serial log: {e}");
    }
}

fn collect_stderr(
    mut err: impl Read,
    tail: Arc<Mutex<Vec<u8>>>,
    echo: bool,
    stopping: Arc<AtomicBool>,
) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match err.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if echo && !stopping.load(Ordering::Relaxed) {
            // Best effort: the tail below keeps the text for error reports anyway.
            let _ = std::io::stderr().write_all(&buf[..n]);
        }
        if let Ok(mut t) = tail.lock() {
            t.extend_from_slice(&buf[..n]);
            let excess = t.len().saturating_sub(STDERR_TAIL);
            t.drain(..excess);
        }
    }
}
