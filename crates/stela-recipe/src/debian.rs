//! Where the image's Debian packages come from: suite, mirror, components, architecture.

use std::fmt;

use serde::Serialize;

use crate::error::InvalidValue;
use crate::names::string_newtype;

/// A Debian suite stela can build: systemd 257 or newer (trixie and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Suite {
    /// Debian 13, systemd 257.
    Trixie,
    /// Debian 14 (testing while trixie is stable).
    Forky,
    /// Debian unstable.
    Sid,
}

/// Codenames accepted in `debian.suite`.
pub const SUITES: [&str; 3] = ["trixie", "forky", "sid"];

impl Suite {
    /// The default suite, trixie.
    pub const DEFAULT: Suite = Suite::Trixie;

    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Suite, InvalidValue> {
        match s {
            "trixie" => Ok(Suite::Trixie),
            "forky" => Ok(Suite::Forky),
            "sid" => Ok(Suite::Sid),
            "bookworm" | "bullseye" | "buster" => Err(InvalidValue(format!(
                "{s:?} is too old: stela images need systemd >= 257, i.e. trixie or later"
            ))),
            "stable" | "testing" | "unstable" | "oldstable" => Err(InvalidValue(format!(
                "{s:?} changes meaning over time; name the codename ({})",
                SUITES.join(", ")
            ))),
            _ => Err(InvalidValue(format!(
                "unknown suite {s:?}, expected one of {}",
                SUITES.join(", ")
            ))),
        }
    }

    /// Whether Debian publishes `<codename>-security` for the suite (not for unstable).
    pub fn has_security(self) -> bool {
        !matches!(self, Suite::Sid)
    }

    /// Whether Debian publishes `<codename>-updates` for the suite (not for unstable).
    pub fn has_updates(self) -> bool {
        !matches!(self, Suite::Sid)
    }

    /// The codename, as in `dists/<codename>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Suite::Trixie => "trixie",
            Suite::Forky => "forky",
            Suite::Sid => "sid",
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Debian architecture stela builds UEFI images for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Architecture {
    /// x86-64.
    Amd64,
    /// 64-bit Arm.
    Arm64,
}

impl Architecture {
    /// The default architecture, amd64.
    pub const DEFAULT: Architecture = Architecture::Amd64;

    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Architecture, InvalidValue> {
        match s {
            "amd64" => Ok(Architecture::Amd64),
            "arm64" => Ok(Architecture::Arm64),
            "x86_64" | "x86-64" => Err(InvalidValue(format!(
                "{s:?} is not a Debian architecture name; use \"amd64\""
            ))),
            "aarch64" => Err(InvalidValue(format!(
                "{s:?} is not a Debian architecture name; use \"arm64\""
            ))),
            _ => Err(InvalidValue(format!(
                "unsupported architecture {s:?}, expected amd64 or arm64"
            ))),
        }
    }

    /// The Debian name (`amd64`, `arm64`).
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Amd64 => "amd64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// The UEFI file name suffix: `x64` (`systemd-bootx64.efi`, `BOOTX64.EFI`) or `aa64`.
    pub fn efi_suffix(self) -> &'static str {
        match self {
            Architecture::Amd64 => "x64",
            Architecture::Arm64 => "aa64",
        }
    }

    /// Debian's kernel metapackage for the architecture.
    pub fn kernel_package(self) -> &'static str {
        match self {
            Architecture::Amd64 => "linux-image-amd64",
            Architecture::Arm64 => "linux-image-arm64",
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

string_newtype! {
    /// A Debian mirror: an `http://` or `https://` URL with a host, without a trailing `/`
    /// (removed if the recipe wrote one).
    Mirror
}

impl Mirror {
    /// The default mirror, `http://deb.debian.org/debian` (apt checks the Release
    /// signature, so plain HTTP is fine).
    pub fn default_mirror() -> Mirror {
        Mirror("http://deb.debian.org/debian".into())
    }

    /// The default security archive, `http://deb.debian.org/debian-security`.
    pub fn default_security_mirror() -> Mirror {
        Mirror("http://deb.debian.org/debian-security".into())
    }

    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Mirror, InvalidValue> {
        let rest = s
            .strip_prefix("http://")
            .or_else(|| s.strip_prefix("https://"))
            .ok_or_else(|| InvalidValue(format!("{s:?} is not an http:// or https:// URL")))?;
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidValue(format!("{s:?} contains whitespace")));
        }
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || host.starts_with(':') {
            return Err(InvalidValue(format!("{s:?} has no host")));
        }
        Ok(Mirror(s.trim_end_matches('/').to_owned()))
    }
}

string_newtype! {
    /// A moment of the Debian archive as snapshot.debian.org names it,
    /// `YYYYMMDDTHHMMSSZ` (UTC): a build pinned to it gets the packages the archive had
    /// then.
    Snapshot
}

/// snapshot.debian.org, which keeps every state of the archive since 2005.
pub const SNAPSHOT_SERVICE: &str = "http://snapshot.debian.org/archive";

impl Snapshot {
    /// Checks `s`: `YYYYMMDDTHHMMSSZ`, a real date and time, 2005 or later (the
    /// snapshot service's first year).
    pub fn parse(s: &str) -> Result<Snapshot, InvalidValue> {
        let bad = |why: &str| {
            InvalidValue(format!(
                "{s:?} {why}; write the archive's time as snapshot.debian.org does, YYYYMMDDTHHMMSSZ in UTC (for example \"20261201T000000Z\")"
            ))
        };
        let b = s.as_bytes();
        let shape_ok = b.len() == 16
            && b[8] == b'T'
            && b[15] == b'Z'
            && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit);
        if !shape_ok {
            return Err(bad("is not of the form YYYYMMDDTHHMMSSZ"));
        }
        let num = |r: std::ops::Range<usize>| -> u32 {
            b[r].iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
        };
        let (year, month, day) = (num(0..4), num(4..6), num(6..8));
        let (hour, minute, second) = (num(9..11), num(11..13), num(13..15));
        if year < 2005 {
            return Err(bad("is before 2005, the snapshot service's first year"));
        }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let days = match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return Err(bad("has no such month")),
        };
        if day == 0 || day > days {
            return Err(bad("has no such day"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(bad("has no such time of day"));
        }
        Ok(Snapshot(s.to_owned()))
    }

    /// The URL of `archive` (`debian`, `debian-security`) at this moment on
    /// snapshot.debian.org.
    pub fn mirror(&self, archive: &str) -> Mirror {
        Mirror(format!("{SNAPSHOT_SERVICE}/{archive}/{}", self.0))
    }
}

/// Archive areas of Debian (Debian Policy 2.2).
pub const COMPONENTS: [&str; 4] = ["main", "contrib", "non-free", "non-free-firmware"];

string_newtype! {
    /// An archive area: `main`, `contrib`, `non-free` or `non-free-firmware`.
    Component
}

impl Component {
    /// `main`, the default and required component.
    pub fn main() -> Component {
        Component("main".into())
    }

    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Component, InvalidValue> {
        if COMPONENTS.contains(&s) {
            Ok(Component(s.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "unknown component {s:?}, expected one of {}",
                COMPONENTS.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites() {
        assert_eq!(Suite::parse("trixie").ok(), Some(Suite::Trixie));
        assert_eq!(Suite::parse("sid").ok(), Some(Suite::Sid));
        let bookworm = Suite::parse("bookworm")
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        assert!(bookworm.contains("systemd >= 257"), "{bookworm}");
        let stable = Suite::parse("stable")
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        assert!(stable.contains("codename"), "{stable}");
        assert!(Suite::parse("jessie").is_err());
    }

    #[test]
    fn mirrors() {
        for (text, canonical) in [
            (
                "http://deb.debian.org/debian",
                "http://deb.debian.org/debian",
            ),
            (
                "https://mirror.example/debian/",
                "https://mirror.example/debian",
            ),
            ("http://10.0.0.1:3142/debian", "http://10.0.0.1:3142/debian"),
        ] {
            assert_eq!(Mirror::parse(text).map(|m| m.0), Ok(canonical.to_owned()));
        }
        for bad in [
            "ftp://x/debian",
            "deb.debian.org",
            "http:///debian",
            "http://a b/",
        ] {
            assert!(Mirror::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn snapshots() {
        let at = Snapshot::parse("20261201T000000Z").expect("a snapshot time");
        assert_eq!(
            at.mirror("debian-security").as_str(),
            "http://snapshot.debian.org/archive/debian-security/20261201T000000Z"
        );
        assert!(Snapshot::parse("20240229T235959Z").is_ok());
        for (bad, why) in [
            ("2026-12-01T00:00:00Z", "of the form"),
            ("20261201T000000", "of the form"),
            ("20261301T000000Z", "month"),
            ("20250229T000000Z", "day"),
            ("20261231T240000Z", "time of day"),
            ("19991231T000000Z", "2005"),
            ("2026120lT000000Z", "of the form"),
        ] {
            let e = Snapshot::parse(bad).err().map(|e| e.0).unwrap_or_default();
            assert!(
                e.contains(why) && e.contains("YYYYMMDDTHHMMSSZ"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn architectures() {
        assert_eq!(
            Architecture::parse("arm64").map(Architecture::efi_suffix),
            Ok("aa64")
        );
        let hint = Architecture::parse("x86_64")
            .err()
            .map(|e| e.0)
            .unwrap_or_default();
        assert!(hint.contains("amd64"), "{hint}");
    }
}
