//! stela's signature lists and authenticated variables against efitools, the tools Debian
//! users make and read Secure Boot variables with.

use std::path::{Path, PathBuf};
use std::process::Command;

use stela_efivars::auth::{signed_payload, CERT_DATA_OFFSET};
use stela_efivars::{
    known, parse_lists, AuthenticatedVariable, EfiTime, Guid, SecureBootVariable, SignatureList,
    VariableAttributes,
};
use stela_keys::{issue_certificate, CertificateProfile, FileSigner, PrivateKey, Signer};

const OWNER: &str = "5ec1a000-1234-4abc-8def-0123456789ab";
const EPOCH: i64 = 1_704_164_645; // 2024-01-02 03:04:05 UTC

fn require_tool(name: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("the test needs `{name}` (efitools / openssl), which is not installed: run scripts/setup --test");
}

fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}; run scripts/setup --test"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn owner() -> Guid {
    OWNER.parse().expect("guid")
}

fn timestamp() -> EfiTime {
    EfiTime::from_unix(EPOCH).expect("time")
}

/// A key pair as `stela keys init` makes it, with its PEM files written to `dir`.
struct Key {
    signer: FileSigner,
    key: PathBuf,
    crt: PathBuf,
}

fn make_key(dir: &Path, name: &str, issuer: Option<&Key>) -> Key {
    let key = PrivateKey::generate_rsa(2048).expect("generate");
    let profile = CertificateProfile {
        common_name: format!("stela test {name}"),
        validity_days: 30,
        ca: name != "db",
    };
    let issuer = issuer.map(|k| (k.signer.key(), k.signer.certificate()));
    let cert = issue_certificate(&key, &profile, issuer).expect("certificate");
    let key_path = dir.join(format!("{name}.key"));
    let crt_path = dir.join(format!("{name}.crt"));
    std::fs::write(&key_path, key.to_pkcs8_pem().expect("pem")).expect("write key");
    std::fs::write(&crt_path, cert.to_pem().expect("pem")).expect("write crt");
    Key {
        signer: FileSigner::new(key, cert).expect("pair"),
        key: key_path,
        crt: crt_path,
    }
}

fn esl_of(key: &Key) -> Vec<u8> {
    stela_efivars::encode_lists(&[
        SignatureList::x509(owner(), key.signer.certificate().to_der()).expect("list"),
    ])
}

#[test]
fn esl_is_byte_identical_to_cert_to_efi_sig_list_and_reads_back_with_sig_list_to_certs() {
    let tool = require_tool("cert-to-efi-sig-list");
    require_tool("sig-list-to-certs");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = make_key(dir.path(), "db", None);
    let kek = make_key(dir.path(), "KEK", None);
    let ours = esl_of(&db);
    let theirs = dir.path().join("theirs.esl");
    run_ok(
        Command::new(tool)
            .args(["-g", OWNER])
            .arg(&db.crt)
            .arg(&theirs),
    );
    assert_eq!(std::fs::read(&theirs).expect("read"), ours);
    // EFI_CERT_X509_GUID is the first field efitools writes.
    assert_eq!(&ours[..16], &known::EFI_CERT_X509.to_mixed_endian());

    // Two lists in one file: sig-list-to-certs writes one DER file per list.
    let two = [ours.clone(), esl_of(&kek)].concat();
    let esl = dir.path().join("two.esl");
    std::fs::write(&esl, &two).expect("write");
    run_ok(
        Command::new("sig-list-to-certs")
            .arg(&esl)
            .arg(dir.path().join("out")),
    );
    for (i, k) in [&db, &kek].into_iter().enumerate() {
        let der = std::fs::read(dir.path().join(format!("out-{i}.der"))).expect("read der");
        assert_eq!(der, k.signer.certificate().to_der(), "certificate {i}");
    }
    assert!(!dir.path().join("out-2.der").exists());
}

#[test]
fn sha256_list_matches_hash_to_efi_sig_list() {
    let tool = require_tool("hash-to-efi-sig-list");
    let cache =
        std::env::var("STELA_TEST_CACHE").unwrap_or_else(|_| "/var/cache/stela/trixie".into());
    let efi = Path::new(&cache).join("root/usr/lib/systemd/boot/efi/systemd-bootx64.efi");
    assert!(
        efi.is_file(),
        "{} is missing: run scripts/setup --test",
        efi.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("dbx.esl");
    run_ok(Command::new(tool).arg(&efi).arg(&out));
    let theirs = std::fs::read(&out).expect("read");
    let lists = parse_lists(&theirs).expect("parse efitools' hash list");
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].signature_type(), known::EFI_CERT_SHA256);
    let entry = &lists[0].entries()[0];
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&entry.data);
    // Rebuilt with stela for the same owner and digest, the bytes are the same.
    let ours = SignatureList::sha256(entry.owner, &[digest]).expect("list");
    assert_eq!(stela_efivars::encode_lists(&[ours]), theirs);
}

fn sign_efi_sig_list(
    dir: &Path,
    var: SecureBootVariable,
    signer: &Key,
    esl: &[u8],
    extra: &[&str],
) -> Vec<u8> {
    let tool = require_tool("sign-efi-sig-list");
    let input = dir.join(format!("{}.esl", var.name()));
    let output = dir.join(format!("{}.efitools", var.name()));
    std::fs::write(&input, esl).expect("write esl");
    let mut cmd = Command::new(tool);
    cmd.args(extra)
        .args(["-t", &timestamp().to_string(), "-g", OWNER])
        .arg("-k")
        .arg(&signer.key)
        .arg("-c")
        .arg(&signer.crt)
        .arg(var.name())
        .arg(&input)
        .arg(&output);
    run_ok(&mut cmd);
    std::fs::read(&output).expect("read efitools output")
}

#[test]
fn auth_files_match_sign_efi_sig_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pk = make_key(dir.path(), "PK", None);
    let kek = make_key(dir.path(), "KEK", Some(&pk));
    let db = make_key(dir.path(), "db", Some(&kek));
    for (var, data_key, signer) in [
        (SecureBootVariable::Pk, &pk, &pk),
        (SecureBootVariable::Kek, &kek, &pk),
        (SecureBootVariable::Db, &db, &kek),
    ] {
        let esl = esl_of(data_key);
        let ours = AuthenticatedVariable::sign(
            &signer.signer,
            var.name(),
            var.vendor(),
            VariableAttributes::secure_boot(),
            timestamp(),
            &esl,
        )
        .expect("sign")
        .to_bytes();
        let theirs = sign_efi_sig_list(dir.path(), var, signer, &esl, &[]);
        // Deterministic: a second efitools run gives the same bytes (no signingTime).
        assert_eq!(
            sign_efi_sig_list(dir.path(), var, signer, &esl, &[]),
            theirs,
            "{}",
            var.name()
        );

        // Byte for byte: TimeStamp, the WIN_CERTIFICATE_UEFI_GUID header, the bare
        // SignedData (SHA-256 with NULL parameters, as OpenSSL 3 writes it) and the data.
        assert_eq!(ours, theirs, "{}: .auth differs from efitools'", var.name());
        let (o, t) = (
            AuthenticatedVariable::parse(&ours).expect("parse ours"),
            AuthenticatedVariable::parse(&theirs).expect("parse efitools'"),
        );
        // Both put a bare SignedData (not a ContentInfo) in CertData: SEQUENCE { INTEGER 1 ...
        assert_eq!(
            &theirs[24..40],
            &known::EFI_CERT_TYPE_PKCS7.to_mixed_endian()
        );
        assert_eq!(
            &theirs[CERT_DATA_OFFSET + 4..CERT_DATA_OFFSET + 7],
            &[2, 1, 1]
        );
        // Each verifies the other's signer.
        t.verify_secure_boot(var, signer.signer.certificate())
            .expect("stela verifies efitools' .auth");
        o.verify_secure_boot(var, signer.signer.certificate())
            .expect("stela verifies its own .auth");
    }
}

#[test]
fn signed_payload_matches_the_bundle_efitools_signs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tool = require_tool("sign-efi-sig-list");
    std::fs::write(dir.path().join("in.esl"), b"some data").expect("write");
    for (var, attrs, extra) in [
        (
            SecureBootVariable::Pk,
            VariableAttributes::secure_boot(),
            None,
        ),
        (
            SecureBootVariable::Kek,
            VariableAttributes::secure_boot(),
            None,
        ),
        (
            SecureBootVariable::Db,
            VariableAttributes::secure_boot(),
            None,
        ),
        (
            SecureBootVariable::Dbx,
            VariableAttributes::secure_boot_append(),
            Some("-a"),
        ),
    ] {
        let out = dir.path().join("bundle");
        let mut cmd = Command::new(&tool);
        cmd.args(extra)
            .args(["-o", "-t", &timestamp().to_string(), var.name()])
            .arg(dir.path().join("in.esl"))
            .arg(&out);
        run_ok(&mut cmd);
        let bundle = std::fs::read(&out).expect("read");
        assert_eq!(
            bundle,
            signed_payload(var.name(), var.vendor(), attrs, timestamp(), b"some data"),
            "{}",
            var.name()
        );
    }
    // The vendor GUIDs as efitools has them, after the UTF-16 name.
    let pk = signed_payload(
        "PK",
        known::EFI_GLOBAL_VARIABLE,
        VariableAttributes::secure_boot(),
        timestamp(),
        b"",
    );
    assert_eq!(hex::encode(&pk[4..20]), "61dfe48bca93d211aa0d00e098032b8c");
}

#[test]
fn tampered_efitools_auth_does_not_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kek = make_key(dir.path(), "KEK", None);
    let db = make_key(dir.path(), "db", None);
    let mut theirs = sign_efi_sig_list(dir.path(), SecureBootVariable::Db, &kek, &esl_of(&db), &[]);
    let last = theirs.len() - 1;
    theirs[last] ^= 1;
    let t = AuthenticatedVariable::parse(&theirs).expect("structure is still fine");
    let e = t
        .verify_secure_boot(SecureBootVariable::Db, kek.signer.certificate())
        .unwrap_err();
    assert!(e.is_bad_signature(), "{e}");
    // Appending updates (-a) verify with the APPEND_WRITE attribute.
    let append = sign_efi_sig_list(
        dir.path(),
        SecureBootVariable::Db,
        &kek,
        &esl_of(&db),
        &["-a"],
    );
    let (_, attrs) = AuthenticatedVariable::parse(&append)
        .expect("parse")
        .verify_secure_boot(SecureBootVariable::Db, kek.signer.certificate())
        .expect("verify");
    assert_eq!(attrs, VariableAttributes::secure_boot_append());
}
