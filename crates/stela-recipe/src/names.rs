//! Names the recipe gives: the image, its version, packages, units, the host name.
//!
//! Each type checks its syntax once, in `parse`; the build uses the result without
//! checking again.

use std::cmp::Ordering;

use crate::error::InvalidValue;
use crate::version::{compare_versions, is_version_char};

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);
        $crate::names::string_newtype!(@impls $name);
    };
    // Without the derived order, for types that define their own.
    (@custom_order $(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);
        $crate::names::string_newtype!(@impls $name);
    };
    (@impls $name:ident) => {
        impl $name {
            /// The checked text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use string_newtype;

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// Longest image name: leaves room for a version in a 36-character GPT label.
pub const IMAGE_NAME_MAX: usize = 32;

/// GPT partition names hold 36 UTF-16 code units (UEFI 2.10, 5.3.3); the usr partitions
/// are labelled `<name>_<version>`.
pub const GPT_LABEL_MAX: usize = 36;

string_newtype! {
    /// The image name: lowercase letters, digits and `-`, starting with a letter, at most
    /// [`IMAGE_NAME_MAX`] characters. It names the usr partitions (`<name>_<version>`)
    /// and the UKIs (`EFI/Linux/<name>_<version>+3.efi`), so it cannot hold `_`.
    ImageName
}

impl ImageName {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let Some(first) = s.chars().next() else {
            return Err(invalid("the image name is empty"));
        };
        if !first.is_ascii_lowercase() {
            return Err(invalid(format!(
                "{s:?} does not start with a lowercase letter"
            )));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return Err(invalid(format!(
                "{s:?} contains {bad:?}; use lowercase letters, digits and '-'"
            )));
        }
        if s.ends_with('-') {
            return Err(invalid(format!("{s:?} ends with '-'")));
        }
        if s.len() > IMAGE_NAME_MAX {
            return Err(invalid(format!(
                "{s:?} is {} characters long, at most {IMAGE_NAME_MAX} are allowed",
                s.len()
            )));
        }
        Ok(ImageName(s.to_owned()))
    }
}

string_newtype! {
    @custom_order
    /// An image version: letters, digits and `.`, `-`, `~`, `^` (the UAPI version
    /// alphabet), starting with a letter or digit. No `_` (it separates name and version
    /// in partition labels), no `+` (it starts the boot counter in
    /// `<name>_<version>+3.efi`), no whitespace.
    ///
    /// Versions are ordered as systemd-boot orders them ([`compare_versions`]); `Ord` breaks
    /// ties between versions that systemd-boot considers equal (`1.01` and `1.1`) by their
    /// bytes, so that it agrees with `Eq`.
    Version
}

impl Version {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let Some(first) = s.chars().next() else {
            return Err(invalid("the version is empty"));
        };
        if let Some(bad) = s
            .chars()
            .find(|c| !c.is_ascii() || !is_version_char(*c as u8))
        {
            let why = match bad {
                '_' => "'_' separates name and version in partition labels",
                '+' => "'+' starts the boot counter in the UKI file name",
                c if c.is_whitespace() => "whitespace cannot be in file names and labels",
                _ => "use letters, digits, '.', '-', '~' and '^'",
            };
            return Err(invalid(format!("{s:?} contains {bad:?}: {why}")));
        }
        if !first.is_ascii_alphanumeric() {
            return Err(invalid(format!(
                "{s:?} does not start with a letter or digit"
            )));
        }
        Ok(Version(s.to_owned()))
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_versions(&self.0, &other.0).then_with(|| self.0.cmp(&other.0))
    }
}

string_newtype! {
    /// A Debian binary package name (Debian Policy 5.6.1): lowercase letters, digits,
    /// `+`, `-` and `.`, at least two characters, starting with a letter or digit.
    PackageName
}

impl PackageName {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.len() < 2 {
            return Err(invalid(format!(
                "{s:?} is not a Debian package name (at least two characters)"
            )));
        }
        if let Some(bad) = s.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
        }) {
            return Err(invalid(format!(
                "{s:?} is not a Debian package name: {bad:?} is not allowed (use a-z, 0-9, '+', '-', '.')"
            )));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(invalid(format!(
                "{s:?} is not a Debian package name: it must start with a letter or digit"
            )));
        }
        Ok(PackageName(s.to_owned()))
    }

    /// A name known to be valid (the built-in package sets).
    pub fn known(s: &'static str) -> Self {
        PackageName(s.to_owned())
    }
}

/// Unit types `systemctl enable` and `disable` act on.
const UNIT_SUFFIXES: &[&str] = &[
    "service",
    "socket",
    "target",
    "timer",
    "path",
    "mount",
    "automount",
    "swap",
    "slice",
];

/// systemd's UNIT_NAME_MAX (256) less the terminating NUL.
const UNIT_NAME_MAX: usize = 255;

string_newtype! {
    /// A systemd unit name with its type suffix: `systemd-networkd.service`,
    /// `getty@tty1.service`, `fstrim.timer`.
    UnitName
}

impl UnitName {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let Some((stem, suffix)) = s.rsplit_once('.') else {
            return Err(invalid(format!(
                "{s:?} has no unit type suffix (e.g. \".service\")"
            )));
        };
        if !UNIT_SUFFIXES.contains(&suffix) {
            return Err(invalid(format!(
                "{s:?}: unknown unit type {suffix:?}, expected one of {}",
                UNIT_SUFFIXES.join(", ")
            )));
        }
        if stem.is_empty() || stem.starts_with('@') {
            return Err(invalid(format!("{s:?} has an empty unit name")));
        }
        if let Some(bad) = s.chars().find(|c| {
            !(c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\' | '@'))
        }) {
            return Err(invalid(format!("{s:?} contains {bad:?}")));
        }
        if s.matches('@').count() > 1 {
            return Err(invalid(format!("{s:?} contains more than one '@'")));
        }
        if s.len() > UNIT_NAME_MAX {
            return Err(invalid(format!(
                "{s:?} is longer than {UNIT_NAME_MAX} characters"
            )));
        }
        Ok(UnitName(s.to_owned()))
    }
}

/// Linux HOST_NAME_MAX.
const HOSTNAME_MAX: usize = 64;

string_newtype! {
    /// A host name: dot-separated labels of letters, digits and `-` (not at either end of
    /// a label), each at most 63 characters, at most 64 in all (Linux `HOST_NAME_MAX`).
    Hostname
}

impl Hostname {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        if s.is_empty() {
            return Err(invalid("the host name is empty"));
        }
        if s.len() > HOSTNAME_MAX {
            return Err(invalid(format!(
                "{s:?} is longer than {HOSTNAME_MAX} characters"
            )));
        }
        for label in s.split('.') {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !ok {
                return Err(invalid(format!(
                    "{s:?} is not a host name (labels of letters, digits and inner '-', 1 to 63 characters)"
                )));
            }
        }
        Ok(Hostname(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        for good in ["a", "stela-appliance", "web2", &"a".repeat(32)] {
            assert!(ImageName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "1abc", "Abc", "a_b", "a.b", "a-", &"a".repeat(33)] {
            assert!(ImageName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions() {
        for good in ["1", "1.0", "2024.05.1", "1.0~rc1", "1.0^post1", "v3-beta"] {
            assert!(Version::parse(good).is_ok(), "{good}");
        }
        for (bad, says) in [
            ("", "empty"),
            ("1_0", "'_'"),
            ("1+3", "boot counter"),
            ("1 0", "whitespace"),
            ("1/0", "'/'"),
            ("~1", "start"),
            ("1.0α", "'α'"),
        ] {
            let err = Version::parse(bad).err().map(|e| e.0).unwrap_or_default();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn version_order_agrees_with_eq() {
        let a = Version::parse("1.01").ok();
        let b = Version::parse("1.1").ok();
        assert_ne!(a, b);
        assert_ne!(a.cmp(&b), Ordering::Equal);
        let mut v: Vec<_> = ["2", "1.0~rc1", "10", "1.0", "1.0^1"]
            .iter()
            .filter_map(|s| Version::parse(s).ok())
            .collect();
        v.sort();
        let sorted: Vec<_> = v.iter().map(Version::as_str).collect();
        assert_eq!(sorted, ["1.0~rc1", "1.0", "1.0^1", "2", "10"]);
    }

    #[test]
    fn package_names() {
        for good in ["systemd", "g++", "libtss2-esys-3.0.2-0t64", "0ad"] {
            assert!(PackageName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "a",
            "Systemd",
            "-foo",
            "foo_bar",
            "foo bar",
            "foo:amd64",
            "foo=1",
        ] {
            assert!(PackageName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unit_names() {
        for good in [
            "ssh.service",
            "getty@tty1.service",
            "foo@.service",
            "fstrim.timer",
        ] {
            assert!(UnitName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "ssh",
            "ssh.conf",
            ".service",
            "@x.service",
            "a b.service",
            "a@b@c.service",
        ] {
            assert!(UnitName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostnames() {
        for good in ["box", "box-1.example.org", "a"] {
            assert!(Hostname::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "-box", "box-", "a..b", "a_b", &"a".repeat(65)] {
            assert!(Hostname::parse(bad).is_err(), "{bad}");
        }
    }
}
