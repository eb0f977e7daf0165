//! The initrd: dracut from the image's own packages, systemd-based, with what the boot
//! chain needs (decision record 0006): systemd-veritysetup for the signed /usr,
//! systemd-repart to make the root partition at first boot, and a unit that recreates
//! /etc on the new root from the factory copy before switching to it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use stela_recipe::Recipe;

use crate::run;

/// Bump when the initrd's contents change for the same inputs.
const INITRD_CONFIG: &str = "stela-initrd-v2";

const FACTORY_ETC_UNIT: &str = "\
[Unit]
Description=Recreate /etc on the root partition from /usr/share/factory/etc
Documentation=https://example.invalid/stela/docs/recipe.md
DefaultDependencies=no
ConditionPathExists=/etc/initrd-release
RequiresMountsFor=/sysroot /sysroot/usr
Before=initrd-fs.target initrd-parse-etc.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=systemd-tmpfiles --root=/sysroot --create --prefix=/etc --prefix=/root
";

/// The single kernel release installed in the tree.
pub fn kernel_release(tree: &Path) -> anyhow::Result<String> {
    let dir = tree.join("usr/lib/modules");
    let mut releases: Vec<String> = std::fs::read_dir(&dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    releases.sort();
    match releases.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no kernel in the image: add a linux-image package"),
        many => bail!(
            "several kernels in the image ({}); keep one",
            many.join(", ")
        ),
    }
}

/// The initrd's cache key: what decides its content. The installed packages (dracut,
/// systemd, udev, the kernel and its modules: the tree's dpkg status), the recipe
/// (which includes the root file system type), the content of the recipe's files and
/// overlays (they may change anything dracut picks up), the kernel release and this
/// step's own configuration.
pub fn cache_key(recipe: &Recipe, tree: &Path, kver: &str) -> anyhow::Result<String> {
    let mut key = Sha256::new();
    key.update(INITRD_CONFIG);
    key.update(FACTORY_ETC_UNIT);
    key.update(recipe.cache_key().as_bytes());
    key.update(kver);
    super::content::dpkg_status(&mut key, tree)?;
    super::content::recipe_content(&mut key, recipe)?;
    Ok(hex::encode(key.finalize()))
}

/// Build (or take from the cache) the initrd. The bool says whether it was cached.
pub fn build(
    recipe: &Recipe,
    tree: &Path,
    cache: &Path,
    work: &Path,
) -> anyhow::Result<(PathBuf, bool)> {
    let kver = kernel_release(tree)?;
    let fs = recipe.partitions().root.filesystem;
    let mkfs = format!("/usr/sbin/mkfs.{}", fs.as_str());
    let key = cache_key(recipe, tree, &kver)?;
    let cached = cache.join("initrd").join(format!("{key}.img"));
    if cached.is_file() {
        return Ok((cached, true));
    }

    // Files for the initrd, staged inside the tree so dracut (in the chroot) sees them.
    let stage_rel = "var/tmp/stela-initrd";
    let stage = tree.join(stage_rel);
    let units = stage.join("usr/lib/systemd/system");
    let wants = units.join("initrd-fs.target.wants");
    std::fs::create_dir_all(&wants).with_context(|| format!("creating {}", wants.display()))?;
    let unit = units.join("stela-factory-etc.service");
    std::fs::write(&unit, FACTORY_ETC_UNIT)
        .with_context(|| format!("writing {}", unit.display()))?;
    let link = wants.join("stela-factory-etc.service");
    std::os::unix::fs::symlink("../stela-factory-etc.service", &link)
        .with_context(|| format!("linking {}", link.display()))?;
    let out_rel = "var/tmp/stela-initrd.img";
    let epoch = super::source_date_epoch()?.to_string();
    let mut cmd = run::command("chroot");
    cmd.env("SOURCE_DATE_EPOCH", &epoch)
        .arg(tree)
        .args([
            "dracut",
            "--force",
            "--no-hostonly",
            "--reproducible",
            "--nofscks",
            "--no-early-microcode",
        ])
        .args([
            "--add",
            "systemd-veritysetup systemd-repart systemd-tmpfiles",
        ])
        .args(["--omit", "plymouth"])
        .args([
            "--add-drivers",
            "dm-verity erofs ext4 btrfs xfs virtio_blk virtio_pci virtio_scsi nvme ahci sd_mod",
        ])
        .arg("--install")
        .arg(format!("{mkfs} /usr/sbin/mke2fs"))
        .arg("--include")
        .arg(format!("/{stage_rel}"))
        .arg("/")
        .arg(format!("/{out_rel}"))
        .arg(&kver);
    run::run(&mut cmd, "building the initrd with dracut")?;
    let dir = cache.join("initrd");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = work.join("initrd.img");
    super::move_file(&tree.join(out_rel), &tmp)?;
    std::fs::remove_dir_all(&stage).with_context(|| format!("removing {}", stage.display()))?;
    super::move_file(&tmp, &cached)?;
    Ok((cached, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_key_follows_packages_overlays_files_and_the_kernel() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path();
        std::fs::create_dir_all(base.join("overlay/etc/dracut.conf.d")).expect("mkdir");
        std::fs::write(base.join("overlay/etc/dracut.conf.d/x.conf"), "a").expect("w");
        std::fs::write(base.join("motd"), "hello").expect("w");
        let recipe = Recipe::parse(
            "name = \"x\"\nversion = \"1\"\noverlay = [\"overlay\"]\n[[files]]\ndest = \"/etc/motd\"\nsrc = \"motd\"\n",
            "r.toml",
            base,
        )
        .expect("recipe");
        let tree = base.join("tree");
        std::fs::create_dir_all(tree.join("var/lib/dpkg")).expect("mkdir");
        let status = tree.join("var/lib/dpkg/status");
        std::fs::write(&status, "Package: systemd\nVersion: 257.8-1\n").expect("w");
        let key = || cache_key(&recipe, &tree, "6.12.1").expect("key");
        let first = key();
        assert_eq!(first, key(), "the same inputs give the same key");
        // A newer systemd in the tree: a new initrd.
        std::fs::write(&status, "Package: systemd\nVersion: 257.9-1\n").expect("w");
        let newer = key();
        assert_ne!(first, newer);
        // The overlay's content, not just its path.
        std::fs::write(base.join("overlay/etc/dracut.conf.d/x.conf"), "b").expect("w");
        let overlay = key();
        assert_ne!(newer, overlay);
        // A host file's content.
        std::fs::write(base.join("motd"), "changed").expect("w");
        let file = key();
        assert_ne!(overlay, file);
        // Another kernel release.
        assert_ne!(file, cache_key(&recipe, &tree, "6.12.2").expect("key"));
    }
}
