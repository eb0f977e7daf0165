//! `stela qemu IMAGE -- ARGS...` hands ARGS to QEMU unchanged: an option QEMU does not
//! know makes QEMU itself refuse to start, and its own message comes back.

use std::process::Command;

#[test]
fn arguments_after_a_double_dash_reach_qemu_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let image = dir.path().join("empty.raw");
    std::fs::write(&image, vec![0u8; 1 << 20]).expect("writing an empty disk");
    let log = dir.path().join("serial.log");
    let run = |timeout: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_stela"))
            .arg("qemu")
            .arg(&image)
            .args(["--timeout", timeout, "--until", "never printed", "--log"])
            .arg(&log)
            .arg("--run-dir")
            .arg(dir.path().join("run"))
            .arg("--")
            .args(extra)
            .output()
            .expect("running stela qemu")
    };
    let out = run("60", &["-stela-no-such-option"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("-stela-no-such-option"),
        "QEMU's refusal of the passed option should be reported:\n{text}"
    );
    // Without it the same machine starts (the firmware finds no bootable disk and the
    // run ends by its time limit, not by a QEMU error).
    let out = run("3", &["-name", "stela-args-test"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("invalid option"), "{text}");
    assert!(text.contains("no match within"), "{text}");
}
