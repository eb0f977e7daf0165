//! `manifest.json`: what a build produced, for publishing and for tests.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use stela_recipe::Recipe;

use crate::steps::sources::{Sources, SuiteRelease};
use crate::steps::verity::VerityOutput;

/// The manifest's file name among the outputs.
pub const FILE: &str = "manifest.json";

/// The format of the manifest this build writes (`manifest_version`).
pub const VERSION: u32 = 2;

/// One output file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Artifact {
    /// File name in the output directory.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// One installed package.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Package {
    /// Debian package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The suites that offered exactly this version (`trixie`, `trixie-security`, ...);
    /// empty when none did (a package the archive no longer lists).
    pub suites: Vec<String>,
    /// Every suite's version of the package, when the archive listed it.
    pub offered: std::collections::BTreeMap<String, String>,
}

/// Versions of the tools whose output is in the image: a new erofs-utils can move every
/// block of the usr image, a new dracut changes the initrd.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tools {
    /// stela itself.
    pub stela: String,
    /// erofs-utils (mkfs.erofs) from the image.
    pub erofs_utils: Option<String>,
    /// dracut from the image.
    pub dracut: Option<String>,
    /// systemd (its stub and boot loader are in the UKI and on the ESP).
    pub systemd: Option<String>,
}

/// What the manifest records beside the outputs.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Packages shipped in the image, with their versions.
    pub packages: &'a [(String, String)],
    /// Every package the tree had before the build's own tools were removed (for the
    /// tools' versions).
    pub build_tools: &'a [(String, String)],
    /// Where they came from.
    pub sources: &'a Sources,
}

/// The manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// The archive suites the packages came from, with their Release files' dates and
    /// digests.
    pub suites: Vec<SuiteRelease>,
    /// The tools that made the image.
    pub tools: Tools,
    /// The packages in the image (the build's own tools, removed before /usr was made,
    /// are not among them; their versions are in `tools`).
    pub packages: Vec<Package>,
}

/// SHA-256 of a file. OpenSSL's implementation, which uses the CPU's SHA extensions: the
/// disk image is gigabytes (mostly the zeros of the space left for the root partition),
/// and this is several times faster than the portable one.
pub fn sha256_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut h = openssl::sha::Sha256::new();
    let n = crate::steps::content::for_each_chunk_sparse(path, |chunk| h.update(chunk))?;
    Ok((n, hex::encode(h.finish())))
}

fn version_of(packages: &[(String, String)], name: &str) -> Option<String> {
    packages
        .iter()
        .find(|(p, _)| p == name)
        .map(|(_, v)| v.clone())
}

#[cfg(test)]
impl Manifest {
    /// A manifest with one artifact and nothing else, for tests.
    pub(crate) fn for_tests(image: &str) -> Manifest {
        Manifest {
            manifest_version: 2,
            name: "t".into(),
            version: "1".into(),
            root_hash: String::new(),
            image: image.into(),
            artifacts: vec![Artifact {
                file: image.into(),
                size: 0,
                sha256: String::new(),
            }],
            suites: Vec::new(),
            tools: Tools {
                stela: String::new(),
                erofs_utils: None,
                dracut: None,
                systemd: None,
            },
            packages: Vec::new(),
        }
    }
}

/// Hash every file in `dir` and write the manifest there.
pub fn write(
    recipe: &Recipe,
    dir: &Path,
    image: &Path,
    verity: &VerityOutput,
    inputs: &Inputs<'_>,
) -> anyhow::Result<Manifest> {
    let listing = || format!("listing the outputs in {}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(listing)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .with_context(listing)?;
    names.retain(|n| n != FILE && !n.starts_with('.'));
    names.sort();
    // One thread per file: the disk image (mostly zeros, hashed from memory) and the
    // usr image take about as long as all the rest, so on two cores this halves the step.
    let hashed: Vec<anyhow::Result<(u64, String)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = names
            .iter()
            .map(|file| scope.spawn(move || sha256_file(&dir.join(file))))
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a hashing thread panicked")))
            })
            .collect()
    });
    let mut artifacts = Vec::new();
    for (file, h) in names.into_iter().zip(hashed) {
        let (size, sha256) = h?;
        artifacts.push(Artifact { file, size, sha256 });
    }
    let manifest = Manifest {
        manifest_version: VERSION,
        name: recipe.name().to_string(),
        version: recipe.version().to_string(),
        root_hash: verity.root_hash.to_string(),
        image: image
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        artifacts,
        suites: inputs.sources.suites.clone(),
        tools: Tools {
            stela: env!("CARGO_PKG_VERSION").to_owned(),
            erofs_utils: version_of(inputs.build_tools, "erofs-utils"),
            dracut: version_of(inputs.build_tools, "dracut"),
            systemd: version_of(inputs.packages, "systemd"),
        },
        packages: inputs
            .packages
            .iter()
            .map(|(name, version)| {
                let offered = inputs
                    .sources
                    .offered
                    .get(name)
                    .cloned()
                    .unwrap_or_default();
                let suites = offered
                    .iter()
                    .filter(|(_, v)| *v == version)
                    .map(|(s, _)| s.clone())
                    .collect();
                Package {
                    name: name.clone(),
                    version: version.clone(),
                    suites,
                    offered,
                }
            })
            .collect(),
    };
    let text = serde_json::to_vec_pretty(&manifest).context("encoding manifest.json")?;
    let path = dir.join(FILE);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(manifest)
}
