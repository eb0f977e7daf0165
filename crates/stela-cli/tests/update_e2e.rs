//! End to end, an update of a disk that is not running: v1 and v2 of the test recipe are
//! built and published into a TUF repository; `stela update apply --disk` installs v2
//! into the empty slot B of a copy of v1's disk image. The independent tools then read
//! the result: sgdisk sees slot B's three partitions labelled `stela-e2e_2` (slot A
//! untouched), veritysetup verifies slot B's usr data against its tree and v2's root
//! hash, fsck.fat finds the ESP clean, mtools reads the new UKI `stela-e2e_2+3.efi` off
//! it byte-identical to the build's, sbverify checks its signature; and the disk, booted
//! under OVMF in Secure Boot mode, runs v2 from the dm-verity device. Before that, a
//! UKI changed on the server makes `apply` fail with slot B left `_empty`, and `apply`
//! killed at six points of its run never leaves a boot entry for a slot that is not
//! whole.
//!
//! Files of a failed run stay in `target/tmp/e2e/update/`.

// A test stops at the first surprise; its panics name what was expected.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    boot_and_report, build, e2e_keys, e2e_recipe, e2e_work_dir, extract, partitions, publish,
    repo_init, require_tool, run, run_ok, stela,
};

fn update(verb: &str, disk: &Path, repo: &Path) -> std::process::Output {
    run(stela()
        .args(["update", verb, "--disk"])
        .arg(disk)
        .arg("--repo")
        .arg(repo)
        .arg("--root")
        .arg(repo.join("metadata/1.root.json"))
        .arg("--json"))
}

#[test]
fn an_offline_update_installs_the_next_release_in_the_other_slot_and_it_boots() {
    require_tool("mmdebstrap");
    require_tool("qemu-system-x86_64");
    for t in ["sgdisk", "veritysetup", "fsck.fat", "mtype", "sbverify"] {
        require_tool(t);
    }
    let dir = e2e_work_dir("update");
    let keys = e2e_keys(&dir, "stela e2e");
    let recipe1 = e2e_recipe();
    let text = std::fs::read_to_string(&recipe1).unwrap();
    assert!(text.contains("version = \"1\""));
    let recipe2 = dir.join("recipe-2.toml");
    std::fs::write(&recipe2, text.replace("version = \"1\"", "version = \"2\"")).unwrap();
    let (out1, out2) = (dir.join("out1"), dir.join("out2"));
    let m1 = build(&recipe1, &keys, &out1);
    let m2 = build(&recipe2, &keys, &out2);
    let hash2 = m2["root_hash"].as_str().unwrap().to_owned();
    assert_ne!(m1["root_hash"], m2["root_hash"]);

    let (repo, tuf_keys) = repo_init(&dir);
    for out in [&out1, &out2] {
        publish(out, &repo, &tuf_keys, "stable");
    }

    let disk = dir.join("disk.raw");
    common::sparse_copy(&out1.join(m1["image"].as_str().unwrap()), &disk);
    let check = update("check", &disk, &repo);
    let c: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(c["running"], "1", "{c}");
    assert_eq!(c["update"], "2", "{c}");

    // A UKI changed on the server: refused, and slot B holds no version afterwards.
    let uki2 = std::fs::read(out2.join("stela-e2e_2.efi")).unwrap();
    let stored = std::fs::read_dir(repo.join("targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".stela-e2e_2.efi"))
        .expect("v2's UKI in the repository");
    let mut bad = uki2.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    std::fs::write(&stored, &bad).unwrap();
    let refused = update("apply", &disk, &repo);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let msg = String::from_utf8_lossy(&refused.stderr);
    assert!(msg.contains("stela-e2e_2.efi"), "{msg}");
    let labels: Vec<String> = partitions(&disk).into_iter().map(|p| p.3).collect();
    assert!(!labels.iter().any(|l| l == "stela-e2e_2"), "{labels:?}");
    std::fs::write(&stored, &uki2).unwrap();

    // Cut short, as far as a process can be: `apply` killed (SIGKILL) at points spread
    // over its run, each time on the disk the previous cut left. Whatever it was doing,
    // the GPT stays valid, slot A keeps v1, and a boot entry for v2 exists only while
    // slot B holds all of v2; the apply after the last cut completes.
    // The points: fractions of the fastest of two whole runs on copies (the first one
    // also warms the page cache the cut runs find).
    let probe = dir.join("probe.raw");
    let mut whole = std::time::Duration::MAX;
    for _ in 0..2 {
        common::sparse_copy(&disk, &probe);
        let started = std::time::Instant::now();
        let p = update("apply", &probe, &repo);
        assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
        whole = whole.min(started.elapsed());
    }
    std::fs::remove_file(&probe).unwrap();
    let mut landed = Vec::new();
    for k in 1..=6u32 {
        let mut child = stela()
            .args(["update", "apply", "--disk"])
            .arg(&disk)
            .arg("--repo")
            .arg(&repo)
            .arg("--root")
            .arg(repo.join("metadata/1.root.json"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole * k / 8);
        let _ = child.kill();
        let status = child.wait().unwrap();
        let v = run_ok(Command::new("sgdisk").arg("-v").arg(&disk));
        assert!(
            String::from_utf8_lossy(&v.stdout).contains("No problems found"),
            "cut {k}: {v:?}"
        );
        let i = run(stela().args(["inspect", "--json"]).arg(&disk));
        let i: serde_json::Value = serde_json::from_slice(&i.stdout).unwrap();
        let slot = |name: &str| {
            i["slots"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["slot"] == name)
                .cloned()
                .unwrap()
        };
        assert_eq!(slot("A")["version"], "1", "cut {k}: {i}");
        let entries: Vec<String> = i["esps"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|e| e["boot_entries"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["path"].as_str().map(str::to_owned))
            .collect();
        let b = slot("B");
        if entries.iter().any(|e| e.contains("stela-e2e_2")) {
            assert_eq!(
                b["root_hash"],
                hash2.as_str(),
                "cut {k}: an entry for v2 without v2 in slot B: {i}"
            );
        } else {
            assert_eq!(i["default_slot"], "A", "cut {k}: {i}");
        }
        landed.push(format!(
            "cut {k} at {:?}: {} slot B {}",
            whole * k / 8,
            status,
            b["state"]
        ));
    }
    eprintln!("cuts: {landed:#?}");

    // The apply after the cuts completes (or finds v2 installed, when the last cut came
    // after the end of its run).
    let applied = update("apply", &disk, &repo);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&applied.stdout).unwrap();
    eprintln!("apply: {report}");
    if report.get("running").is_some() {
        // Nothing newer: a cut came after the end of a run, which installed v2.
        assert_eq!(report["running"], "2", "{report}");
    } else {
        assert_eq!(report["slot"], "B");
        assert_eq!(report["boot_entry"], "EFI/Linux/stela-e2e_2+3.efi");
    }

    // sgdisk: slot A still v1, slot B v2.
    require_tool("sgdisk");
    let v = run_ok(Command::new("sgdisk").arg("-v").arg(&disk));
    assert!(
        String::from_utf8_lossy(&v.stdout).contains("No problems found"),
        "{v:?}"
    );
    let parts = partitions(&disk);
    let named = |l: &str| {
        parts
            .iter()
            .filter(|p| p.3 == l)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(named("stela-e2e_1").len(), 3, "{parts:?}");
    let b = named("stela-e2e_2");
    assert_eq!(b.len(), 3, "{parts:?}");
    // Slot B in entry order: usr, usr-verity, usr-verity-sig.
    let (usr_b, verity_b) = (&b[0], &b[1]);
    let (usr_img, verity_img) = (dir.join("usr-b.img"), dir.join("verity-b.img"));
    extract(&disk, usr_b.1, usr_b.2, &usr_img);
    extract(&disk, verity_b.1, verity_b.2, &verity_img);
    run_ok(
        Command::new("veritysetup")
            .arg("verify")
            .arg(&usr_img)
            .arg(&verity_img)
            .arg(&hash2),
    );

    // The ESP: clean, and the new UKI on it is the build's, signed with the db key.
    let esp = parts
        .iter()
        .find(|p| p.3 == "esp")
        .expect("the ESP")
        .clone();
    let esp_img = dir.join("esp.img");
    extract(&disk, esp.1, esp.2, &esp_img);
    // fsck.fat finds the file system sound. A cut that fell inside the FAT write of the
    // UKI leaves what an interrupted FAT write always leaves, and which the offline ESP
    // writer does not repair yet: the dirty flag (boot sector byte 65, hence its
    // difference from the backup), clusters allocated to no file, an unknown free count,
    // and the two FAT copies differing while both are intact (the cut fell between the
    // write of the first copy and that of the second). Those, and nothing else (no
    // cross-linked or broken chains, no bad directories), are accepted.
    let fsck = run(Command::new("fsck.fat").arg("-n").arg(&esp_img));
    let said = String::from_utf8_lossy(&fsck.stdout).into_owned();
    if !fsck.status.success() {
        let after_a_cut = [
            "fsck.fat ",
            "There are differences between boot sector and its backup.",
            "This is mostly harmless. Differences: (offset:original/backup)",
            "  65:01/00",
            "  Not automatically fixing this.",
            "FATs differ but appear to be intact.",
            "  Using first FAT.",
            "Reclaimed ",
            "Dirty bit is set. Fs was not properly unmounted and some data may be corrupt.",
            " Automatically removing dirty bit.",
            "Free cluster summary uninitialized",
            "Leaving filesystem unchanged.",
            "",
        ];
        let esp_name = esp_img.display().to_string();
        for line in said.lines() {
            assert!(
                after_a_cut.iter().any(|ok| if ok.is_empty() {
                    line.trim().is_empty()
                } else {
                    line.starts_with(ok)
                }) || line.starts_with(&esp_name),
                "fsck.fat found more than a cut-short write leaves: {line:?}\n{said}"
            );
        }
        eprintln!("fsck.fat after the cuts:\n{said}");
    }
    let uki_out = dir.join("uki-from-esp.efi");
    let mtype = run_ok(
        Command::new("mtype")
            .arg("-i")
            .arg(&esp_img)
            .arg("::EFI/Linux/stela-e2e_2+3.efi"),
    );
    std::fs::write(&uki_out, &mtype.stdout).unwrap();
    assert!(
        mtype.stdout == uki2,
        "the UKI on the ESP is not the build's"
    );
    run_ok(
        Command::new("sbverify")
            .arg("--cert")
            .arg(keys.join("db.crt"))
            .arg(&uki_out),
    );

    // Nothing newer: apply changes nothing.
    let again = update("apply", &disk, &repo);
    let a: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert!(a["update"].is_null(), "{a}");

    // The updated disk boots v2 from dm-verity.
    let r = boot_and_report(&disk, "3b9d2f61-7c44-4e0a-9f1b-5a6c7d8e9f01", &dir, "boot");
    assert!(
        r["cmdline"].contains(&format!("usrhash={hash2}")),
        "{}",
        r["cmdline"]
    );
    assert_eq!(r["usr_source"], "/dev/mapper/usr");
    assert!(r["verity_table"].contains(&hash2), "{}", r["verity_table"]);
    assert_eq!(r["multi_user"], "active");
}
