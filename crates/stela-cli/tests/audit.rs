//! `stela audit` on an SBOM against the tracker fixture of stela-audit
//! (crates/stela-audit/tests/data/tracker.json): the exit code says whether CVEs affect
//! the image, the lines and the JSON say which; bad inputs are named.

// A test stops at the first surprise; its panics name what was expected.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{run, stela};
use stela_sbom::{DebEntry, ImageSbom, InstalledPackage, StelaEntry};

fn tracker() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../stela-audit/tests/data/tracker.json")
}

fn write_sbom(dir: &Path, packages: &[(&str, &str, &str)]) -> PathBuf {
    let sbom = ImageSbom {
        name: "appliance".into(),
        version: "1".into(),
        root_hash: "00".repeat(32),
        timestamp: None,
        packages: packages
            .iter()
            .map(|(name, source, version)| DebEntry {
                package: InstalledPackage {
                    name: (*name).into(),
                    version: (*version).into(),
                    architecture: "amd64".into(),
                    source: (*source).into(),
                    source_version: (*version).into(),
                    maintainer: None,
                    homepage: None,
                    summary: None,
                },
                deb_sha256: None,
                archive_path: None,
                distro: Some("trixie".into()),
                licenses: None,
            })
            .collect(),
        stela: StelaEntry {
            version: "0.1.0".into(),
            binary_sha256: None,
            crates: vec![],
            in_image: false,
        },
    };
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("sbom.cdx.json");
    std::fs::write(&path, sbom.to_cyclonedx_json().unwrap()).unwrap();
    path
}

#[test]
fn audit_reports_the_cves_that_affect_an_image() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    write_sbom(
        &out,
        &[
            ("libssl3t64", "openssl", "3.5.1-1+deb13u1"),
            ("systemd", "systemd", "257.9-1~deb13u1"),
        ],
    );
    // A build output directory: its SBOM is read.
    let r = run(stela().arg("audit").arg("--cves").arg(tracker()).arg(&out));
    let text = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "CVE-2026-0001  openssl 3.5.1-1+deb13u1  fixed in 3.5.1-1+deb13u2  urgency high"
        ),
        "{text}"
    );
    assert!(
        text.contains("CVE-2026-0004") && text.contains("no advisory: Minor issue"),
        "{text}"
    );
    assert!(
        !text.contains("CVE-2026-0002") && !text.contains("CVE-2026-0005"),
        "{text}"
    );
    assert!(text.contains("4 CVEs affect the image, 2 do not"), "{text}");
    let r = run(stela()
        .arg("audit")
        .arg("--json")
        .arg("--cves")
        .arg(tracker())
        .arg(out.join("sbom.cdx.json")));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["suite"], "trixie");
    assert_eq!(v["findings"][0]["state"], "fixed-in-newer");
    assert_eq!(v["findings"][0]["fixed_version"], "3.5.1-1+deb13u2");

    // An image with the fixes: nothing affects it, exit 0.
    let fixed = tmp.path().join("fixed");
    write_sbom(&fixed, &[("libssl3t64", "openssl", "3.5.1-1+deb13u2")]);
    let r = run(stela()
        .arg("audit")
        .arg("--cves")
        .arg(tracker())
        .arg("--suite")
        .arg("trixie")
        .arg(&fixed));
    let text = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(1), "CVE-2026-0004 stays open: {text}");
    assert!(text.contains("1 CVEs affect the image, 3 do not"), "{text}");
    let r = run(stela()
        .arg("audit")
        .arg("--cves")
        .arg(tracker())
        .arg("--suite")
        .arg("bookworm")
        .arg(&fixed));
    assert_eq!(
        r.status.code(),
        Some(1),
        "bookworm: 0001 and 0005 are open there"
    );
    let clean = tmp.path().join("clean");
    write_sbom(&clean, &[("less", "less", "668-1")]);
    let r = run(stela()
        .arg("audit")
        .arg("--cves")
        .arg(tracker())
        .arg(&clean));
    assert_eq!(
        r.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.stdout)
    );

    // Bad inputs, named.
    let not_tracker = tmp.path().join("list.json");
    std::fs::write(&not_tracker, "[1, 2, 3]").unwrap();
    let r = run(stela()
        .arg("audit")
        .arg("--cves")
        .arg(&not_tracker)
        .arg(&out));
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(
        err.contains("list.json: not the Debian security tracker's JSON"),
        "{err}"
    );
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let r = run(stela()
        .arg("audit")
        .arg("--cves")
        .arg(tracker())
        .arg(&empty));
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(err.contains("empty/sbom.cdx.json"), "{err}");
}
