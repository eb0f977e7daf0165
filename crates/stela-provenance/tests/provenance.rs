//! A provenance written for a directory of files, read back: its DSSE signature checked
//! by `openssl dgst -verify` over the pre-authentication encoding as the DSSE
//! specification writes it (made here by hand, not with the library's function), its
//! statement in in-toto's shape, then the files checked, changed, removed; a statement
//! signed by another key and an edited payload are refused.

// A test stops at the first surprise; its panics name what was expected.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use base64::Engine;
use stela_keys::{CertificateProfile, FileSigner, Signer};
use stela_provenance::{
    verify_dir, Dependency, Envelope, Provenance, ProvenanceError, Subject, FILE,
};

fn signer(cn: &str) -> FileSigner {
    FileSigner::generate_self_signed(&CertificateProfile {
        common_name: cn.into(),
        validity_days: 30,
        ca: false,
    })
    .unwrap()
}

fn sha256(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(hex::encode(openssl::sha::sha256(&bytes)))
}

fn provenance(dir: &Path) -> Provenance {
    let mut subjects = Vec::new();
    for (name, content) in [("usr.erofs", "usr bytes"), ("app_1.efi", "uki bytes")] {
        std::fs::write(dir.join(name), content).unwrap();
        subjects.push(Subject {
            name: name.into(),
            sha256: sha256(&dir.join(name)).unwrap(),
        });
    }
    Provenance {
        subjects,
        name: "app".into(),
        version: "1".into(),
        recipe_sha256: "11".repeat(32),
        root_hash: "22".repeat(32),
        source_date_epoch: Some(1_764_547_200),
        stela_version: "0.1.0".into(),
        dependencies: vec![Dependency {
            uri: "pkg:deb/debian/less@668-1?arch=amd64".into(),
            name: "less".into(),
            sha256: Some("33".repeat(32)),
        }],
    }
}

#[test]
fn provenance_signs_the_outputs_and_catches_a_changed_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let release = signer("release");
    let p = provenance(dir);
    let path = p.write_signed(dir, &release).unwrap();
    assert_eq!(path, dir.join(FILE));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        {
            p.write_signed(dir, &release).unwrap();
            std::fs::read(&path).unwrap()
        },
        "the same provenance twice: byte for byte"
    );

    // openssl checks the signature over DSSE's encoding, made here from the spec.
    let env: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64.decode(env["payload"].as_str().unwrap()).unwrap();
    let ptype = env["payloadType"].as_str().unwrap();
    assert_eq!(ptype, "application/vnd.in-toto+json");
    let mut pae = format!("DSSEv1 {} {ptype} {} ", ptype.len(), payload.len()).into_bytes();
    pae.extend_from_slice(&payload);
    std::fs::write(dir.join("pae.bin"), &pae).unwrap();
    let sig = b64
        .decode(env["signatures"][0]["sig"].as_str().unwrap())
        .unwrap();
    std::fs::write(dir.join("sig.bin"), &sig).unwrap();
    std::fs::write(
        dir.join("cert.pem"),
        release.certificate().to_pem().unwrap(),
    )
    .unwrap();
    let pubkey = Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(dir.join("cert.pem"))
        .output()
        .unwrap();
    std::fs::write(dir.join("pub.pem"), &pubkey.stdout).unwrap();
    let ok = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(dir.join("pub.pem"))
        .arg("-signature")
        .arg(dir.join("sig.bin"))
        .arg(dir.join("pae.bin"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    for f in ["pae.bin", "sig.bin", "cert.pem", "pub.pem"] {
        std::fs::remove_file(dir.join(f)).unwrap();
    }
    // The statement, in in-toto's and SLSA's shape.
    let st: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(st["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(st["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(st["subject"][0]["name"], "usr.erofs");
    assert_eq!(
        st["predicate"]["buildDefinition"]["resolvedDependencies"][0]["uri"],
        "pkg:deb/debian/less@668-1?arch=amd64"
    );

    // Everything as built.
    let cert = release.certificate();
    let v = verify_dir(dir, cert, sha256).unwrap();
    assert!(v.all_match(), "{v:?}");
    assert_eq!(v.matching, ["usr.erofs", "app_1.efi"]);
    // A changed file, then a missing one: named.
    std::fs::write(dir.join("usr.erofs"), "other bytes").unwrap();
    let v = verify_dir(dir, cert, sha256).unwrap();
    assert!(!v.all_match());
    assert_eq!(v.differing[0].0, "usr.erofs");
    std::fs::remove_file(dir.join("app_1.efi")).unwrap();
    let v = verify_dir(dir, cert, sha256).unwrap();
    assert_eq!(v.missing, ["app_1.efi"]);

    // Another key's provenance: refused by this certificate, accepted by its own (the
    // check is real).
    let impostor = signer("impostor");
    p.write_signed(dir, &impostor).unwrap();
    assert!(verify_dir(dir, impostor.certificate(), sha256).is_ok());
    let e = verify_dir(dir, cert, sha256).unwrap_err();
    assert!(matches!(e, ProvenanceError::BadSignature { .. }), "{e}");
    // An edited payload under the release key's signature: refused.
    p.write_signed(dir, &release).unwrap();
    let mut env: Envelope = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let edited = String::from_utf8(env.payload_bytes().unwrap())
        .unwrap()
        .replace(&"22".repeat(32), &"44".repeat(32));
    env.payload = b64.encode(edited);
    std::fs::write(&path, serde_json::to_vec(&env).unwrap()).unwrap();
    let e = verify_dir(dir, cert, sha256).unwrap_err();
    assert!(e.to_string().contains("no signature verifies"), "{e}");
}
