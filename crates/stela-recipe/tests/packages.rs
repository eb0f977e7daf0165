//! Package names checked against trixie's real `Packages` index, read with apt itself
//! (the lists `scripts/setup --test` downloads into $STELA_TEST_CACHE).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use stela_recipe::{parse_package_index, Recipe, TPM2_PACKAGES};

fn cache() -> PathBuf {
    std::env::var_os("STELA_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/stela/trixie"))
}

/// Runs apt-cache on the test cache's private configuration.
fn apt_cache(args: &[&str]) -> String {
    let c = cache();
    let lists = c.join("apt/lists");
    let has_index = std::fs::read_dir(&lists)
        .map(|d| {
            d.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().contains("_Packages"))
        })
        .unwrap_or(false);
    assert!(
        has_index,
        "no trixie Packages index under {}; run scripts/setup --test",
        lists.display()
    );
    let opt = |k: &str, v: &Path| format!("{k}={}", v.display());
    let out = Command::new("apt-cache")
        .args([
            "-o",
            &opt("Dir::Etc::SourceList", &c.join("apt/sources.list")),
        ])
        .args(["-o", "Dir::Etc::SourceParts=/nonexistent"])
        .args(["-o", &opt("Dir::State::Lists", &lists)])
        .args(["-o", &opt("Dir::State::status", &c.join("apt/status"))])
        .args(["-o", &opt("Dir::Cache", &c.join("apt"))])
        .args(["-o", "APT::Architecture=amd64", "-o", "Debug::NoLocking=1"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("apt-cache: {e}; run scripts/setup --test"));
    assert!(
        out.status.success(),
        "apt-cache {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn recipe_packages_exist_in_trixie() {
    let available: HashSet<String> = apt_cache(&["pkgnames"])
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(available.len() > 50_000, "only {} names", available.len());

    // The built-in recipe, and one whose choices imply the optional packages: TPM2
    // libraries, mkfs for btrfs and xfs, locales, tzdata.
    let mut recipes = vec![Recipe::default_recipe()];
    for fs in ["btrfs", "xfs"] {
        let text = format!(
            "name = \"t\"\nversion = \"1\"\n[partitions.root]\nencrypt = \"tpm2\"\n\
             filesystem = \"{fs}\"\n[firstboot]\nlocale = \"de_DE.UTF-8\"\ntimezone = \"Europe/Paris\"\n"
        );
        let r = Recipe::parse(&text, "t.toml", Path::new("."));
        recipes.push(r.unwrap_or_else(|e| panic!("{e}")));
    }
    for r in &recipes {
        let unknown = r.unknown_packages(&available);
        assert!(
            unknown.is_empty(),
            "{} : not in trixie: {unknown:?}",
            r.label()
        );
    }
    let tpm = recipes[1].package_set();
    assert!(TPM2_PACKAGES
        .iter()
        .all(|p| tpm.iter().any(|q| q.as_str() == *p)));

    // A misspelt package is caught, with every other unknown name, in one error.
    let r = Recipe::parse(
        "name = \"t\"\nversion = \"1\"\npackages = [\"openssh-sever\", \"nginx\", \"systemd-networkd\"]\n",
        "t.toml",
        Path::new("."),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let err = r.check_packages(&available).err().map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("packages not in trixie main (amd64): openssh-sever, systemd-networkd")
    );
}

#[test]
fn package_index_parser_agrees_with_apt() {
    let names = apt_cache(&["pkgnames"]);
    let apt: HashSet<&str> = names.lines().collect();
    let parsed = parse_package_index(&apt_cache(&["dumpavail"]));
    let ours: HashSet<&str> = parsed.iter().map(String::as_str).collect();
    assert_eq!(ours.len(), apt.len());
    assert_eq!(ours, apt);
}
