//! `stela verity sign`, checked with openssl as the independent reader.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

/// `openssl smime -verify` of a detached DER signature over `content`, trusting `cert`.
fn openssl_verify(sig: &Path, content: &Path, cert: &Path) -> Output {
    run(Command::new("openssl")
        .args([
            "smime", "-verify", "-binary", "-inform", "der", "-purpose", "any", "-in",
        ])
        .arg(sig)
        .arg("-content")
        .arg(content)
        .arg("-certfile")
        .arg(cert)
        .arg("-CAfile")
        .arg(cert)
        .args(["-out", "/dev/null"]))
}

fn openssl_verify_ok(sig: &Path, content: &Path, cert: &Path) {
    let out = openssl_verify(sig, content, cert);
    assert!(
        out.status.success(),
        "openssl rejected the signature: {out:?}"
    );
}

const ROOT: &str = "4d3b1c2e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff001";

#[test]
fn openssl_accepts_the_pkcs7_root_hash_signature() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = openssl_key(dir.path(), "db");
    let sig = dir.path().join("roothash.p7s");
    run_ok(
        stela()
            .args(["verity", "sign", "--key"])
            .arg(&key)
            .arg("--cert")
            .arg(&cert)
            .arg(ROOT)
            .arg("-o")
            .arg(&sig),
    );
    // The kernel checks the signature over the hex text, without a newline.
    let content = dir.path().join("roothash.txt");
    std::fs::write(&content, ROOT).unwrap();
    openssl_verify_ok(&sig, &content, &cert);
    // Any other root hash must not verify.
    std::fs::write(&content, ROOT.replace('4', "5")).unwrap();
    let out = openssl_verify(&sig, &content, &cert);
    assert!(
        !out.status.success(),
        "openssl accepted a signature over another root hash"
    );
    // openssl's view of the structure: no signed attributes, no certificates (-nocerts).
    let out = run_ok(
        Command::new("openssl")
            .args(["cms", "-cmsout", "-print", "-inform", "der", "-in"])
            .arg(&sig),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("signedAttrs:\n        <ABSENT>")
            || text.contains("signedAttrs:\n          <ABSENT>"),
        "{text}"
    );
    assert!(
        text.contains("certificates:\n    <ABSENT>")
            || text.contains("certificates:\n      <ABSENT>"),
        "{text}"
    );
}

#[test]
fn json_document_names_the_certificate_and_carries_the_signature() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = openssl_key(dir.path(), "db");
    let out = run_ok(
        stela()
            .args(["verity", "sign", "--format", "json", "--key"])
            .arg(&key)
            .arg("--cert")
            .arg(&cert)
            .arg(ROOT),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["rootHash"], ROOT);
    let fp = run_ok(
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(&cert),
    );
    let fp = String::from_utf8_lossy(&fp.stdout)
        .split('=')
        .nth(1)
        .unwrap()
        .trim()
        .replace(':', "")
        .to_lowercase();
    assert_eq!(doc["certificateFingerprint"], fp);
    // The signature field decodes to a PKCS#7 that openssl verifies.
    let sig = dir.path().join("sig.der");
    let b64 = dir.path().join("sig.b64");
    std::fs::write(&b64, doc["signature"].as_str().unwrap()).unwrap();
    run_ok(
        Command::new("openssl")
            .args(["base64", "-d", "-A", "-in"])
            .arg(&b64)
            .arg("-out")
            .arg(&sig),
    );
    let content = dir.path().join("roothash.txt");
    std::fs::write(&content, ROOT).unwrap();
    openssl_verify_ok(&sig, &content, &cert);
}

#[test]
fn bad_inputs_name_what_is_wrong_and_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = openssl_key(dir.path(), "db");
    let (_, other_cert) = openssl_key(dir.path(), "other");
    let sig = dir.path().join("out.p7s");
    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        (
            vec![
                "--key".into(),
                key.clone().into(),
                "--cert".into(),
                other_cert.clone().into(),
                ROOT.into(),
            ],
            "does not match the certificate",
        ),
        (
            vec![
                "--key".into(),
                cert.clone().into(),
                "--cert".into(),
                cert.clone().into(),
                ROOT.into(),
            ],
            "db.crt is not a PEM or DER private key",
        ),
        (
            vec![
                "--key".into(),
                key.clone().into(),
                "--cert".into(),
                key.clone().into(),
                ROOT.into(),
            ],
            "db.key is not a PEM or DER X.509 certificate",
        ),
        (
            vec![
                "--key".into(),
                key.clone().into(),
                "--cert".into(),
                cert.clone().into(),
                "12ab".into(),
            ],
            "not 64 hex digits",
        ),
    ];
    for (args, expect) in cases {
        let out = run(stela()
            .args(["verity", "sign"])
            .args(&args)
            .arg("-o")
            .arg(&sig));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(expect),
            "{args:?}: expected {expect:?} in {err}"
        );
        assert!(!sig.exists(), "a failed run left {}", sig.display());
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".stela-tmp"))
        .collect();
    assert!(leftovers.is_empty());
}
