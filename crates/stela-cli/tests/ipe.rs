//! `stela ipe`: the policies a recipe installs, signing one, checking one; openssl is the
//! independent reader of the signature.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

/// `openssl smime -verify` of a signed policy (content inside), trusting `cert`; writes
/// the content it verified to `content`.
fn openssl_verify(p7b: &Path, cert: &Path, content: &Path) -> Output {
    run(Command::new("openssl")
        .args([
            "smime", "-verify", "-binary", "-inform", "der", "-purpose", "any", "-in",
        ])
        .arg(p7b)
        .arg("-certfile")
        .arg(cert)
        .arg("-CAfile")
        .arg(cert)
        .arg("-out")
        .arg(content))
}

/// `stela ipe sign TEXT --key KEY --cert CERT -o OUT`.
fn sign_cmd(key: &Path, cert: &Path, text: &Path, out: &Path) -> Command {
    let mut cmd = stela();
    cmd.args(["ipe", "sign", "--key"])
        .arg(key)
        .arg("--cert")
        .arg(cert)
        .arg(text)
        .arg("-o")
        .arg(out);
    cmd
}

#[test]
fn the_default_recipe_denies_all_but_signed_verity_and_only_the_initrd_trusts_the_initramfs() {
    let host = run_ok(stela().args(["ipe", "policy"]));
    let host = String::from_utf8_lossy(&host.stdout).into_owned();
    assert!(
        host.starts_with("policy_name=stela_host policy_version=1.0.1\nDEFAULT action=DENY\n"),
        "{host}"
    );
    for op in ["EXECUTE", "KMODULE", "FIRMWARE"] {
        assert!(
            host.contains(&format!("op={op} dmverity_signature=TRUE action=ALLOW")),
            "{host}"
        );
    }
    assert!(!host.contains("boot_verified"), "{host}");
    let initrd = run_ok(stela().args(["ipe", "policy", "--stage", "initrd"]));
    let initrd = String::from_utf8_lossy(&initrd.stdout);
    assert!(
        initrd.contains("op=EXECUTE boot_verified=TRUE action=ALLOW"),
        "{initrd}"
    );
    assert!(initrd.starts_with("policy_name=stela_initrd policy_version=1.0.0\n"));

    // A recipe's extra rules come first; one the kernel would not parse is refused with
    // the field's name.
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("r.toml");
    let hash = "ab".repeat(32);
    std::fs::write(
        &recipe,
        format!("name = \"x\"\nversion = \"1\"\n[ipe]\nextra_rules = [\"op=EXECUTE dmverity_roothash=sha256:{hash} action=DENY\"]\n"),
    )
    .unwrap();
    let out = run_ok(stela().args(["ipe", "policy"]).arg(&recipe));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[2],
        format!("op=EXECUTE dmverity_roothash=sha256:{hash} action=DENY")
    );
    std::fs::write(
        &recipe,
        "name = \"x\"\nversion = \"1\"\n[ipe]\nmode = \"strict\"\nextra_rules = [\"op=EXEC action=ALLOW\"]\n",
    )
    .unwrap();
    let out = run(stela().args(["ipe", "policy"]).arg(&recipe));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("ipe.mode") && err.contains("strict"), "{err}");
    assert!(
        err.contains("ipe.extra_rules[0]") && err.contains("op `EXEC`"),
        "{err}"
    );
}

#[test]
fn a_signed_policy_verifies_with_openssl_and_stela_and_a_changed_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = openssl_key(dir.path(), "db");
    let (_, other) = openssl_key(dir.path(), "other");
    let text = dir.path().join("p.txt");
    let policy = run_ok(stela().args(["ipe", "policy"])).stdout;
    std::fs::write(&text, &policy).unwrap();
    let p7b = dir.path().join("stela_host.p7b");
    run_ok(&mut sign_cmd(&key, &cert, &text, &p7b));
    // openssl: the signature verifies and carries exactly the policy's text.
    let content = dir.path().join("content");
    let v = openssl_verify(&p7b, &cert, &content);
    assert!(v.status.success(), "{v:?}");
    assert_eq!(std::fs::read(&content).unwrap(), policy);
    // The kernel's form: no signed attributes.
    let printed = run_ok(
        Command::new("openssl")
            .args(["cms", "-cmsout", "-print", "-inform", "der", "-in"])
            .arg(&p7b),
    );
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert!(
        printed.contains("signedAttrs:") && printed.contains("<ABSENT>"),
        "{printed}"
    );
    assert!(!printed.contains("messageDigest"), "{printed}");
    // stela agrees, and reads the policy back.
    let ok = run_ok(
        stela()
            .args(["ipe", "check", "--json", "--cert"])
            .arg(&cert)
            .arg(&p7b),
    );
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report["signature"], "good");
    assert_eq!(report["policy"]["name"], "stela_host");
    assert_eq!(report["text"].as_str().unwrap().as_bytes(), &policy[..]);
    // Another key's certificate: exit 1.
    let bad = run(stela()
        .args(["ipe", "check", "--cert"])
        .arg(&other)
        .arg(&p7b));
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");

    // The attack: a rule added inside the signed message ("ALLOW" everything from the
    // initramfs, in the place of a same-length piece of the text). Without the signature
    // check it reads as a valid policy; openssl and stela with the certificate refuse it.
    let mut der = std::fs::read(&p7b).unwrap();
    let from = b"op=KMODULE dmverity_signature=TRUE";
    let to = b"op=KMODULE boot_verified=TRUE     ";
    let at = der
        .windows(from.len())
        .position(|w| w == from)
        .expect("policy text in the DER");
    der[at..at + from.len()].copy_from_slice(to);
    let tampered = dir.path().join("tampered.p7b");
    std::fs::write(&tampered, &der).unwrap();
    let unchecked = run_ok(stela().args(["ipe", "check", "--json"]).arg(&tampered));
    let unchecked: serde_json::Value = serde_json::from_slice(&unchecked.stdout).unwrap();
    assert_eq!(unchecked["signature"], "not checked");
    assert!(unchecked["text"]
        .as_str()
        .unwrap()
        .contains("op=KMODULE boot_verified=TRUE"));
    assert!(!openssl_verify(&tampered, &cert, &content).status.success());
    let refused = run(stela()
        .args(["ipe", "check", "--cert"])
        .arg(&cert)
        .arg(&tampered));
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
}

#[test]
fn bad_policies_are_refused_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = openssl_key(dir.path(), "db");
    let text = dir.path().join("bad.txt");
    std::fs::write(
        &text,
        "policy_name=x policy_version=1.0.0\nDEFAULT action=DENY\nop=EXECUTE dmverity_signature=yes action=ALLOW\n",
    )
    .unwrap();
    let out = dir.path().join("bad.p7b");
    let mut check = stela();
    check.args(["ipe", "check"]).arg(&text);
    for mut cmd in [sign_cmd(&key, &cert, &text, &out), check] {
        let r = run(&mut cmd);
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success());
        assert!(
            err.contains("bad.txt") && err.contains("line 3") && err.contains("TRUE or FALSE"),
            "{err}"
        );
    }
    assert!(!out.exists(), "a refused policy was written");
    // Not a policy at all: a DER blob that is not PKCS#7.
    std::fs::write(&out, [0x30, 0x03, 0x02, 0x01, 0x00]).unwrap();
    let r = run(stela().args(["ipe", "check"]).arg(&out));
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("not a PKCS#7 signed policy"));
}
