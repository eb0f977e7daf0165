//! `stela qemu`: boot a disk image under QEMU with OVMF in Secure Boot mode.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use stela_qemu::{Console, Machine, Outcome as RunOutcome, QemuConfig, Vars};

use crate::Outcome;

/// Arguments of `stela qemu`.
///
/// The firmware starts in setup mode (a fresh copy of the empty variable store), so
/// systemd-boot enrols the image's keys on the first boot. The disk is used through a
/// throw-away copy-on-write overlay unless `--persist` is given. The serial console is
/// shown on the terminal (Ctrl-A x quits QEMU) and written to a log file.
///
/// Exit status: 0 when `--until` matched, or without `--until` when the guest powered
/// off; 1 when `--until` did not match in time (time-out, `--fail` matched, or QEMU
/// exited first); 2 on errors.
#[derive(Debug, Args)]
pub struct QemuArgs {
    /// The disk image (raw or qcow2).
    image: PathBuf,
    /// Attach a TPM 2.0 (swtpm).
    #[arg(long)]
    tpm: bool,
    /// Write to the image itself; keep the variable store (IMAGE.vars.fd) and TPM state
    /// (IMAGE.tpm/) beside it.
    #[arg(long)]
    persist: bool,
    /// Stop with success when a console line matches this regular expression.
    #[arg(long, value_name = "REGEX")]
    until: Option<String>,
    /// Stop with failure when a console line matches this regular expression, e.g.
    /// "Kernel panic|Security violation".
    #[arg(long, value_name = "REGEX")]
    fail: Option<String>,
    /// Give up after this many seconds (default: 600 with --until, else no limit).
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Give up when the console prints nothing for this many seconds (a hung guest
    /// ends the run before --timeout does; useful when one run spans many boots).
    #[arg(long, value_name = "SECS")]
    silence: Option<u64>,
    /// Write the serial log here (default: a file in the temporary directory).
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// SMBIOS system UUID (what systemd.machine_id=firmware reads).
    #[arg(long)]
    uuid: Option<stela_qemu::Uuid>,
    /// Guest memory in MiB.
    #[arg(long, value_name = "MIB", default_value_t = stela_qemu::DEFAULT_MEMORY_MIB)]
    memory: u32,
    /// Use this variable store (NVRAM) in place of a fresh one; it is modified.
    #[arg(long, value_name = "FILE")]
    vars: Option<PathBuf>,
    /// Directory holding OVMF_CODE_4M.secboot.fd and OVMF_VARS_4M.fd.
    #[arg(long, value_name = "DIR")]
    ovmf_dir: Option<PathBuf>,
    /// Keep the run's files (overlay, variable store, TPM state, log) in this directory.
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// Give the guest a network card that reaches only this: TCP to 10.0.2.100:GUEST_PORT
    /// goes to the host's 127.0.0.1:HOST_PORT (QEMU user networking with restrict=on).
    /// Repeatable; without it the guest has no network.
    #[arg(long, value_name = "GUEST_PORT:HOST_PORT")]
    forward: Vec<stela_qemu::Forward>,
    /// A guest reset ends the run (QEMU's -no-reboot).
    #[arg(long)]
    no_reboot: bool,
    /// With --persist: turn each guest reset into a power cycle (a new QEMU on the same
    /// disk, UEFI variables and TPM state; the log goes on), for runs with many reboots.
    #[arg(long, requires = "persist", conflicts_with = "no_reboot")]
    power_cycle: bool,
    /// With --until and --persist: when the console matches, cut the power (QEMU killed
    /// at once, the guest's unwritten data lost), as a test of an interrupted update.
    #[arg(long, requires_all = ["persist", "until"])]
    cut_power: bool,
    /// Arguments after `--` go to QEMU unchanged, after stela's own (an SMBIOS string, a
    /// second disk, a monitor socket).
    #[arg(last = true, value_name = "QEMU_ARGS")]
    qemu_args: Vec<String>,
}

/// Arguments of the hidden `stela qemu-relay`, which QEMU starts for each connection of
/// a `--forward`.
#[derive(Debug, Args)]
pub struct RelayArgs {
    /// The host port on 127.0.0.1.
    port: u16,
}

/// Run `stela qemu-relay`: the connection on standard input and output, to the port.
pub fn relay(args: RelayArgs) -> anyhow::Result<Outcome> {
    stela_qemu::relay(args.port, Duration::from_secs(120))
        .with_context(|| format!("relaying a guest connection to 127.0.0.1:{}", args.port))?;
    Ok(Outcome::Success)
}

/// Run `stela qemu`.
pub fn run(args: QemuArgs) -> anyhow::Result<Outcome> {
    let timeout = match (args.timeout, &args.until) {
        (Some(secs), _) => Duration::from_secs(secs),
        (None, Some(_)) => stela_qemu::DEFAULT_TIMEOUT,
        (None, None) => Duration::MAX,
    };
    let mut config = QemuConfig::new(&args.image)
        .console(Console::Terminal)
        .tpm(args.tpm)
        .persist(args.persist)
        .memory_mib(args.memory)
        .timeout(timeout)
        .no_reboot(args.no_reboot)
        .power_cycle(args.power_cycle)
        .cut_power(args.cut_power)
        .extra_args(args.qemu_args.iter().cloned());
    let exe = std::env::current_exe().context("finding the stela executable")?;
    for f in &args.forward {
        let mut f = f.clone();
        f.relay = vec![
            exe.display().to_string(),
            "qemu-relay".to_owned(),
            f.host_port.to_string(),
        ];
        config = config.forward(f);
    }
    if let Some(secs) = args.silence {
        config = config.silence(Duration::from_secs(secs));
    }
    if let Some(v) = &args.until {
        config = config.until(v);
    }
    if let Some(v) = &args.fail {
        config = config.fail(v);
    }
    if let Some(v) = &args.log {
        config = config.log(v);
    }
    if let Some(v) = args.uuid {
        config = config.uuid(v);
    }
    if let Some(v) = &args.vars {
        config = config.vars(Vars::Existing(v.clone()));
    }
    if let Some(v) = &args.ovmf_dir {
        config = config.firmware_dir(v);
    }
    if let Some(v) = &args.run_dir {
        config = config.run_dir(v);
    }

    let report = Machine::run(&config)
        .with_context(|| format!("booting {} under QEMU", args.image.display()))?;
    let secs = report.elapsed.as_secs_f64();
    let log = report.log.display();
    // The console went to stdout; the verdict goes to stderr so it never mixes into a
    // captured console.
    let outcome = match report.outcome {
        RunOutcome::Matched(line) => {
            eprintln!(
                "stela qemu: matched after {secs:.1} s ({}): {line}",
                report.accel
            );
            Outcome::Success
        }
        RunOutcome::FailMatched(line) => {
            eprintln!("stela qemu: failure pattern matched after {secs:.1} s: {line}");
            Outcome::CheckFailed
        }
        RunOutcome::TimedOut => {
            eprintln!("stela qemu: no match within {} s", timeout.as_secs());
            Outcome::CheckFailed
        }
        RunOutcome::Silent(limit) => {
            eprintln!(
                "stela qemu: the console printed nothing for {} s (after {secs:.1} s); giving up",
                limit.as_secs()
            );
            Outcome::CheckFailed
        }
        RunOutcome::Exited { status, stderr } => {
            if args.until.is_some() {
                eprintln!("stela qemu: QEMU exited ({status}) after {secs:.1} s before a match");
                Outcome::CheckFailed
            } else if status.success() {
                Outcome::Success
            } else {
                anyhow::bail!("QEMU failed ({status}): {stderr}; serial log: {log}");
            }
        }
        other => anyhow::bail!("unexpected end of the run: {other:?}; serial log: {log}"),
    };
    eprintln!("stela qemu: serial log: {log}");
    Ok(outcome)
}
