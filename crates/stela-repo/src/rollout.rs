//! The signed rules of a channel: which versions devices may install (a floor and a
//! fleet-wide stop) and the waves of a staged rollout.
//!
//! The rules of channel `C` are the TUF target `stela-rules.C.json`: its file is the
//! rules as JSON (so any TUF client can fetch and check it) and its `custom` metadata
//! carries the same under `stela_rules`, so a device reads them from the signed
//! targets metadata it fetched anyway.
//!
//! A staged rollout: every device has a position in 0..10000 derived from its machine-id
//! ([`RolloutPosition`]); wave `i` holds the devices whose position is below
//! `waves[i].percent` percent and not in an earlier wave, and sees a release
//! `waves[i].hours` after the release reached the channel.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stela_image::boot::compare_versions;

/// The key of the rules in a target's `custom` map.
const CUSTOM_KEY: &str = "stela_rules";

/// One wave of a staged rollout, written `PERCENT%:HOURSh` (`10%:0h`, `100%:48h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    /// The devices whose rollout position is below this share (1 to 100) and not in an
    /// earlier wave.
    pub percent: u8,
    /// Hours after a release reached the channel before this wave sees it.
    pub hours: u32,
}

impl std::str::FromStr for Wave {
    type Err = String;

    fn from_str(s: &str) -> Result<Wave, String> {
        let bad =
            || format!("{s:?} is not a wave PERCENT%:HOURSh (for example 10%:0h or 100%:48h)");
        let (p, h) = s.split_once(':').ok_or_else(bad)?;
        let percent: u8 = p
            .strip_suffix('%')
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        let hours: u32 = h
            .strip_suffix('h')
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        Ok(Wave { percent, hours })
    }
}

impl std::fmt::Display for Wave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}%:{}h", self.percent, self.hours)
    }
}

/// The rules of one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelRules {
    /// The channel they apply to.
    pub channel: String,
    /// Versions below this are never installed (a withdrawn release, a security floor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    /// Versions above this are never installed: a fleet-wide stop while a release is
    /// looked into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
    /// The staged rollout; empty: every device sees a release at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<Wave>,
}

impl ChannelRules {
    /// The target name of the rules of `channel`.
    pub fn target_name(channel: &str) -> String {
        format!("stela-rules.{channel}.json")
    }

    /// Checks what a parse cannot: versions in order, waves growing to 100%.
    pub fn check(&self) -> Result<(), String> {
        if let (Some(min), Some(max)) = (&self.min_version, &self.max_version) {
            if compare_versions(min, max).is_gt() {
                return Err(format!(
                    "the minimum version {min} is above the maximum {max}"
                ));
            }
        }
        let mut last: Option<Wave> = None;
        for w in &self.waves {
            if !(1..=100).contains(&w.percent) {
                return Err(format!("wave {w}: the share is 1% to 100%"));
            }
            if let Some(l) = last {
                if w.percent <= l.percent || w.hours < l.hours {
                    return Err(format!(
                        "wave {w} after {l}: each wave covers more devices than the one before, no earlier"
                    ));
                }
            }
            last = Some(*w);
        }
        if let Some(l) = last.filter(|l| l.percent != 100) {
            return Err(format!(
                "the last wave {l} leaves {}% of the devices without the release; end with 100%",
                100 - l.percent
            ));
        }
        Ok(())
    }

    /// Whether `version` may be installed.
    pub fn allows(&self, version: &str) -> bool {
        let above_min = self
            .min_version
            .as_deref()
            .is_none_or(|m| compare_versions(version, m).is_ge());
        let below_max = self
            .max_version
            .as_deref()
            .is_none_or(|m| compare_versions(version, m).is_le());
        above_min && below_max
    }

    /// The wave of a device at `position`, or the `pinned` one (clamped to the last).
    pub fn wave_of(&self, position: RolloutPosition, pinned: Option<u8>) -> usize {
        let last = self.waves.len().saturating_sub(1);
        if let Some(p) = pinned {
            return usize::from(p).min(last);
        }
        self.waves
            .iter()
            .position(|w| position.0 < u16::from(w.percent) * 100)
            .unwrap_or(last)
    }

    /// Seconds after a release reached the channel before wave `wave` sees it.
    pub fn delay_seconds(&self, wave: usize) -> i64 {
        self.waves
            .get(wave)
            .map_or(0, |w| i64::from(w.hours) * 3600)
    }

    /// Read from a target's `custom` map; `None` for other targets.
    pub fn from_custom(custom: &HashMap<String, serde_json::Value>) -> Option<ChannelRules> {
        serde_json::from_value(custom.get(CUSTOM_KEY)?.clone()).ok()
    }

    /// As a `custom` map.
    pub fn to_custom(&self) -> HashMap<String, serde_json::Value> {
        let v = serde_json::to_value(self).expect("rules serialise");
        HashMap::from([(CUSTOM_KEY.to_owned(), v)])
    }
}

/// Where a device stands in every staged rollout: 0 to 9999, from its machine-id, the
/// same on every run and spread evenly over a fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RolloutPosition(u16);

impl RolloutPosition {
    /// The position of the machine with this machine-id (`/etc/machine-id`).
    pub fn from_machine_id(id: &str) -> RolloutPosition {
        let mut h = Sha256::new();
        h.update(b"stela rollout position\0");
        h.update(id.trim().as_bytes());
        let d = h.finalize();
        let n = u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]);
        RolloutPosition((n % 10_000) as u16)
    }

    /// The position, 0 to 9999.
    pub fn get(self) -> u16 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(waves: &[&str]) -> ChannelRules {
        ChannelRules {
            channel: "stable".into(),
            min_version: None,
            max_version: None,
            waves: waves.iter().map(|w| w.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn waves_parse_print_and_are_checked() {
        let w: Wave = "10%:0h".parse().unwrap();
        assert_eq!(
            w,
            Wave {
                percent: 10,
                hours: 0
            }
        );
        assert_eq!(w.to_string(), "10%:0h");
        for bad in ["10:0", "10%", "x%:1h", "10%:-1h", "300%:1h"] {
            assert!(bad.parse::<Wave>().is_err(), "{bad}");
        }
        assert!(rules(&["10%:0h", "100%:24h"]).check().is_ok());
        assert!(rules(&[]).check().is_ok());
        let e = rules(&["10%:0h", "50%:24h"]).check().unwrap_err();
        assert!(e.contains("50%"), "{e}");
        let e = rules(&["50%:0h", "10%:24h", "100%:48h"])
            .check()
            .unwrap_err();
        assert!(e.contains("more devices"), "{e}");
        let e = rules(&["10%:24h", "100%:0h"]).check().unwrap_err();
        assert!(e.contains("no earlier"), "{e}");
        let e = rules(&["0%:0h", "100%:1h"]).check().unwrap_err();
        assert!(e.contains("1% to 100%"), "{e}");
    }

    #[test]
    fn versions_between_the_floor_and_the_stop() {
        let mut r = rules(&[]);
        r.min_version = Some("3".into());
        r.max_version = Some("10".into());
        assert!(!r.allows("2") && r.allows("3") && r.allows("9") && r.allows("10"));
        assert!(!r.allows("11"), "versions compare as numbers, not text");
        r.min_version = Some("11".into());
        assert!(r.check().unwrap_err().contains("above the maximum"));
    }

    #[test]
    fn positions_spread_and_choose_the_wave() {
        let r = rules(&["10%:0h", "50%:24h", "100%:72h"]);
        let mut counts = [0usize; 3];
        for i in 0..2000 {
            let p = RolloutPosition::from_machine_id(&format!("{i:032x}"));
            assert_eq!(p, RolloutPosition::from_machine_id(&format!("{i:032x}\n")));
            counts[r.wave_of(p, None)] += 1;
        }
        // 10%, 40%, 50% of 2000 devices, give or take.
        assert!((120..=280).contains(&counts[0]), "{counts:?}");
        assert!((680..=920).contains(&counts[1]), "{counts:?}");
        assert!((880..=1120).contains(&counts[2]), "{counts:?}");
        assert_eq!(r.wave_of(RolloutPosition(9999), Some(0)), 0);
        assert_eq!(r.wave_of(RolloutPosition(0), Some(7)), 2);
        assert_eq!(r.delay_seconds(1), 24 * 3600);
        assert_eq!(rules(&[]).delay_seconds(0), 0);
    }

    #[test]
    fn rules_round_trip_through_custom() {
        let r = rules(&["10%:0h", "100%:24h"]);
        assert_eq!(ChannelRules::from_custom(&r.to_custom()), Some(r));
        assert_eq!(ChannelRules::from_custom(&HashMap::new()), None);
    }
}
