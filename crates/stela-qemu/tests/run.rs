//! Runs real QEMU (and swtpm) on a blank disk: waiting in phases, the time-out, QEMU
//! exiting first, and no process left behind. OVMF alone gets far enough: its boot
//! manager prints "BdsDxe: ..." lines within seconds.

use std::path::{Path, PathBuf};
use std::time::Duration;

use stela_qemu::{Machine, Outcome, QemuConfig};

/// OVMF's first boot-manager line came after 5 to 12 s under software emulation on a
/// 2-core host; the limit allows for a host busy with other virtual machines.
const FIRMWARE_TIMEOUT: Duration = Duration::from_secs(180);

fn require_tools() {
    for tool in ["qemu-system-x86_64", "qemu-img", "swtpm"] {
        let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .any(|d| d.join(tool).is_file());
        assert!(found, "{tool} is not installed: run scripts/setup");
    }
}

/// A fresh directory under target/tmp, kept after the test for inspection.
fn run_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("stela-qemu")
        .join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("removing the previous run");
    }
    std::fs::create_dir_all(&dir).expect("creating the run directory");
    dir
}

fn blank_disk(dir: &Path) -> PathBuf {
    let disk = dir.join("blank.raw");
    std::fs::write(&disk, vec![0u8; 1 << 20]).expect("writing a blank disk");
    disk
}

/// Processes whose command line mentions `needle` (QEMU names the run directory in its
/// pflash and drive options, swtpm in --tpmstate).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("reading /proc").flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(cmdline);
        }
    }
    found
}

#[test]
fn phases_timeout_and_clean_stop() {
    require_tools();
    let dir = run_dir("phases");
    let disk = blank_disk(&dir);
    let run = dir.join("run");
    let config = QemuConfig::new(&disk)
        .tpm(true)
        .memory_mib(512)
        .run_dir(&run);
    let mut machine = Machine::start(&config).expect("starting QEMU");
    let needle = run.display().to_string();

    let outcome = machine
        .wait_for(
            Some("this line never appears"),
            None,
            Duration::from_secs(2),
        )
        .expect("waiting");
    assert_eq!(outcome, Outcome::TimedOut);

    let outcome = machine
        .wait_for(Some("^BdsDxe: "), Some("Kernel panic"), FIRMWARE_TIMEOUT)
        .expect("waiting");
    assert!(
        matches!(&outcome, Outcome::Matched(line) if line.starts_with("BdsDxe: ")),
        "{outcome:?}; serial log {}",
        machine.log_path().display()
    );
    let running = processes_mentioning(&needle);
    assert_eq!(running.len(), 2, "expected QEMU and swtpm: {running:#?}");

    let log = machine.log_path().to_owned();
    drop(machine);
    let left = processes_mentioning(&needle);
    assert!(
        left.is_empty(),
        "left running after the machine was dropped: {left:#?}"
    );
    let text = std::fs::read_to_string(&log).expect("reading the serial log");
    assert!(
        text.contains("BdsDxe: "),
        "serial log {}: {text}",
        log.display()
    );
    assert!(run.join("OVMF_VARS.fd").is_file() && run.join("disk.qcow2").is_file());
}

#[test]
fn qemu_exiting_first_is_reported_with_its_stderr() {
    require_tools();
    let dir = run_dir("exit");
    let disk = blank_disk(&dir);
    let config = QemuConfig::new(&disk)
        .run_dir(dir.join("run"))
        .until("never")
        .timeout(FIRMWARE_TIMEOUT)
        .extra_args(["-device", "stela-no-such-device"]);
    let report = Machine::run(&config).expect("running QEMU");
    match report.outcome {
        Outcome::Exited { status, stderr } => {
            assert!(!status.success(), "{status}");
            assert!(stderr.contains("stela-no-such-device"), "{stderr}");
        }
        other => panic!("expected QEMU to exit first, got {other:?}"),
    }
}

#[test]
fn a_silent_console_ends_the_run_long_before_the_time_limit() {
    require_tools();
    let dir = run_dir("silent");
    let disk = blank_disk(&dir);
    // The same machine running prints OVMF's lines within seconds: the silence limit
    // does not fire on a guest that talks.
    let talking = QemuConfig::new(&disk)
        .run_dir(dir.join("talking"))
        .until("^BdsDxe: ")
        .silence(FIRMWARE_TIMEOUT)
        .timeout(FIRMWARE_TIMEOUT * 2);
    let report = Machine::run(&talking).expect("running QEMU");
    assert!(
        matches!(report.outcome, Outcome::Matched(_)),
        "{:?}",
        report.outcome
    );
    // Started paused (`-S`), the guest never prints: the run ends after the silence
    // limit, not the hour of its time limit.
    let paused = QemuConfig::new(&disk)
        .run_dir(dir.join("paused"))
        .until("^BdsDxe: ")
        .silence(Duration::from_secs(3))
        .timeout(Duration::from_secs(3600))
        .extra_args(["-S"]);
    let report = Machine::run(&paused).expect("running QEMU");
    assert_eq!(report.outcome, Outcome::Silent(Duration::from_secs(3)));
    assert!(
        report.elapsed < Duration::from_secs(60),
        "{:?}",
        report.elapsed
    );
}
