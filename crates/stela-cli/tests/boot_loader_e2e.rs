//! End to end, the boot loader's A/B update on a running machine, with efibootmgr (in the
//! test image only) as the independent reader of the UEFI boot entries the agent writes.
//!
//! Three releases of a test recipe with `[update]`: v1 with trixie's systemd-boot, v2
//! with a boot loader that does not start (its entry point patched to return
//! `EFI_LOAD_ERROR`, then signed with the db key by the build like any other), v3 with a
//! working boot loader that differs from v1's (another PE time stamp). v1 boots under
//! OVMF in Secure Boot mode, following channel `next` where v2 waits:
//!
//! 1. The agent makes boot entries for copy A (the build's) and B, finds v2's boot loader
//!    new, writes it to copy B, sets `BootNext` and reboots. Firmware starts copy B,
//!    which fails; it goes on with `BootOrder` and copy A boots v1 again by itself.
//! 2. The agent marks v2's boot loader failed (copy A stays the default), the machine
//!    follows `stable`, where v3 waits: its boot loader goes to copy B and is tried.
//! 3. The boot comes through copy B; after `boot-complete.target`,
//!    `stela-bless-loader.service` makes B the default (`BootOrder`) and the removable-
//!    media fallback. The operating system stayed v1 throughout: one risky change per
//!    reboot, and a boot loader is tried with a version known to be good.
//!
//! Before that, the same broken boot loader as the only copy (the removable-media path,
//! a fresh variable store) leaves a machine that does not boot: what A/B prevents.
//!
//! Files of a failed run stay in `target/tmp/e2e/boot-loader/`.

// A test stops at the first surprise; its panics name what was expected.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{
    boot_loader_table, build, e2e_keys, e2e_recipe, e2e_work_dir, pe_offsets, publish, repo_init,
    report, report_json as json, require_tool, run, run_ok, serve_dir, stela, trixie_root,
};

/// The guest's side (test recipe only): report the boot entries and the agent's view,
/// and take the next step.
const DRIVER: &str = r#"
[[files]]
dest = "/usr/lib/stela-e2e/loader-driver"
mode = 0o755
content = '''#!/bin/sh
say() { printf 'STELA-E2E %s=%s\n' "$1" "$2"; }
mkdir -p /var/lib/stela-e2e /etc/stela
n=$(( $(cat /var/lib/stela-e2e/boots 2>/dev/null || echo 0) + 1 ))
echo "$n" > /var/lib/stela-e2e/boots
b="b$n"
ls /boot >/dev/null 2>&1
say "$b.efibootmgr" "$(efibootmgr -v 2>&1 | tr '\n' '|')"
say "$b.status" "$(stela update status --json 2>&1 | tr -d '\n')"
say "$b.fallback_sha256" "$(sha256sum /boot/EFI/BOOT/BOOTX64.EFI | cut -d' ' -f1)"
case "$n" in
1)
    printf 'channel = "next"\n' > /etc/stela/update.toml
    if ! stela update apply --reboot --json > /var/lib/stela-e2e/apply1.json 2> /var/lib/stela-e2e/err; then
        say b1.apply_error "$(tr '\n' ' ' < /var/lib/stela-e2e/err)"
        say loader-end failed
    fi
    ;;
2)
    say b2.apply1 "$(tr -d '\n' < /var/lib/stela-e2e/apply1.json)"
    say b2.bless "$(stela update bless --json 2>&1 | tr -d '\n')"
    printf 'channel = "stable"\n' > /etc/stela/update.toml
    if ! stela update apply --reboot --json > /var/lib/stela-e2e/apply2.json 2> /var/lib/stela-e2e/err; then
        say b2.apply_error "$(tr '\n' ' ' < /var/lib/stela-e2e/err)"
        say loader-end failed
    fi
    ;;
*)
    say "$b.apply2" "$(tr -d '\n' < /var/lib/stela-e2e/apply2.json)"
    say "$b.bless_unit" "$(systemctl show -P ActiveState -P Result stela-bless-loader.service | tr '\n' ' ')"
    say "$b.after_bless" "$(stela update status --json 2>&1 | tr -d '\n')"
    say "$b.efibootmgr_after" "$(efibootmgr -v 2>&1 | tr '\n' '|')"
    say "$b.fallback_after" "$(sha256sum /boot/EFI/BOOT/BOOTX64.EFI | cut -d' ' -f1)"
    say loader-end done
    ;;
esac
'''

[[files]]
dest = "/usr/lib/systemd/system/stela-e2e-loader.service"
mode = 0o644
content = '''
[Unit]
Description=stela end-to-end test: drive a boot loader update (test recipe only)
Wants=network-online.target
After=multi-user.target network-online.target boot-complete.target stela-bless-loader.service

[Service]
Type=oneshot
ExecStart=/usr/lib/stela-e2e/loader-driver
StandardOutput=tty
TTYPath=/dev/console

[Install]
WantedBy=multi-user.target
'''
"#;

fn recipe(dir: &Path, version: &str, loader: Option<&Path>) -> PathBuf {
    let text = std::fs::read_to_string(e2e_recipe()).unwrap();
    for needle in [
        "version = \"1\"",
        "\"dmsetup\",\n]",
        "\"stela-e2e-report.service\"]",
    ] {
        assert!(text.contains(needle), "the e2e recipe changed: {needle}");
    }
    let text = text
        .replace("version = \"1\"", &format!("version = \"{version}\""))
        .replace("\"dmsetup\",\n]", "\"dmsetup\",\n    \"efibootmgr\",\n]")
        .replace(
            "\"stela-e2e-report.service\"]",
            "\"stela-e2e-report.service\", \"stela-e2e-loader.service\"]",
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

/// The ESP line of `sgdisk -i 1`: the partition's unique GUID, lower case.
fn esp_guid(disk: &Path) -> String {
    let out = run_ok(
        std::process::Command::new("sgdisk")
            .args(["-i", "1"])
            .arg(disk),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Partition unique GUID: "))
        .unwrap()
        .trim()
        .to_ascii_lowercase()
}

/// `efibootmgr -v` (lines joined with `|`): BootCurrent, BootNext, BootOrder, and the
/// entries as (number, line).
struct BootVars {
    current: Option<String>,
    order: Vec<String>,
    entries: Vec<(String, String)>,
}

fn boot_vars(text: &str) -> BootVars {
    let field = |name: &str| {
        text.split('|')
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .map(|v| v.trim().to_owned())
    };
    BootVars {
        current: field("BootCurrent"),
        order: field("BootOrder")
            .map(|o| o.split(',').map(str::to_owned).collect())
            .unwrap_or_default(),
        entries: text
            .split('|')
            .filter_map(|l| {
                let rest = l.strip_prefix("Boot")?;
                let (n, line) = rest.split_at_checked(4)?;
                n.bytes()
                    .all(|b| b.is_ascii_hexdigit())
                    .then(|| (n.to_owned(), line.to_owned()))
            })
            .collect(),
    }
}

impl BootVars {
    /// The number of the entry whose description is `desc`.
    fn number(&self, desc: &str) -> String {
        self.entries
            .iter()
            .find(|(_, l)| l.contains(desc))
            .unwrap_or_else(|| panic!("no entry {desc:?} in {:?}", self.entries))
            .0
            .clone()
    }
}

fn sha256_hex(path: &Path) -> String {
    hex::encode(openssl::sha::sha256(&std::fs::read(path).unwrap()))
}

#[test]
fn a_new_boot_loader_is_tried_once_and_a_broken_one_leaves_the_old_copy_booting() {
    require_tool("mmdebstrap");
    require_tool("qemu-system-x86_64");
    for t in ["sgdisk", "mcopy"] {
        require_tool(t);
    }
    let dir = e2e_work_dir("boot-loader");
    let keys = e2e_keys(&dir, "stela e2e");
    let (repo, tuf_keys) = repo_init(&dir);

    // The two boot loaders, made from trixie's systemd-boot.
    let sdboot =
        std::fs::read(trixie_root().join("usr/lib/systemd/boot/efi/systemd-bootx64.efi")).unwrap();
    let (entry, stamp) = pe_offsets(&sdboot);
    let mut broken = sdboot.clone();
    // mov rax, 0x8000000000000001 (EFI_LOAD_ERROR); ret
    let code = [0x48, 0xb8, 1, 0, 0, 0, 0, 0, 0, 0x80, 0xc3];
    broken[entry..entry + code.len()].copy_from_slice(&code);
    let mut other = sdboot.clone();
    other[stamp..stamp + 4].copy_from_slice(&0x5354_454cu32.to_le_bytes());
    let (broken_path, other_path) = (dir.join("broken-loader.efi"), dir.join("other-loader.efi"));
    std::fs::write(&broken_path, &broken).unwrap();
    std::fs::write(&other_path, &other).unwrap();

    let (out1, out2, out3) = (dir.join("out1"), dir.join("out2"), dir.join("out3"));
    let m1 = build(&recipe(&dir, "1", None), &keys, &out1);
    build(&recipe(&dir, "2", Some(&broken_path)), &keys, &out2);
    build(&recipe(&dir, "3", Some(&other_path)), &keys, &out3);
    let (l1, l2, l3) = (
        sha256_hex(&out1.join("boot-loader.efi")),
        sha256_hex(&out2.join("boot-loader.efi")),
        sha256_hex(&out3.join("boot-loader.efi")),
    );
    assert!(l1 != l2 && l2 != l3 && l1 != l3);
    // Each release carries its boot loader as a signed target.
    for (out, channel) in [(&out1, "stable"), (&out2, "next"), (&out3, "stable")] {
        publish(out, &repo, &tuf_keys, channel);
    }
    let targets: Vec<String> = std::fs::read_dir(repo.join("targets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        targets
            .iter()
            .any(|t| t.ends_with(&format!("{l2}.stela-e2e_2.boot-loader.efi"))),
        "{targets:?}"
    );

    let image = out1.join(m1["image"].as_str().unwrap());
    let life = Duration::from_secs(2400);
    let boot_args = |disk: &Path, log: &Path, until: &str, fail: &str, timeout: u64| {
        let mut c = stela();
        c.arg("qemu").arg(disk).args(["--persist", "--power-cycle"]);
        c.args(["--until", until, "--fail", fail, "--silence", "600"])
            .arg("--timeout")
            .arg(timeout.to_string())
            .arg("--log")
            .arg(log);
        c
    };

    // The fault with the protection off: the broken boot loader as the machine's only
    // copy (the removable-media path, no boot entries yet) and the machine never boots.
    let lone = dir.join("lone.raw");
    common::sparse_copy(&image, &lone);
    let esp_img = dir.join("lone-esp.img");
    let parts = common::partitions(&lone);
    let (_, first, last, _) = parts.iter().find(|p| p.0 == 1).unwrap().clone();
    common::extract(&lone, first, last, &esp_img);
    run_ok(
        std::process::Command::new("mcopy")
            .args(["-o", "-i"])
            .arg(&esp_img)
            .arg(out2.join("boot-loader.efi"))
            .arg("::EFI/BOOT/BOOTX64.EFI"),
    );
    run_ok(
        std::process::Command::new("dd")
            .arg(format!("if={}", esp_img.display()))
            .arg(format!("of={}", lone.display()))
            .args(["bs=512", "conv=notrunc,fsync"])
            .arg(format!("seek={first}")),
    );
    let lone_log = dir.join("lone.log");
    let lone_run = run(&mut boot_args(
        &lone,
        &lone_log,
        "Linux version|STELA-E2E",
        "failed to start Boot|No bootable option",
        300,
    ));
    let lone_text = std::fs::read_to_string(&lone_log).unwrap_or_default();
    assert!(
        !lone_run.status.success()
            && !lone_text.contains("Linux version")
            && lone_text.contains("failed to start Boot"),
        "with the broken boot loader as its only copy the machine booted: {}\n{}",
        String::from_utf8_lossy(&lone_run.stderr),
        &lone_text[lone_text.len().saturating_sub(3000)..]
    );
    std::fs::remove_file(&lone).unwrap();

    let disk = dir.join("disk.raw");
    common::sparse_copy(&image, &disk);
    let guid = esp_guid(&disk);
    let server = serve_dir(repo.clone(), life);
    let log = dir.join("boot.log");
    let out = run(boot_args(
        &disk,
        &log,
        "STELA-E2E loader-end=",
        "Kernel panic|emergency mode|Security Violation|Access denied",
        2400,
    )
    .arg("--forward")
    .arg(format!("8080:{}", server.port)));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        out.status.success(),
        "the machine did not finish: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        &text[text.len().saturating_sub(6000)..]
    );
    let r = report(&text);
    eprintln!("machine report: {r:#?}");
    assert_eq!(r["loader-end"], "done", "{r:#?}");

    // Boot 1: no entries of ours yet; the fallback path holds v1's boot loader.
    let v1 = boot_vars(&r["b1.efibootmgr"]);
    assert!(
        !r["b1.efibootmgr"].contains("stela boot loader"),
        "{}",
        r["b1.efibootmgr"]
    );
    assert!(v1.current.is_some(), "{}", r["b1.efibootmgr"]);
    assert_eq!(r["b1.fallback_sha256"], l1);
    let staged = json(&r, "b2.apply1");
    assert_eq!(staged["outcome"], "boot-loader-staged", "{staged}");
    assert_eq!(staged["release"], "stela-e2e_2", "{staged}");
    assert_eq!(staged["trial"]["copy"], "B", "{staged}");
    assert_eq!(staged["trial"]["sha256"], l2.as_str(), "{staged}");

    // Boot 2: firmware tried copy B once (BootNext), could not start it, and booted
    // copy A from BootOrder. efibootmgr reads both entries as the agent wrote them.
    let v2 = boot_vars(&r["b2.efibootmgr"]);
    let (a, b) = (
        v2.number("stela boot loader A"),
        v2.number("stela boot loader B"),
    );
    for (n, file) in [
        (&a, r"\EFI\stela\loader-a.efi"),
        (&b, r"\EFI\stela\loader-b.efi"),
    ] {
        let line = &v2.entries.iter().find(|(k, _)| k == n).unwrap().1;
        assert!(line.contains(&format!("HD(1,GPT,{guid},")), "{line}");
        assert!(line.contains(&format!("File({file})")), "{line}");
    }
    assert_eq!(
        v2.current.as_deref(),
        Some(a.as_str()),
        "{}",
        r["b2.efibootmgr"]
    );
    assert_eq!(
        v2.order[..2],
        [a.clone(), b.clone()],
        "{}",
        r["b2.efibootmgr"]
    );
    let bless2 = json(&r, "b2.bless");
    assert_eq!(bless2["outcome"], "not-booted-through-trial", "{bless2}");
    // The OS did not change: v1 runs, blessed.
    let s2 = json(&r, "b2.status");
    assert_eq!(s2["running"], "stela-e2e_1", "{s2}");
    assert_eq!(s2["boot_loader"]["default"], "A", "{s2}");

    // Boot 3: v2's boot loader is recorded failed; v3's went to copy B and this boot came
    // through it; once good, B is the default and the fallback.
    let staged3 = json(&r, "b3.apply2");
    assert_eq!(staged3["outcome"], "boot-loader-staged", "{staged3}");
    assert_eq!(staged3["release"], "stela-e2e_3", "{staged3}");
    assert_eq!(staged3["trial"]["copy"], "B", "{staged3}");
    let v3 = boot_vars(&r["b3.efibootmgr"]);
    assert_eq!(
        v3.current.as_deref(),
        Some(b.as_str()),
        "{}",
        r["b3.efibootmgr"]
    );
    assert!(
        r["b3.bless_unit"].contains("success"),
        "stela-bless-loader.service: {}",
        r["b3.bless_unit"]
    );
    let after = json(&r, "b3.after_bless");
    assert_eq!(after["running"], "stela-e2e_1", "{after}");
    assert_eq!(after["boot_loader"]["default"], "B", "{after}");
    assert_eq!(
        after["boot_loader"]["default_sha256"],
        l3.as_str(),
        "{after}"
    );
    assert_eq!(
        after["boot_loader"]["failed"],
        serde_json::json!([l2]),
        "{after}"
    );
    assert!(after["boot_loader"]["trial"].is_null(), "{after}");
    let v3after = boot_vars(&r["b3.efibootmgr_after"]);
    assert_eq!(
        v3after.order[..2],
        [b.clone(), a.clone()],
        "{}",
        r["b3.efibootmgr_after"]
    );
    assert_eq!(r["b3.fallback_after"], l3);
}
