//! Version ordering checked against systemd's own implementation, through
//! `systemd-analyze compare-versions` (the same `strverscmp_improved()` systemd-boot sorts
//! its entries with).

use std::cmp::Ordering;
use std::process::Command;

use stela_recipe::compare_versions;

/// Versions covering each rule: separators, `~`, `-`, `^`, `.`, numbers with leading
/// zeros, letter case, letters against digits, characters outside the alphabet.
const VERSIONS: &[&str] = &[
    "",
    "~",
    "~1",
    "0",
    "00",
    "1",
    "1~rc1",
    "1~rc2",
    "1~~",
    "1.0",
    "1.0~rc1",
    "1.0^",
    "1.0^post1",
    "1.0.1",
    "1.00.1",
    "1.0-1",
    "1.0-a",
    "1.0a",
    "1.0.a",
    "1.9",
    "1.10",
    "1_",
    "1+2",
    "1.2",
    "123a",
    "123.a",
    "A",
    "a",
    "abc",
    "abcd",
    "bar-123",
    "foo-123",
    "11α",
    "11β",
    "2024.05.1",
    "v3",
];

fn systemd_order(a: &str, b: &str) -> Ordering {
    let out = Command::new("systemd-analyze")
        .args(["compare-versions", a, b])
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze: {e}; run scripts/setup --test (package systemd)")
        });
    // With two arguments (systemd-analyze(1)): 0 when equal, 11 when the right one is
    // smaller, 12 when the left one is.
    match out.status.code() {
        Some(0) => Ordering::Equal,
        Some(11) => Ordering::Greater,
        Some(12) => Ordering::Less,
        other => panic!(
            "systemd-analyze compare-versions {a:?} {b:?} exited with {other:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn order_matches_systemd_analyze() {
    let mut disagreements = Vec::new();
    let mut pairs = 0;
    for (i, a) in VERSIONS.iter().enumerate() {
        for b in &VERSIONS[i + 1..] {
            pairs += 1;
            let (ours, theirs) = (compare_versions(a, b), systemd_order(a, b));
            if ours != theirs {
                disagreements.push(format!(
                    "{a:?} vs {b:?}: stela {ours:?}, systemd {theirs:?}"
                ));
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    assert!(pairs > 600, "{pairs} pairs");
}
