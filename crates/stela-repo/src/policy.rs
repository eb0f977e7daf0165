//! The repository's settings (`repo.toml` at its top): how long each role's signature is
//! valid, and how usr images are compressed.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::RepoError;
use crate::keys::Role;

/// The settings file's name in the repository directory.
pub const FILE: &str = "repo.toml";

/// A validity period: a whole number and a unit, `s`, `m`, `h`, `d` or `w` (`90d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Period {
    seconds: u64,
}

impl Period {
    /// The period in seconds.
    pub fn seconds(self) -> u64 {
        self.seconds
    }

    /// `now` plus the period, in whole seconds: TUF writes expiry as
    /// `YYYY-MM-DDTHH:MM:SSZ`, and clients (python-tuf) refuse a fraction.
    pub fn after(self, now: jiff::Timestamp) -> Result<jiff::Timestamp, RepoError> {
        let secs = i64::try_from(self.seconds)
            .map_err(|_| RepoError::Options(format!("period {self} is too long")))?;
        let at = now
            .checked_add(jiff::SignedDuration::from_secs(secs))
            .map_err(|e| RepoError::Options(format!("now + {self}: {e}")))?;
        jiff::Timestamp::from_second(at.as_second())
            .map_err(|e| RepoError::Options(format!("now + {self}: {e}")))
    }
}

impl std::str::FromStr for Period {
    type Err = String;

    fn from_str(s: &str) -> Result<Period, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{s}`: expected a number and a unit, like 90d or 12h"))?;
        let unit_secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            "w" => 7 * 86_400,
            _ => return Err(format!("`{s}`: the unit must be s, m, h, d or w")),
        };
        if n == 0 {
            return Err(format!("`{s}`: a validity period must be longer than zero"));
        }
        let seconds = n
            .checked_mul(unit_secs)
            .ok_or_else(|| format!("`{s}`: too long"))?;
        Ok(Period { seconds })
    }
}

impl TryFrom<String> for Period {
    type Error = String;
    fn try_from(s: String) -> Result<Period, String> {
        s.parse()
    }
}

impl From<Period> for String {
    fn from(p: Period) -> String {
        p.to_string()
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (unit, secs) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
            if self.seconds % secs == 0 {
                return write!(f, "{}{unit}", self.seconds / secs);
            }
        }
        write!(f, "{}s", self.seconds)
    }
}

/// How long each role's metadata stays valid after it is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expiry {
    /// root.json (signed offline, rarely).
    pub root: Period,
    /// targets.json (signed at each release).
    pub targets: Period,
    /// snapshot.json (signed at each release and refresh).
    pub snapshot: Period,
    /// timestamp.json (signed at each refresh: how long a frozen repository goes unnoticed).
    pub timestamp: Period,
}

impl Default for Expiry {
    fn default() -> Expiry {
        let p = |s: &str| s.parse::<Period>().expect("built-in period");
        Expiry {
            root: p("365d"),
            targets: p("90d"),
            snapshot: p("7d"),
            timestamp: p("1d"),
        }
    }
}

impl Expiry {
    /// The period of one role.
    pub fn of(&self, role: Role) -> Period {
        match role {
            Role::Root => self.root,
            Role::Targets => self.targets,
            Role::Snapshot => self.snapshot,
            Role::Timestamp => self.timestamp,
        }
    }

    /// Replace one role's period.
    pub fn set(&mut self, role: Role, period: Period) {
        match role {
            Role::Root => self.root = period,
            Role::Targets => self.targets = period,
            Role::Snapshot => self.snapshot = period,
            Role::Timestamp => self.timestamp = period,
        }
    }
}

/// How the usr image is compressed for download.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsrCompression {
    /// zstd level (1 to 19).
    pub zstd_level: i32,
    /// Bytes of the image per independent zstd frame, in MiB: a download resumes at a
    /// frame boundary.
    pub frame_mib: u32,
}

impl Default for UsrCompression {
    fn default() -> UsrCompression {
        UsrCompression {
            zstd_level: 12,
            frame_mib: 4,
        }
    }
}

/// `repo.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Validity periods.
    #[serde(default)]
    pub expires: Expiry,
    /// usr image compression.
    #[serde(default)]
    pub usr: UsrCompression,
}

impl Settings {
    /// Read `repo.toml` of the repository at `dir`.
    pub fn load(dir: &Path) -> Result<Settings, RepoError> {
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(RepoError::io("reading", &path))?;
        let s: Settings = toml::from_str(&text).map_err(|e| RepoError::Policy {
            path: path.clone(),
            field: e
                .span()
                .map(|r| text[r].lines().next().unwrap_or("").to_owned())
                .unwrap_or_default(),
            reason: e.message().to_owned(),
        })?;
        s.check(&path)?;
        Ok(s)
    }

    /// Check the values a parse cannot.
    pub fn check(&self, path: &Path) -> Result<(), RepoError> {
        let bad = |field: &str, reason: String| RepoError::Policy {
            path: path.to_owned(),
            field: field.to_owned(),
            reason,
        };
        if !(1..=19).contains(&self.usr.zstd_level) {
            return Err(bad(
                "usr.zstd_level",
                format!("{} is not a zstd level from 1 to 19", self.usr.zstd_level),
            ));
        }
        if !(1..=256).contains(&self.usr.frame_mib) {
            return Err(bad(
                "usr.frame_mib",
                format!("{} MiB: frames are 1 to 256 MiB", self.usr.frame_mib),
            ));
        }
        Ok(())
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let body = toml::to_string_pretty(self).expect("settings serialise");
        format!(
            "# stela repository settings (`stela repo init` wrote them; edit freely).\n\
             # expires: how long each role's signature is valid after signing.\n\
             # usr: zstd level and frame size of the published usr images.\n{body}"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_print() {
        let p: Period = "90d".parse().unwrap();
        assert_eq!(p.seconds(), 90 * 86_400);
        assert_eq!(p.to_string(), "90d");
        assert_eq!("14d".parse::<Period>().unwrap().to_string(), "2w");
        assert_eq!("90s".parse::<Period>().unwrap().to_string(), "90s");
        assert!("0d".parse::<Period>().is_err());
        assert!("3y".parse::<Period>().unwrap_err().contains("unit"));
        assert!("d".parse::<Period>().is_err());
        let now = jiff::Timestamp::from_nanosecond(1_800_000_000_123_456_789).unwrap();
        let at = p.after(now).unwrap();
        assert_eq!(at.subsec_nanosecond(), 0, "{at}");
        assert_eq!(at.as_second(), 1_800_000_000 + 90 * 86_400);
    }

    #[test]
    fn settings_round_trip_and_bad_fields_are_named() {
        let s = Settings::default();
        let back: Settings = toml::from_str(&s.render()).unwrap();
        assert_eq!(s, back);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE),
            "[usr]\nzstd_level = 40\nframe_mib = 4\n",
        )
        .unwrap();
        let e = Settings::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("usr.zstd_level"), "{e}");
        std::fs::write(dir.path().join(FILE), "[expires]\nroot = \"1y\"\n").unwrap();
        let e = Settings::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("unit"), "{e}");
    }
}
