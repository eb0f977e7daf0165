//! KVM or software emulation: decided by running a probe guest, not by looking at
//! /dev/kvm. On some hosts /dev/kvm opens but cannot run this machine (nested
//! virtualisation without SMM: "System Management Mode not supported by this
//! hypervisor").

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::QemuError;

/// The accelerator a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation.
    Kvm,
    /// QEMU's software emulation (about ten times slower).
    Tcg,
}

impl Accel {
    /// QEMU's name for it (`-accel NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

impl Accel {
    /// The `-accel` option. Software emulation runs every vCPU on one host thread
    /// (`thread=single`): with one thread per vCPU, QEMU's TCG lets a vCPU run code
    /// another vCPU has just patched, and trixie's kernel, which patches its own code
    /// with int3 breakpoints while the other CPU runs (static keys, at boot), then dies
    /// with `Oops: int3` in about one boot of five on these hosts.
    pub fn option(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg,thread=single",
        }
    }
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A 64 KiB firmware whose reset vector (the last 16 bytes, at F000:FFF0) writes 1 to
/// the isa-debug-exit port and halts: `mov al, 1; out 0xf4, al; hlt`. QEMU then exits
/// with status (1 << 1) | 1 = 3, which proves the guest executed instructions.
fn probe_firmware() -> Vec<u8> {
    let mut rom = vec![0u8; 64 * 1024];
    let reset_vector = rom.len() - 16;
    rom[reset_vector..reset_vector + 5].copy_from_slice(&[0xb0, 0x01, 0xe6, 0xf4, 0xf4]);
    rom
}
const PROBE_EXIT_STATUS: i32 = 3;
/// The probe exits within a fraction of a second when KVM works; a hypervisor that
/// accepts the machine but never runs it must not stall the run for long.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether KVM can run the Secure Boot machine (q35 with SMM) on this host. `scratch`
/// is a directory for the probe's firmware file.
pub(crate) fn kvm_works(qemu: &Path, scratch: &Path) -> Result<Result<(), String>, QemuError> {
    if let Err(e) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        return Ok(Err(format!("/dev/kvm: {e}")));
    }
    let rom = scratch.join("kvm-probe.rom");
    std::fs::write(&rom, probe_firmware()).map_err(QemuError::file("writing", &rom))?;
    let mut child = Command::new(qemu)
        .args([
            "-accel",
            "kvm",
            "-machine",
            "q35,smm=on",
            "-cpu",
            "max",
            "-m",
            "16",
        ])
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "none",
        ])
        .args([
            "-no-reboot",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-bios",
        ])
        .arg(&rom)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| QemuError::Spawn {
            program: qemu.display().to_string(),
            source,
        })?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < PROBE_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(None) => {
                // Reap it; the probe holds nothing worth a clean shutdown.
                let _ = child.kill();
                let _ = child.wait();
                return Ok(Err(format!(
                    "the probe guest did not finish within {} s",
                    PROBE_TIMEOUT.as_secs()
                )));
            }
            Err(source) => {
                return Err(QemuError::Process {
                    action: "waiting for the KVM probe of",
                    program: "qemu-system-x86_64",
                    source,
                })
            }
        }
    };
    if status.code() == Some(PROBE_EXIT_STATUS) {
        return Ok(Ok(()));
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        use std::io::Read;
        let _ = pipe.read_to_string(&mut stderr);
    }
    Ok(Err(format!("probe guest: {status}: {}", stderr.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_firmware_has_its_reset_vector_at_the_top() {
        let rom = probe_firmware();
        assert_eq!(rom.len(), 65536);
        assert_eq!(&rom[0xfff0..0xfff5], &[0xb0, 0x01, 0xe6, 0xf4, 0xf4]);
    }
}
