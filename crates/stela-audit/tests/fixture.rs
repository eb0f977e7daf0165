//! The audit of an SBOM written by stela-sbom against a small export in the Debian
//! security tracker's format (tests/data/tracker.json): each state, and the version
//! comparisons it rests on, each checked against `dpkg --compare-versions`.

// A test stops at the first surprise; its panics name what was expected.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use stela_audit::{audit, read_sbom, read_tracker, State};
use stela_sbom::{DebEntry, ImageSbom, InstalledPackage, StelaEntry};

fn deb(name: &str, version: &str, source: &str, source_version: &str) -> DebEntry {
    DebEntry {
        package: InstalledPackage {
            name: name.into(),
            version: version.into(),
            architecture: "amd64".into(),
            source: source.into(),
            source_version: source_version.into(),
            maintainer: None,
            homepage: None,
            summary: None,
        },
        deb_sha256: None,
        archive_path: None,
        distro: Some("trixie".into()),
        licenses: None,
    }
}

#[test]
fn an_image_against_the_tracker() {
    let dir = tempfile::tempdir().unwrap();
    let sbom = ImageSbom {
        name: "appliance".into(),
        version: "1".into(),
        root_hash: "00".repeat(32),
        timestamp: None,
        packages: vec![
            deb(
                "libssl3t64",
                "3.5.1-1+deb13u1",
                "openssl",
                "3.5.1-1+deb13u1",
            ),
            deb("openssl", "3.5.1-1+deb13u1", "openssl", "3.5.1-1+deb13u1"),
            deb("systemd", "257.9-1~deb13u1", "systemd", "257.9-1~deb13u1"),
            deb(
                "zlib1g",
                "1:1.3.dfsg+really1.3.1-1+b1",
                "zlib",
                "1:1.3.dfsg+really1.3.1-1",
            ),
            deb("less", "668-1", "less", "668-1"),
        ],
        stela: StelaEntry {
            version: "0.1.0".into(),
            binary_sha256: None,
            crates: vec![],
            in_image: false,
        },
    };
    let path = dir.path().join("sbom.cdx.json");
    std::fs::write(&path, sbom.to_cyclonedx_json().unwrap()).unwrap();
    let packages = read_sbom(&path).unwrap();
    assert_eq!(packages.len(), 5);
    let sources: BTreeSet<String> = packages.iter().map(|p| p.source.clone()).collect();
    let tracker_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tracker.json");
    let tracker = read_tracker(
        std::fs::File::open(&tracker_path).unwrap(),
        &tracker_path,
        &sources,
    )
    .unwrap();
    assert!(
        !tracker.contains_key("unrelated"),
        "skipped as it streamed past"
    );
    let report = audit(&packages, &tracker, "trixie");
    let got: Vec<(&str, &State)> = report
        .findings
        .iter()
        .map(|f| (f.cve.as_str(), &f.state))
        .collect();
    assert_eq!(
        got,
        [
            (
                "CVE-2026-0001",
                &State::FixedInNewer {
                    fixed_version: "3.5.1-1+deb13u2".into()
                }
            ),
            ("CVE-2026-0004", &State::Open),
            ("CVE-2026-1001", &State::Undetermined),
            (
                "CVE-2026-1002",
                &State::FixedInNewer {
                    fixed_version: "257.9-1".into()
                }
            ),
        ]
    );
    assert_eq!(report.not_affected, 3, "0002, 0003 and zlib's 2001");
    assert_eq!(report.findings[0].packages, ["libssl3t64", "openssl"]);
    assert_eq!(report.findings[1].nodsa.as_deref(), Some("Minor issue"));
    assert_eq!(report.sources, 4);

    // The comparisons above, as dpkg itself makes them.
    for (installed, fixed, older) in [
        ("3.5.1-1+deb13u1", "3.5.1-1+deb13u2", true),
        ("3.5.1-1+deb13u1", "3.5.0-2", false),
        ("257.9-1~deb13u1", "257.9-1", true),
        ("1:1.3.dfsg+really1.3.1-1", "1.3.2-1", false),
    ] {
        let lt = std::process::Command::new("dpkg")
            .args(["--compare-versions", installed, "lt", fixed])
            .status()
            .expect("dpkg runs");
        assert_eq!(lt.success(), older, "dpkg: {installed} lt {fixed}");
    }
}
