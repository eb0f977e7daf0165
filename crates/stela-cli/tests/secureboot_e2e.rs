//! End to end: UEFI Secure Boot with stela's own keys, proven in QEMU.
//!
//! The test builds, with `stela keys init`, `stela sign efi`, `stela uki build` and the
//! stela-gpt / stela-esp crates, a GPT disk with one ESP holding systemd-boot (signed
//! with db), `loader/loader.conf` (`secure-boot-enroll force`), the PK/KEK/db `.auth`
//! files in `loader/keys/auto/` and a UKI of trixie's kernel. `stela qemu` then boots it
//! with OVMF's Secure Boot build starting in setup mode, and the serial log must show:
//! systemd-boot enrolling the keys and resetting, the EFI stub and the kernel reporting
//! Secure Boot enabled (so OVMF checked systemd-boot and the UKI against our db), and
//! swtpm's TPM found by the kernel. The same disk with the UKI signed by a key that is
//! not in db must be refused and the kernel must never start.
//!
//! Only `auto` is enrolled without a key press: systemd-boot 257
//! (`secure_boot_discover_keys()`) calls `secure_boot_enroll_at()` by itself only for
//! `\loader\keys\auto`; any other directory name just adds a menu entry.
//!
//! Files of the last run (keys, disk, serial logs) stay in
//! `target/tmp/e2e/secureboot/` for inspection.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use common::{e2e_work_dir, require_tool, run, run_ok, stela, trixie_root};
use stela_gpt::{types, Attributes, DiskLayout, DiskSize, Guid, ImageFile, PartitionSpec};

/// One boot under software emulation (no usable KVM on the CI hosts) measured 14 to 31 s
/// on a 2-core host: OVMF to systemd-boot about 6 s, enrolment and the reset about 5 s,
/// systemd-boot to the kernel's Secure Boot line about 2 s, to the TPM driver another
/// 2 s. The limit leaves room for a host shared with other virtual machines.
const BOOT_TIMEOUT_SECS: u64 = 300;

const SYSTEMD_BOOT: &str = "usr/lib/systemd/boot/efi/systemd-bootx64.efi";
const STUB: &str = "usr/lib/systemd/boot/efi/linuxx64.efi.stub";
const CMDLINE: &str = "console=ttyS0 panic=-1";
const ESP_SIZE: u64 = 64 << 20;

/// What systemd-boot 257 and the kernel print at each step (matched in this order).
const ENROLLING: &str = r"Enrolling secure boot keys from directory: \loader\keys\auto";
const ENROLLED: &str = "Custom Secure Boot keys successfully enrolled, rebooting the system now!";
const STUB_SECURE_BOOT: &str = "EFI stub: UEFI Secure Boot is enabled.";
const KERNEL_SECURE_BOOT: &str = "secureboot: Secure boot enabled";
const LOCKDOWN: &str = "Kernel is locked down from EFI Secure Boot";
/// systemd-boot's message when the firmware's LoadImage refuses the UKI (db mismatch).
const REFUSED: &str = r"Error loading \EFI\Linux\test.efi: Access denied";
/// OVMF's boot manager after every boot option failed (systemd-boot gave up on the UKI,
/// the unsigned built-in shell is refused too).
const NOTHING_BOOTABLE: &str = "BdsDxe: No bootable option or device was found.";

/// An initrd with nothing in it (a newc cpio holding only its trailer): the kernel
/// unpacks it, finds no /init and panics, after it has said what this test checks.
fn empty_initrd() -> Vec<u8> {
    let name = b"TRAILER!!!\0";
    let mut cpio = format!("070701{}", "00000000".repeat(11)).into_bytes();
    cpio.extend_from_slice(format!("{:08x}{:08x}", name.len(), 0).as_bytes());
    cpio.extend_from_slice(name);
    cpio.resize(512, 0);
    cpio
}

fn stela_run(args: &[&str], dir: &Path) -> Output {
    run_ok(stela().args(args).current_dir(dir))
}

struct Keys {
    dir: PathBuf,
}

impl Keys {
    fn init(work: &Path, name: &str) -> Keys {
        stela_run(&["keys", "init", name, "--common-name", name], work);
        Keys {
            dir: work.join(name),
        }
    }
    fn key(&self) -> String {
        self.dir.join("db.key").display().to_string()
    }
    fn cert(&self) -> String {
        self.dir.join("db.crt").display().to_string()
    }
}

/// Builds the GPT disk with its ESP; the UKI is signed by `uki_signer`'s db key.
fn build_disk(work: &Path, name: &str, keys: &Keys, uki_signer: &Keys) -> PathBuf {
    let trixie = trixie_root();
    let boot = work.join(format!("{name}-BOOTX64.EFI"));
    let uki = work.join(format!("{name}-test.efi"));
    let systemd_boot = trixie.join(SYSTEMD_BOOT).display().to_string();
    stela_run(
        &[
            "sign",
            "efi",
            "--key",
            &keys.key(),
            "--cert",
            &keys.cert(),
            "-o",
            &boot.display().to_string(),
            &systemd_boot,
        ],
        work,
    );
    std::fs::write(work.join("initrd.cpio"), empty_initrd()).expect("writing the initrd");
    std::fs::write(
        work.join("os-release"),
        "ID=debian\nVERSION_ID=13\nPRETTY_NAME=\"stela secure boot test\"\n",
    )
    .expect("writing os-release");
    stela_run(
        &[
            "uki",
            "build",
            "--stub",
            &trixie.join(STUB).display().to_string(),
            "--linux",
            &trixie
                .join(common::trixie_kernel_path())
                .display()
                .to_string(),
            "--initrd",
            "initrd.cpio",
            "--cmdline",
            CMDLINE,
            "--os-release",
            "os-release",
            "--key",
            &uki_signer.key(),
            "--cert",
            &uki_signer.cert(),
            "-o",
            &uki.display().to_string(),
        ],
        work,
    );

    let mut esp = stela_esp::EspBuilder::new(ESP_SIZE)
        .label("ESP")
        .host_file("EFI/BOOT/BOOTX64.EFI", &boot)
        .host_file("EFI/Linux/test.efi", &uki)
        .bytes(
            "loader/loader.conf",
            "timeout 0\nsecure-boot-enroll force\n",
        );
    for var in ["PK", "KEK", "db"] {
        esp = esp.host_file(
            &format!("loader/keys/auto/{var}.auth"),
            keys.dir.join(format!("{var}.auth")),
        );
    }
    let esp = esp.plan().expect("planning the ESP");
    let spec = PartitionSpec {
        type_guid: types::ESP,
        guid: Guid::derived(name.as_bytes(), "esp"),
        label: "esp".into(),
        attributes: Attributes::NONE,
        size: ESP_SIZE,
    };
    let layout = DiskLayout::plan(
        Guid::derived(name.as_bytes(), "disk"),
        &[spec],
        DiskSize::Fit,
    )
    .expect("planning the disk");
    let disk = work.join(format!("{name}.raw"));
    let mut image = ImageFile::create(&disk, &layout).expect("creating the disk image");
    let offset = layout.partition("esp").expect("the ESP").offset();
    esp.write_into(image.file_mut(), offset)
        .expect("writing the ESP into the disk");
    image.persist().expect("renaming the disk image into place");
    disk
}

/// Boots `disk` with `stela qemu`; returns the exit status and the serial log.
fn boot(work: &Path, name: &str, disk: &Path, extra: &[&str]) -> (Output, String) {
    let log = work.join(format!("{name}-serial.log"));
    let mut cmd = stela();
    cmd.arg("qemu")
        .arg(disk)
        .args(["--timeout", &BOOT_TIMEOUT_SECS.to_string()])
        .arg("--log")
        .arg(&log)
        .arg("--run-dir")
        .arg(work.join(format!("{name}-run")))
        .args(extra)
        // The console goes to stdout; with no terminal on stdin nothing is forwarded.
        .stdin(Stdio::null());
    let out = run(&mut cmd);
    let raw = std::fs::read(&log).unwrap_or_else(|e| panic!("reading {}: {e}", log.display()));
    let text = String::from_utf8_lossy(&raw).replace('\u{1b}', "");
    (out, text)
}

/// Asserts that `log` holds each of `steps`, in this order.
fn assert_in_order(log: &str, steps: &[&str], log_path: &str) {
    let mut from = 0;
    for step in steps {
        match log[from..].find(step) {
            Some(at) => from += at + step.len(),
            None => panic!(
                "serial log {log_path}: {step:?} not found after byte {from}; the log from there:\n{}",
                &log[from..]
            ),
        }
    }
}

fn require_boot_tools() {
    for tool in ["qemu-system-x86_64", "qemu-img", "swtpm"] {
        require_tool(tool);
    }
    assert!(
        Path::new("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd").is_file(),
        "OVMF is not installed: run scripts/setup --test"
    );
}

#[test]
fn secure_boot_enrols_our_keys_and_refuses_a_foreign_uki() {
    require_boot_tools();
    let work = e2e_work_dir("secureboot");
    let keys = Keys::init(&work, "stela");
    let other = Keys::init(&work, "other");

    // Boot 1: our db signed everything. systemd-boot enrols PK/KEK/db from setup mode
    // and resets; after the reset OVMF enforces Secure Boot.
    let good = build_disk(&work, "good", &keys, &keys);
    let (out, log) = boot(
        &work,
        "good",
        &good,
        &[
            "--tpm",
            "--until",
            r"tpm_tis .*: 2\.0 TPM",
            "--fail",
            "Access denied|Security Violation|Kernel panic",
        ],
    );
    let path = work.join("good-serial.log").display().to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "stela qemu did not reach the kernel's TPM line: {}\nserial log {path}:\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_in_order(
        &log,
        &[
            ENROLLING,
            ENROLLED,
            STUB_SECURE_BOOT,
            LOCKDOWN,
            KERNEL_SECURE_BOOT,
            "tpm_tis",
        ],
        &path,
    );
    assert_eq!(
        log.matches(ENROLLED).count(),
        1,
        "enrolled more than once: {path}"
    );

    // Boot 2: the UKI is signed by a key that is not in db.
    let bad = build_disk(&work, "foreign", &keys, &other);
    let (out, log) = boot(
        &work,
        "foreign",
        &bad,
        &[
            "--until",
            NOTHING_BOOTABLE,
            "--fail",
            "EFI stub|Linux version",
        ],
    );
    let path = work.join("foreign-serial.log").display().to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "the foreign UKI was not refused as expected: {}\nserial log {path}:\n{log}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_in_order(
        &log,
        &[ENROLLING, ENROLLED, REFUSED, NOTHING_BOOTABLE],
        &path,
    );
    for never in ["EFI stub", "Linux version", KERNEL_SECURE_BOOT] {
        assert!(
            !log.contains(never),
            "{never:?} in {path}: the kernel started"
        );
    }
}

#[test]
fn qemu_reports_errors_with_exit_status_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing.raw");
    let out = run(stela().arg("qemu").arg(&missing).stdin(Stdio::null()));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a readable file"), "{stderr}");

    let image = dir.path().join("disk.raw");
    std::fs::write(&image, [0u8; 512]).expect("writing a blank image");
    let out = run(stela()
        .arg("qemu")
        .arg(&image)
        .args(["--until", "(unclosed"])
        .stdin(Stdio::null()));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid until pattern \"(unclosed\""),
        "{stderr}"
    );
}
