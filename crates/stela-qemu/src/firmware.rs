//! OVMF, the UEFI firmware for QEMU, in its Secure Boot build.

use std::path::{Path, PathBuf};

use crate::error::QemuError;

/// Where Debian's `ovmf` package installs the firmware.
pub const DEFAULT_OVMF_DIR: &str = "/usr/share/OVMF";
/// The code volume built with Secure Boot and SMM (it needs `-machine q35,smm=on` and a
/// secure pflash, so the variable store can only be written through SMM).
pub const OVMF_CODE: &str = "OVMF_CODE_4M.secboot.fd";
/// The empty variable store: no PK, so the machine starts in setup mode and
/// systemd-boot can enrol the image's own keys.
pub const OVMF_VARS: &str = "OVMF_VARS_4M.fd";

/// The two firmware files of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Firmware {
    /// Read-only code volume (pflash unit 0).
    pub code: PathBuf,
    /// Template variable store, copied for each run (pflash unit 1).
    pub vars_template: PathBuf,
}

impl Firmware {
    /// Finds the Secure Boot firmware in `dir` (Debian's `/usr/share/OVMF` if `None`).
    pub fn locate(dir: Option<&Path>) -> Result<Firmware, QemuError> {
        let dir = dir.unwrap_or(Path::new(DEFAULT_OVMF_DIR));
        let code = dir.join(OVMF_CODE);
        let vars_template = dir.join(OVMF_VARS);
        for path in [&code, &vars_template] {
            if !path.is_file() {
                return Err(QemuError::MissingFirmware { path: path.clone() });
            }
        }
        Ok(Firmware {
            code,
            vars_template,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_firmware_names_the_file_and_package() {
        let dir = tempfile::tempdir().expect("temp dir");
        let err = Firmware::locate(Some(dir.path()))
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("OVMF_CODE_4M.secboot.fd"), "{err}");
        assert!(err.contains("package ovmf"), "{err}");
    }
}
