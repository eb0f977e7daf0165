//! The image's software bill of materials (`sbom.cdx.json`, CycloneDX 1.5): every package
//! the usr image ships, with the archive's checksum of its .deb, and stela itself
//! (`stela_sbom` says what each entry holds).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};
use stela_recipe::Recipe;
use stela_sbom::{ArchiveFile, ImageSbom, StelaEntry};

use super::sources::Sources;

/// The file's name in the build's output.
pub const FILE: &str = "sbom.cdx.json";

/// stela's workspace lock file: the crates it was built from.
const CARGO_LOCK: &str = include_str!("../../../../Cargo.lock");

/// The distribution of a suite codename, for package URLs: `trixie-security` is trixie.
fn distro(codename: &str) -> &str {
    ["-security", "-updates", "-proposed-updates"]
        .iter()
        .find_map(|s| codename.strip_suffix(s))
        .unwrap_or(codename)
}

/// Write the SBOM of the image built from `tree` into `dir`.
pub fn write(
    recipe: &Recipe,
    tree: &Path,
    shipped: &[(String, String)],
    sources: &Sources,
    root_hash: &str,
    dir: &Path,
) -> anyhow::Result<()> {
    let names: BTreeSet<&str> = shipped.iter().map(|(n, _)| n.as_str()).collect();
    let packages = stela_sbom::packages_in_tree(
        tree,
        |p| names.contains(p.name.as_str()),
        |p| {
            let d = sources
                .debs
                .get(&p.name)?
                .iter()
                .find(|d| d.version == p.version && d.architecture == p.architecture)?;
            Some(ArchiveFile {
                sha256: d.sha256.clone(),
                path: d.filename.clone(),
                distro: distro(&d.suite).to_owned(),
            })
        },
    )?;
    let missing: Vec<&str> = packages
        .iter()
        .filter(|p| p.deb_sha256.is_none())
        .map(|p| p.package.name.as_str())
        .collect();
    if !missing.is_empty() {
        tracing::warn!(
            "the SBOM has no archive checksum for {} package(s) (not in the kept apt lists): {}",
            missing.len(),
            missing.join(" ")
        );
    }
    let binary = tree.join("usr/bin/stela");
    let in_image = recipe.update().is_some();
    let binary_sha256 = if in_image {
        let bytes =
            std::fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
        Some(hex::encode(Sha256::digest(&bytes)))
    } else {
        None
    };
    let epoch = super::source_date_epoch()?;
    let sbom = ImageSbom {
        name: recipe.name().to_string(),
        version: recipe.version().to_string(),
        root_hash: root_hash.to_owned(),
        timestamp: (epoch > 0).then(|| i64::try_from(epoch).unwrap_or(i64::MAX)),
        packages,
        stela: StelaEntry {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            binary_sha256,
            crates: stela_sbom::crates_of(CARGO_LOCK, "stela-cli")?,
            in_image,
        },
    };
    let json = sbom.to_cyclonedx_json()?;
    let path = dir.join(FILE);
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_name_their_distribution() {
        assert_eq!(distro("trixie-security"), "trixie");
        assert_eq!(distro("trixie"), "trixie");
        assert_eq!(distro("trixie-backports"), "trixie-backports");
    }
}
