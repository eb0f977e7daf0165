//! What the tracker says about the image's packages.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::sbom::ImagePackage;
use crate::tracker::Tracker;

/// How a CVE stands for the image.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum State {
    /// Fixed in the release, in a version newer than the image's: rebuild to get it.
    FixedInNewer {
        /// The first fixed version.
        fixed_version: String,
    },
    /// Open in the release: no fix yet.
    Open,
    /// The tracker has not decided whether the release is affected.
    Undetermined,
}

/// One CVE that affects, or may affect, the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `CVE-…` (or the tracker's temporary id).
    pub cve: String,
    /// The source package.
    pub source: String,
    /// Its version in the image.
    pub source_version: String,
    /// The image's binary packages built from it.
    pub packages: Vec<String>,
    /// How it stands.
    #[serde(flatten)]
    pub state: State,
    /// The tracker's urgency, if any.
    pub urgency: Option<String>,
    /// Why no advisory will come, if the tracker says.
    pub nodsa: Option<String>,
    /// The tracker's description.
    pub description: Option<String>,
}

/// The audit of one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The release the image's packages came from (`trixie`).
    pub suite: String,
    /// Source packages looked up.
    pub sources: usize,
    /// CVEs the tracker lists for them in the release and that do not affect the image
    /// (fixed in or before its version, or never affecting the release).
    pub not_affected: usize,
    /// The rest, sorted by source package and CVE.
    pub findings: Vec<Finding>,
}

fn older(installed: &str, fixed: &str) -> bool {
    match (
        installed.parse::<debversion::Version>(),
        fixed.parse::<debversion::Version>(),
    ) {
        (Ok(i), Ok(f)) => i < f,
        // A version the parser refuses: count the CVE as affecting, never hide it.
        _ => true,
    }
}

/// The findings for `packages` in release `suite`.
pub fn audit(packages: &[ImagePackage], tracker: &Tracker, suite: &str) -> Report {
    // Source (and its version in the image) -> binary packages.
    let mut sources: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for p in packages {
        sources
            .entry((p.source.as_str(), p.source_version.as_str()))
            .or_default()
            .push(p.name.clone());
    }
    let mut findings = Vec::new();
    let mut not_affected = 0;
    for ((source, version), binaries) in &sources {
        let Some(cves) = tracker.get(*source) else {
            continue;
        };
        for (id, cve) in cves {
            let Some(r) = cve.releases.get(suite) else {
                continue;
            };
            let state = match (r.status.as_str(), r.fixed_version.as_deref()) {
                ("resolved", Some("0")) => None,
                ("resolved", Some(fixed)) if older(version, fixed) => Some(State::FixedInNewer {
                    fixed_version: fixed.to_owned(),
                }),
                ("resolved", _) => None,
                ("open", _) => Some(State::Open),
                _ => Some(State::Undetermined),
            };
            let Some(state) = state else {
                not_affected += 1;
                continue;
            };
            findings.push(Finding {
                cve: id.clone(),
                source: (*source).to_owned(),
                source_version: (*version).to_owned(),
                packages: binaries.clone(),
                state,
                urgency: r.urgency.clone(),
                nodsa: r.nodsa.clone(),
                description: cve.description.clone(),
            });
        }
    }
    Report {
        suite: suite.to_owned(),
        sources: sources.len(),
        not_affected,
        findings,
    }
}
