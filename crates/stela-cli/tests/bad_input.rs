//! The bad-input table: each command that reads a file is given that file missing,
//! empty, truncated, corrupted, of the wrong kind, as a directory and as a sparse file of
//! 64 GiB, under a 2 GiB address-space limit and a time limit. Every case must end with
//! a non-zero exit and a message that names the file; the table of what each gets is
//! docs/bad-input.md, which this test writes when `STELA_BLESS=1` and otherwise checks,
//! so that it cannot go stale.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run, run_ok, stela};

/// The inputs tried, in table order.
const KINDS: [&str; 7] = [
    "missing",
    "empty",
    "truncated",
    "corrupted",
    "wrong kind",
    "a directory",
    "64 GiB",
];

/// One command of the table: its arguments around the file under test (`FILE`), a
/// valid input to truncate and corrupt, and a valid file of another kind.
struct Case {
    shown: &'static str,
    args: Vec<String>,
    valid: PathBuf,
    other: PathBuf,
}

/// Make `kind` of input at `file` (a name without directories, in `dir`).
fn make_input(kind: &str, case: &Case, dir: &Path, file: &str) {
    let path = dir.join(file);
    let valid = std::fs::read(&case.valid).expect("the valid input");
    match kind {
        "missing" => {}
        "empty" => std::fs::write(&path, b"").expect("write"),
        "truncated" => std::fs::write(&path, &valid[..valid.len() / 2]).expect("write"),
        "corrupted" => {
            // 8 bytes inverted in the first header (offset 600: inside a GPT header, a
            // PE section table, a signature list) and 8 in the middle.
            let mut bytes = valid;
            for at in [600.min(bytes.len() / 3), bytes.len() / 2] {
                for b in bytes.iter_mut().skip(at).take(8) {
                    *b = !*b;
                }
            }
            std::fs::write(&path, bytes).expect("write");
        }
        "wrong kind" => {
            std::fs::copy(&case.other, &path).expect("copy");
        }
        "a directory" => std::fs::create_dir(&path).expect("mkdir"),
        "64 GiB" => std::fs::File::create(&path)
            .and_then(|f| f.set_len(64 << 30))
            .expect("a sparse file"),
        _ => unreachable!("{kind}"),
    }
}

/// Run one case; returns the exit code and the first line of standard error.
fn try_case(case: &Case, kind: &str, root: &Path, dir: &Path) -> (i32, String) {
    let work = dir.join(kind.replace(' ', "-"));
    std::fs::create_dir_all(&work).expect("mkdir");
    // The valid input's name: some commands tell kinds apart by it (db.auth, .esl).
    let file = case
        .valid
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned();
    let file = file.as_str();
    make_input(kind, case, &work, file);
    let args: Vec<String> = case
        .args
        .iter()
        .map(|a| {
            if a == "FILE" {
                file.to_owned()
            } else {
                a.clone()
            }
        })
        .collect();
    let exe = stela().get_program().to_owned();
    let out = run(Command::new("timeout")
        .arg("120")
        .arg("prlimit")
        .arg("--as=2147483648")
        .arg("--")
        .arg(&exe)
        .args(&args)
        .current_dir(&work));
    let code = out.status.code().unwrap_or(-1);
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The message: standard error's, or the report's when a check ran and failed.
    let said = if err.trim().is_empty() { &stdout } else { &err };
    let mut lines = said.lines().filter(|l| !l.trim().is_empty());
    let mut line = lines.next().unwrap_or("").to_owned();
    // A report names the file on its first line and what failed further down.
    if !said.contains("stela: ") {
        let failed = |l: &&str| {
            [
                "DOES NOT",
                "does not",
                "failed",
                "CHANGED",
                "MISSING",
                "NOT VALID",
            ]
            .iter()
            .any(|w| l.contains(w))
        };
        if let Some(why) = lines.find(failed) {
            line = format!("{line}: {}", why.trim());
        }
    }
    let line = line
        .replace(&format!("{}/", dir.display()), "")
        .replace(&dir.display().to_string(), ".")
        .replace(&format!("{}/", root.display()), "");
    let line = line.trim_start_matches("stela: ").to_owned();
    // The key files are made anew for each run, and their DER sizes vary by a byte or two
    // with the random keys: sizes in a message about an authenticated variable vary too.
    let line = if line.contains("AuthInfo.Hdr.dwLength") {
        mask_numbers(&line)
    } else {
        line
    };
    // The same for the length of a half signed file: its signature's size follows the key.
    let line = match line.split_once("past the end of the file (") {
        Some((head, tail)) if tail.ends_with(" bytes)") => {
            format!("{head}past the end of the file (N bytes)")
        }
        _ => line,
    };
    if code == 0 && (kind == "corrupted" || kind == "empty") {
        // A command that only lists what a file holds may not read the changed bytes,
        // and an empty signature list is a valid (empty) one; every command that checks
        // a signature or a hash refuses both (the table shows which is which).
        let first = stdout.lines().next().unwrap_or("").trim().to_owned();
        return (
            code,
            format!("accepted (the changed bytes are not checked); prints `{first}`"),
        );
    }
    assert!(
        code == 1 || code == 2,
        "{} with {kind} input: exit {code} (timeout gives 124, a signal -1)\n{err}",
        case.shown
    );
    assert!(
        line.contains(file),
        "{} with {kind} input: the message does not name the file: {line}",
        case.shown
    );
    (code, line)
}

fn fixtures(dir: &Path) -> Vec<Case> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let keys = dir.join("keys");
    run_ok(
        stela()
            .args(["keys", "init", "--common-name", "bad input"])
            .arg(&keys),
    );
    let uki = repo.join("fuzz/corpus/pe/uki-signed.efi");
    let signed = dir.join("signed.efi");
    common::sign_efi(&keys, &uki, &signed);
    let disk = repo.join("fuzz/corpus/gpt/two-partitions.img");
    let recipe = repo.join("crates/stela-cli/tests/data/e2e/recipe.toml");
    let data = dir.join("data");
    std::fs::write(&data, vec![0x5au8; 1 << 20]).expect("write");
    let hash = dir.join("data.verity");
    let formatted = run_ok(
        stela()
            .args(["verity", "format", "--json"])
            .arg(&data)
            .arg(&hash),
    );
    let info: serde_json::Value =
        serde_json::from_slice(&formatted.stdout).expect("verity format --json");
    let root = info["root_hash"].as_str().expect("root_hash").to_owned();
    let tracker = repo.join("crates/stela-audit/tests/data/tracker.json");
    // The smallest SBOM `stela audit` reads: one Debian package.
    let sbom = dir.join("sbom.cdx.json");
    std::fs::write(
        &sbom,
        r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"less","version":"668-1","purl":"pkg:deb/debian/less@668-1?arch=amd64&distro=trixie"}]}"#,
    )
    .expect("write");
    let path = |p: &Path| p.display().to_string();
    let policy_text = dir.join("policy.txt");
    std::fs::write(&policy_text, run_ok(stela().args(["ipe", "policy"])).stdout).expect("write");
    let policy = dir.join("stela_host.p7b");
    run_ok(
        stela()
            .args(["ipe", "sign", "--key"])
            .arg(keys.join("db.key"))
            .arg("--cert")
            .arg(keys.join("db.crt"))
            .arg(&policy_text)
            .arg("-o")
            .arg(&policy),
    );
    vec![
        Case {
            shown: "stela ipe check --cert db.crt FILE",
            args: vec![
                "ipe".into(),
                "check".into(),
                "--cert".into(),
                path(&keys.join("db.crt")),
                "FILE".into(),
            ],
            valid: policy,
            other: uki.clone(),
        },
        Case {
            shown: "stela inspect FILE",
            args: vec!["inspect".into(), "FILE".into()],
            valid: disk.clone(),
            other: recipe.clone(),
        },
        Case {
            shown: "stela uki inspect FILE",
            args: vec!["uki".into(), "inspect".into(), "FILE".into()],
            valid: uki.clone(),
            other: keys.join("db.auth"),
        },
        Case {
            shown: "stela verify efi --cert db.crt FILE",
            args: vec![
                "verify".into(),
                "efi".into(),
                "--cert".into(),
                path(&keys.join("db.crt")),
                "FILE".into(),
            ],
            valid: signed.clone(),
            other: recipe.clone(),
        },
        Case {
            shown: "stela verify efi --cert FILE signed.efi",
            args: vec![
                "verify".into(),
                "efi".into(),
                "--cert".into(),
                "FILE".into(),
                path(&signed),
            ],
            valid: keys.join("db.crt"),
            other: uki.clone(),
        },
        Case {
            shown: "stela keys show FILE",
            args: vec!["keys".into(), "show".into(), "FILE".into()],
            valid: keys.join("db.auth"),
            other: uki.clone(),
        },
        Case {
            shown: "stela verity verify DATA FILE ROOTHASH",
            args: vec![
                "verity".into(),
                "verify".into(),
                path(&data),
                "FILE".into(),
                root,
            ],
            valid: hash,
            other: recipe.clone(),
        },
        Case {
            shown: "stela audit --cves FILE IMAGE",
            args: vec!["audit".into(), "--cves".into(), "FILE".into(), path(&sbom)],
            valid: tracker.clone(),
            other: uki.clone(),
        },
        Case {
            shown: "stela audit --cves tracker.json FILE",
            args: vec![
                "audit".into(),
                "--cves".into(),
                path(&tracker),
                "FILE".into(),
            ],
            valid: sbom,
            other: uki,
        },
    ]
}

fn render(rows: &[(String, Vec<(i32, String)>)]) -> String {
    let mut out = String::from(
        "# What each command does with bad input\n\n\
         Written by `crates/stela-cli/tests/bad_input.rs` (`STELA_BLESS=1 cargo test -p \
         stela-cli --test bad_input` after a change); the test fails when this file is not what \
         the commands print. Each command ran under a 2 GiB address-space limit \
         (`prlimit --as`) and a time limit; the input has the name of a valid one and is in the current directory. *truncated*: its first half; *corrupted*: 8 bytes inverted at offset 600 \
         and 8 in the middle; *wrong kind*: a valid file of another kind; *64 GiB*: a sparse \
         file. Exit 2: the input cannot be used; exit 1: it was read and a check failed.\n",
    );
    for (shown, results) in rows {
        out.push_str(&format!(
            "\n## `{shown}`\n\n| input | exit | message |\n|---|---|---|\n"
        ));
        for (kind, (code, line)) in KINDS.iter().zip(results) {
            let line = line.replace('|', "\\|");
            out.push_str(&format!("| {kind} | {code} | {line} |\n"));
        }
    }
    out
}

#[test]
fn every_bad_input_gets_a_non_zero_exit_and_a_message_naming_the_file() {
    common::require_tool("prlimit");
    let t = tempfile::tempdir().expect("tempdir");
    let mut rows = Vec::new();
    for (i, case) in fixtures(t.path()).iter().enumerate() {
        let dir = t.path().join(format!("case-{i}"));
        let results = KINDS
            .iter()
            .map(|k| try_case(case, k, t.path(), &dir))
            .collect();
        rows.push((case.shown.to_owned(), results));
    }
    let table = render(&rows);
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/bad-input.md");
    if std::env::var_os("STELA_BLESS").is_some() {
        std::fs::write(&doc, &table).expect("writing docs/bad-input.md");
    }
    let committed = std::fs::read_to_string(&doc).unwrap_or_default();
    assert!(
        committed == table,
        "docs/bad-input.md is not what the commands print now; run STELA_BLESS=1 cargo test -p stela-cli --test bad_input and review the change:\n{table}"
    );
}

/// `line` with every run of digits of two or more replaced by `N`.
fn mask_numbers(line: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    for c in line.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        if digits.len() >= 2 {
            out.push('N');
        } else {
            out.push_str(&digits);
        }
        digits.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}
