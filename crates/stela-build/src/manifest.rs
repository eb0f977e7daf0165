//! `manifest.json`: what a build produced, for publishing and for tests.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use sha2::{Digest, Sha256};
use stela_recipe::Recipe;

use crate::steps::verity::VerityOutput;

/// The manifest's file name among the outputs.
pub const FILE: &str = "manifest.json";

/// One output file.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    /// File name in the output directory.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// One installed package.
#[derive(Debug, Clone, Serialize)]
pub struct Package {
    /// Debian package name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// The manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Format of this file.
    pub manifest_version: u32,
    /// Image name.
    pub name: String,
    /// Image version.
    pub version: String,
    /// The usr image's verity root hash.
    pub root_hash: String,
    /// The disk image's file name.
    pub image: String,
    /// Every output file.
    pub artifacts: Vec<Artifact>,
    /// Installed packages.
    pub packages: Vec<Package>,
}

fn sha256_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex::encode(h.finalize())))
}

/// Hash every file in `dir` and write the manifest there.
pub fn write(
    recipe: &Recipe,
    dir: &Path,
    image: &Path,
    verity: &VerityOutput,
    packages: &[(String, String)],
) -> anyhow::Result<Manifest> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != FILE)
        .collect();
    names.sort();
    let mut artifacts = Vec::new();
    for file in names {
        let (size, sha256) = sha256_file(&dir.join(&file))?;
        artifacts.push(Artifact { file, size, sha256 });
    }
    let manifest = Manifest {
        manifest_version: 1,
        name: recipe.name().to_string(),
        version: recipe.version().to_string(),
        root_hash: verity.root_hash.to_string(),
        image: image
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        artifacts,
        packages: packages
            .iter()
            .map(|(name, version)| Package {
                name: name.clone(),
                version: version.clone(),
            })
            .collect(),
    };
    let text = serde_json::to_vec_pretty(&manifest)?;
    std::fs::write(dir.join(FILE), text).context("writing manifest.json")?;
    Ok(manifest)
}
