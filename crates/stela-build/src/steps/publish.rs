//! Moving the staged outputs into place, without ever touching a directory stela did not
//! make.
//!
//! Every output directory carries [`MARKER`]. `--out` may name a directory that does not
//! exist, an empty one, or one with the marker (a previous build's outputs, replaced
//! whole); any other existing path is refused before the build starts, so
//! `stela build --out ~` or `--out .` cannot delete a user's files.

use std::path::{Path, PathBuf};

/// The file that marks a directory as `stela build` output.
pub const MARKER: &str = ".stela-build-output";

const MARKER_TEXT: &str = "This directory holds the outputs of `stela build`.\n\
The next `stela build --out` naming it replaces the whole directory.\n";

/// Why the outputs could not be put in place.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// `--out` names something other than a directory.
    #[error("--out {0}: exists and is not a directory; name a new or empty directory")]
    NotADirectory(PathBuf),
    /// `--out` names a non-empty directory that is not a previous build's output.
    #[error(
        "--out {0}: the directory is not empty and holds no {MARKER} (it was not made by \
         `stela build`); stela replaces only its own output directories: name a new or \
         empty directory"
    )]
    NotOurs(PathBuf),
    /// Reading or changing the file system failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The previous outputs were moved aside but the new ones could not take their place,
    /// and moving the old ones back failed too.
    #[error(
        "the new outputs could not be moved to {out} ({source}); the previous outputs are \
         in {old} and the new ones in {staged}"
    )]
    Stranded {
        /// The `--out` directory.
        out: PathBuf,
        /// Where the previous outputs are now.
        old: PathBuf,
        /// Where the new outputs are.
        staged: PathBuf,
        /// Why the rename failed.
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> OutputError + 'a {
    move |source| OutputError::Io {
        what,
        path: path.to_owned(),
        source,
    }
}

/// What is at `--out` now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutState {
    /// Nothing: the outputs will be renamed there.
    Absent,
    /// An empty directory.
    Empty,
    /// A previous build's outputs (the directory has [`MARKER`]).
    Previous,
}

/// Check that `out` may receive the outputs; call before the build starts so that a bad
/// `--out` is refused at once.
pub fn check_out(out: &Path) -> Result<OutState, OutputError> {
    let meta = match std::fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(OutState::Absent),
        Err(e) => return Err(io("reading", out)(e)),
    };
    if !meta.is_dir() {
        return Err(OutputError::NotADirectory(out.to_owned()));
    }
    if out.join(MARKER).is_file() {
        return Ok(OutState::Previous);
    }
    let mut entries = std::fs::read_dir(out).map_err(io("listing", out))?;
    match entries.next() {
        None => Ok(OutState::Empty),
        Some(_) => Err(OutputError::NotOurs(out.to_owned())),
    }
}

/// Mark a staging directory as stela's output.
pub fn mark(stage: &Path) -> Result<(), OutputError> {
    let path = stage.join(MARKER);
    std::fs::write(&path, MARKER_TEXT).map_err(io("writing", &path))
}

/// Replace `out` with the staged directory: the old outputs stay until the new ones are
/// complete, then the staged directory is renamed over. `out` is checked again here (it
/// may have changed while the build ran).
pub fn replace_dir(stage: tempfile::TempDir, out: &Path) -> Result<(), OutputError> {
    let state = check_out(out)?;
    mark(stage.path())?;
    match state {
        OutState::Absent => {
            let staged = stage.keep();
            std::fs::rename(&staged, out).map_err(io("moving the new outputs to", out))
        }
        OutState::Empty => {
            // rename(2) replaces an empty directory atomically.
            let staged = stage.keep();
            std::fs::rename(&staged, out).map_err(io("moving the new outputs to", out))
        }
        OutState::Previous => {
            let name = out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "out".into());
            let old = out.with_file_name(format!(".{name}.old-{}", std::process::id()));
            std::fs::rename(out, &old).map_err(io("moving the previous outputs aside", out))?;
            let staged = stage.keep();
            if let Err(source) = std::fs::rename(&staged, out) {
                return match std::fs::rename(&old, out) {
                    Ok(()) => Err(OutputError::Io {
                        what: "moving the new outputs (now in the cache's staging directory) to",
                        path: out.to_owned(),
                        source,
                    }),
                    Err(_) => Err(OutputError::Stranded {
                        out: out.to_owned(),
                        old,
                        staged,
                        source,
                    }),
                };
            }
            // Only a directory that carried the marker is removed.
            std::fs::remove_dir_all(&old).map_err(io("removing the previous outputs", &old))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage_in(dir: &Path) -> tempfile::TempDir {
        let stage = tempfile::Builder::new()
            .prefix(".stela-build-")
            .tempdir_in(dir)
            .expect("staging directory");
        std::fs::write(stage.path().join("image.raw"), b"new").expect("staged file");
        stage
    }

    #[test]
    fn a_new_or_empty_directory_receives_the_outputs_with_the_marker() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let out = tmp.path().join("out");
        replace_dir(stage_in(tmp.path()), &out).expect("absent");
        assert!(out.join(MARKER).is_file());
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        assert_eq!(check_out(&empty).ok(), Some(OutState::Empty));
        replace_dir(stage_in(tmp.path()), &empty).expect("empty");
        assert_eq!(
            std::fs::read(empty.join("image.raw")).ok(),
            Some(b"new".to_vec())
        );
    }

    #[test]
    fn previous_outputs_are_replaced_whole() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let out = tmp.path().join("out");
        replace_dir(stage_in(tmp.path()), &out).expect("first");
        std::fs::write(out.join("stale.efi"), b"old").expect("stale file");
        assert_eq!(check_out(&out).ok(), Some(OutState::Previous));
        replace_dir(stage_in(tmp.path()), &out).expect("second");
        assert!(!out.join("stale.efi").exists());
        assert!(out.join(MARKER).is_file());
        let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .filter(|n| n != "out")
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_directory_stela_did_not_make_is_never_touched() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        std::fs::create_dir(&home).expect("mkdir");
        std::fs::write(home.join("thesis.tex"), b"years of work").expect("user file");
        let err = replace_dir(stage_in(tmp.path()), &home).expect_err("must refuse");
        assert!(
            matches!(&err, OutputError::NotOurs(p) if p == &home),
            "{err}"
        );
        assert!(err.to_string().contains(&home.display().to_string()));
        assert_eq!(
            std::fs::read(home.join("thesis.tex")).ok(),
            Some(b"years of work".to_vec())
        );
        let file = home.join("thesis.tex");
        assert!(matches!(
            check_out(&file),
            Err(OutputError::NotADirectory(_))
        ));
    }
}
