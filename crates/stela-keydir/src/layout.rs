//! Where each file of a key directory lives.

use std::path::{Path, PathBuf};

use stela_efivars::SecureBootVariable;

use crate::KeyDirError;

/// The three keys of a set, in order of authority (dbx has no key of its own).
pub const ROLES: [SecureBootVariable; 3] = [
    SecureBootVariable::Pk,
    SecureBootVariable::Kek,
    SecureBootVariable::Db,
];

/// The directory, relative to the key directory, that holds one `<name>/` directory of
/// `.auth` files per key set: systemd-boot's `loader/keys/` on the ESP.
pub const ENROLMENT_ROOT: &str = "loader/keys";

/// The five files each key has in the directory, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFile {
    /// `<role>.key`: the private key, PKCS#8 PEM.
    Key,
    /// `<role>.crt`: the certificate, PEM.
    Crt,
    /// `<role>.cer`: the certificate, DER (firmware setup menus take it).
    Cer,
    /// `<role>.esl`: an `EFI_SIGNATURE_LIST` holding the certificate.
    Esl,
    /// `<role>.auth`: the signed update that writes the `.esl` into the variable.
    Auth,
}

impl KeyFile {
    /// All five, in the order they are written.
    pub const ALL: [KeyFile; 5] = [Self::Key, Self::Crt, Self::Cer, Self::Esl, Self::Auth];

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Key => "key",
            Self::Crt => "crt",
            Self::Cer => "cer",
            Self::Esl => "esl",
            Self::Auth => "auth",
        }
    }

    /// The file mode: private keys are readable by their owner only.
    pub fn mode(self) -> u32 {
        match self {
            Self::Key => 0o600,
            _ => 0o644,
        }
    }

    /// The file name for `role`, e.g. `KEK.auth`.
    pub fn name(self, role: SecureBootVariable) -> String {
        format!("{}.{}", role.name(), self.extension())
    }
}

/// Lowercase ASCII letters and digits, runs of anything else as one `-`: the `<name>` of
/// `loader/keys/<name>/` made from a common name.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// A key directory: a path, and the knowledge of what is in it. Nothing is read until a
/// method asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDir {
    path: PathBuf,
}

impl KeyDir {
    /// The key directory at `path` (which need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of one file of one key, e.g. `DIR/db.crt`.
    pub fn file(&self, role: SecureBootVariable, kind: KeyFile) -> PathBuf {
        self.path.join(kind.name(role))
    }

    /// `DIR/loader/keys`.
    pub fn enrolment_root(&self) -> PathBuf {
        self.path.join(ENROLMENT_ROOT)
    }

    /// The `loader/keys/<name>/` directories, sorted.
    pub fn enrolment_dirs(&self) -> Result<Vec<PathBuf>, KeyDirError> {
        let root = self.enrolment_root();
        if !root.is_dir() {
            return Ok(Vec::new());
        }
        let inspect = |source| KeyDirError::Inspect {
            path: root.clone(),
            source,
        };
        let mut dirs = Vec::new();
        for entry in std::fs::read_dir(&root).map_err(inspect)? {
            let path = entry.map_err(inspect)?.path();
            if path.is_dir() {
                dirs.push(path);
            }
        }
        dirs.sort();
        Ok(dirs)
    }

    /// The signature list and update files that exist, each with its variable: `DIR`'s
    /// `.esl` and `.auth` files of PK, KEK, db and dbx, then those of every
    /// `loader/keys/<name>/`. For `stela keys show`, which also reads partial directories.
    pub fn variable_files(&self) -> Result<Vec<(PathBuf, SecureBootVariable)>, KeyDirError> {
        let mut files = Vec::new();
        for var in SecureBootVariable::ALL {
            for kind in [KeyFile::Esl, KeyFile::Auth] {
                let p = self.file(var, kind);
                if p.is_file() {
                    files.push((p, var));
                }
            }
        }
        for dir in self.enrolment_dirs()? {
            for var in SecureBootVariable::ALL {
                let p = dir.join(KeyFile::Auth.name(var));
                if p.is_file() {
                    files.push((p, var));
                }
            }
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        for (name, slug) in [
            ("stela", "stela"),
            ("Example Corp.", "example-corp"),
            ("  --ACME  fleet 2 ", "acme-fleet-2"),
            ("ÄÖ", ""),
        ] {
            assert_eq!(slugify(name), slug, "{name:?}");
        }
    }

    #[test]
    fn file_names_follow_the_variable_names() {
        let dir = KeyDir::new("/k");
        assert_eq!(
            dir.file(SecureBootVariable::Kek, KeyFile::Auth),
            Path::new("/k/KEK.auth")
        );
        assert_eq!(KeyFile::Key.name(SecureBootVariable::Db), "db.key");
        assert_eq!(KeyFile::Key.mode(), 0o600);
        assert_eq!(dir.enrolment_root(), Path::new("/k/loader/keys"));
    }
}
