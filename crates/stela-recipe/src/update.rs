//! `[update]` and `[health]`: where the image's update agent looks for releases, and what
//! a boot must reach before the version it runs counts as good.

use serde::Serialize;

use crate::error::InvalidValue;
use crate::names::{string_newtype, UnitName};
use crate::paths::HostPath;
use crate::window::MaintenanceWindow;

string_newtype! {
    /// A repository location the device fetches from: an `http://`, `https://` or
    /// `file://` URL.
    RepositoryUrl
}

impl RepositoryUrl {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<RepositoryUrl, InvalidValue> {
        let rest = ["http://", "https://", "file:///"]
            .iter()
            .find_map(|scheme| s.strip_prefix(scheme));
        match rest {
            None => Err(InvalidValue(format!(
                "{s:?} is not an http://, https:// or file:/// URL"
            ))),
            Some(_)
                if s.chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\\')) =>
            {
                Err(InvalidValue(format!(
                    "{s:?} contains white space, a control character, a quote or a backslash"
                )))
            }
            Some("") if !s.starts_with("file") => Err(InvalidValue(format!("{s:?} names no host"))),
            Some(_) => Ok(RepositoryUrl(s.to_owned())),
        }
    }
}

string_newtype! {
    /// A release channel: 1 to 64 letters, digits, `-`, `_` or `.` (the repository's rule).
    Channel
}

impl Channel {
    /// `stable`.
    pub fn default_channel() -> Channel {
        Channel("stable".into())
    }

    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Channel, InvalidValue> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if ok {
            Ok(Channel(s.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "{s:?}: a channel is 1 to 64 letters, digits, `-`, `_` or `.`"
            )))
        }
    }
}

/// How many boots a new version gets to reach its health target (systemd-boot's boot
/// counter in the UKI's file name, `+N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct BootTries(u8);

impl BootTries {
    /// The most tries a recipe may give (a failing version reboots this many times).
    pub const MAX: u8 = 9;

    /// Three, systemd's usual count.
    pub const DEFAULT: BootTries = BootTries(3);

    /// Checks `n`.
    pub fn new(n: i64) -> Result<BootTries, InvalidValue> {
        match u8::try_from(n) {
            Ok(n @ 1..=Self::MAX) => Ok(BootTries(n)),
            _ => Err(InvalidValue(format!(
                "{n} tries: a new version gets 1 to {} boots",
                Self::MAX
            ))),
        }
    }

    /// The count.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// `[update]`: the agent's configuration, put into the image (the repository's trusted
/// root in /usr/lib/stela/root.json, the rest in /usr/lib/stela/update.toml).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Update {
    /// Where releases are fetched from.
    pub repository: RepositoryUrl,
    /// The repository's trusted root metadata on the build host (its
    /// `metadata/1.root.json`, or a later version).
    pub root: HostPath,
    /// The channel followed; `stable` by default.
    pub channel: Channel,
    /// Boots a new version gets; 3 by default.
    pub tries: BootTries,
    /// When `stela update apply --reboot` may reboot into a new version; any time if
    /// unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<MaintenanceWindow>,
    /// The rollout wave every machine of this image is in, in place of the one its
    /// machine-id gives (0 = the first wave, for canary images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<u8>,
}

impl Update {
    /// The highest wave a recipe or a device may name.
    pub const WAVE_MAX: u8 = 15;
}

/// `[health]`: units that must be active before a boot is counted as good (they join
/// `stela-health.target`, which `boot-complete.target` requires).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Health {
    /// The units, in recipe order.
    pub units: Vec<UnitName>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "http://10.0.2.100:8080/",
            "https://updates.example.com/r",
            "file:///srv/r",
        ] {
            assert!(RepositoryUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://x/",
            "10.0.2.2",
            "http://",
            "http://a b/",
            "file://relative",
        ] {
            assert!(RepositoryUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tries_and_channels() {
        assert!(BootTries::new(0).is_err());
        assert!(BootTries::new(10).is_err());
        assert_eq!(BootTries::new(3).map(BootTries::get).ok(), Some(3));
        assert!(Channel::parse("stable").is_ok());
        assert!(Channel::parse("a/b").is_err());
        assert!(Channel::parse("").is_err());
    }
}
