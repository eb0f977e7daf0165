//! End to end: a recipe that adds a package to a cached one gets a layered package tree
//! (only the added package installed into a copy of the cached tree), and its usr image
//! is byte for byte the one a full build of the same recipe makes from the same packages
//! (decision record 0009).
//!
//! Three builds of the test recipe (`tests/data/e2e/recipe.toml`, R) and of R plus
//! `less`: R into cache A; R plus `less` into cache A, which must be layered on R's tree;
//! R plus `less` into the empty cache B, which must be a full build with an initrd dracut
//! makes anew. The two usr
//! images and the two UKIs (which carry the initrd) are compared byte for byte, and so
//! are the manifests' package lists, the root hashes and the two trees' dpkg status
//! files.
//!
//! The caches share the machine's package cache (`STELA_CACHE`, default
//! /var/cache/stela/build), and nothing else: both package trees and all initrds are made
//! here. Files of the last run stay in `target/tmp/e2e/layer/`.

mod common;

use std::path::{Path, PathBuf};

use common::{e2e_keys, e2e_recipe, e2e_work_dir, require_tool, run_ok, stela};

/// The build cache `stela build` uses (it reads the same variable).
fn shared_cache() -> PathBuf {
    std::env::var_os("STELA_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/stela/build"))
}

fn rootfs_key(recipe: &Path) -> String {
    stela_recipe::Recipe::load(recipe)
        .unwrap_or_else(|e| panic!("{}: {e}", recipe.display()))
        .rootfs_inputs()
        .digest()
        .to_string()
}

/// A build cache of its own whose package cache is the machine's.
fn cache(dir: &Path, shared: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("rootfs")).expect("creating the cache");
    let target = shared.join("debs");
    std::fs::create_dir_all(&target).expect("creating the shared cache");
    std::os::unix::fs::symlink(&target, dir.join("debs")).expect("linking the shared cache");
    dir.to_owned()
}

/// `stela build`; the `--json` result.
fn build(recipe: &Path, keys: &Path, cache: &Path, out: &Path) -> serde_json::Value {
    let built = run_ok(
        stela()
            .arg("build")
            .arg(recipe)
            .arg("--keys")
            .arg(keys)
            .arg("--cache")
            .arg(cache)
            .arg("--out")
            .arg(out)
            .arg("--json"),
    );
    let result: serde_json::Value =
        serde_json::from_slice(&built.stdout).expect("build --json output");
    eprintln!(
        "{} into {}: {} s, steps {}",
        recipe.display(),
        cache.display(),
        result["total_seconds"],
        result["steps"]
    );
    result
}

fn step<'a>(result: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    result["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {result}"))
}

fn json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every entry of a tree with its type, mode, owner, size, modification time and link
/// target: a write into any file of the tree changes it.
fn snapshot(tree: &Path) -> String {
    let out = run_ok(
        std::process::Command::new("find")
            .arg(tree)
            .args(["-printf", "%P %y %m %U %G %s %T@ %l\\n"]),
    );
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines.join("\n")
}

/// The offset of the first byte where `a` and `b` differ, or their common length.
fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

#[test]
fn a_layered_tree_gives_the_usr_image_of_a_full_build() {
    require_tool("mmdebstrap");
    require_tool("cmp");
    let dir = e2e_work_dir("layer");
    let keys = e2e_keys(&dir, "stela layer e2e");
    let recipe = e2e_recipe();
    let text = std::fs::read_to_string(&recipe).expect("the test recipe");
    let plus_text = text.replacen("packages = [", "packages = [\n    \"less\",", 1);
    assert_ne!(
        text,
        plus_text,
        "could not add less to {}",
        recipe.display()
    );
    let plus = dir.join("plus-less.toml");
    std::fs::write(&plus, plus_text).expect("writing the recipe");
    let (key, plus_key) = (rootfs_key(&recipe), rootfs_key(&plus));

    let shared = shared_cache();
    let a = cache(&dir.join("cache-a"), &shared);
    let b = cache(&dir.join("cache-b"), &shared);

    build(&recipe, &keys, &a, &dir.join("out-r"));
    let made_r = json(&a.join("rootfs").join(format!("{key}.made.json")));
    assert!(made_r["inputs"]["packages"].is_array(), "{made_r}");

    let base_tree = a.join("rootfs").join(&key);
    let before = snapshot(&base_tree);
    let layered = build(&plus, &keys, &a, &dir.join("out-layered"));
    assert_eq!(step(&layered, "rootfs")["cached"], false);
    let made = json(&a.join("rootfs").join(format!("{plus_key}.made.json")));
    assert_eq!(
        made["base"], key,
        "R plus less was not layered on R's tree (run with -v to see why): {made}"
    );
    assert!(made["added"]["less"].is_string(), "{made}");

    let full = build(&plus, &keys, &b, &dir.join("out-full"));
    assert_eq!(step(&full, "rootfs")["cached"], false);
    assert_eq!(
        step(&full, "initrd")["cached"],
        false,
        "dracut must run for the full build"
    );
    let made_full = json(&b.join("rootfs").join(format!("{plus_key}.made.json")));
    assert!(made_full["base"].is_null(), "{made_full}");

    // The base is as it was (the layered tree shares its files).
    assert!(
        snapshot(&base_tree) == before,
        "the base tree {} changed",
        base_tree.display()
    );
    assert_eq!(
        std::fs::read_to_string(base_tree.join(".stela-complete")).expect("the base's marker"),
        key
    );

    // The usr images, byte for byte (cmp says where they part, if they do).
    let usr_layered = dir.join("out-layered/usr.erofs");
    let usr_full = dir.join("out-full/usr.erofs");
    let cmp = common::run(
        std::process::Command::new("cmp")
            .arg(&usr_full)
            .arg(&usr_layered),
    );
    if !cmp.status.success() {
        let x = std::fs::read(&usr_full).expect("reading the usr image");
        let y = std::fs::read(&usr_layered).expect("reading the usr image");
        panic!(
            "the layered usr image differs from the full build's: {} ({} and {} bytes, first difference at byte {})",
            String::from_utf8_lossy(&cmp.stdout).trim(),
            x.len(),
            y.len(),
            first_difference(&x, &y)
        );
    }
    // The UKIs (kernel, command line with the root hash, initrd), byte for byte: dracut
    // makes the same initrd in the layered tree as in the full one.
    let uki = |out: &str| {
        let m = json(&dir.join(out).join("manifest.json"));
        let (Some(name), Some(version)) = (m["name"].as_str(), m["version"].as_str()) else {
            panic!("no name or version in {m}")
        };
        let name = format!("{name}_{version}.efi");
        std::fs::read(dir.join(out).join(&name)).expect("reading the UKI")
    };
    let (uki_layered, uki_full) = (uki("out-layered"), uki("out-full"));
    assert!(
        uki_layered == uki_full,
        "the layered build's UKI differs from the full build's ({} and {} bytes, first difference at byte {})",
        uki_layered.len(),
        uki_full.len(),
        first_difference(&uki_layered, &uki_full)
    );
    let m_layered = json(&dir.join("out-layered/manifest.json"));
    let m_full = json(&dir.join("out-full/manifest.json"));
    assert_eq!(m_layered["root_hash"], m_full["root_hash"]);
    assert_eq!(
        m_layered["packages"], m_full["packages"],
        "the manifests list different packages"
    );
    assert!(
        m_layered["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .any(|p| p["name"] == "less"),
        "less is not in the manifest"
    );
    let status = |c: &Path| {
        std::fs::read(c.join("rootfs").join(&plus_key).join("var/lib/dpkg/status"))
            .expect("reading a dpkg status")
    };
    assert!(
        status(&a) == status(&b),
        "the trees' dpkg status files differ"
    );
}
