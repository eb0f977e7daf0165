//! Customise the cached tree, seen through an overlay: the recipe's files, overlays, units and
//! first-boot answers; the root partition's definition for systemd-repart; and /etc
//! moved to /usr/share/factory/etc, recreated on the empty root partition by
//! systemd-tmpfiles at boot.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{bail, Context};
use stela_recipe::{Encryption, FileSource, Recipe};

use crate::run;

/// The tmpfiles.d file that recreates /etc from the factory copy.
pub const FACTORY_ETC_TMPFILES: &str = "usr/lib/tmpfiles.d/00-stela-factory-etc.conf";

/// Customise `tree` (an [`super::overlay::Overlay`] over the cached root file system).
/// Returns the installed packages with their versions, for the manifest.
pub fn run(recipe: &Recipe, tree: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let _ = std::fs::remove_file(tree.join(".stela-complete"));

    write_files(recipe, tree)?;
    for overlay in recipe.overlay() {
        let mut cp = run::command("cp");
        cp.args(["-a", "--no-preserve=ownership"])
            .arg(format!("{}/.", overlay.resolved().display()))
            .arg(tree);
        run::run(&mut cp, &format!("copying the overlay {overlay}"))?;
    }
    identity(recipe, tree)?;
    units(recipe, tree)?;
    super::agent::install(recipe, tree)?;
    root_partition(recipe, tree)?;
    os_release(recipe, tree)?;
    super::secrets::remove(tree)?;
    super::ssh_host_keys::install(tree, &recipe.firstboot().ssh_host_keys)?;
    super::first_boot::prepare(tree)?;
    super::secrets::refuse_private_keys(tree)?;
    factory_etc(tree)?;
    installed_packages(tree)
}

/// Write `text` to `path`, making its directory first.
pub(crate) fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    write_bytes(path, text.as_bytes())
}

/// Write `bytes` to `path`, making its directory first.
pub(crate) fn write_bytes(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

fn write_files(recipe: &Recipe, tree: &Path) -> anyhow::Result<()> {
    for f in recipe.files() {
        let dest = tree.join(f.dest.as_str().trim_start_matches('/'));
        if let Some(dir) = dest.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        match &f.source {
            FileSource::Host(src) => {
                std::fs::copy(src.resolved(), &dest)
                    .with_context(|| format!("files: copying {src} to {}", f.dest.as_str()))?;
            }
            FileSource::Inline(text) => write(&dest, text)?,
        }
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(f.mode.bits()))
            .with_context(|| format!("files: setting the mode of {}", f.dest.as_str()))?;
    }
    Ok(())
}

fn identity(recipe: &Recipe, tree: &Path) -> anyhow::Result<()> {
    if let Some(host) = recipe.hostname() {
        write(&tree.join("etc/hostname"), &format!("{host}\n"))?;
    }
    let fb = recipe.firstboot();
    write(
        &tree.join("etc/locale.conf"),
        &format!("LANG={}\n", fb.locale.as_str()),
    )?;
    let zone = tree.join("usr/share/zoneinfo").join(fb.timezone.as_str());
    let localtime = tree.join("etc/localtime");
    let _ = std::fs::remove_file(&localtime);
    if zone.exists() {
        std::os::unix::fs::symlink(
            format!("../usr/share/zoneinfo/{}", fb.timezone.as_str()),
            &localtime,
        )
        .context("linking /etc/localtime")?;
    }
    if let Some(keymap) = &fb.keymap {
        write(
            &tree.join("etc/vconsole.conf"),
            &format!("KEYMAP={}\n", keymap.as_str()),
        )?;
    }
    if let Some(hash) = &fb.root_password_hashed {
        run::in_tree(
            tree,
            &["usermod", "-p", hash.as_str(), "root"],
            "setting root's password",
        )?;
    }
    if !fb.root_ssh_keys.is_empty() {
        let keys: Vec<&str> = fb.root_ssh_keys.iter().map(|k| k.as_str()).collect();
        write(
            &tree.join("usr/share/factory/root/.ssh/authorized_keys"),
            &format!("{}\n", keys.join("\n")),
        )?;
        write(
            &tree.join("usr/lib/tmpfiles.d/10-stela-root-ssh.conf"),
            "d /root/.ssh 0700 root root -\nC /root/.ssh/authorized_keys - - - - /usr/share/factory/root/.ssh/authorized_keys\nz /root/.ssh/authorized_keys 0600 root root -\n",
        )?;
    }
    if tree.join("usr/lib/systemd/resolv.conf").exists()
        || tree.join("usr/lib/systemd/systemd-resolved").exists()
    {
        let resolv = tree.join("etc/resolv.conf");
        let _ = std::fs::remove_file(&resolv);
        std::os::unix::fs::symlink("../run/systemd/resolve/stub-resolv.conf", &resolv)
            .context("linking /etc/resolv.conf")?;
    }
    Ok(())
}

fn units(recipe: &Recipe, tree: &Path) -> anyhow::Result<()> {
    let units = recipe.systemd();
    for unit in units.enable() {
        run::in_tree(
            tree,
            &["systemctl", "enable", unit.as_str()],
            &format!("systemd.enable: {unit}"),
        )?;
    }
    // The boot loader on the ESP is signed by stela and updated with the image;
    // bootctl's automatic update would put the unsigned copy from /usr in its place.
    if tree
        .join("usr/lib/systemd/system/systemd-boot-update.service")
        .exists()
    {
        run::in_tree(
            tree,
            &["systemctl", "mask", "systemd-boot-update.service"],
            "masking systemd-boot-update.service",
        )?;
    }
    super::random_seed::install(tree)?;
    for unit in units.disable() {
        run::in_tree(
            tree,
            &["systemctl", "disable", unit.as_str()],
            &format!("systemd.disable: {unit}"),
        )?;
    }
    Ok(())
}

/// systemd-repart in the initrd creates the root partition at first boot from this.
fn root_partition(recipe: &Recipe, tree: &Path) -> anyhow::Result<()> {
    let root = &recipe.partitions().root;
    let mut conf = format!(
        "# The read-write root partition, made at first boot by systemd-repart (stela).\n[Partition]\nType=root\nLabel=root\nFormat={}\nSizeMinBytes={}\n",
        root.filesystem.as_str(),
        root.min_size.bytes()
    );
    if !root.grow {
        conf.push_str(&format!("SizeMaxBytes={}\n", root.min_size.bytes()));
    }
    if root.encrypt == Encryption::Tpm2 {
        conf.push_str("Encrypt=tpm2\n");
    }
    write(&tree.join("usr/lib/repart.d/50-stela-root.conf"), &conf)
}

fn os_release(recipe: &Recipe, tree: &Path) -> anyhow::Result<()> {
    let path = tree.join("usr/lib/os-release");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("IMAGE_ID=") && !l.starts_with("IMAGE_VERSION="))
        .map(str::to_owned)
        .collect();
    lines.push(format!("IMAGE_ID={}", recipe.name()));
    lines.push(format!("IMAGE_VERSION={}", recipe.version()));
    write(&path, &(lines.join("\n") + "\n"))
}

/// /etc lives on the root partition, which starts empty: keep the image's /etc as
/// /usr/share/factory/etc (verity-protected) and let tmpfiles recreate each top-level
/// entry that is missing (`C` copies, `L` recreates symlinks, which `C` would follow).
fn factory_etc(tree: &Path) -> anyhow::Result<()> {
    let etc = tree.join("etc");
    let factory = tree.join("usr/share/factory/etc");
    if factory.exists() {
        std::fs::remove_dir_all(&factory)
            .with_context(|| format!("removing {}", factory.display()))?;
    }
    let parent = tree.join("usr/share/factory");
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let mut cp = run::command("cp");
    cp.args(["-a"]).arg(&etc).arg(&factory);
    run::run(&mut cp, "copying /etc to /usr/share/factory/etc")?;
    let mut names: Vec<_> = std::fs::read_dir(&factory)
        .with_context(|| format!("listing {}", factory.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("listing {}", factory.display()))?;
    names.sort_by_key(|e| e.file_name());
    let mut rules = String::from(
        "# /etc recreated from the factory copy in /usr (stela)\nd /etc 0755 root root -\n",
    );
    for entry in names {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains(char::is_whitespace) {
            bail!("/etc/{name}: a name with white space cannot go into tmpfiles.d");
        }
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| format!("reading {}", path.display()))?;
        if kind.is_symlink() {
            let target =
                std::fs::read_link(&path).with_context(|| format!("reading {}", path.display()))?;
            rules.push_str(&format!("L /etc/{name} - - - - {}\n", target.display()));
        } else {
            rules.push_str(&format!(
                "C /etc/{name} - - - - /usr/share/factory/etc/{name}\n"
            ));
        }
    }
    write(&tree.join(FACTORY_ETC_TMPFILES), &rules)
}

/// The packages installed in `tree`, with their versions, from its dpkg database.
pub fn installed_packages(tree: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut cmd = run::command("dpkg-query");
    cmd.arg(format!(
        "--admindir={}",
        tree.join("var/lib/dpkg").display()
    ))
    .args(["-W", "-f", "${Package}\t${Version}\n"]);
    let out = run::run(&mut cmd, "listing the installed packages")?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(p, v)| (p.to_owned(), v.to_owned()))
        .collect())
}
