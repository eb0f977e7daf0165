//! The key directory: byte-identical to what `stela keys init` wrote before this crate,
//! and every check of `validate` and `load_for_build` naming the file.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use stela_efivars::{parse_lists, AuthenticatedVariable, EfiTime, SecureBootVariable};
use stela_keydir::{BuildKeys, GenerateOptions, KeyDir, KeyDirError, KeyFile, KeySet, ROLES};
use stela_keys::{FileSigner, Signer};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/example-corp");

fn fixture() -> KeyDir {
    KeyDir::new(FIXTURE)
}

/// Every file under `dir`, relative, with its contents, sorted.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                todo.push(p);
            } else if p.file_name().is_some_and(|n| n != ".gitattributes") {
                let rel = p.strip_prefix(dir).expect("prefix").to_owned();
                out.push((rel, std::fs::read(&p).expect("read")));
            }
        }
    }
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    for (rel, bytes) in tree(from) {
        let p = to.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, bytes).expect("write");
    }
}

/// The fixture's keys, owner and time stamp, as a [`KeySet`].
fn fixture_set() -> KeySet {
    let dir = fixture();
    let signer = |role| {
        FileSigner::load(&dir.file(role, KeyFile::Key), &dir.file(role, KeyFile::Crt))
            .expect("fixture key")
    };
    let esl = std::fs::read(dir.file(SecureBootVariable::Pk, KeyFile::Esl)).expect("esl");
    let owner = parse_lists(&esl).expect("lists")[0].entries()[0].owner;
    let auth = std::fs::read(dir.file(SecureBootVariable::Pk, KeyFile::Auth)).expect("auth");
    let timestamp = AuthenticatedVariable::parse(&auth)
        .expect("auth")
        .timestamp();
    assert_eq!(timestamp, EfiTime::from_unix(1_704_164_645).expect("time"));
    let [pk, kek, db] = ROLES;
    KeySet::from_parts(
        [signer(pk), signer(kek), signer(db)],
        owner,
        timestamp,
        "example-corp".into(),
    )
}

/// A moment inside the fixture's validity (it was made with the default 3650 days).
fn fixture_now() -> SystemTime {
    let dir = fixture();
    let cert = stela_keys::Certificate::from_file(&dir.file(SecureBootVariable::Pk, KeyFile::Crt))
        .expect("cert");
    cert.not_before() + Duration::from_secs(86_400)
}

#[test]
fn rendering_the_fixture_keys_gives_back_what_stela_keys_init_wrote() {
    let rendered: Vec<(PathBuf, Vec<u8>)> = {
        let mut v: Vec<_> = fixture_set()
            .render()
            .expect("render")
            .into_iter()
            .map(|f| (f.path, f.bytes))
            .collect();
        v.sort();
        v
    };
    let on_disk = tree(Path::new(FIXTURE));
    let names = |v: &[(PathBuf, Vec<u8>)]| v.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(names(&rendered), names(&on_disk));
    for ((path, ours), (_, theirs)) in rendered.iter().zip(&on_disk) {
        assert!(ours == theirs, "{} differs", path.display());
    }

    // Written out, the tree is the same and the modes are those of docs/keys.md.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = KeyDir::new(tmp.path().join("keys"));
    let generated = dir.write(&fixture_set()).expect("write");
    assert_eq!(tree(dir.path()), on_disk);
    assert_eq!(
        generated.enrolment_dir,
        Path::new("loader/keys/example-corp")
    );
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(dir.path()), 0o700);
    for role in ROLES {
        for kind in KeyFile::ALL {
            assert_eq!(
                mode(&dir.file(role, kind)),
                kind.mode(),
                "{}",
                kind.name(role)
            );
        }
    }
}

#[test]
fn a_generated_set_validates_and_loads_for_a_build() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = KeyDir::new(tmp.path().join("keys"));
    let opts = GenerateOptions {
        common_name: " ACME fleet ".into(),
        validity_days: 30,
        timestamp: EfiTime::from_unix(1_704_164_645).expect("time"),
    };
    let generated = dir.generate(&opts).expect("generate");
    assert_eq!(generated.enrolment_dir, Path::new("loader/keys/acme-fleet"));
    assert_eq!(generated.keys[2].subject, "CN=ACME fleet db");
    let validated = dir.validate(SystemTime::now()).expect("validate");
    assert_eq!(
        validated.enrolment_dirs,
        vec![dir.path().join("loader/keys/acme-fleet")]
    );
    assert!(validated.keys.iter().all(|k| k.private_key));

    let keys = BuildKeys::load(dir.path()).expect("load");
    assert_eq!(keys.db.certificate(), &validated.keys[2].certificate);
    let names: Vec<_> = keys.enrolment.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["PK", "KEK", "db"]);

    let e = dir.generate(&opts).unwrap_err();
    assert!(
        matches!(&e, KeyDirError::NotEmpty { path } if path == dir.path()),
        "{e}"
    );
    let e = KeyDir::new(tmp.path().join("x"))
        .generate(&GenerateOptions {
            common_name: "ÄÖ".into(),
            ..opts
        })
        .unwrap_err();
    assert!(
        matches!(&e, KeyDirError::CommonName { name } if name == "ÄÖ"),
        "{e}"
    );
    assert!(!tmp.path().join("x").exists());
}

/// A copy of the fixture, changed by `edit`, and the error `validate` gives.
fn broken(edit: impl FnOnce(&Path)) -> (tempfile::TempDir, KeyDirError) {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_tree(Path::new(FIXTURE), tmp.path());
    edit(tmp.path());
    let e = KeyDir::new(tmp.path())
        .validate(fixture_now())
        .expect_err("validate accepted a broken directory");
    (tmp, e)
}

fn flip_last_byte(p: &Path) {
    let mut b = std::fs::read(p).expect("read");
    let last = b.len() - 1;
    b[last] ^= 1;
    std::fs::write(p, b).expect("write");
}

#[test]
fn validate_names_the_file_of_each_problem() {
    fixture()
        .validate(fixture_now())
        .expect("the fixture is valid");
    let copy = |from: &str, to: &str| {
        let (from, to) = (from.to_owned(), to.to_owned());
        move |d: &Path| {
            std::fs::copy(d.join(from), d.join(to)).expect("copy");
        }
    };

    let (t, e) = broken(copy("KEK.key", "db.key"));
    assert!(
        matches!(&e, KeyDirError::Mismatch { key, cert }
            if *key == t.path().join("db.key") && *cert == t.path().join("db.crt")),
        "{e}"
    );
    let (t, e) = broken(|d| std::fs::remove_file(d.join("db.key")).expect("rm"));
    assert!(
        matches!(&e, KeyDirError::Missing { path } if *path == t.path().join("db.key")),
        "{e}"
    );
    let (t, e) = broken(copy("KEK.cer", "PK.cer"));
    assert!(
        matches!(&e, KeyDirError::CerDiffers { cer, .. } if *cer == t.path().join("PK.cer")),
        "{e}"
    );
    let (t, e) = broken(copy("PK.esl", "KEK.esl"));
    assert!(
        matches!(&e, KeyDirError::EslContent { path, .. } if *path == t.path().join("KEK.esl")),
        "{e}"
    );
    let (t, e) = broken(|d| {
        let b = std::fs::read(d.join("KEK.auth")).expect("read");
        std::fs::write(d.join("KEK.auth"), &b[..30]).expect("write");
    });
    assert!(
        matches!(&e, KeyDirError::Format { path, .. } if *path == t.path().join("KEK.auth")),
        "{e}"
    );
    let (t, e) = broken(|d| flip_last_byte(&d.join("db.auth")));
    assert!(
        matches!(&e, KeyDirError::AuthContent { path, .. } if *path == t.path().join("db.auth")),
        "{e}"
    );
    // The same change in db.esl and db.auth: the contents agree, the signature does not.
    let (t, e) = broken(|d| {
        // The first byte of the entry's SignatureOwner, after the 28-byte list header.
        let (esl, auth) = (d.join("db.esl"), d.join("db.auth"));
        let mut b = std::fs::read(&esl).expect("read");
        b[28] ^= 1;
        let mut a = std::fs::read(&auth).expect("read");
        let at = a.len() - b.len() + 28;
        a[at] ^= 1;
        std::fs::write(&esl, b).expect("write");
        std::fs::write(&auth, a).expect("write");
    });
    assert!(
        matches!(&e, KeyDirError::Signature { path, signer, source }
            if *path == t.path().join("db.auth")
                && *signer == t.path().join("KEK.crt")
                && source.is_bad_signature()),
        "{e}"
    );
    let (t, e) = broken(copy("KEK.auth", "loader/keys/example-corp/db.auth"));
    assert!(
        matches!(&e, KeyDirError::EnrolmentCopy { path, original }
            if *path == t.path().join("loader/keys/example-corp/db.auth")
                && *original == t.path().join("db.auth")),
        "{e}"
    );
    let (t, e) = broken(|d| std::fs::remove_dir_all(d.join("loader")).expect("rm"));
    assert!(
        matches!(&e, KeyDirError::NoEnrolmentDir { path } if *path == t.path().join("loader/keys")),
        "{e}"
    );

    // PK.key and KEK.key may be offline; the certificates are still checked.
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_tree(Path::new(FIXTURE), tmp.path());
    std::fs::remove_file(tmp.path().join("PK.key")).expect("rm");
    std::fs::remove_file(tmp.path().join("KEK.key")).expect("rm");
    let v = KeyDir::new(tmp.path())
        .validate(fixture_now())
        .expect("validate");
    let present: Vec<bool> = v.keys.iter().map(|k| k.private_key).collect();
    assert_eq!(present, [false, false, true]);
}

#[test]
fn validate_checks_the_validity_dates() {
    let dir = fixture();
    let e = dir
        .validate(fixture_now() + Duration::from_secs(3651 * 86_400))
        .unwrap_err();
    assert!(
        matches!(&e, KeyDirError::Expired { path, .. } if *path == dir.file(SecureBootVariable::Pk, KeyFile::Crt)),
        "{e}"
    );
    assert!(e.to_string().contains(" UTC"), "{e}");
    let e = dir.validate(SystemTime::UNIX_EPOCH).unwrap_err();
    assert!(matches!(&e, KeyDirError::NotYetValid { .. }), "{e}");
}

#[test]
fn load_for_build_names_what_is_missing_or_malformed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let missing = tmp.path().join("nothing");
    let e = BuildKeys::load(&missing).unwrap_err();
    assert!(
        matches!(&e, KeyDirError::NotFound { path } if *path == missing),
        "{e}"
    );
    assert!(e.to_string().contains("stela keys init"), "{e}");
    let file = tmp.path().join("file");
    std::fs::write(&file, b"").expect("write");
    let e = BuildKeys::load(&file).unwrap_err();
    assert!(matches!(&e, KeyDirError::NotADirectory { .. }), "{e}");

    copy_tree(Path::new(FIXTURE), &tmp.path().join("k"));
    let k = tmp.path().join("k");
    std::fs::remove_file(k.join("KEK.auth")).expect("rm");
    let e = BuildKeys::load(&k).unwrap_err();
    assert!(
        matches!(&e, KeyDirError::Missing { path } if *path == k.join("KEK.auth")),
        "{e}"
    );
    std::fs::write(k.join("KEK.auth"), b"short").expect("write");
    let e = BuildKeys::load(&k).unwrap_err();
    assert!(
        matches!(&e, KeyDirError::Format { path, .. } if *path == k.join("KEK.auth")),
        "{e}"
    );
    std::fs::write(k.join("db.crt"), b"not a certificate").expect("write");
    let e = BuildKeys::load(&k).unwrap_err();
    assert!(
        matches!(&e, KeyDirError::Key { role: "db", path, source }
            if *path == k.join("db.crt")
                && matches!(**source, stela_keys::KeyError::BadCertificate { .. })),
        "{e}"
    );
}
