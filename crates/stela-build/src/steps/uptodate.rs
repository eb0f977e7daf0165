//! Skipping a build whose outputs are already there: `--out` holds a previous build of
//! exactly the same inputs, and none of its files was changed since (booting a disk image
//! writes to it). Like make, by the files' sizes and modification times; `--force`
//! rebuilds anyway.
//!
//! The inputs: this stela executable itself (so a new stela rebuilds), the recipe, the
//! content of its host files and overlays, the cached root file system it uses (by key and
//! by the Release files it was made from: a refreshed tree is a new input), the key
//! directory's content and SOURCE_DATE_EPOCH.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stela_recipe::Recipe;

use crate::manifest::Manifest;

/// The record of what a build's outputs were made from, beside them in `--out`.
pub const RECORD: &str = ".stela-build-inputs.json";

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct FileStamp {
    name: String,
    size: u64,
    mtime_ns: i128,
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    inputs: String,
    files: Vec<FileStamp>,
}

/// The digest of everything that decides the outputs.
pub fn inputs_digest(
    recipe: &Recipe,
    rootfs: &super::rootfs::Rootfs,
    keys: &Path,
) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    h.update(b"stela-build-inputs-v1\0");
    let exe = std::env::current_exe().context("finding the stela executable")?;
    super::content::for_each_chunk(&exe, |c| h.update(c))
        .with_context(|| format!("hashing {}", exe.display()))?;
    h.update(recipe_digest(recipe)?.as_bytes());
    h.update(rootfs.tree.as_os_str().as_encoded_bytes());
    h.update(serde_json::to_vec(&rootfs.sources).context("encoding the sources")?);
    h.update(b"keys\0");
    super::content::hash_path(&mut h, keys)
        .with_context(|| format!("hashing the key directory {}", keys.display()))?;
    h.update(super::source_date_epoch()?.to_le_bytes());
    Ok(hex::encode(h.finalize()))
}

/// SHA-256 of the recipe: its settings and every host file and overlay it names. Unlike
/// [`inputs_digest`] it does not depend on where the cache is, so two builds of one recipe
/// anywhere give the same value (the provenance records it).
pub fn recipe_digest(recipe: &Recipe) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    h.update(b"stela-recipe-v1\0");
    h.update(recipe.cache_key().as_bytes());
    super::content::recipe_content(&mut h, recipe)?;
    Ok(hex::encode(h.finalize()))
}

fn stamps(dir: &Path, names: &[String]) -> anyhow::Result<Vec<FileStamp>> {
    names
        .iter()
        .map(|name| {
            let path = dir.join(name);
            let meta = std::fs::symlink_metadata(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(FileStamp {
                name: name.clone(),
                size: meta.size(),
                mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            })
        })
        .collect()
}

/// Write the record into the staged outputs (after the manifest).
pub fn record(stage: &Path, inputs: &str, manifest: &Manifest) -> anyhow::Result<()> {
    let mut names: Vec<String> = manifest.artifacts.iter().map(|a| a.file.clone()).collect();
    names.push(crate::manifest::FILE.to_owned());
    let rec = Record {
        inputs: inputs.to_owned(),
        files: stamps(stage, &names)?,
    };
    let path = stage.join(RECORD);
    let text = serde_json::to_vec_pretty(&rec).context("encoding the inputs record")?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// The previous build's manifest if `out` holds outputs of exactly `inputs`, unchanged.
pub fn check(out: &Path, inputs: &str) -> Option<Manifest> {
    let text = std::fs::read(out.join(RECORD)).ok()?;
    let rec: Record = serde_json::from_slice(&text).ok()?;
    if rec.inputs != inputs {
        return None;
    }
    let names: Vec<String> = rec.files.iter().map(|f| f.name.clone()).collect();
    match stamps(out, &names) {
        Ok(now) if now == rec.files => {}
        _ => return None,
    }
    let manifest = std::fs::read(out.join(crate::manifest::FILE)).ok()?;
    serde_json::from_slice(&manifest).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_or_missing_output_is_not_up_to_date() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let out = tmp.path();
        std::fs::write(out.join("disk.raw"), b"image").expect("w");
        let manifest = Manifest::for_tests("disk.raw");
        std::fs::write(
            out.join(crate::manifest::FILE),
            serde_json::to_vec(&manifest).expect("json"),
        )
        .expect("w");
        record(out, "abc", &manifest).expect("record");
        assert!(check(out, "abc").is_some(), "unchanged, same inputs");
        assert!(check(out, "abd").is_none(), "other inputs");
        // Booting the image writes to it.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(out.join("disk.raw"), b"IMAGE").expect("w");
        assert!(check(out, "abc").is_none(), "a changed file");
        record(out, "abc", &manifest).expect("record");
        std::fs::remove_file(out.join("disk.raw")).expect("rm");
        assert!(check(out, "abc").is_none(), "a missing file");
    }
}
