//! Helpers shared by the integration tests: finding and running the independent tools.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use stela_gpt::{Attributes, Guid, PartitionSpec};

/// The path of `name`, or a failure that says how to install it.
pub fn tool(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("{name} is not installed: run `scripts/setup --test`");
}

/// Runs `name args`, fails the test with its output unless it exits 0, returns stdout.
pub fn run(name: &str, args: &[&str]) -> String {
    let out = Command::new(tool(name))
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `name args` and returns (success, stdout + stderr) without judging.
pub fn run_status(name: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool(name))
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub fn spec(
    type_guid: Guid,
    guid: Guid,
    label: &str,
    attributes: Attributes,
    size: u64,
) -> PartitionSpec {
    PartitionSpec {
        type_guid,
        guid,
        label: label.to_owned(),
        attributes,
        size,
    }
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
