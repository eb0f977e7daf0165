//! No per-machine secret or identity in the image.
//!
//! Package maintainer scripts generate secrets while the tree is made: openssh-server
//! makes host keys, systemd may leave a random seed or a credential key, dbus a machine
//! ID. Whatever lands in the tree lands in the signed /usr (the factory copy of /etc) and
//! in every update artifact, so every machine built from the image would share them and
//! anyone who downloads an update would hold them. They are removed here; each machine
//! makes its own at first boot on the read-write root partition (sshd-keygen.service for
//! the host keys, see [`super::ssh_host_keys`]; systemd for the machine ID, seed and
//! credential key).

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context};

/// Files that hold a per-machine secret or identity, relative to the tree. A `*` matches
/// any run of characters within one file name.
pub const MACHINE_SECRETS: &[&str] = &[
    "etc/ssh/ssh_host_*_key",
    "etc/ssh/ssh_host_*_key.pub",
    "etc/machine-id",
    "var/lib/dbus/machine-id",
    "var/lib/systemd/random-seed",
    "var/lib/systemd/credential.secret",
    "etc/ssl/private/ssl-cert-snakeoil.key",
    "etc/ssl/certs/ssl-cert-snakeoil.pem",
    "var/lib/sgml-base/supercatalog.old",
];

/// Remove every [`MACHINE_SECRETS`] file from `tree`.
pub fn remove(tree: &Path) -> anyhow::Result<()> {
    for pattern in MACHINE_SECRETS {
        let (dir, name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
        let dir = tree.join(dir);
        for entry in entries_if_any(&dir)? {
            let file = entry.file_name();
            if glob_match(name, &file.to_string_lossy()) {
                let path = entry.path();
                tracing::info!("removing the machine secret {}", path.display());
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
    }
    Ok(())
}

/// The entries of `dir`, none when it does not exist.
fn entries_if_any(dir: &Path) -> anyhow::Result<Vec<std::fs::DirEntry>> {
    let listing = || format!("listing {}", dir.display());
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.collect::<Result<_, _>>().with_context(listing),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(listing),
    }
}

/// Headers that begin private key material in the PEM and OpenSSH formats.
const PRIVATE_KEY_MARKERS: &[&[u8]] = &[
    b"-----BEGIN PRIVATE KEY-----",
    b"-----BEGIN RSA PRIVATE KEY-----",
    b"-----BEGIN EC PRIVATE KEY-----",
    b"-----BEGIN DSA PRIVATE KEY-----",
    b"-----BEGIN ENCRYPTED PRIVATE KEY-----",
    b"-----BEGIN OPENSSH PRIVATE KEY-----",
];

/// Files larger than this are not key files; they are skipped by the scan.
const MAX_SCANNED_FILE: u64 = 1 << 20;

/// Fail when /etc (which becomes the verity-protected factory copy) holds private key
/// material: a package or the recipe's files put a secret that every machine would share.
pub fn refuse_private_keys(tree: &Path) -> anyhow::Result<()> {
    let mut stack = vec![tree.join("etc")];
    let mut found = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in entries_if_any(&dir)? {
            let kind = entry
                .file_type()
                .with_context(|| format!("reading {}", entry.path().display()))?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() && holds_private_key(&entry.path())? {
                found.push(entry.path());
            }
        }
    }
    found.sort();
    if let Some(first) = found.first() {
        let names: Vec<String> = found
            .iter()
            .map(|p| format!("/{}", p.strip_prefix(tree).unwrap_or(p).display()))
            .collect();
        bail!(
            "the image would carry private key material, shared by every machine and every \
             update artifact: {} (first: {}); generate such keys on the machine at first \
             boot instead",
            names.join(", "),
            first.display()
        );
    }
    Ok(())
}

fn holds_private_key(path: &Path) -> anyhow::Result<bool> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_SCANNED_FILE)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(PRIVATE_KEY_MARKERS
        .iter()
        .any(|m| bytes.windows(m.len()).any(|w| w == *m)))
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_match(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob_match(tail, &rest[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_names() {
        assert!(glob_match("ssh_host_*_key", "ssh_host_ed25519_key"));
        assert!(!glob_match("ssh_host_*_key", "ssh_host_ed25519_key.pub"));
        assert!(glob_match("ssh_host_*_key.pub", "ssh_host_rsa_key.pub"));
        assert!(glob_match("machine-id", "machine-id"));
        assert!(!glob_match("machine-id", "machine-id.old"));
    }

    #[test]
    fn host_keys_and_identities_are_removed_and_other_files_kept() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let t = tmp.path();
        for f in [
            "etc/ssh/ssh_host_ed25519_key",
            "etc/ssh/ssh_host_ed25519_key.pub",
            "etc/ssh/sshd_config",
            "etc/machine-id",
            "var/lib/systemd/random-seed",
        ] {
            let p = t.join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, b"x").expect("write");
        }
        remove(t).expect("remove");
        assert!(!t.join("etc/ssh/ssh_host_ed25519_key").exists());
        assert!(!t.join("etc/ssh/ssh_host_ed25519_key.pub").exists());
        assert!(!t.join("etc/machine-id").exists());
        assert!(!t.join("var/lib/systemd/random-seed").exists());
        assert!(t.join("etc/ssh/sshd_config").exists());
    }

    #[test]
    fn a_private_key_left_in_etc_fails_the_build_naming_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let t = tmp.path();
        std::fs::create_dir_all(t.join("etc/app")).expect("mkdir");
        std::fs::write(t.join("etc/app/tls.pem"), b"-----BEGIN CERTIFICATE-----\n").expect("w");
        refuse_private_keys(t).expect("a certificate is fine");
        std::fs::write(
            t.join("etc/app/tls.key"),
            b"-----BEGIN PRIVATE KEY-----\nMII...\n",
        )
        .expect("w");
        let err = refuse_private_keys(t).expect_err("a private key must be refused");
        assert!(err.to_string().contains("/etc/app/tls.key"), "{err}");
    }
}
