//! `stela build --out` never deletes what it did not make: a directory holding a user's
//! file is refused before any work starts, with exit code 2 and its name in the message.

mod common;

use common::{run, stela};

#[test]
fn build_refuses_an_out_directory_it_did_not_make_and_keeps_its_files() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    let precious = work.join("notes.txt");
    std::fs::write(&precious, "a user's file").expect("user file");
    let out = run(stela()
        .arg("build")
        .arg("--keys")
        .arg(tmp.path().join("no-keys"))
        .arg("--cache")
        .arg(tmp.path().join("cache"))
        .arg("--out")
        .arg(&work));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let canonical = std::fs::canonicalize(&work).expect("canonical");
    assert!(
        stderr.contains(&canonical.display().to_string()) && stderr.contains("not made by"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&precious).ok().as_deref(),
        Some("a user's file")
    );
    // Nothing was created beside it either (no staging directory, no cache).
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["work"]);

    // `--out .` from inside it is the same directory and is refused the same way.
    let dot =
        run(stela()
            .current_dir(&work)
            .args(["build", "--keys", "/nonexistent", "--out", "."]));
    assert_eq!(dot.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&dot.stderr).contains("not made by"));
    assert!(precious.is_file());
}

/// The e2e tests read what a machine reports from its console, where the kernel may
/// write a message between a report's value and the end of its line.
#[test]
fn a_report_value_loses_a_kernel_message_the_console_put_after_it() {
    let log = "STELA-E2E b9.status={\"a\": [1, 2]}[   75.983446] powernow_k8: Power state transitions not supported\r\n\
               STELA-E2E plain=x [not a stamp] y\r\n\
               STELA-E2E drm={}[   32.972085] [drm] Found bochs VGA, ID 0xb0c5.\n";
    let r = common::report(log);
    assert_eq!(r["b9.status"], "{\"a\": [1, 2]}");
    assert_eq!(r["plain"], "x [not a stamp] y");
    assert_eq!(r["drm"], "{}");
}
