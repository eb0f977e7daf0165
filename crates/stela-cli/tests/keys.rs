//! `stela keys`: the key directory read back with efitools and openssl.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{require_tool, run, run_ok, stela};
use stela_efivars::auth::signed_payload;
use stela_efivars::{AuthenticatedVariable, EfiTime, SecureBootVariable, VariableAttributes};

const EPOCH: &str = "1704164645"; // 2024-01-02 03:04:05 UTC

fn init(dir: &Path, extra: &[&str]) -> Output {
    run(stela()
        .args(["keys", "init", "--json"])
        .args(extra)
        .arg(dir)
        .env("SOURCE_DATE_EPOCH", EPOCH))
}

fn init_ok(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let out = init(dir, extra);
    assert!(
        out.status.success(),
        "stela keys init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

/// Every file under `dir` with its contents, to prove a directory was left alone.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let bytes = read(&p);
                out.push((p, bytes));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn init_writes_the_key_directory_and_the_systemd_boot_layout() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("keys");
    let json = init_ok(&dir, &["--common-name", "Example Corp"]);
    assert_eq!(json["timestamp"], "2024-01-02 03:04:05");
    assert_eq!(json["systemd_boot_keys"], "loader/keys/example-corp");
    assert_eq!(mode(&dir), 0o700);
    for (i, name) in ["PK", "KEK", "db"].into_iter().enumerate() {
        let key = json["keys"][i].clone();
        assert_eq!(key["name"], name);
        assert_eq!(key["subject"], format!("CN=Example Corp {name}"));
        assert_eq!(mode(&dir.join(format!("{name}.key"))), 0o600, "{name}.key");
        let pem = String::from_utf8(read(&dir.join(format!("{name}.key")))).expect("utf8");
        assert!(
            pem.starts_with("-----BEGIN PRIVATE KEY-----"),
            "{name}.key is not PKCS#8"
        );
        // .crt and .cer are the same certificate, with the printed fingerprint.
        let fp = |args: &[&str]| {
            let out = run_ok(
                Command::new("openssl")
                    .args(["x509", "-noout", "-fingerprint", "-sha256"])
                    .args(args),
            );
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .rsplit('=')
                .next()
                .unwrap_or("")
                .replace(':', "")
                .to_lowercase()
        };
        let crt = dir.join(format!("{name}.crt"));
        let cer = dir.join(format!("{name}.cer"));
        assert_eq!(
            fp(&["-in", crt.to_str().expect("path")]),
            key["sha256"].as_str().expect("sha256")
        );
        assert_eq!(
            fp(&["-inform", "der", "-in", cer.to_str().expect("path")]),
            key["sha256"].as_str().expect("sha256")
        );
        let ext = run_ok(
            Command::new("openssl")
                .args(["x509", "-noout", "-ext", "basicConstraints", "-in"])
                .arg(&crt),
        );
        let ca = String::from_utf8_lossy(&ext.stdout).contains("CA:TRUE");
        assert_eq!(ca, name != "db", "{name}: basic constraints CA");
        // The systemd-boot copy is the same file.
        assert_eq!(
            read(&dir.join(format!("loader/keys/example-corp/{name}.auth"))),
            read(&dir.join(format!("{name}.auth")))
        );
        let auth = read(&dir.join(format!("{name}.auth")));
        assert_eq!(
            &auth[..16],
            &EfiTime::from_unix(1_704_164_645).expect("time").to_bytes()
        );
    }
    // Nothing left beside it.
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("keys")]);
    // show checks the whole directory.
    let out = run_ok(stela().args(["keys", "show", "--json"]).arg(&dir));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(shown["verified"], true);
    assert_eq!(shown["directory"]["valid"], true, "{shown}");
    assert_eq!(shown["files"].as_array().expect("files").len(), 9);
}

#[test]
fn show_checks_a_key_directory_as_a_whole() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Valid for 0 days: expired a moment after it was made.
    let dir = tmp.path().join("keys");
    init_ok(&dir, &["--validity-days", "0"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = run(stela().args(["keys", "show", "--json"]).arg(&dir));
    assert_eq!(out.status.code(), Some(1));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(shown["verified"], true, "the signatures are still good");
    let problem = shown["directory"]["problem"].as_str().expect("problem");
    let crt = dir.join("PK.crt");
    assert!(
        problem.contains(&format!("{} expired on ", crt.display())),
        "{problem}"
    );

    // A db key that is not db.crt's.
    let dir = tmp.path().join("swapped");
    init_ok(&dir, &[]);
    std::fs::copy(dir.join("KEK.key"), dir.join("db.key")).expect("copy");
    let out = run(stela().args(["keys", "show"]).arg(&dir));
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "key directory: NOT VALID: {} does not belong to the certificate {}",
            dir.join("db.key").display(),
            dir.join("db.crt").display()
        )),
        "{text}"
    );
}

/// Regression (issue 9): the first `stela build --json`, which makes the default key set,
/// printed the key summary on stdout ahead of the JSON. The build here fails right after
/// the keys are made (its cache cannot be created), so no image is built: stdout must
/// hold nothing but JSON, i.e. nothing, and the summary must be on stderr.
#[test]
fn first_build_with_json_keeps_the_key_summary_off_stdout() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).expect("mkdir");
    let out = run(stela()
        .args(["build", "--json", "--cache", "/dev/null/cache", "--out"])
        .arg(tmp.path().join("out"))
        .env("HOME", &home)
        .env_remove("STELA_CACHE"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let keys = home.join(".local/share/stela/keys");
    assert!(keys.join("loader/keys/stela/db.auth").is_file(), "{stderr}");
    assert!(
        stderr.contains(&format!("created {}", keys.display())),
        "{stderr}"
    );
    assert!(stderr.contains("/dev/null/cache"), "{stderr}");
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    // Every document on stdout is JSON (here there is none, the build failed).
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {stdout:?}"));
    assert!(docs.is_empty(), "a failed build printed {docs:?}");

    // The second run finds the set and leaves it alone.
    let before = snapshot(&keys);
    let out = run(stela()
        .args(["build", "--json", "--cache", "/dev/null/cache", "--out"])
        .arg(tmp.path().join("out"))
        .env("HOME", &home)
        .env_remove("STELA_CACHE"));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("using the default key set"));
    assert_eq!(snapshot(&keys), before);
}

#[test]
fn efitools_reads_the_lists_and_signs_the_same_updates() {
    for t in [
        "sig-list-to-certs",
        "cert-to-efi-sig-list",
        "sign-efi-sig-list",
    ] {
        require_tool(t);
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("keys");
    let json = init_ok(&dir, &[]);
    let owner = json["owner_guid"].as_str().expect("owner").to_owned();
    let work = tmp.path().join("efitools");
    std::fs::create_dir(&work).expect("mkdir");
    for (name, signer) in [("PK", "PK"), ("KEK", "PK"), ("db", "KEK")] {
        let esl = dir.join(format!("{name}.esl"));
        // sig-list-to-certs gets back the DER certificate.
        let prefix = work.join(name);
        run_ok(Command::new("sig-list-to-certs").arg(&esl).arg(&prefix));
        assert_eq!(
            read(&work.join(format!("{name}-0.der"))),
            read(&dir.join(format!("{name}.cer")))
        );
        // cert-to-efi-sig-list writes the same bytes for the same owner.
        let theirs_esl = work.join(format!("{name}.esl"));
        run_ok(
            Command::new("cert-to-efi-sig-list")
                .args(["-g", &owner])
                .arg(dir.join(format!("{name}.crt")))
                .arg(&theirs_esl),
        );
        assert_eq!(read(&theirs_esl), read(&esl), "{name}.esl");
        // sign-efi-sig-list with the same time stamp and signer.
        let theirs_auth = work.join(format!("{name}.auth"));
        run_ok(
            Command::new("sign-efi-sig-list")
                .args(["-t", "2024-01-02 03:04:05", "-g", &owner, "-k"])
                .arg(dir.join(format!("{signer}.key")))
                .arg("-c")
                .arg(dir.join(format!("{signer}.crt")))
                .arg(name)
                .arg(&esl)
                .arg(&theirs_auth),
        );
        // Byte for byte the same file (PKCS#1 v1.5 is deterministic, no signingTime).
        let (ours, theirs) = (read(&dir.join(format!("{name}.auth"))), read(&theirs_auth));
        assert!(
            ours == theirs,
            "{name}.auth differs from sign-efi-sig-list's"
        );
        // And stela reads efitools' file and checks its signature.
        let out = run_ok(
            stela()
                .args(["keys", "show", "--json", "--variable", name, "--signer"])
                .arg(dir.join(format!("{signer}.crt")))
                .arg(&theirs_auth),
        );
        let shown: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(shown["files"][0]["auth"]["verified"], true, "{name}");
        assert_eq!(
            shown["files"][0]["lists"][0]["entries"][0]["owner"],
            owner.as_str()
        );
    }
}

/// DER length octets.
fn der_len(n: usize) -> Vec<u8> {
    match n {
        0..=0x7f => vec![n as u8],
        0x80..=0xff => vec![0x81, n as u8],
        _ => vec![0x82, (n >> 8) as u8, n as u8],
    }
}

/// ContentInfo { signedData, [0] EXPLICIT SignedData } around a bare SignedData.
fn wrap_content_info(signed_data: &[u8]) -> Vec<u8> {
    let oid = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ];
    let explicit = [vec![0xa0], der_len(signed_data.len()), signed_data.to_vec()].concat();
    let body = [oid.to_vec(), explicit].concat();
    [vec![0x30], der_len(body.len()), body].concat()
}

#[test]
fn openssl_verifies_the_auth_signatures() {
    require_tool("openssl");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("keys");
    init_ok(&dir, &[]);
    for var in [
        SecureBootVariable::Pk,
        SecureBootVariable::Kek,
        SecureBootVariable::Db,
    ] {
        let auth = AuthenticatedVariable::parse(&read(&dir.join(format!("{}.auth", var.name()))))
            .expect("parse");
        let payload = signed_payload(
            var.name(),
            var.vendor(),
            VariableAttributes::secure_boot(),
            auth.timestamp(),
            auth.data(),
        );
        let p7 = tmp.path().join("sig.p7");
        let content = tmp.path().join("payload");
        std::fs::write(&p7, wrap_content_info(auth.cert_data())).expect("write");
        std::fs::write(&content, &payload).expect("write");
        let ca = dir.join(format!("{}.crt", var.signed_by().name()));
        let verify = |content: &Path| {
            run(Command::new("openssl")
                .args([
                    "smime",
                    "-verify",
                    "-binary",
                    "-inform",
                    "der",
                    "-purpose",
                    "any",
                    "-out",
                    "/dev/null",
                    "-in",
                ])
                .arg(&p7)
                .arg("-content")
                .arg(content)
                .arg("-CAfile")
                .arg(&ca))
        };
        let out = verify(&content);
        assert!(
            out.status.success(),
            "{}: {}",
            var.name(),
            String::from_utf8_lossy(&out.stderr)
        );
        // A payload for another variable name does not verify.
        let other = tmp.path().join("other");
        std::fs::write(&other, [&[0x41, 0x00][..], &payload[2..]].concat()).expect("write");
        assert!(
            !verify(&other).status.success(),
            "{}: wrong payload verified",
            var.name()
        );
    }
}

fn show_fails(path: &Path, code: i32, wants: &[&str]) -> String {
    let out = run(stela().args(["keys", "show"]).arg(path));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(code), "{}: {text}", path.display());
    for want in wants {
        assert!(
            text.contains(want),
            "{}: want {want:?} in {text}",
            path.display()
        );
    }
    text
}

#[test]
fn corrupted_and_truncated_files_are_named_with_the_field() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("keys");
    init_ok(&dir, &[]);
    let esl = read(&dir.join("db.esl"));
    let auth = read(&dir.join("db.auth"));
    let write = |name: &str, bytes: &[u8]| {
        let p = tmp.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    };

    let mut zero_size = esl.clone();
    zero_size[24..28].copy_from_slice(&[0; 4]);
    let p = write("zero.esl", &zero_size);
    show_fails(
        &p,
        2,
        &[
            p.to_str().expect("path"),
            "signature list 1 at offset 0: SignatureSize 0",
        ],
    );

    let two = [esl.clone(), esl[..esl.len() - 10].to_vec()].concat();
    let p = write("two.esl", &two);
    show_fails(
        &p,
        2,
        &[
            p.to_str().expect("path"),
            &format!(
                "signature list 2 at offset {}: truncated: SignatureListSize",
                esl.len()
            ),
        ],
    );

    let p = write("db.auth", &auth[..30]);
    show_fails(
        &p,
        2,
        &[
            p.to_str().expect("path"),
            "authentication header: truncated",
        ],
    );

    let p = write("db.auth", &auth[..auth.len() - 1]);
    show_fails(
        &p,
        2,
        &[
            p.to_str().expect("path"),
            "variable data at offset",
            "SignatureListSize",
        ],
    );

    let mut revision = auth.clone();
    revision[20] = 0x01;
    let p = write("db.auth", &revision);
    show_fails(&p, 2, &["wRevision at offset 20"]);

    // A flipped bit in the data keeps the structure: the signature check says no, exit 1.
    let mut tampered = auth.clone();
    let owner_at = auth.len() - esl.len() + 28;
    tampered[owner_at] ^= 1;
    let p = write("db.auth", &tampered);
    let out = run(stela()
        .args(["keys", "show", "--signer"])
        .arg(dir.join("KEK.crt"))
        .arg(&p));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("DOES NOT VERIFY"));
    // Checked against the wrong key: no as well.
    let p = write("db.auth", &auth);
    let out = run(stela()
        .args(["keys", "show", "--signer"])
        .arg(dir.join("PK.crt"))
        .arg(&p));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn init_never_touches_an_existing_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("keys");
    init_ok(&dir, &[]);
    let before = snapshot(&dir);
    let out = init(&dir, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(dir.to_str().expect("path")) && err.contains("not empty"),
        "{err}"
    );
    assert_eq!(snapshot(&dir), before);
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");

    // An existing empty directory is filled; a missing parent fails and leaves nothing.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    init_ok(&empty, &[]);
    assert!(empty.join("loader/keys/stela/db.auth").is_file());
    let out = init(&tmp.path().join("missing/keys"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!tmp.path().join("missing").exists());
}
