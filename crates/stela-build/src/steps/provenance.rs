//! The build's signed provenance (`provenance.dsse.json`): every output file with its
//! SHA-256, the recipe's digest, the packages and suites the image was made
//! from, signed with the db key (`stela_provenance` describes the format).

use std::path::Path;

use stela_provenance::{Dependency, Provenance, Subject};
use stela_recipe::Recipe;

use super::sources::Sources;
use crate::manifest::{self, Manifest};

/// Write the provenance of the build whose manifest is `manifest` into `dir`.
pub fn write(
    recipe: &Recipe,
    manifest: &Manifest,
    sources: &Sources,
    signer: &dyn stela_keys::Signer,
    dir: &Path,
) -> anyhow::Result<()> {
    let mut subjects: Vec<Subject> = manifest
        .artifacts
        .iter()
        .map(|a| Subject {
            name: a.file.clone(),
            sha256: a.sha256.clone(),
        })
        .collect();
    let (_, manifest_sha) = manifest::sha256_file(&dir.join(manifest::FILE))?;
    subjects.push(Subject {
        name: manifest::FILE.to_owned(),
        sha256: manifest_sha,
    });
    let mut dependencies = Vec::new();
    for s in &sources.suites {
        dependencies.push(Dependency {
            uri: format!("apt:{}", s.list),
            name: format!("{} ({})", s.codename, s.date),
            sha256: Some(s.inrelease_sha256.clone()),
        });
    }
    for p in &manifest.packages {
        let deb = sources
            .debs
            .get(&p.name)
            .and_then(|d| d.iter().find(|d| d.version == p.version));
        let arch = deb.map_or("unknown", |d| d.architecture.as_str());
        dependencies.push(Dependency {
            uri: stela_sbom::deb_package_url(&p.name, &p.version, arch, None)?,
            name: p.name.clone(),
            sha256: deb.map(|d| d.sha256.clone()),
        });
    }
    let epoch = super::source_date_epoch()?;
    let provenance = Provenance {
        subjects,
        name: recipe.name().to_string(),
        version: recipe.version().to_string(),
        recipe_sha256: super::uptodate::recipe_digest(recipe)?,
        root_hash: manifest.root_hash.clone(),
        source_date_epoch: (epoch > 0).then_some(epoch),
        stela_version: env!("CARGO_PKG_VERSION").to_owned(),
        dependencies,
    };
    provenance.write_signed(dir, signer)?;
    Ok(())
}
