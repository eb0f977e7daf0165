//! First-boot answers: what systemd-firstboot would otherwise ask at the console.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::error::InvalidValue;
use crate::names::string_newtype;

string_newtype! {
    /// A locale name: `C.UTF-8`, `POSIX`, `en_US.UTF-8`, `de_DE.UTF-8@euro`.
    Locale
}

impl Locale {
    /// `C.UTF-8`, built into the C library: needs no `locales` package.
    pub fn default_locale() -> Locale {
        Locale("C.UTF-8".into())
    }

    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Locale, InvalidValue> {
        let (main, modifier) = s.split_once('@').unwrap_or((s, ""));
        let (lang_territory, codeset) = main.split_once('.').unwrap_or((main, ""));
        let (lang, territory) = lang_territory
            .split_once('_')
            .unwrap_or((lang_territory, ""));
        let lang_ok = matches!(lang, "C" | "POSIX")
            || ((2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_lowercase()));
        let territory_ok = territory.is_empty()
            || (territory.len() == 2 && territory.chars().all(|c| c.is_ascii_uppercase()));
        let word = |w: &str| w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let dotted = main.contains('.');
        let at = s.contains('@');
        if lang_ok
            && territory_ok
            && (!dotted || (!codeset.is_empty() && word(codeset)))
            && (!at || (!modifier.is_empty() && word(modifier)))
        {
            Ok(Locale(s.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "{s:?} is not a locale name (e.g. C.UTF-8 or en_US.UTF-8)"
            )))
        }
    }

    /// Whether the locale is built into the C library (`C`, `C.UTF-8`, `POSIX`), so that
    /// the image needs no `locales` package for it.
    pub fn is_builtin(&self) -> bool {
        matches!(self.0.as_str(), "C" | "C.UTF-8" | "C.utf8" | "POSIX")
    }
}

string_newtype! {
    /// A console keymap name (`us`, `de-latin1`).
    Keymap
}

impl Keymap {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Keymap, InvalidValue> {
        if !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !s.starts_with('.')
        {
            Ok(Keymap(s.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "{s:?} is not a keymap name (e.g. us)"
            )))
        }
    }
}

string_newtype! {
    /// A time zone of the tz database: `UTC`, `Europe/Paris`, `America/Argentina/Salta`.
    Timezone
}

impl Timezone {
    /// `UTC`.
    pub fn utc() -> Timezone {
        Timezone("UTC".into())
    }

    /// Checks the syntax of `s` (the image's tzdata decides whether the zone exists).
    pub fn parse(s: &str) -> Result<Timezone, InvalidValue> {
        let part_ok = |p: &str| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '.'))
        };
        if s.split('/').all(part_ok) {
            Ok(Timezone(s.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "{s:?} is not a time zone name (e.g. UTC or Europe/Paris)"
            )))
        }
    }

    /// Whether the zone is UTC, which needs no `tzdata` package.
    pub fn is_utc(&self) -> bool {
        matches!(self.0.as_str(), "UTC" | "Etc/UTC")
    }
}

string_newtype! {
    /// A crypt(3) password hash as `/etc/shadow` holds it: `$y$...` (yescrypt, what
    /// `mkpasswd` and `openssl passwd` write), `$6$...`. Never a clear-text password.
    PasswordHash
}

impl PasswordHash {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<PasswordHash, InvalidValue> {
        let fields: Vec<&str> = s.split('$').collect();
        // "$id$[params$]salt$hash" splits into "", id, ..., hash.
        let shaped = s.starts_with('$')
            && fields.len() >= 4
            && fields[1..].iter().all(|f| !f.is_empty())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '$' | '.' | '/' | '=' | ','));
        if shaped {
            Ok(PasswordHash(s.to_owned()))
        } else {
            Err(InvalidValue(
                "is not a crypt(3) hash like \"$y$...\"; make one with `mkpasswd` or \
                 `openssl passwd -6` (never put a clear-text password in a recipe)"
                    .into(),
            ))
        }
    }
}

/// Key types OpenSSH accepts in `authorized_keys`.
const SSH_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

string_newtype! {
    /// One public key line of `authorized_keys`: `ssh-ed25519 AAAA... comment`.
    SshKey
}

impl SshKey {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<SshKey, InvalidValue> {
        let mut words = s.split(' ');
        let kind = words.next().unwrap_or_default();
        let blob = words.next().unwrap_or_default();
        let ok = SSH_KEY_TYPES.contains(&kind)
            && blob.len() >= 16
            && blob
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
            && !s.chars().any(char::is_control);
        if ok {
            Ok(SshKey(s.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "is not an OpenSSH public key line (\"<type> <base64> [comment]\", type one of {})",
                SSH_KEY_TYPES.join(", ")
            )))
        }
    }
}

/// A type of SSH host key that the machine makes for itself at first boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SshHostKeyType {
    /// Ed25519: fast to make and to use; every OpenSSH since 6.5 (2014) takes it.
    Ed25519,
    /// ECDSA on NIST P-256.
    Ecdsa,
    /// RSA, 3072 bits (ssh-keygen's default): for clients that know nothing newer. Making
    /// one at first boot takes under a second of CPU on hardware, most of a core for 5 to
    /// 10 s under QEMU's emulation.
    Rsa,
}

impl SshHostKeyType {
    /// Every type, in the order sshd offers them.
    pub const ALL: [SshHostKeyType; 3] = [Self::Ed25519, Self::Ecdsa, Self::Rsa];

    /// The name the recipe and `ssh-keygen -t` use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::Ecdsa => "ecdsa",
            Self::Rsa => "rsa",
        }
    }

    /// The private key's path on the machine: `/etc/ssh/ssh_host_<type>_key`, where
    /// `ssh-keygen -A` and Debian's sshd_config put it.
    pub fn private_key_path(self) -> String {
        format!("/etc/ssh/ssh_host_{}_key", self.name())
    }

    /// Checks `s`.
    pub fn parse(s: &str) -> Result<SshHostKeyType, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                InvalidValue(format!(
                    "{s:?} is not an SSH host key type; one of {}",
                    Self::ALL.map(Self::name).join(", ")
                ))
            })
    }
}

impl std::fmt::Display for SshHostKeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the first boot is told, so that it never waits at the console.
///
/// The build writes these answers into the image (as `systemd-firstboot --root` would)
/// and adds `systemd.firstboot=off` to the kernel command line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Firstboot {
    /// System locale (`/etc/locale.conf`); default `C.UTF-8`.
    pub locale: Locale,
    /// Console keymap (`/etc/vconsole.conf`); none by default (the kernel's).
    pub keymap: Option<Keymap>,
    /// Time zone (`/etc/localtime`); default `UTC`.
    pub timezone: Timezone,
    /// root's password hash; none by default: root has no password and cannot log in
    /// with one.
    pub root_password_hashed: Option<PasswordHash>,
    /// Public keys allowed to log in as root over SSH (provisioned into
    /// `/root/.ssh/authorized_keys` at first boot, since root's home is on the root
    /// partition).
    pub root_ssh_keys: Vec<SshKey>,
    /// The SSH host keys each machine makes at its first boot (when openssh-server is
    /// installed), and the only ones sshd offers; default Ed25519 alone.
    pub ssh_host_keys: BTreeSet<SshHostKeyType>,
}

impl Default for Firstboot {
    fn default() -> Self {
        Firstboot {
            locale: Locale::default_locale(),
            keymap: None,
            timezone: Timezone::utc(),
            root_password_hashed: None,
            root_ssh_keys: Vec::new(),
            ssh_host_keys: BTreeSet::from([SshHostKeyType::Ed25519]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax() {
        for good in [
            "C",
            "C.UTF-8",
            "POSIX",
            "en_US.UTF-8",
            "de_DE.UTF-8@euro",
            "fil_PH",
        ] {
            assert!(Locale::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "english", "en_us", "en_US.", "en_US.UTF 8", "en_US@"] {
            assert!(Locale::parse(bad).is_err(), "{bad}");
        }
        for good in [
            "UTC",
            "Europe/Paris",
            "America/Argentina/Salta",
            "Etc/GMT+1",
        ] {
            assert!(Timezone::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "/Europe/Paris", "Europe/../etc", "Europe Paris"] {
            assert!(Timezone::parse(bad).is_err(), "{bad}");
        }
        for good in [
            "$y$j9T$abcdefgh$ABCDEFGHIJ0123456789./",
            "$6$rounds=5000$salt$hash",
        ] {
            assert!(PasswordHash::parse(good).is_ok(), "{good}");
        }
        for bad in ["hunter2", "$6$", "$6$salt", "$6$$hash$", "$6$a b$c"] {
            assert!(PasswordHash::parse(bad).is_err(), "{bad}");
        }
        assert!(SshKey::parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA me@host").is_ok());
        assert!(SshKey::parse("ssh-dss AAAAB3NzaC1kc3MAAACBAP me@host").is_err());
        assert!(SshKey::parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\nx").is_err());
        assert_eq!(SshHostKeyType::parse("rsa").ok(), Some(SshHostKeyType::Rsa));
        assert!(SshHostKeyType::parse("dsa").is_err());
        assert!(SshHostKeyType::parse("ED25519").is_err());
    }
}
