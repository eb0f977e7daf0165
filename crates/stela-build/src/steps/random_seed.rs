//! The boot loader's random seed, refreshed after the boot instead of before
//! `sysinit.target`.
//!
//! systemd-boot reads `/loader/random-seed` on the ESP, writes a new one in its place
//! before it starts the kernel, and hands the kernel a seed derived from it and the
//! firmware's RNG. systemd-boot-random-seed.service then mixes the kernel's entropy into
//! the file, and sets the system token that systemd-boot mixes in on later boots. The
//! service is ordered before `sysinit.target`, and it needs the ESP, whose automount waits
//! for udev to announce the partition: measured on the bench, sysinit.target (and with it
//! every service and the login prompt) waited 4.6 s for it on a first boot under
//! emulation.
//!
//! Nothing needs the refreshed file before the next boot, and the boot loader has already
//! replaced the seed it used, so stela masks the stock unit and ships one that runs the
//! same command once `multi-user.target` is reached.

use std::path::Path;

use anyhow::Context;

use super::customise::write;
use crate::run;

/// The stock unit, masked.
pub const STOCK_UNIT: &str = "systemd-boot-random-seed.service";

/// stela's unit, in /usr (updated with the image).
pub const UNIT_PATH: &str = "usr/lib/systemd/system/stela-boot-random-seed.service";

/// Its static `Wants=` link from multi-user.target, in /usr as well.
pub const WANTS_LINK: &str =
    "usr/lib/systemd/system/multi-user.target.wants/stela-boot-random-seed.service";

const UNIT: &str = "\
# stela: systemd-boot-random-seed.service's work, once the boot is done rather than
# before sysinit.target (it waits for the ESP). See man:systemd-boot-random-seed.service(8).
[Unit]
Description=Update Boot Loader Random Seed (after the boot)
Documentation=man:systemd-boot-random-seed.service(8) man:random(4)
After=multi-user.target systemd-random-seed.service
Conflicts=shutdown.target
Before=shutdown.target
ConditionVirtualization=!container
ConditionPathExists=|/sys/firmware/efi/efivars/LoaderFeatures-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
ConditionPathExists=|/sys/firmware/efi/efivars/StubFeatures-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=bootctl --graceful random-seed
";

/// Move the seed's refresh after the boot, when the tree has the stock unit.
pub fn install(tree: &Path) -> anyhow::Result<()> {
    let stock = tree.join("usr/lib/systemd/system").join(STOCK_UNIT);
    if !stock.exists() {
        return Ok(());
    }
    run::in_tree(
        tree,
        &["systemctl", "mask", STOCK_UNIT],
        "masking systemd-boot-random-seed.service",
    )?;
    write(&tree.join(UNIT_PATH), UNIT)?;
    let link = tree.join(WANTS_LINK);
    if let Some(dir) = link.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink("../stela-boot-random-seed.service", &link)
        .with_context(|| format!("linking {}", link.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_runs_after_the_boot_and_the_same_command() {
        assert!(UNIT.contains("\nAfter=multi-user.target "));
        assert!(!UNIT
            .lines()
            .any(|l| l.starts_with("Before=") && l.contains("sysinit.target")));
        assert!(UNIT.contains("\nExecStart=bootctl --graceful random-seed\n"));
    }

    #[test]
    fn a_tree_without_the_stock_unit_is_left_alone() {
        let t = tempfile::tempdir().unwrap();
        install(t.path()).unwrap();
        assert!(!t.path().join(UNIT_PATH).exists());
    }
}
