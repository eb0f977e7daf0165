//! The crates a binary is built from, as its workspace's `Cargo.lock` records them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::SbomError;

/// A crate from a registry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Crate {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of its `.crate` file, from the lock file.
    pub checksum: Option<String>,
}

/// The registry crates reachable from package `root` in the lock file `lock` (its
/// dependencies of every kind: a lock file does not say which are only for tests or
/// build scripts, so this is a superset of what the binary links), sorted.
pub fn crates_of(lock: &str, root: &str) -> Result<Vec<Crate>, SbomError> {
    let doc: toml::Table = toml::from_str(lock).map_err(|e| SbomError::Lock(e.to_string()))?;
    let packages = doc
        .get("package")
        .and_then(|p| p.as_array())
        .ok_or_else(|| SbomError::Lock("no [[package]] entries".into()))?;
    // name -> [(version, source?, checksum?, dependencies)]
    type Entry = (String, bool, Option<String>, Vec<String>);
    let mut by_name: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for p in packages {
        let p: Value = serde_json::to_value(p).map_err(|e| SbomError::Lock(e.to_string()))?;
        let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        let (Some(name), Some(version)) = (s("name"), s("version")) else {
            return Err(SbomError::Lock("a package without name or version".into()));
        };
        let deps = p
            .get("dependencies")
            .and_then(Value::as_array)
            .map(|d| {
                d.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        by_name.entry(name).or_default().push((
            version,
            s("source").is_some(),
            s("checksum"),
            deps,
        ));
    }
    let find = |spec: &str| -> Option<(String, &Entry)> {
        // "name", "name version" or "name version (source)".
        let mut words = spec.split_whitespace();
        let name = words.next()?;
        let version = words.next();
        let entries = by_name.get(name)?;
        let e = match version {
            Some(v) => entries.iter().find(|e| e.0 == v)?,
            None => entries.first()?,
        };
        Some((name.to_owned(), e))
    };
    if !by_name.contains_key(root) {
        return Err(SbomError::Lock(format!("no package {root}")));
    }
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut out = BTreeSet::new();
    let mut todo = vec![root.to_owned()];
    while let Some(spec) = todo.pop() {
        let Some((name, e)) = find(&spec) else {
            return Err(SbomError::Lock(format!(
                "dependency {spec:?} is not in the lock file"
            )));
        };
        if !seen.insert((name.clone(), e.0.clone())) {
            continue;
        }
        if e.1 {
            out.insert(Crate {
                name,
                version: e.0.clone(),
                checksum: e.2.clone(),
            });
        }
        todo.extend(e.3.iter().cloned());
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachable_registry_crates_with_their_checksums() {
        let lock = r#"
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["lib", "serde 1.0.1"]

[[package]]
name = "lib"
version = "0.1.0"
dependencies = ["serde 1.0.2"]

[[package]]
name = "serde"
version = "1.0.1"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "aa"

[[package]]
name = "serde"
version = "1.0.2"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "bb"

[[package]]
name = "unused"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "cc"
"#;
        let c = crates_of(lock, "app").expect("crates");
        let got: Vec<(&str, &str, Option<&str>)> = c
            .iter()
            .map(|c| (c.name.as_str(), c.version.as_str(), c.checksum.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("serde", "1.0.1", Some("aa")),
                ("serde", "1.0.2", Some("bb"))
            ]
        );
        assert!(crates_of(lock, "nope").is_err());
    }

    #[test]
    fn stela_s_own_lock_file() {
        let lock = include_str!("../../../Cargo.lock");
        let c = crates_of(lock, "stela-cli").expect("crates");
        assert!(c.iter().any(|c| c.name == "tough"), "{c:?}");
        assert!(c
            .iter()
            .all(|c| c.checksum.as_ref().is_some_and(|s| s.len() == 64)));
    }
}
