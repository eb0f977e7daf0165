//! The update repository, read back by python-tuf's ngclient (the TUF reference client):
//! `stela repo init` with a threshold of root keys, `stela publish` of two releases and a
//! promotion, `stela repo refresh`; every target downloads with its hashes checked, the
//! usr image's zstd frames restore the image byte for byte (`zstd -d`), and the client
//! refuses a target changed on the server and an expired timestamp, which a refresh then
//! renews.

// A test stops at the first surprise; its panics name what was expected.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{require_tool, run, run_ok, stela};
use serde_json::Value;

/// python-tuf's virtualenv, made by scripts/setup --test.
fn tuf_python() -> PathBuf {
    let venv =
        std::env::var("STELA_TUF_VENV").unwrap_or_else(|_| "/var/cache/stela/tuf-venv".into());
    let py = Path::new(&venv).join("bin/python");
    assert!(
        py.is_file(),
        "python-tuf's virtualenv {venv} is missing: run scripts/setup --test"
    );
    py
}

/// Run ngclient against `repo` from the trusted `root`; its verdict.
fn client(repo: &Path, root: &Path, work: &Path, names: &[String]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tuf/client.py");
    let out = run_ok(
        std::process::Command::new(tuf_python())
            .arg(script)
            .arg(repo)
            .arg(root)
            .arg(work)
            .args(names),
    );
    serde_json::from_slice(&out.stdout).expect("the client prints JSON")
}

/// A build output as `stela build` leaves it, with made-up contents: what publish reads.
fn fake_build(dir: &Path, name: &str, version: &str, seed: u8) -> PathBuf {
    let out = dir.join(format!("out-{version}-{seed}"));
    std::fs::create_dir_all(&out).unwrap();
    let label = format!("{name}_{version}");
    // 9 MiB and a bit: three frames of 4 MiB, compressible like a file system.
    let usr: Vec<u8> = (0..(9 << 20) + 4321u32)
        .map(|i| {
            if (i / 4096) % 3 == 0 {
                0
            } else {
                ((i * 7) as u8) ^ seed
            }
        })
        .collect();
    let files: Vec<(String, Vec<u8>)> = vec![
        ("usr.erofs".into(), usr),
        ("usr.verity".into(), vec![seed; 81920]),
        (
            "usr.verity-sig.json".into(),
            format!("{{\"rootHash\":\"{seed}\"}}").into_bytes(),
        ),
        ("usr.verity.p7s".into(), vec![0x30, seed, 1, 2, 3]),
        (format!("{label}.efi"), vec![b'M', b'Z', seed]),
        ("boot-loader.efi".into(), vec![b'M', b'Z', b'L', seed]),
        (format!("{label}.raw"), vec![0; 1024]),
    ];
    let mut artifacts = Vec::new();
    for (f, bytes) in &files {
        std::fs::write(out.join(f), bytes).unwrap();
        artifacts.push(serde_json::json!({
            "file": f,
            "size": bytes.len(),
            "sha256": hex::encode(openssl::sha::sha256(bytes)),
        }));
    }
    let root_hash = hex::encode(openssl::sha::sha256(&[seed, version.len() as u8]));
    let manifest = serde_json::json!({
        "manifest_version": 2,
        "name": name,
        "version": version,
        "root_hash": root_hash,
        "image": format!("{label}.raw"),
        "artifacts": artifacts,
        "suites": [],
        "tools": {"stela": "test", "erofs_utils": null, "dracut": null, "systemd": null},
        "packages": [],
    });
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    out
}

fn publish(repo: &Path, keys: &Path, out: &Path, channel: &str) -> std::process::Output {
    run(stela()
        .arg("publish")
        .arg(out)
        .arg("--repo")
        .arg(repo)
        .arg("--keys")
        .arg(keys)
        .args(["--channel", channel, "--json"]))
}

fn target_names(report: &Value) -> Vec<String> {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[0].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_published_repository_is_valid_tuf_for_the_reference_client() {
    let zstd = require_tool("zstd");
    require_tool("openssl");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (repo, keys) = (dir.join("repo"), dir.join("keys"));

    // A root of three keys, two of which must sign; a timestamp valid for 3 seconds.
    let out = run_ok(
        stela()
            .args(["repo", "init"])
            .arg(&repo)
            .arg("--keys")
            .arg(&keys)
            .args([
                "--root-keys",
                "3",
                "--threshold",
                "2",
                "--timestamp-expires",
                "3s",
                "--json",
            ]),
    );
    let init: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(init["key_ids"]["root"].as_array().unwrap().len(), 3);
    let root1 = repo.join("metadata/1.root.json");
    let root: Value = serde_json::from_slice(&std::fs::read(&root1).unwrap()).unwrap();
    assert_eq!(root["signed"]["roles"]["root"]["threshold"], 2);
    assert_eq!(root["signatures"].as_array().unwrap().len(), 3);
    for k in [
        "root-1",
        "root-2",
        "root-3",
        "targets",
        "snapshot",
        "timestamp",
    ] {
        let f = keys.join(format!("{k}.pem"));
        run_ok(
            std::process::Command::new("openssl")
                .args(["pkey", "-noout", "-in"])
                .arg(&f),
        );
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&f).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600, "{}", f.display());
    }
    // A second init into the same directory is refused and changes nothing.
    let again = run(stela()
        .args(["repo", "init"])
        .arg(&repo)
        .arg("--keys")
        .arg(&keys));
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // Two releases on stable.
    let v1 = fake_build(dir, "appliance", "1", 1);
    let v2 = fake_build(dir, "appliance", "2", 2);
    let p1 = publish(&repo, &keys, &v1, "stable");
    assert!(
        p1.status.success(),
        "{}",
        String::from_utf8_lossy(&p1.stderr)
    );
    let p2 = publish(&repo, &keys, &v2, "stable");
    assert!(
        p2.status.success(),
        "{}",
        String::from_utf8_lossy(&p2.stderr)
    );
    let r2: Value = serde_json::from_slice(&p2.stdout).unwrap();
    let mut names = target_names(&serde_json::from_slice(&p1.stdout).unwrap());
    names.extend(target_names(&r2));
    assert_eq!(names.len(), 14, "{names:?}");
    assert!(
        names.iter().any(|n| n.ends_with(".boot-loader.efi")),
        "{names:?}"
    );
    // Promotion: v2 on beta too, same files.
    let p3 = publish(&repo, &keys, &v2, "beta");
    assert!(
        p3.status.success(),
        "{}",
        String::from_utf8_lossy(&p3.stderr)
    );

    // Refused: v1 again, an older version, another build under a published version, a
    // build output changed after its manifest was written.
    let e = publish(&repo, &keys, &v1, "stable");
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("already on it"),
        "{e:?}"
    );
    let v0 = fake_build(dir, "appliance", "0.9", 3);
    let e = publish(&repo, &keys, &v0, "stable");
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("newer than appliance_0.9"),
        "{e:?}"
    );
    let other2 = fake_build(dir, "appliance", "2", 4);
    let e = publish(&repo, &keys, &other2, "stable");
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("a version is published once"),
        "{e:?}"
    );
    let v3 = fake_build(dir, "appliance", "3", 5);
    std::fs::write(v3.join("usr.verity"), b"changed").unwrap();
    let e = publish(&repo, &keys, &v3, "stable");
    assert_eq!(e.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&e.stderr);
    assert!(
        msg.contains("usr.verity") && msg.contains("changed after the build"),
        "{msg}"
    );

    // The timestamp has expired by now (3 s): the reference client refuses to go on (a
    // freeze attack looks like this), and a refresh under a longer period renews it.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let v = client(&repo, &root1, &dir.join("client-expired"), &names);
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["error"].as_str().unwrap().contains("Expired"), "{v}");
    let settings = std::fs::read_to_string(repo.join("repo.toml")).unwrap();
    std::fs::write(repo.join("repo.toml"), settings.replace("\"3s\"", "\"1d\"")).unwrap();
    run_ok(
        stela()
            .args(["repo", "refresh"])
            .arg(&repo)
            .arg("--keys")
            .arg(&keys),
    );

    // Every target downloads and verifies; the custom metadata says what each is.
    let v = client(&repo, &root1, &dir.join("client"), &names);
    assert_eq!(v["ok"], true, "{v}");
    for name in &names {
        let t = &v["targets"][name];
        let custom = &t["custom"];
        assert_eq!(custom["name"], "appliance", "{t}");
        let version = custom["version"].as_str().unwrap();
        assert!(
            name.starts_with(&format!("appliance_{version}.")),
            "{name}: {t}"
        );
        let channels: Vec<&str> = custom["channels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        match version {
            "1" => assert_eq!(channels, ["stable"]),
            _ => assert_eq!(channels, ["stable", "beta"]),
        }
    }
    // The usr image: independent frames that zstd restores to the build's image.
    let usr2 = &v["targets"]["appliance_2.usr.erofs.zst"];
    assert_eq!(usr2["custom"]["kind"], "usr");
    assert_eq!(
        usr2["custom"]["frames"]["frames"].as_array().unwrap().len(),
        3
    );
    let restored = dir.join("usr2.restored");
    run_ok(
        std::process::Command::new(&zstd)
            .args(["-d", "-q", "-o"])
            .arg(&restored)
            .arg(usr2["path"].as_str().unwrap()),
    );
    assert_eq!(
        std::fs::read(&restored).unwrap(),
        std::fs::read(v2.join("usr.erofs")).unwrap()
    );

    // A channel's rules (`stela repo rules`) are a signed target like any other: the
    // reference client fetches them and they say what was set, in the file and in the
    // target's custom metadata.
    let set = run_ok(
        stela()
            .args(["repo", "rules"])
            .arg(&repo)
            .arg("--keys")
            .arg(&keys)
            .args(["--channel", "stable", "--max-version", "2"])
            .args(["--wave", "10%:0h", "--wave", "100%:24h", "--json"]),
    );
    let set: Value = serde_json::from_slice(&set.stdout).unwrap();
    assert_eq!(set["rules"]["max_version"], "2", "{set}");
    let rules_name = "stela-rules.stable.json".to_owned();
    let rv = client(
        &repo,
        &root1,
        &dir.join("client-rules"),
        std::slice::from_ref(&rules_name),
    );
    assert_eq!(rv["ok"], true, "{rv}");
    let t = &rv["targets"][&rules_name];
    let file: Value =
        serde_json::from_slice(&std::fs::read(t["path"].as_str().unwrap()).unwrap()).unwrap();
    for rules in [&file, &t["custom"]["stela_rules"]] {
        assert_eq!(rules["channel"], "stable", "{t}");
        assert_eq!(rules["max_version"], "2", "{t}");
        assert_eq!(
            rules["waves"],
            serde_json::json!([{"percent": 10, "hours": 0}, {"percent": 100, "hours": 24}]),
            "{t}"
        );
    }
    // Rules that leave devices out are refused, naming why.
    let e = run(stela()
        .args(["repo", "rules"])
        .arg(&repo)
        .arg("--keys")
        .arg(&keys)
        .args(["--wave", "50%:0h"]));
    assert_eq!(e.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&e.stderr).contains("end with 100%"),
        "{e:?}"
    );

    // A target changed on the server: the client refuses it.
    let uki = &v["targets"]["appliance_2.efi"];
    let stored = repo.join("targets").join(format!(
        "{}.appliance_2.efi",
        uki["sha256"].as_str().unwrap()
    ));
    assert!(stored.is_file(), "{}", stored.display());
    let good = std::fs::read(&stored).unwrap();
    let mut bad = good.clone();
    bad[0] ^= 1;
    std::fs::write(&stored, &bad).unwrap();
    let v = client(
        &repo,
        &root1,
        &dir.join("client-tampered"),
        &["appliance_2.efi".to_owned()],
    );
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["error"].as_str().unwrap().contains("Hash"), "{v}");
    std::fs::write(&stored, &good).unwrap();
    let v = client(
        &repo,
        &root1,
        &dir.join("client-restored"),
        &["appliance_2.efi".to_owned()],
    );
    assert_eq!(v["ok"], true, "{v}");

    // stela's own view agrees.
    let show = run_ok(stela().args(["repo", "show"]).arg(&repo).arg("--json"));
    let s: Value = serde_json::from_slice(&show.stdout).unwrap();
    let versions: Vec<&str> = s["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["1", "2"]);
}
