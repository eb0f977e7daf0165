//! The SBOM of a real Debian root, this host's (its dpkg database and copyright files),
//! validated by the CycloneDX project's Python library (its strict JSON schema check,
//! from the virtualenv `scripts/setup --test` makes); a document with one field broken
//! fails the same check, so the check is real.

// A test stops at the first surprise; its panics name what was expected.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use stela_sbom::{crates_of, packages_in_tree, ArchiveFile, ImageSbom, StelaEntry};

fn validator() -> (PathBuf, PathBuf) {
    let venv = std::env::var("STELA_CYCLONEDX_VENV")
        .unwrap_or_else(|_| "/var/cache/stela/cyclonedx-venv".into());
    let python = Path::new(&venv).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup --test",
        python.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cyclonedx-validate.py");
    (python, script)
}

fn validate(files: &[&Path]) -> (bool, String) {
    let (python, script) = validator();
    let out = Command::new(python)
        .arg(script)
        .args(files)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_sbom_of_a_debian_root_validates_as_cyclonedx() {
    // Every package gets an archive entry: the host's index is not ours to read, so the
    // hash is made up, but of the right shape.
    let packages = packages_in_tree(
        Path::new("/"),
        |_| true,
        |p| {
            Some(ArchiveFile {
                sha256: format!("{:0>64}", hex_of(&p.name)),
                path: format!("pool/main/x/{0}/{0}_{1}.deb", p.name, p.version),
                distro: "bookworm".into(),
            })
        },
    )
    .unwrap();
    assert!(packages.len() > 100, "{} packages", packages.len());
    // The first 200 (by name) are plenty, and the schema check takes seconds per 100.
    let packages: Vec<_> = packages.into_iter().take(200).collect();
    assert!(
        packages.iter().filter(|p| p.licenses.is_some()).count() > 20,
        "few machine-readable copyright files were read"
    );
    let sbom = ImageSbom {
        name: "host".into(),
        version: "1".into(),
        root_hash: "00".repeat(32),
        timestamp: Some(1_764_547_200),
        packages,
        stela: StelaEntry {
            version: env!("CARGO_PKG_VERSION").into(),
            binary_sha256: None,
            crates: crates_of(include_str!("../../../Cargo.lock"), "stela-cli").unwrap(),
            in_image: false,
        },
    };
    let json = sbom.to_cyclonedx_json().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("sbom.cdx.json");
    std::fs::write(&good, &json).unwrap();
    // The check is real: one hash algorithm CycloneDX does not know, and it fails. Both
    // files in one run of the validator (it stops at the first invalid one).
    let mut v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    v["components"][0]["hashes"][0]["alg"] = "SHA-999".into();
    let bad = dir.path().join("bad.cdx.json");
    std::fs::write(&bad, serde_json::to_vec(&v).unwrap()).unwrap();
    let (ok, said) = validate(&[&good, &bad]);
    assert!(
        said.contains(&format!("valid: {}", good.display())),
        "{said}"
    );
    assert!(
        !ok && said.contains(&format!("invalid: {}", bad.display())),
        "{said}"
    );
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{:02x}", b)).take(32).collect()
}
