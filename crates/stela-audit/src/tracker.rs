//! The Debian security tracker's JSON export: source package -> CVE -> per release
//! `{status, fixed_version, urgency, nodsa, ...}`. The whole export is large (tens of
//! megabytes); only the source packages asked for are kept, the rest is skipped as it
//! streams past.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::AuditError;

/// One release's view of a CVE.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReleaseEntry {
    /// `resolved`, `open` or `undetermined`.
    pub status: String,
    /// The first fixed version; `0` when the release was never affected.
    #[serde(default)]
    pub fixed_version: Option<String>,
    /// The tracker's urgency (`high`, `low`, `unimportant`, `not yet assigned`, ...).
    #[serde(default)]
    pub urgency: Option<String>,
    /// Why no security advisory will come, when the team decided so.
    #[serde(default)]
    pub nodsa: Option<String>,
}

/// One CVE of a source package.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TrackerCve {
    /// The tracker's description.
    #[serde(default)]
    pub description: Option<String>,
    /// Per release codename.
    #[serde(default)]
    pub releases: BTreeMap<String, ReleaseEntry>,
}

/// The tracker's data for the source packages asked for: source -> CVE id -> entry.
pub type Tracker = BTreeMap<String, BTreeMap<String, TrackerCve>>;

struct Wanted<'a>(&'a BTreeSet<String>);

impl<'de> DeserializeSeed<'de> for Wanted<'_> {
    type Value = Tracker;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Tracker, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Wanted<'_> {
    type Value = Tracker;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of source packages")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tracker, A::Error> {
        let mut out = Tracker::new();
        while let Some(source) = map.next_key::<String>()? {
            if self.0.contains(&source) {
                // CVE ids map to entries; a value of another shape (the export has had
                // non-CVE keys) is skipped, not fatal.
                let cves: BTreeMap<String, serde_json::Value> = map.next_value()?;
                let parsed = cves
                    .into_iter()
                    .filter_map(|(id, v)| Some((id, serde_json::from_value(v).ok()?)))
                    .collect();
                out.insert(source, parsed);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// The entries of the source packages in `sources`, from the export in `reader`
/// (`path` names it in errors).
pub fn read_tracker(
    reader: impl Read,
    path: &Path,
    sources: &BTreeSet<String>,
) -> Result<Tracker, AuditError> {
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
    let tracker = Wanted(sources)
        .deserialize(&mut de)
        .and_then(|t| de.end().map(|()| t))
        .map_err(|e| AuditError::Tracker {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    Ok(tracker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_wanted_sources_are_kept() {
        let json = r#"{"a": {"CVE-1": {"releases": {"trixie": {"status": "open"}}}},
                       "b": {"CVE-2": {"releases": {}}}, "c": "not a map"}"#;
        let wanted = BTreeSet::from(["a".to_owned()]);
        let t = read_tracker(json.as_bytes(), Path::new("t.json"), &wanted).expect("read");
        assert_eq!(t.len(), 1);
        assert_eq!(t["a"]["CVE-1"].releases["trixie"].status, "open");
        let e = read_tracker(&b"[1, 2]"[..], Path::new("t.json"), &wanted).unwrap_err();
        assert!(
            e.to_string()
                .contains("t.json: not the Debian security tracker"),
            "{e}"
        );
        let e = read_tracker(&b"{\"a\": "[..], Path::new("t.json"), &wanted).unwrap_err();
        assert!(e.to_string().contains("t.json"), "{e}");
    }
}
