//! Where the packages came from: the archive suites' signed Release files (date, digest)
//! and, for every installed package, the version each suite offered. Read from apt's
//! lists while mmdebstrap still has them, kept beside the cached tree, and written into
//! the manifest.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// One archive suite as apt fetched it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteRelease {
    /// `Suite:` of the Release file (`trixie`, `trixie-security`, ...).
    pub suite: String,
    /// `Codename:`.
    pub codename: String,
    /// `Date:`, as the archive wrote it.
    pub date: String,
    /// SHA-256 of the signed `InRelease` file.
    pub inrelease_sha256: String,
    /// apt's name for the lists file (names the mirror and suite).
    pub list: String,
}

/// What the archive offered when the tree was made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sources {
    /// Every suite, in the order of apt's lists (sorted by name).
    pub suites: Vec<SuiteRelease>,
    /// For every package name of interest: suite codename (`trixie-security`) -> the
    /// version offered there.
    pub offered: BTreeMap<String, BTreeMap<String, String>>,
    /// For every installed package name: the archive's files of its installed version,
    /// with the SHA-256 the signed index gives (the SBOM's checksums).
    #[serde(default)]
    pub debs: BTreeMap<String, Vec<ArchiveDeb>>,
}

/// A .deb as the archive's signed `Packages` index describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveDeb {
    /// `Version:`.
    pub version: String,
    /// `Architecture:` (`amd64`, `all`).
    pub architecture: String,
    /// The suite codename whose index lists it.
    pub suite: String,
    /// `Filename:`, the path in the archive (`pool/main/...`).
    pub filename: String,
    /// `SHA256:` of the .deb.
    pub sha256: String,
}

/// One stanza of a `Packages` index: the fields read.
#[derive(Default)]
struct Stanza {
    package: String,
    version: String,
    architecture: String,
    filename: String,
    sha256: String,
}

impl Stanza {
    fn set(&mut self, line: &str) {
        let Some((field, value)) = line.split_once(':') else {
            return;
        };
        let value = value.trim().to_owned();
        match field {
            "Package" => self.package = value,
            "Version" => self.version = value,
            "Architecture" => self.architecture = value,
            "Filename" => self.filename = value,
            "SHA256" => self.sha256 = value,
            _ => {}
        }
    }
}

/// The file beside a cached tree that holds its [`Sources`].
pub fn file_for(tree: &Path) -> std::path::PathBuf {
    let mut name = tree.file_name().unwrap_or_default().to_os_string();
    name.push(".sources.json");
    tree.with_file_name(name)
}

fn release_field<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    text.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// Read apt's lists directory (copies of `/var/lib/apt/lists`): every `*_InRelease`, and
/// every `*_Packages` file for the versions of the packages in `installed`.
pub fn read_lists(lists: &Path, installed: &[(String, String)]) -> anyhow::Result<Sources> {
    let mut names: Vec<String> = std::fs::read_dir(lists)
        .with_context(|| format!("listing apt's lists in {}", lists.display()))?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()
        .with_context(|| format!("listing apt's lists in {}", lists.display()))?;
    names.sort();
    let mut out = Sources::default();
    let mut prefixes = Vec::new();
    for name in names.iter().filter(|n| n.ends_with("_InRelease")) {
        let path = lists.join(name);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let text = String::from_utf8_lossy(&bytes);
        // The clear-signed text starts after the armour header's blank line.
        let body = text.split_once("\n\n").map_or(&*text, |(_, b)| b);
        let field = |f: &str| release_field(body, f).unwrap_or_default().to_owned();
        let suite = field("Suite");
        if suite.is_empty() {
            anyhow::bail!("{}: no Suite field", path.display());
        }
        // Debian's Suite is the alias (`stable-security`), the codename the stable name.
        let codename = field("Codename");
        let key = if codename.is_empty() {
            suite.clone()
        } else {
            codename
        };
        prefixes.push((name.trim_end_matches("InRelease").to_owned(), key));
        out.suites.push(SuiteRelease {
            codename: field("Codename"),
            date: field("Date"),
            inrelease_sha256: hex::encode(Sha256::digest(&bytes)),
            list: name.clone(),
            suite,
        });
    }
    let wanted: std::collections::HashSet<&str> =
        installed.iter().map(|(n, _)| n.as_str()).collect();
    let exact: std::collections::HashSet<(&str, &str)> = installed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    for name in names.iter().filter(|n| n.ends_with("_Packages")) {
        let Some((_, suite)) = prefixes.iter().find(|(p, _)| name.starts_with(p.as_str())) else {
            continue;
        };
        let path = lists.join(name);
        let f =
            std::fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        let mut stanza = Stanza::default();
        let mut lines = BufReader::new(f).lines();
        loop {
            let line = lines
                .next()
                .transpose()
                .with_context(|| format!("reading {}", path.display()))?;
            match line.as_deref() {
                Some(l) if !l.is_empty() => {
                    // Continuation lines (a description's) start with a space.
                    if !l.starts_with(' ') {
                        stanza.set(l);
                    }
                    continue;
                }
                _ => {}
            }
            let s = std::mem::take(&mut stanza);
            if wanted.contains(s.package.as_str()) && !s.version.is_empty() {
                // Several versions in one suite: keep the first listed (apt lists the
                // newest first in Debian's archive); an image takes one of them anyway.
                out.offered
                    .entry(s.package.clone())
                    .or_default()
                    .entry(suite.clone())
                    .or_insert(s.version.clone());
                if exact.contains(&(s.package.as_str(), s.version.as_str())) {
                    let debs = out.debs.entry(s.package.clone()).or_default();
                    let deb = ArchiveDeb {
                        version: s.version,
                        architecture: s.architecture,
                        suite: suite.clone(),
                        filename: s.filename,
                        sha256: s.sha256,
                    };
                    if !debs.iter().any(|d| d.sha256 == deb.sha256) {
                        debs.push(deb);
                    }
                }
            }
            if line.is_none() {
                break;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_and_offered_versions_are_read_from_the_lists() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path();
        let inrelease = |suite: &str| {
            let codename = suite.replace("stable", "trixie");
            format!(
                "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\nSuite: {suite}\nCodename: {codename}\nDate: Sat, 01 Nov 2026 10:00:00 UTC\n-----BEGIN PGP SIGNATURE-----\n"
            )
        };
        std::fs::write(
            d.join("m_debian_dists_trixie_InRelease"),
            inrelease("stable"),
        )
        .expect("w");
        std::fs::write(
            d.join("m_debian-security_dists_trixie-security_InRelease"),
            inrelease("stable-security"),
        )
        .expect("w");
        std::fs::write(
            d.join("m_debian_dists_trixie_main_binary-amd64_Packages"),
            "Package: openssl\nVersion: 3.5.1-1\nArchitecture: amd64\nDescription: x\n y\n\nPackage: zsh\nVersion: 5.9-8\n",
        )
        .expect("w");
        std::fs::write(
            d.join("m_debian-security_dists_trixie-security_main_binary-amd64_Packages"),
            "Package: openssl\nVersion: 3.5.1-1+deb13u1\nArchitecture: amd64\nFilename: pool/updates/main/o/openssl/openssl_3.5.1-1+deb13u1_amd64.deb\nSHA256: 00ff\n",
        )
        .expect("w");
        let s = read_lists(d, &[("openssl".into(), "3.5.1-1+deb13u1".into())]).expect("read");
        assert_eq!(s.suites.len(), 2);
        let suites: Vec<&str> = s.suites.iter().map(|r| r.codename.as_str()).collect();
        assert_eq!(suites, ["trixie-security", "trixie"], "sorted by list name");
        assert_eq!(s.suites[1].suite, "stable");
        assert_eq!(s.suites[1].date, "Sat, 01 Nov 2026 10:00:00 UTC");
        assert_eq!(s.offered["openssl"]["trixie"], "3.5.1-1");
        assert_eq!(s.offered["openssl"]["trixie-security"], "3.5.1-1+deb13u1");
        assert!(!s.offered.contains_key("zsh"));
        assert_eq!(
            s.debs["openssl"],
            [ArchiveDeb {
                version: "3.5.1-1+deb13u1".into(),
                architecture: "amd64".into(),
                suite: "trixie-security".into(),
                filename: "pool/updates/main/o/openssl/openssl_3.5.1-1+deb13u1_amd64.deb".into(),
                sha256: "00ff".into(),
            }]
        );
    }
}
