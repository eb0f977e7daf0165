//! The agent's view of a repository served over HTTP on 127.0.0.1 by a server of the
//! test's own (bounded: it stops by itself), honest and hostile: the releases and their
//! bytes come through; a server that never answers and one whose answer never ends fail
//! within their bounds; metadata replayed from before a release (a rollback attack) is
//! refused once the newer metadata was seen, and accepted by a client that never saw it
//! (the attack is real without the datastore).

// Test helpers outside #[test] functions may panic on unexpected errors too.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stela_agent::{Offer, RolloutSpot, Selection, Timeouts, UpdateSource};
use stela_repo::{InitOptions, RoleKeyDir, Settings};

/// A machine outside any staged rollout's delay: the first wave, now.
fn first_wave() -> RolloutSpot {
    RolloutSpot {
        position: stela_repo::RolloutPosition::from_machine_id("0"),
        pinned_wave: Some(0),
        now: jiff::Timestamp::now(),
    }
}

/// The release `source` offers a machine in the first wave running version 1.
fn newest_after_1(source: &UpdateSource) -> Option<Offer> {
    source
        .select("appliance", "stable", "1", &[], Some(&first_wave()))
        .offer
}

/// How the server behaves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Serve the files under its root.
    Honest,
    /// Read the request, then send nothing.
    Silent,
    /// Answer 200 and then send zeros without end (no length).
    Endless,
}

/// A server on 127.0.0.1 for `root`, stopped after `life` whatever happens.
fn serve(root: PathBuf, mode: Mode, life: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let end = Instant::now() + life;
    std::thread::spawn(move || {
        while Instant::now() < end {
            match listener.accept() {
                Ok((stream, _)) => {
                    let root = root.clone();
                    std::thread::spawn(move || answer(stream, &root, mode, end));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    format!("http://127.0.0.1:{port}/")
}

fn answer(stream: TcpStream, root: &Path, mode: Mode, end: Instant) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    let mut out = stream;
    match mode {
        Mode::Silent => {
            while Instant::now() < end {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Mode::Endless => {
            let _ = out.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
            let zeros = [0u8; 65536];
            while Instant::now() < end && out.write_all(&zeros).is_ok() {}
        }
        Mode::Honest => {
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let file = root.join(path.trim_start_matches('/'));
            match std::fs::read(&file) {
                Ok(body) if file.is_file() => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = out
                        .write_all(head.as_bytes())
                        .and_then(|()| out.write_all(&body));
                }
                _ => {
                    let _ = out.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    }
}

/// A build output as `stela build` leaves it, with made-up contents.
fn fake_build(dir: &Path, version: &str, seed: u8) -> PathBuf {
    let out = dir.join(format!("out-{version}"));
    std::fs::create_dir_all(&out).unwrap();
    let label = format!("appliance_{version}");
    let usr: Vec<u8> = (0..(5u32 << 20))
        .map(|i| ((i / 4096) as u8) ^ seed)
        .collect();
    let files: Vec<(String, Vec<u8>)> = vec![
        ("usr.erofs".into(), usr),
        ("usr.verity".into(), vec![seed; 8192]),
        ("usr.verity-sig.json".into(), b"{}".to_vec()),
        ("usr.verity.p7s".into(), vec![0x30, seed]),
        (format!("{label}.efi"), vec![b'M', b'Z', seed, 1, 2, 3]),
    ];
    let mut artifacts = Vec::new();
    for (f, bytes) in &files {
        std::fs::write(out.join(f), bytes).unwrap();
        artifacts.push(serde_json::json!({
            "file": f, "size": bytes.len(), "sha256": hex::encode(sha256(bytes)),
        }));
    }
    let manifest = serde_json::json!({
        "manifest_version": stela_build::manifest::VERSION,
        "name": "appliance", "version": version,
        "root_hash": hex::encode(sha256(&[seed])),
        "image": format!("{label}.raw"), "artifacts": artifacts, "suites": [],
        "tools": {"stela": "test", "erofs_utils": null, "dracut": null, "systemd": null},
        "packages": [],
    });
    std::fs::write(out.join("manifest.json"), manifest.to_string()).unwrap();
    out
}

fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A repository in `dir/repo` with one root key, its keys in `dir/keys`, and the time
/// it was made.
fn new_repo(dir: &Path) -> (PathBuf, RoleKeyDir, jiff::Timestamp) {
    let (repo, keys) = (dir.join("repo"), RoleKeyDir::new(dir.join("keys")));
    let opts = InitOptions {
        root_keys: 1,
        threshold: 1,
        settings: Settings::default(),
    };
    let now = jiff::Timestamp::now();
    stela_repo::init(&repo, &keys, &opts, now).unwrap();
    (repo, keys, now)
}

#[test]
fn releases_come_over_http_and_hostile_servers_fail_within_bounds() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (repo, keys, now) = new_repo(dir);
    stela_repo::publish(&repo, &keys, &fake_build(dir, "1", 1), "stable", now).unwrap();
    // The repository as it was with v1 only: what a replaying attacker keeps.
    let old = dir.join("repo-v1");
    copy_dir(&repo, &old);
    stela_repo::publish(&repo, &keys, &fake_build(dir, "2", 2), "stable", now).unwrap();
    let root = repo.join("metadata/1.root.json");
    let life = Duration::from_secs(60);

    // Honest: both releases, and a target's bytes as built.
    let url = serve(repo.clone(), Mode::Honest, life);
    let store = dir.join("datastore");
    let source = UpdateSource::open(&url, &root, &store).unwrap();
    let versions: Vec<String> = source
        .offers("appliance", "stable")
        .into_iter()
        .map(|o| o.version)
        .collect();
    assert_eq!(versions, ["1", "2"]);
    let offer = newest_after_1(&source).unwrap();
    let uki = offer.target(stela_repo::Kind::Uki).unwrap();
    let mut got = Vec::new();
    source
        .fetch(uki, |c| {
            got.extend_from_slice(c);
            Ok(())
        })
        .unwrap();
    assert_eq!(
        got,
        std::fs::read(dir.join("out-2/appliance_2.efi")).unwrap()
    );

    // Replayed metadata from before v2: refused by the client that saw v2 ...
    let replay = serve(old.clone(), Mode::Honest, life);
    let e = UpdateSource::open(&replay, &root, &store)
        .unwrap_err()
        .to_string();
    assert!(e.to_lowercase().contains("version"), "{e}");
    // ... while a client that never saw v2 takes it: the attack works without the
    // datastore's memory.
    let fresh = UpdateSource::open(&replay, &root, &dir.join("fresh-datastore")).unwrap();
    assert_eq!(fresh.offers("appliance", "stable").len(), 1);

    let short = Timeouts {
        connect: Duration::from_secs(3),
        response: Duration::from_secs(3),
        read: Duration::from_secs(3),
    };
    // A server that never answers.
    let silent = serve(repo.clone(), Mode::Silent, Duration::from_secs(20));
    let started = Instant::now();
    let e = UpdateSource::open_with(&silent, &root, &dir.join("ds-silent"), short).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(
        e.to_string().to_lowercase().contains("timeout")
            || e.to_string().to_lowercase().contains("timed out"),
        "{e}"
    );
    // A server whose answer never ends: tough stops reading at its size limit.
    let endless = serve(repo.clone(), Mode::Endless, Duration::from_secs(20));
    let started = Instant::now();
    let e = UpdateSource::open_with(&endless, &root, &dir.join("ds-endless"), short).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    eprintln!("endless: {e}");
}

#[test]
fn metadata_signed_by_keys_the_device_does_not_trust_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let opts = InitOptions {
        root_keys: 1,
        threshold: 1,
        settings: Settings::default(),
    };
    let now = jiff::Timestamp::now();
    // The device's repository, and an impostor's with its own keys and the same names.
    let (repo, keys) = (dir.join("repo"), RoleKeyDir::new(dir.join("keys")));
    stela_repo::init(&repo, &keys, &opts, now).unwrap();
    stela_repo::publish(&repo, &keys, &fake_build(dir, "1", 1), "stable", now).unwrap();
    let (evil, evil_keys) = (dir.join("evil"), RoleKeyDir::new(dir.join("evil-keys")));
    stela_repo::init(&evil, &evil_keys, &opts, now).unwrap();
    stela_repo::publish(&evil, &evil_keys, &fake_build(dir, "2", 2), "stable", now).unwrap();
    let life = Duration::from_secs(60);
    let url = serve(evil.clone(), Mode::Honest, life);

    // The attack works where the protection is off: a client trusting the impostor's
    // own root takes its release.
    let fooled =
        UpdateSource::open(&url, &evil.join("metadata/1.root.json"), &dir.join("s1")).unwrap();
    assert!(newest_after_1(&fooled).is_some());

    // The device trusts its own root: the impostor's metadata does not verify.
    let e = UpdateSource::open(&url, &repo.join("metadata/1.root.json"), &dir.join("s2"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&url) && e.to_lowercase().contains("signature"),
        "{e}"
    );
}

#[test]
fn a_channel_s_signed_version_limits_hold_back_releases() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (repo, keys, now) = new_repo(dir);
    for (v, seed) in [("1", 1), ("2", 2), ("3", 3)] {
        stela_repo::publish(&repo, &keys, &fake_build(dir, v, seed), "stable", now).unwrap();
    }
    let root = repo.join("metadata/1.root.json");
    let url = serve(repo.clone(), Mode::Honest, Duration::from_secs(60));
    let newest = |store: &str| {
        newest_after_1(&UpdateSource::open(&url, &root, &dir.join(store)).unwrap())
            .map(|o| o.version)
    };
    // Without rules the newest is offered.
    assert_eq!(newest("s1").as_deref(), Some("3"));
    // A fleet-wide stop at 2: 3 is held back.
    let stop = stela_repo::ChannelRules {
        channel: "stable".into(),
        min_version: None,
        max_version: Some("2".into()),
        waves: Vec::new(),
    };
    stela_repo::set_rules(&repo, &keys, "stable", Some(stop), now).unwrap();
    assert_eq!(newest("s2").as_deref(), Some("2"));
    // A floor above everything offered: nothing.
    let floor = stela_repo::ChannelRules {
        channel: "stable".into(),
        min_version: Some("4".into()),
        max_version: None,
        waves: Vec::new(),
    };
    stela_repo::set_rules(&repo, &keys, "stable", Some(floor), now).unwrap();
    assert_eq!(newest("s3"), None);
    // Rules cleared: 3 again.
    stela_repo::set_rules(&repo, &keys, "stable", None, now).unwrap();
    assert_eq!(newest("s4").as_deref(), Some("3"));
}

#[test]
fn a_staged_rollout_reaches_each_wave_at_its_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (repo, keys, now) = new_repo(dir);
    for (v, seed) in [("1", 1), ("2", 2)] {
        stela_repo::publish(&repo, &keys, &fake_build(dir, v, seed), "stable", now).unwrap();
    }
    let root = repo.join("metadata/1.root.json");
    let waves = stela_repo::ChannelRules {
        channel: "stable".into(),
        min_version: None,
        max_version: None,
        waves: vec!["10%:0h".parse().unwrap(), "100%:24h".parse().unwrap()],
    };
    stela_repo::set_rules(&repo, &keys, "stable", Some(waves.clone()), now).unwrap();
    let url = serve(repo.clone(), Mode::Honest, Duration::from_secs(60));
    let source = UpdateSource::open(&url, &root, &dir.join("store")).unwrap();
    let hours = |h: i64| {
        now.checked_add(jiff::SignedDuration::from_hours(h))
            .unwrap()
    };
    let select = |position, pinned_wave, at| -> Selection {
        let spot = RolloutSpot {
            position,
            pinned_wave,
            now: at,
        };
        source.select("appliance", "stable", "1", &[], Some(&spot))
    };
    // Two machines by their machine-ids: one in the first tenth, one not.
    let ids: Vec<_> = (0..200)
        .map(|i| stela_repo::RolloutPosition::from_machine_id(&format!("{i:032x}")))
        .collect();
    let early = *ids.iter().find(|p| waves.wave_of(**p, None) == 0).unwrap();
    let late = *ids.iter().find(|p| waves.wave_of(**p, None) == 1).unwrap();

    // The first wave sees release 2 at once.
    let s = select(early, None, hours(1));
    assert_eq!(s.offer.map(|o| o.version).as_deref(), Some("2"));
    assert_eq!(s.held_back, None);
    // The second wave not before 24 hours after it reached the channel, and is told when.
    let s = select(late, None, hours(1));
    assert!(s.offer.is_none());
    let held = s.held_back.unwrap();
    assert_eq!(
        (held.release.as_str(), held.wave, held.from),
        ("appliance_2", 1, Some(hours(24)))
    );
    let s = select(late, None, hours(25));
    assert_eq!(s.offer.map(|o| o.version).as_deref(), Some("2"));
    // A machine configured into a wave (`wave =`) follows it whatever its machine-id.
    assert!(select(early, Some(1), hours(1)).offer.is_none());
    assert!(select(late, Some(0), hours(1)).offer.is_some());
    // Without the rules (the protection off), every machine sees 2 at once.
    stela_repo::set_rules(&repo, &keys, "stable", None, now).unwrap();
    let fresh = UpdateSource::open(&url, &root, &dir.join("store2")).unwrap();
    let spot = RolloutSpot {
        position: late,
        pinned_wave: None,
        now: hours(1),
    };
    assert!(fresh
        .select("appliance", "stable", "1", &[], Some(&spot))
        .offer
        .is_some());
}
