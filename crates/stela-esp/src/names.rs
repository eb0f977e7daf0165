//! Volume labels and paths inside the ESP, validated once.

use crate::error::EspError;

/// A FAT volume label: at most 11 characters, stored space-padded in the boot sector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VolumeLabel([u8; 11]);

impl VolumeLabel {
    /// Validates `label`: 1 to 11 characters among upper-case ASCII letters, digits, space
    /// and `! # $ % & ' ( ) - @ ^ _ { } ~` (what DOS allows in short names, less `.`).
    /// Lower case is refused rather than changed: FAT stores labels in upper case.
    pub fn new(label: &str) -> Result<VolumeLabel, EspError> {
        let invalid = |reason: String| EspError::InvalidLabel {
            label: label.to_owned(),
            reason,
        };
        if label.is_empty() {
            return Err(invalid("is empty".into()));
        }
        if label.len() > 11 || label.chars().count() > 11 {
            return Err(invalid(format!(
                "has {} characters, at most 11 fit",
                label.chars().count()
            )));
        }
        if let Some(c) = label.chars().find(|&c| {
            !(c.is_ascii_uppercase() || c.is_ascii_digit() || " !#$%&'()-@^_{}~".contains(c))
        }) {
            let hint = if c.is_ascii_lowercase() {
                " (FAT labels are upper case)"
            } else {
                ""
            };
            return Err(invalid(format!("character {c:?} is not allowed{hint}")));
        }
        if label.starts_with(' ') {
            return Err(invalid("starts with a space".into()));
        }
        let mut bytes = [b' '; 11];
        bytes[..label.len()].copy_from_slice(label.as_bytes());
        Ok(VolumeLabel(bytes))
    }

    /// The 11 space-padded bytes.
    pub fn as_bytes(&self) -> [u8; 11] {
        self.0
    }

    /// The label without padding.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0)
            .map(str::trim_end)
            .unwrap_or("")
    }
}

/// Longest long file name, in UTF-16 code units.
const MAX_NAME_UNITS: usize = 255;

/// Validates a path inside the ESP and returns its components.
///
/// Components are separated by `/`, none empty, `.` or `..`, none with a character
/// long file names forbid (`"*/:<>?\|` and control characters), and none ending in a
/// space or dot (Windows and fsck.fat drop those).
pub(crate) fn path_components(path: &str) -> Result<Vec<&str>, EspError> {
    let invalid = |reason: String| EspError::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    if path.is_empty() {
        return Err(invalid("is empty".into()));
    }
    let mut components = Vec::new();
    for name in path.split('/') {
        match name {
            "" => {
                return Err(invalid(
                    "has an empty component (leading, trailing or double /)".into(),
                ))
            }
            "." | ".." => return Err(invalid(format!("has a {name:?} component"))),
            _ => {}
        }
        if let Some(c) = name
            .chars()
            .find(|&c| c.is_control() || "\"*:<>?\\|".contains(c))
        {
            return Err(invalid(format!(
                "character {c:?} is not allowed in FAT names"
            )));
        }
        if name.ends_with(' ') || name.ends_with('.') {
            return Err(invalid(format!(
                "component {name:?} ends with a space or dot"
            )));
        }
        if name.encode_utf16().count() > MAX_NAME_UNITS {
            return Err(invalid(format!(
                "component is longer than {MAX_NAME_UNITS} UTF-16 code units"
            )));
        }
        components.push(name);
    }
    Ok(components)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_validated() {
        assert_eq!(VolumeLabel::new("ESP").unwrap().as_bytes(), *b"ESP        ");
        assert_eq!(
            VolumeLabel::new("STELA_ESP01").unwrap().as_str(),
            "STELA_ESP01"
        );
        for (bad, reason) in [
            ("", "empty"),
            ("ABCDEFGHIJKL", "12 characters"),
            ("esp", "upper case"),
            ("A.B", "'.'"),
            (" A", "space"),
            ("ÄSP", "'Ä'"),
        ] {
            let err = VolumeLabel::new(bad).unwrap_err().to_string();
            assert!(
                err.contains(reason) && err.contains(&format!("{bad:?}")),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn paths_are_validated() {
        assert_eq!(
            path_components("EFI/BOOT/BOOTX64.EFI").unwrap(),
            ["EFI", "BOOT", "BOOTX64.EFI"]
        );
        assert_eq!(path_components("loader/entries/a b.conf").unwrap().len(), 3);
        for bad in [
            "", "/EFI", "EFI/", "EFI//X", "EFI/../X", "A/./B", "a:b", "x?", "name.", "name ",
            "t\tab",
        ] {
            let err = path_components(bad).unwrap_err();
            assert!(
                matches!(err, EspError::InvalidPath { ref path, .. } if path == bad),
                "{bad:?}: {err}"
            );
        }
    }
}
