//! The image's Debian packages, from the SBOM stela writes (docs/sbom.md).

use std::path::Path;

use serde_json::Value;

use crate::AuditError;

/// One binary package of the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePackage {
    /// The binary package.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Its source package.
    pub source: String,
    /// The source version.
    pub source_version: String,
    /// The release it came from (`trixie`), when the SBOM says.
    pub distro: Option<String>,
}

/// The `pkg:deb` components of a CycloneDX SBOM written by `stela build`.
pub fn read_sbom(path: &Path) -> Result<Vec<ImagePackage>, AuditError> {
    let bytes = stela_limits::read(path, stela_limits::JSON_DOCUMENT).map_err(|source| {
        AuditError::Read {
            path: path.to_owned(),
            source,
        }
    })?;
    let bad = |reason: String| AuditError::Sbom {
        path: path.to_owned(),
        reason,
    };
    let doc: Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    if doc["bomFormat"] != "CycloneDX" {
        return Err(bad("not a CycloneDX document (bomFormat)".into()));
    }
    let components = doc["components"]
        .as_array()
        .ok_or_else(|| bad("no components".into()))?;
    let mut out = Vec::new();
    for c in components {
        let Some(purl) = c["purl"].as_str().filter(|p| p.starts_with("pkg:deb/")) else {
            continue;
        };
        let text = |v: &Value, what: &str| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad(format!("{purl}: no {what}")))
        };
        let property = |name: &str| {
            c["properties"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == name))
                .and_then(|p| p["value"].as_str())
                .map(str::to_owned)
        };
        let name = text(&c["name"], "name")?;
        let version = text(&c["version"], "version")?;
        let distro = purl
            .split_once('?')
            .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("distro=")))
            .map(str::to_owned);
        out.push(ImagePackage {
            source: property("stela:deb:source").unwrap_or_else(|| name.clone()),
            source_version: property("stela:deb:source_version").unwrap_or_else(|| version.clone()),
            name,
            version,
            distro,
        });
    }
    if out.is_empty() {
        return Err(bad("lists no Debian package (pkg:deb)".into()));
    }
    Ok(out)
}
