//! End to end, power cuts during an update: QEMU is killed (SIGKILL, `stela qemu
//! --cut-power`) while the agent of a running machine updates it, seven times, and the
//! machine must boot a good version after each cut and finish the update in the end,
//! with nobody stepping in.
//!
//! v1 and v2 of a test recipe with `[update]` are published; v2 carries a boot loader
//! that differs from v1's, so the agent first updates the boot loader (copy B, tried
//! once through `BootNext`) and then the operating system (slot B), one reboot each.
//! A test-only unit runs `stela update apply --reboot` at every boot with the agent's log
//! on the console; the test cuts the power when a line it waits for shows:
//!
//! 1. as the new boot loader is written to copy B on the ESP;
//! 2. as `BootNext` is set (the trial recorded just before);
//! 3. to 7. at 10, 30, 50, 70 and 90 % of the usr image written into slot B.
//!
//! Each boot after a cut reports `stela update status`: v1 running from slot A, no boot
//! loader marked failed, slot B holding nothing (an interrupted write leaves it empty);
//! sgdisk finds the partition table sound after every cut. A last run lets the update
//! finish: v2 boots from slot B, through the new boot loader as the default, and
//! veritysetup verifies both slots against their root hashes.
//!
//! Files of a failed run stay in `target/tmp/e2e/power-cut/`.

// A test stops at the first surprise; its panics name what was expected.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    boot_loader_table, build, e2e_keys, e2e_recipe, e2e_work_dir, gpt_sound, pe_offsets, publish,
    repo_init, report, report_json as json, require_tool, run, serve_dir, stela, trixie_root,
    verify_slot,
};

/// The guest's side (test recipe only): count the boots, report the agent's view, and
/// apply with the agent's log on the console.
const DRIVER: &str = r#"
[[files]]
dest = "/usr/lib/stela-e2e/cut-driver"
mode = 0o755
content = '''#!/bin/sh
say() { printf 'STELA-E2E %s=%s\n' "$1" "$2"; }
. /usr/lib/os-release
mkdir -p /var/lib/stela-e2e
n=$(( $(cat /var/lib/stela-e2e/boots 2>/dev/null || echo 0) + 1 ))
echo "$n" > /var/lib/stela-e2e/boots
sync
say "b$n.version" "$IMAGE_VERSION"
say "b$n.status" "$(stela update status --json 2>&1 | tr -d '\n')"
if [ "$IMAGE_VERSION" != 1 ]; then
    say cut-end done
    exit 0
fi
if ! NO_COLOR=1 RUST_LOG=warn,stela_agent=info stela update apply --reboot --json \
        > /var/lib/stela-e2e/apply.json 2>/dev/console; then
    say "b$n.apply_error" "$(tr -d '\n' < /var/lib/stela-e2e/apply.json)"
    say cut-end failed
fi
'''

[[files]]
dest = "/usr/lib/systemd/system/stela-e2e-cut.service"
mode = 0o644
content = '''
[Unit]
Description=stela end-to-end test: update with power cuts (test recipe only)
Wants=network-online.target
After=multi-user.target network-online.target boot-complete.target systemd-bless-boot.service stela-bless-loader.service

[Service]
Type=oneshot
ExecStart=/usr/lib/stela-e2e/cut-driver
StandardOutput=tty
TTYPath=/dev/console

[Install]
WantedBy=multi-user.target
'''
"#;

/// The cuts: the console line each waits for, and what it interrupts.
const CUTS: [(&str, &str); 7] = [
    ("writing boot loader ", "the boot loader's write to copy B"),
    ("boot loader trial recorded", "BootNext being set"),
    ("usr image: 10% received", "the usr write at 10 %"),
    ("usr image: 30% received", "the usr write at 30 %"),
    ("usr image: 50% received", "the usr write at 50 %"),
    ("usr image: 70% received", "the usr write at 70 %"),
    ("usr image: 90% received", "the usr write at 90 %"),
];

fn recipe(dir: &Path, version: &str, loader: Option<&Path>) -> PathBuf {
    let text = std::fs::read_to_string(e2e_recipe()).unwrap();
    for needle in [
        "version = \"1\"",
        "\"stela-e2e-report.service\"]",
        "ExecStart=/usr/lib/stela-e2e/report\n",
    ] {
        assert!(text.contains(needle), "the e2e recipe changed: {needle}");
    }
    // The boot chain report (half a minute of every boot under TCG) is not needed here:
    // the cut driver alone. (Debian's presets enable every unit with an [Install].)
    let text = text
        .replace("version = \"1\"", &format!("version = \"{version}\""))
        .replace(
            "ExecStart=/usr/lib/stela-e2e/report\n",
            "ExecStart=/bin/true\n",
        )
        .replace(
            "\"stela-e2e-report.service\"]",
            "\"stela-e2e-cut.service\"]",
        );
    let boot = boot_loader_table(dir, loader);
    let path = dir.join(format!("recipe-{version}.toml"));
    std::fs::write(
        &path,
        format!(
            "{text}\n[update]\nrepository = \"http://10.0.2.100:8080/\"\nroot = \"repo/metadata/1.root.json\"\n{boot}{DRIVER}"
        ),
    )
    .unwrap();
    path
}

fn sha256_hex(path: &Path) -> String {
    hex::encode(openssl::sha::sha256(&std::fs::read(path).unwrap()))
}

#[test]
fn power_cuts_during_an_update_leave_a_machine_that_boots_and_finishes_it() {
    require_tool("mmdebstrap");
    require_tool("qemu-system-x86_64");
    for t in ["sgdisk", "veritysetup"] {
        require_tool(t);
    }
    let dir = e2e_work_dir("power-cut");
    let keys = e2e_keys(&dir, "stela e2e");
    let (repo, tuf_keys) = repo_init(&dir);

    // v2's boot loader: trixie's systemd-boot with another PE time stamp.
    let mut other =
        std::fs::read(trixie_root().join("usr/lib/systemd/boot/efi/systemd-bootx64.efi")).unwrap();
    let (_, stamp) = pe_offsets(&other);
    other[stamp..stamp + 4].copy_from_slice(&0x5354_4543u32.to_le_bytes());
    let other_path = dir.join("other-loader.efi");
    std::fs::write(&other_path, &other).unwrap();

    let (out1, out2) = (dir.join("out1"), dir.join("out2"));
    let m1 = build(&recipe(&dir, "1", None), &keys, &out1);
    let m2 = build(&recipe(&dir, "2", Some(&other_path)), &keys, &out2);
    let hash = |m: &serde_json::Value| m["root_hash"].as_str().unwrap().to_owned();
    let (hash1, hash2) = (hash(&m1), hash(&m2));
    let (l1, l2) = (
        sha256_hex(&out1.join("boot-loader.efi")),
        sha256_hex(&out2.join("boot-loader.efi")),
    );
    assert_ne!(l1, l2);
    for out in [&out1, &out2] {
        publish(out, &repo, &tuf_keys, "stable");
    }

    let disk = dir.join("disk.raw");
    common::sparse_copy(&out1.join(m1["image"].as_str().unwrap()), &disk);
    let server = serve_dir(repo.clone(), Duration::from_secs(3600));
    let boot = |log: &Path, until: &str, cut: bool| {
        let mut c = stela();
        c.arg("qemu")
            .arg(&disk)
            .args(["--persist", "--power-cycle"])
            .args(if cut { &["--cut-power"][..] } else { &[][..] })
            .arg("--forward")
            .arg(format!("8080:{}", server.port))
            .args(["--until", until])
            .arg("--fail")
            // A run meant to end in a cut fails fast when the update ends without it.
            .arg(if cut {
                "Kernel panic|emergency mode|Security Violation|Access denied|STELA-E2E cut-end="
            } else {
                "Kernel panic|emergency mode|Security Violation|Access denied|STELA-E2E cut-end=failed"
            })
            .args([
                "--silence",
                "600",
                "--timeout",
                "1500",
            ])
            .arg("--log")
            .arg(log)
            .arg("--run-dir")
            .arg(dir.join("run"));
        let out = run(&mut c);
        let text = std::fs::read_to_string(log).unwrap_or_default();
        assert!(
            out.status.success(),
            "the machine did not get to {until:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            &text[text.len().saturating_sub(6000)..]
        );
        text
    };

    // The cuts. Every boot before a cut reports; the reports of all runs together tell
    // what each boot saw.
    let mut r = std::collections::BTreeMap::new();
    for (i, (line, what)) in CUTS.iter().enumerate() {
        let log = dir.join(format!("cut-{}.log", i + 1));
        let text = boot(&log, line, true);
        eprintln!("cut {}: the power went at {what}", i + 1);
        r.extend(report(&text));
        gpt_sound(&disk, &format!("after cut {} ({what})", i + 1));
    }
    // And the update runs to its end.
    let text = boot(&dir.join("last.log"), "STELA-E2E cut-end=", false);
    r.extend(report(&text));
    eprintln!("machine report: {r:#?}");
    assert_eq!(r["cut-end"], "done", "{r:#?}");

    // Every boot ran a good version: v1 until the last, which runs v2; none of them
    // found the boot loader failed or a version broken.
    let boots: u32 = r
        .keys()
        .filter_map(|k| k.strip_prefix('b')?.strip_suffix(".version")?.parse().ok())
        .max()
        .unwrap();
    assert!(boots >= 9, "{boots} boots for 7 cuts, a trial and v2");
    for n in 1..=boots {
        let s = json(&r, &format!("b{n}.status"));
        let want = if n == boots { "2" } else { "1" };
        assert_eq!(r[&format!("b{n}.version")], want, "boot {n}");
        assert_eq!(s["running"], format!("stela-e2e_{want}"), "boot {n}: {s}");
        assert_eq!(s["state"], "running", "boot {n}: {s}");
        assert_eq!(s["failed"], serde_json::json!([]), "boot {n}: {s}");
        assert_eq!(
            s["boot_loader"]["failed"],
            serde_json::json!([]),
            "boot {n}: a cut counted as a failed boot loader: {s}"
        );
        if n < boots {
            // An interrupted write leaves slot B empty, never half a version.
            let versions = s["versions"].as_array().unwrap();
            assert_eq!(versions.len(), 1, "boot {n}: {s}");
            assert_eq!(versions[0]["label"], "stela-e2e_1", "boot {n}: {s}");
        }
    }
    // The end: v2 runs from slot B, blessed, v1 kept in slot A; the new boot loader is
    // the default.
    let last = json(&r, &format!("b{boots}.status"));
    let versions = last["versions"].as_array().unwrap();
    let slot = |id: &str| versions.iter().find(|v| v["slot"] == id).unwrap();
    assert_eq!(slot("A")["label"], "stela-e2e_1", "{last}");
    assert_eq!(slot("A")["state"], "good", "{last}");
    assert_eq!(slot("B")["label"], "stela-e2e_2", "{last}");
    assert_eq!(slot("B")["state"], "running", "{last}");
    assert_eq!(last["boot_loader"]["default"], "B", "{last}");
    assert_eq!(last["boot_loader"]["default_sha256"], l2.as_str(), "{last}");

    gpt_sound(&disk, "at the end");
    for (label, hash) in [("stela-e2e_1", &hash1), ("stela-e2e_2", &hash2)] {
        verify_slot(&disk, label, hash, &dir);
    }
}
