//! Paths: inside the image (absolute, under `/usr` or `/etc`) and on the build host
//! (relative to the recipe file).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use crate::error::InvalidValue;
use crate::names::string_newtype;

/// Top-level directories an image carries. Everything else lives on the root partition,
/// which systemd-repart creates empty at first boot; `/etc` is copied to
/// `/usr/share/factory/etc` by the build and restored from there by tmpfiles.
pub const IMAGE_TOP_DIRS: [&str; 2] = ["usr", "etc"];

string_newtype! {
    /// An absolute, normalised path of a file in the image, under `/usr` or `/etc`: no
    /// `.` or `..` components, no empty components, no trailing `/`.
    ImagePath
}

impl ImagePath {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<Self, InvalidValue> {
        let bad = |why: &str| Err(InvalidValue(format!("{s:?} {why}")));
        let Some(rest) = s.strip_prefix('/') else {
            return bad("is not an absolute path");
        };
        if s.chars().any(char::is_control) {
            return bad("contains a control character");
        }
        let parts: Vec<&str> = rest.split('/').collect();
        if parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
        {
            return bad("is not a normalised path (empty, '.' or '..' component, or trailing '/')");
        }
        if parts.len() < 2 || !IMAGE_TOP_DIRS.contains(&parts[0]) {
            return bad(
                "is not under /usr or /etc: the image carries only those (the root \
                 partition is created empty at first boot)",
            );
        }
        Ok(ImagePath(s.to_owned()))
    }
}

/// A path on the build host as the recipe wrote it, relative to the recipe's directory,
/// and resolved against that directory.
///
/// Cache keys use the written form, so that moving a checkout keeps its cache; the build
/// hashes the contents.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPath {
    written: String,
    resolved: PathBuf,
}

impl HostPath {
    /// Checks `s` and resolves it against `base` (the recipe file's directory).
    pub fn parse(s: &str, base: &Path) -> Result<Self, InvalidValue> {
        if s.is_empty() {
            return Err(InvalidValue("the path is empty".into()));
        }
        if s.contains('\0') {
            return Err(InvalidValue(format!("{s:?} contains a NUL byte")));
        }
        if Path::new(s).is_absolute() {
            return Err(InvalidValue(format!(
                "{s:?} is absolute; write it relative to the recipe file so the recipe can move"
            )));
        }
        Ok(HostPath {
            written: s.to_owned(),
            resolved: base.join(s),
        })
    }

    /// The path as the recipe wrote it.
    pub fn as_written(&self) -> &str {
        &self.written
    }

    /// The path resolved against the recipe's directory.
    pub fn resolved(&self) -> &Path {
        &self.resolved
    }
}

impl Serialize for HostPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.written)
    }
}

impl fmt::Display for HostPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

/// Permission bits of a file in the image (at most `0o7777`), written in TOML as an octal
/// integer: `mode = 0o644`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct FileMode(u32);

impl FileMode {
    /// `0o644`, the mode of a file whose entry gives none.
    pub const DEFAULT: FileMode = FileMode(0o644);

    /// Checks `mode`.
    pub fn new(mode: i64) -> Result<Self, InvalidValue> {
        match u32::try_from(mode) {
            Ok(m) if m <= 0o7777 => Ok(FileMode(m)),
            _ => Err(InvalidValue(format!(
                "{mode:#o} is not a file mode (0o0 to 0o7777; write it in octal, e.g. 0o644)"
            ))),
        }
    }

    /// The permission bits.
    pub fn bits(self) -> u32 {
        self.0
    }
}

impl fmt::Display for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#05o}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths() {
        for good in [
            "/etc/motd",
            "/usr/lib/foo/bar.conf",
            "/etc/systemd/network/80.network",
        ] {
            assert!(ImagePath::parse(good).is_ok(), "{good}");
        }
        for (bad, says) in [
            ("etc/motd", "absolute"),
            ("/etc/../root/x", "normalised"),
            ("/etc//x", "normalised"),
            ("/etc/x/", "normalised"),
            ("/etc", "not under"),
            ("/var/lib/x", "not under"),
            ("/opt/x", "not under"),
            ("/etc/a\nb", "control"),
        ] {
            let err = ImagePath::parse(bad).err().map(|e| e.0).unwrap_or_default();
            assert!(err.contains(says), "{bad:?}: {err}");
        }
    }

    #[test]
    fn host_paths_resolve_against_the_recipe() {
        let p = HostPath::parse("files/motd", Path::new("/src/recipes"));
        assert_eq!(
            p.as_ref().map(HostPath::resolved),
            Ok(Path::new("/src/recipes/files/motd"))
        );
        assert!(HostPath::parse("/etc/passwd", Path::new("/x")).is_err());
    }

    #[test]
    fn modes() {
        assert_eq!(FileMode::new(0o755).map(FileMode::bits), Ok(0o755));
        assert_eq!(FileMode::DEFAULT.to_string(), "0o644");
        assert!(FileMode::new(0o10000).is_err());
        assert!(FileMode::new(-1).is_err());
    }
}
