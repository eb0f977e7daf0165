//! SSH host keys: made by each machine at its first boot, of the types the recipe names
//! (`firstboot.ssh_host_keys`, Ed25519 alone by default), and the only ones sshd offers.
//!
//! The image carries no host key ([`super::secrets`] removes the ones openssh-server's
//! postinst made). Debian's sshd-keygen.service runs `ssh-keygen -A`, which makes RSA,
//! ECDSA and Ed25519 keys, and only when systemd thinks this is the first boot
//! (`ConditionFirstBoot=yes`). Both are changed by a drop-in:
//!
//! - It runs whenever a key of a named type is missing: a first boot cut off before it
//!   ran, or a root partition that kept /etc but lost its keys, would otherwise leave
//!   sshd without host keys for good.
//! - It makes only the named types. An RSA key takes most of a core for 5 to 10 s of
//!   the first boot under QEMU's emulation (under a second on hardware), while the login
//!   prompt and every other first-boot unit wait for the CPU; Ed25519 takes
//!   milliseconds.
//!
//! sshd is told to offer exactly these keys by `HostKey` lines in
//! `/etc/ssh/sshd_config.d/` (Debian's sshd_config includes that directory first). The
//! file there is a link into /usr, so an update that changes the types reaches machines
//! whose /etc was copied from an older image.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context};
use stela_recipe::SshHostKeyType;

use super::customise::write;

/// Where the drop-in for sshd-keygen.service goes.
pub const KEYGEN_DROPIN_PATH: &str =
    "usr/lib/systemd/system/sshd-keygen.service.d/50-stela-host-keys.conf";

/// The sshd configuration with the `HostKey` lines, in /usr (updated with the image).
pub const SSHD_HOST_KEYS_PATH: &str = "usr/lib/stela/sshd-host-keys.conf";

/// The link to it that sshd reads, in /etc (copied to the machine from the factory /etc).
pub const SSHD_HOST_KEYS_LINK: &str = "etc/ssh/sshd_config.d/50-stela-host-keys.conf";

/// The sshd-keygen.service drop-in for `types`.
pub fn keygen_dropin(types: &BTreeSet<SshHostKeyType>) -> String {
    let mut text = String::from(
        "# stela: make the host keys of the types the recipe names on the read-write /etc,\n\
         # whenever one is missing, not only on systemd's first boot. The image carries no\n\
         # host key (every machine makes its own).\n\
         [Unit]\n\
         ConditionFirstBoot=\n\
         ConditionPathIsReadWrite=/etc/ssh\n\
         ConditionPathIsSymbolicLink=!/etc/ssh\n",
    );
    for t in types {
        text.push_str(&format!("ConditionPathExists=|!{}\n", t.private_key_path()));
    }
    text.push_str("\n[Service]\n# Not `ssh-keygen -A`: it makes every type.\nExecStart=\n");
    for t in types {
        let key = t.private_key_path();
        text.push_str(&format!(
            "ExecStart=/bin/sh -c \"test -e {key} || exec ssh-keygen -q -t {t} -N '' -C '' -f {key}\"\n"
        ));
    }
    text
}

/// sshd's `HostKey` lines for `types`.
pub fn sshd_host_keys(types: &BTreeSet<SshHostKeyType>) -> String {
    let mut text = String::from(
        "# stela: the host keys this image's machines make at first boot (recipe\n\
         # firstboot.ssh_host_keys); sshd offers these and no others.\n",
    );
    for t in types {
        text.push_str(&format!("HostKey {}\n", t.private_key_path()));
    }
    text
}

/// Write the drop-in, the sshd configuration and its link into `tree` when
/// openssh-server is installed; nothing otherwise.
pub fn install(tree: &Path, types: &BTreeSet<SshHostKeyType>) -> anyhow::Result<()> {
    let keygen_unit = tree.join("usr/lib/systemd/system/sshd-keygen.service");
    if !keygen_unit.is_file() {
        if tree.join("usr/sbin/sshd").exists() {
            bail!(
                "openssh-server is installed but {} is missing: nothing would make the host \
                 keys at first boot",
                keygen_unit.display()
            );
        }
        return Ok(());
    }
    write(&tree.join(KEYGEN_DROPIN_PATH), &keygen_dropin(types))?;
    write(&tree.join(SSHD_HOST_KEYS_PATH), &sshd_host_keys(types))?;
    let link = tree.join(SSHD_HOST_KEYS_LINK);
    if let Some(dir) = link.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    match std::fs::symlink_metadata(&link) {
        Ok(_) => {
            std::fs::remove_file(&link).with_context(|| format!("replacing {}", link.display()))?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", link.display())),
    }
    std::os::unix::fs::symlink(format!("/{SSHD_HOST_KEYS_PATH}"), &link)
        .with_context(|| format!("linking {}", link.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types(list: &[SshHostKeyType]) -> BTreeSet<SshHostKeyType> {
        list.iter().copied().collect()
    }

    #[test]
    fn the_dropin_makes_only_the_named_types_whenever_one_is_missing() {
        let dropin = keygen_dropin(&types(&[SshHostKeyType::Ed25519, SshHostKeyType::Rsa]));
        assert!(dropin.contains("ConditionFirstBoot=\n"), "{dropin}");
        // A trigger condition puts `|` after the `=` (systemd.unit(5)); before the key
        // systemd ignores the line as an unknown key and the unit runs unconditionally.
        let triggers: Vec<&str> = dropin
            .lines()
            .filter(|l| l.starts_with("ConditionPathExists="))
            .collect();
        assert_eq!(
            triggers,
            [
                "ConditionPathExists=|!/etc/ssh/ssh_host_ed25519_key",
                "ConditionPathExists=|!/etc/ssh/ssh_host_rsa_key"
            ]
        );
        assert!(
            dropin.contains("\nExecStart=\n"),
            "the package's -A is reset"
        );
        assert!(dropin.contains("-t ed25519"), "{dropin}");
        assert!(dropin.contains("-t rsa"), "{dropin}");
        assert!(!dropin.contains("ecdsa"), "{dropin}");
    }

    #[test]
    fn installed_only_with_openssh_server_and_sshd_reads_it_through_etc() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let t = tmp.path();
        let ed = types(&[SshHostKeyType::Ed25519]);
        install(t, &ed).expect("no openssh-server: nothing to do");
        assert!(!t.join(KEYGEN_DROPIN_PATH).exists());

        std::fs::create_dir_all(t.join("usr/sbin")).expect("mkdir");
        std::fs::write(t.join("usr/sbin/sshd"), b"").expect("write");
        let err = install(t, &ed).expect_err("sshd without sshd-keygen.service");
        assert!(err.to_string().contains("sshd-keygen.service"), "{err}");

        std::fs::create_dir_all(t.join("usr/lib/systemd/system")).expect("mkdir");
        std::fs::write(t.join("usr/lib/systemd/system/sshd-keygen.service"), b"").expect("w");
        install(t, &ed).expect("install");
        install(t, &ed).expect("install again (the link is replaced)");
        let link = std::fs::read_link(t.join(SSHD_HOST_KEYS_LINK)).expect("link");
        assert_eq!(link, Path::new("/usr/lib/stela/sshd-host-keys.conf"));
        let conf = std::fs::read_to_string(t.join(SSHD_HOST_KEYS_PATH)).expect("conf");
        let keys: Vec<&str> = conf.lines().filter(|l| l.starts_with("HostKey")).collect();
        assert_eq!(keys, ["HostKey /etc/ssh/ssh_host_ed25519_key"]);
    }
}
