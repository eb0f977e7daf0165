//! The installed packages as dpkg records them (`/var/lib/dpkg/status`, deb-control(5)
//! paragraphs).

use std::path::Path;

use crate::SbomError;

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    /// `Package:`.
    pub name: String,
    /// `Version:`.
    pub version: String,
    /// `Architecture:` (`amd64`, `all`).
    pub architecture: String,
    /// The source package: `Source:` without its version, or the package's own name.
    pub source: String,
    /// The source version: the one in parentheses after `Source:`, or the package's.
    pub source_version: String,
    /// `Maintainer:`, if any.
    pub maintainer: Option<String>,
    /// `Homepage:`, if any.
    pub homepage: Option<String>,
    /// The first line of `Description:`, if any.
    pub summary: Option<String>,
}

/// The packages of a dpkg status file whose `Status:` ends in `installed`, sorted by
/// name and architecture.
pub fn read_status(path: &Path) -> Result<Vec<InstalledPackage>, SbomError> {
    let text = std::fs::read_to_string(path).map_err(|source| SbomError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_status(&text).map_err(|reason| SbomError::Status {
        path: path.to_owned(),
        reason,
    })
}

/// [`read_status`] on text.
pub fn parse_status(text: &str) -> Result<Vec<InstalledPackage>, String> {
    let mut out = Vec::new();
    for (n, paragraph) in text.split("\n\n").enumerate() {
        let field = |name: &str| -> Option<&str> {
            paragraph.lines().find_map(|l| {
                let (f, v) = l.split_once(':')?;
                (!l.starts_with(' ') && f.eq_ignore_ascii_case(name)).then(|| v.trim())
            })
        };
        if paragraph.trim().is_empty() {
            continue;
        }
        if !field("Status").is_some_and(|s| s.ends_with(" installed")) {
            continue;
        }
        let (Some(name), Some(version), Some(architecture)) =
            (field("Package"), field("Version"), field("Architecture"))
        else {
            return Err(format!(
                "paragraph {} of an installed package lacks Package, Version or Architecture",
                n + 1
            ));
        };
        let (source, source_version) = match field("Source") {
            None => (name.to_owned(), version.to_owned()),
            Some(s) => match s.split_once('(') {
                Some((src, v)) => (
                    src.trim().to_owned(),
                    v.trim_end_matches(')').trim().to_owned(),
                ),
                None => (s.to_owned(), version.to_owned()),
            },
        };
        out.push(InstalledPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            architecture: architecture.to_owned(),
            source,
            source_version,
            maintainer: field("Maintainer").map(str::to_owned),
            homepage: field("Homepage").map(str::to_owned),
            summary: field("Description")
                .map(str::to_owned)
                .filter(|s| !s.is_empty()),
        });
    }
    out.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_packages_with_their_sources() {
        let text = "Package: libssl3t64\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl (3.5.1-1+deb13u1)\nVersion: 3.5.1-1+deb13u1\nMaintainer: Debian OpenSSL Team <x@example.org>\nDescription: Secure Sockets Layer toolkit - shared libraries\n This package is part of the OpenSSL project.\nHomepage: https://www.openssl.org/\n\nPackage: dash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 0.5.12-12\n\nPackage: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1\n\nPackage: less\nStatus: install ok installed\nArchitecture: amd64\nSource: less\nVersion: 668-1\n";
        let p = parse_status(text).expect("parse");
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["dash", "less", "libssl3t64"]);
        assert_eq!(
            (p[0].source.as_str(), p[0].source_version.as_str()),
            ("dash", "0.5.12-12")
        );
        assert_eq!(
            (p[1].source.as_str(), p[1].source_version.as_str()),
            ("less", "668-1")
        );
        assert_eq!(
            (p[2].source.as_str(), p[2].source_version.as_str()),
            ("openssl", "3.5.1-1+deb13u1")
        );
        assert_eq!(
            p[2].summary.as_deref(),
            Some("Secure Sockets Layer toolkit - shared libraries")
        );
        assert_eq!(p[2].homepage.as_deref(), Some("https://www.openssl.org/"));
        let e = parse_status("Package: x\nStatus: install ok installed\n").unwrap_err();
        assert!(e.contains("paragraph 1"), "{e}");
    }
}
