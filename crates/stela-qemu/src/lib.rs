//! Boot a disk image under QEMU the way a person would try it: OVMF in its Secure Boot
//! build (q35 with SMM, secure pflash) starting in setup mode, so that systemd-boot
//! enrols the image's own keys; optionally swtpm as a TPM 2.0; the disk as virtio-blk
//! behind a throw-away qcow2 overlay; the serial console in a log file (and on the
//! terminal for people), watched as it streams.
//!
//! KVM is used when a probe guest really runs with it (on hosts where /dev/kvm exists
//! but lacks SMM, QEMU falls back to software emulation and says so in the log).
//! QEMU and swtpm are stopped when the run ends, also on a time-out, and carry a
//! parent-death signal so they never outlive the caller.
//!
//! Host programs: `qemu-system-x86_64` (Debian package qemu-system-x86), `qemu-img`
//! (qemu-utils), `swtpm` (swtpm) for a TPM, the firmware from `ovmf`; a missing one is
//! reported with the package to install.
//!
//! ```no_run
//! use std::time::Duration;
//! use stela_qemu::{Machine, Outcome, QemuConfig};
//! # fn main() -> Result<(), stela_qemu::QemuError> {
//! let config = QemuConfig::new("disk.raw")
//!     .tpm(true)
//!     .until("login:")
//!     .fail("Kernel panic|Security Violation")
//!     .timeout(Duration::from_secs(600));
//! let report = Machine::run(&config)?;
//! match report.outcome {
//!     Outcome::Matched(line) => println!("booted: {line}"),
//!     other => eprintln!("did not boot: {other:?}, see {}", report.log.display()),
//! }
//! # Ok(()) }
//! ```
//!
//! For boots in phases (enrolment, then the kernel), start a [`Machine`] and call
//! [`Machine::wait_for`] once per phase.

mod accel;
mod args;
mod config;
mod error;
mod firmware;
mod machine;
mod relay;
mod tools;
mod watch;

pub use accel::Accel;
pub use config::{
    AccelChoice, Console, Forward, QemuConfig, Vars, DEFAULT_MEMORY_MIB, DEFAULT_TIMEOUT,
    FORWARD_ADDRESS,
};
pub use error::QemuError;
pub use firmware::{Firmware, DEFAULT_OVMF_DIR, OVMF_CODE, OVMF_VARS};
pub use machine::{Machine, Outcome, Report};
pub use relay::relay;
/// The SMBIOS UUID type of [`QemuConfig::uuid`], re-exported for callers.
pub use uuid::Uuid;
pub use watch::Hit;
