//! The document: what goes in ([`ImageSbom`]) and CycloneDX 1.5 JSON out.

use std::str::FromStr;

use cyclonedx_bom::external_models::date_time::DateTime;
use cyclonedx_bom::external_models::normalized_string::NormalizedString;
use cyclonedx_bom::external_models::uri::{Purl, Uri};
use cyclonedx_bom::models::bom::{Bom, SpecVersion, UrnUuid};
use cyclonedx_bom::models::component::{Classification, Component, Components};
use cyclonedx_bom::models::external_reference::{
    ExternalReference, ExternalReferenceType, ExternalReferences,
};
use cyclonedx_bom::models::hash::{Hash, HashAlgorithm, HashValue, Hashes};
use cyclonedx_bom::models::license::{LicenseChoice, Licenses};
use cyclonedx_bom::models::metadata::Metadata;
use cyclonedx_bom::models::property::{Properties, Property};
use cyclonedx_bom::models::tool::Tools;
use cyclonedx_bom::validation::Validate;
use sha2::{Digest, Sha256};

use crate::cargo_lock::Crate;
use crate::dpkg::InstalledPackage;
use crate::license_ids::spdx_expression;
use crate::SbomError;

/// One Debian package of the image.
#[derive(Debug, Clone)]
pub struct DebEntry {
    /// What dpkg says.
    pub package: InstalledPackage,
    /// SHA-256 of its .deb, from the archive's signed index.
    pub deb_sha256: Option<String>,
    /// Its path in the archive (`pool/main/…`).
    pub archive_path: Option<String>,
    /// The distribution it came from (`trixie`), the package URL's `distro`.
    pub distro: Option<String>,
    /// The licence fields of its machine-readable copyright file.
    pub licenses: Option<Vec<String>>,
}

/// stela itself, as the image carries it (the update agent) or as it built the image.
#[derive(Debug, Clone)]
pub struct StelaEntry {
    /// Its version.
    pub version: String,
    /// SHA-256 of the binary in the image, when the image has one.
    pub binary_sha256: Option<String>,
    /// The crates it was built from.
    pub crates: Vec<Crate>,
    /// Whether the image carries it (in /usr/bin) or it only built the image.
    pub in_image: bool,
}

/// Everything the SBOM of one image says.
#[derive(Debug, Clone)]
pub struct ImageSbom {
    /// The image's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The usr image's verity root hash.
    pub root_hash: String,
    /// The build's time, seconds since 1970 (SOURCE_DATE_EPOCH), so the same inputs give
    /// the same document; none without it.
    pub timestamp: Option<i64>,
    /// The packages, sorted.
    pub packages: Vec<DebEntry>,
    /// stela.
    pub stela: StelaEntry,
}

fn sha256_hash(hex: &str) -> Hashes {
    Hashes(vec![Hash {
        alg: HashAlgorithm::SHA_256,
        content: HashValue(hex.to_owned()),
    }])
}

fn invalid(what: impl Into<String>, reason: impl ToString) -> SbomError {
    SbomError::Invalid {
        what: what.into(),
        reason: reason.to_string(),
    }
}

/// `pkg:deb/debian/NAME@VERSION?arch=ARCH[&distro=D]`.
pub(crate) fn deb_purl(p: &InstalledPackage, distro: Option<&str>) -> Result<String, SbomError> {
    deb_package_url(&p.name, &p.version, &p.architecture, distro)
}

/// The package URL of a Debian package: `pkg:deb/debian/NAME@VERSION?arch=ARCH`, with
/// `&distro=D` when given (the version percent-encoded as the purl specification asks).
pub fn deb_package_url(
    name: &str,
    version: &str,
    arch: &str,
    distro: Option<&str>,
) -> Result<String, SbomError> {
    let what = || format!("package {name}");
    let mut purl = packageurl::PackageUrl::new("deb", name).map_err(|e| invalid(what(), e))?;
    purl.with_namespace("debian")
        .and_then(|u| u.with_version(version))
        .and_then(|u| u.add_qualifier("arch", arch))
        .map_err(|e| invalid(what(), e))?;
    if let Some(d) = distro {
        purl.add_qualifier("distro", d)
            .map_err(|e| invalid(what(), e))?;
    }
    Ok(purl.to_string())
}

/// CycloneDX takes either licences or one expression: when every field has an SPDX
/// form, one expression (the fields joined with AND: each covers some of the files);
/// otherwise one licence per field, by identifier where it is a single one.
fn licenses(fields: &[String]) -> Licenses {
    let spdx: Vec<Option<String>> = fields.iter().map(|f| spdx_expression(f)).collect();
    if fields.len() > 1 && spdx.iter().all(Option::is_some) {
        let parts: Vec<String> = spdx
            .into_iter()
            .flatten()
            .map(|e| if e.contains(' ') { format!("({e})") } else { e })
            .collect();
        return Licenses(vec![LicenseChoice::expression(&parts.join(" AND "))]);
    }
    if let [Some(e)] = spdx.as_slice() {
        if e.contains(' ') {
            return Licenses(vec![LicenseChoice::expression(e)]);
        }
    }
    Licenses(
        fields
            .iter()
            .zip(spdx)
            .map(|(f, e)| match e {
                Some(id) if !id.contains(' ') => {
                    LicenseChoice::License(cyclonedx_bom::models::license::License::license_id(&id))
                }
                _ => LicenseChoice::license(f),
            })
            .collect(),
    )
}

fn property(name: &str, value: &str) -> Property {
    Property::new(name, value)
}

impl DebEntry {
    fn component(&self) -> Result<Component, SbomError> {
        let p = &self.package;
        let purl = deb_purl(p, self.distro.as_deref())?;
        let mut c = Component::new(
            Classification::Library,
            &p.name,
            &p.version,
            Some(purl.clone()),
        );
        c.purl = Some(Purl::from_str(&purl).map_err(|()| invalid(&p.name, "package URL"))?);
        c.publisher = p.maintainer.as_deref().map(NormalizedString::new);
        c.description = p.summary.as_deref().map(NormalizedString::new);
        c.hashes = self.deb_sha256.as_deref().map(sha256_hash);
        c.licenses = self.licenses.as_deref().map(licenses);
        let mut props = vec![
            property("stela:deb:architecture", &p.architecture),
            property("stela:deb:source", &p.source),
            property("stela:deb:source_version", &p.source_version),
        ];
        if let Some(path) = &self.archive_path {
            props.push(property("stela:deb:archive_path", path));
        }
        c.properties = Some(Properties(props));
        if let Some(h) = p.homepage.as_deref().filter(|h| h.starts_with("http")) {
            c.external_references = Some(ExternalReferences(vec![ExternalReference::new(
                ExternalReferenceType::Website,
                Uri::new(h),
            )]));
        }
        Ok(c)
    }
}

impl StelaEntry {
    fn component(&self) -> Result<Component, SbomError> {
        let purl = format!("pkg:generic/stela@{}", self.version);
        let mut c = Component::new(
            Classification::Application,
            "stela",
            &self.version,
            Some(purl.clone()),
        );
        c.purl = Some(Purl::from_str(&purl).map_err(|()| invalid("stela", "package URL"))?);
        c.hashes = self.binary_sha256.as_deref().map(sha256_hash);
        c.description = Some(NormalizedString::new(if self.in_image {
            "stela, the image's update agent (/usr/bin/stela), and the tool that built the image"
        } else {
            "stela, the tool that built the image"
        }));
        let crates = self
            .crates
            .iter()
            .map(|k| {
                let purl = format!("pkg:cargo/{}@{}", k.name, k.version);
                let mut cc = Component::new(
                    Classification::Library,
                    &k.name,
                    &k.version,
                    Some(purl.clone()),
                );
                cc.purl =
                    Some(Purl::from_str(&purl).map_err(|()| invalid(&k.name, "package URL"))?);
                cc.hashes = k.checksum.as_deref().map(sha256_hash);
                Ok(cc)
            })
            .collect::<Result<Vec<_>, SbomError>>()?;
        c.components = Some(Components(crates));
        Ok(c)
    }
}

/// A version 5 style UUID URN from the SHA-256 of `seed`: the same for the same image.
fn serial(seed: &[u8]) -> Result<UrnUuid, SbomError> {
    let d = Sha256::digest(seed);
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    UrnUuid::new(format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
    .map_err(|e| invalid("serial number", format!("{e:?}")))
}

/// RFC 3339 UTC of seconds since 1970.
fn rfc3339(secs: i64) -> Result<String, SbomError> {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(1970..=9999).contains(&year) {
        return Err(invalid("timestamp", format!("{secs} is out of range")));
    }
    Ok(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

impl ImageSbom {
    /// The CycloneDX model, validated.
    fn bom(&self) -> Result<Bom, SbomError> {
        let components = self
            .packages
            .iter()
            .map(DebEntry::component)
            .collect::<Result<Vec<_>, _>>()?;
        let mut image = Component::new(
            Classification::OperatingSystem,
            &self.name,
            &self.version,
            Some(format!("image:{}_{}", self.name, self.version)),
        );
        image.properties = Some(Properties(vec![property(
            "stela:usr_root_hash",
            &self.root_hash,
        )]));
        let stela = self.stela.component()?;
        let mut all = components;
        if self.stela.in_image {
            all.push(stela.clone());
        }
        let seed = format!(
            "{}\0{}\0{}\0{}",
            self.name,
            self.version,
            self.root_hash,
            all.iter()
                .filter_map(|c| c.bom_ref.clone())
                .collect::<Vec<_>>()
                .join("\0")
        );
        let timestamp = match self.timestamp {
            Some(t) => Some(
                DateTime::try_from(rfc3339(t)?)
                    .map_err(|e| invalid("timestamp", format!("{e:?}")))?,
            ),
            None => None,
        };
        let bom = Bom {
            version: 1,
            serial_number: Some(serial(seed.as_bytes())?),
            metadata: Some(Metadata {
                timestamp,
                tools: Some(Tools::Object {
                    services: None,
                    components: Some(Components(vec![stela])),
                }),
                component: Some(image),
                ..Metadata::default()
            }),
            components: Some(Components(all)),
            spec_version: SpecVersion::V1_5,
            ..Bom::default()
        };
        let result = bom.validate_version(SpecVersion::V1_5);
        if result.has_errors() {
            return Err(SbomError::Validation {
                version: "1.5".into(),
                details: format!("{result:?}"),
            });
        }
        Ok(bom)
    }

    /// The document as CycloneDX 1.5 JSON.
    pub fn to_cyclonedx_json(&self) -> Result<Vec<u8>, SbomError> {
        let bom = self.bom()?;
        let mut out = Vec::new();
        bom.output_as_json_v1_5(&mut out)
            .map_err(|e| SbomError::Json(e.to_string()))?;
        out.push(b'\n');
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: "1:2.3-4+deb13u1".into(),
            architecture: "amd64".into(),
            source: "src".into(),
            source_version: "1:2.3-4+deb13u1".into(),
            maintainer: Some("Someone <a@example.org>".into()),
            homepage: Some("https://example.org/".into()),
            summary: Some("a package".into()),
        }
    }

    fn sbom() -> ImageSbom {
        ImageSbom {
            name: "appliance".into(),
            version: "7".into(),
            root_hash: "ab".repeat(32),
            timestamp: Some(1_764_547_200),
            packages: vec![DebEntry {
                package: package("libfoo1"),
                deb_sha256: Some("cd".repeat(32)),
                archive_path: Some("pool/main/f/foo/libfoo1_2.3-4+deb13u1_amd64.deb".into()),
                distro: Some("trixie".into()),
                licenses: Some(vec![
                    "GPL-2+".into(),
                    "GPL-3+ or BSD-2-clause".into(),
                    "public-domain".into(),
                ]),
            }],
            stela: StelaEntry {
                version: "0.1.0".into(),
                binary_sha256: Some("ef".repeat(32)),
                crates: vec![Crate {
                    name: "serde".into(),
                    version: "1.0.0".into(),
                    checksum: Some("01".repeat(32)),
                }],
                in_image: true,
            },
        }
    }

    #[test]
    fn purls_escape_epochs_and_name_the_architecture() {
        assert_eq!(
            deb_purl(&package("libfoo1"), Some("trixie")).expect("purl"),
            "pkg:deb/debian/libfoo1@1:2.3-4%2Bdeb13u1?arch=amd64&distro=trixie"
        );
    }

    #[test]
    fn the_document_has_every_field_and_is_the_same_each_time() {
        let a = sbom().to_cyclonedx_json().expect("json");
        assert_eq!(a, sbom().to_cyclonedx_json().expect("json"));
        let v: serde_json::Value = serde_json::from_slice(&a).expect("parse");
        assert_eq!(v["bomFormat"], "CycloneDX");
        assert_eq!(v["specVersion"], "1.5");
        assert_eq!(v["metadata"]["timestamp"], "2025-12-01T00:00:00Z");
        assert_eq!(v["metadata"]["component"]["type"], "operating-system");
        let c = &v["components"][0];
        assert_eq!(c["name"], "libfoo1");
        assert_eq!(c["hashes"][0]["alg"], "SHA-256");
        // One field without an SPDX form: one licence per field.
        assert_eq!(c["licenses"][0]["license"]["id"], "GPL-2.0-or-later");
        assert_eq!(
            c["licenses"][1]["license"]["name"],
            "GPL-3+ or BSD-2-clause"
        );
        assert_eq!(c["licenses"][2]["license"]["name"], "public-domain");
        // All with one: a single expression.
        let all = licenses(&["GPL-2+".into(), "GPL-3+ or BSD-2-clause".into()]);
        assert_eq!(
            all.0,
            [LicenseChoice::expression(
                "GPL-2.0-or-later AND (GPL-3.0-or-later OR BSD-2-Clause)"
            )]
        );
        let stela = &v["components"][1];
        assert_eq!(stela["name"], "stela");
        assert_eq!(stela["components"][0]["purl"], "pkg:cargo/serde@1.0.0");
        let mut other = sbom();
        other.packages[0].package.version = "2".into();
        let b: serde_json::Value =
            serde_json::from_slice(&other.to_cyclonedx_json().expect("json")).expect("parse");
        assert_ne!(v["serialNumber"], b["serialNumber"]);
    }

    #[test]
    fn times_as_rfc3339() {
        assert_eq!(rfc3339(0).expect("t"), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400).expect("t"), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599).expect("t"), "2026-12-31T23:59:59Z");
        assert!(rfc3339(-1).is_err());
    }
}
