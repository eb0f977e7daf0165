//! Changing files on an existing ESP inside a disk image: what the update agent does to an
//! image that is not running (a running machine changes its mounted ESP through the
//! kernel instead, never behind its back).

use std::io::{self, Read, Seek, Write};

use fatfs::{FileSystem, FsOptions};

use crate::error::EspError;
use crate::window::Window;

/// Suffix of a file while it is written: systemd-boot ignores names that do not end in
/// `.efi` or `.conf`, so a half-written UKI is never offered.
pub const PARTIAL_SUFFIX: &str = ".stela-partial";

/// A FAT file system inside a byte range of a disk, opened to change files.
pub struct EspEditor<F: Read + Write + Seek> {
    fs: FileSystem<Window<F>>,
}

impl<F: Read + Write + Seek> std::fmt::Debug for EspEditor<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspEditor").finish_non_exhaustive()
    }
}

impl<F: Read + Write + Seek> EspEditor<F> {
    /// Open the FAT file system in `len` bytes of `disk` from `start`.
    pub fn open(disk: F, start: u64, len: u64) -> Result<EspEditor<F>, EspError> {
        let window = Window::new(disk, start, len).map_err(EspError::fat("seeking to the ESP"))?;
        let fs = FileSystem::new(window, FsOptions::new())
            .map_err(|source| EspError::NoFileSystem { source })?;
        Ok(EspEditor { fs })
    }

    /// Write `bytes` to `path` (`/`-separated, directories made as needed): first under
    /// `path` + [`PARTIAL_SUFFIX`], then renamed to `path`, replacing a file there.
    pub fn put(&mut self, path: &str, bytes: &[u8]) -> Result<(), EspError> {
        let (dir_path, name) = split(path)?;
        let root = self.fs.root_dir();
        let mut dir = root.clone();
        for part in dir_path.split('/').filter(|p| !p.is_empty()) {
            dir = match dir.open_dir(part) {
                Ok(d) => d,
                Err(_) => dir.create_dir(part).map_err(EspError::fat(format!(
                    "creating the ESP directory {part} of {path}"
                )))?,
            };
        }
        let partial = format!("{name}{PARTIAL_SUFFIX}");
        let _ = dir.remove(&partial);
        let mut f = dir.create_file(&partial).map_err(EspError::fat(format!(
            "creating {path}{PARTIAL_SUFFIX} on the ESP"
        )))?;
        f.truncate()
            .and_then(|()| f.write_all(bytes))
            .and_then(|()| f.flush())
            .map_err(|e| match e.kind() {
                io::ErrorKind::WriteZero | io::ErrorKind::StorageFull => EspError::Fat {
                    action: format!("writing {path} ({} bytes): the ESP is full", bytes.len()),
                    source: e,
                },
                _ => EspError::Fat {
                    action: format!("writing {path} on the ESP"),
                    source: e,
                },
            })?;
        drop(f);
        if dir.open_file(name).is_ok() {
            dir.remove(name)
                .map_err(EspError::fat(format!("replacing {path} on the ESP")))?;
        }
        dir.rename(&partial, &dir, name)
            .map_err(EspError::fat(format!(
                "renaming {path}{PARTIAL_SUFFIX} to {path}"
            )))?;
        Ok(())
    }

    /// Remove the file `path`; `false` when there was none.
    pub fn remove(&mut self, path: &str) -> Result<bool, EspError> {
        let (dir_path, name) = split(path)?;
        let mut dir = self.fs.root_dir();
        for part in dir_path.split('/').filter(|p| !p.is_empty()) {
            match dir.open_dir(part) {
                Ok(d) => dir = d,
                Err(_) => return Ok(false),
            }
        }
        if dir.open_file(name).is_err() {
            return Ok(false);
        }
        dir.remove(name)
            .map_err(EspError::fat(format!("removing {path} from the ESP")))?;
        Ok(true)
    }

    /// Write every change out and close the file system.
    pub fn finish(self) -> Result<(), EspError> {
        self.fs
            .unmount()
            .map_err(EspError::fat("writing the ESP's file allocation tables"))
    }
}

fn split(path: &str) -> Result<(&str, &str), EspError> {
    let p = path.trim_start_matches('/');
    let (dir, name) = p.rsplit_once('/').unwrap_or(("", p));
    if name.is_empty() {
        return Err(EspError::InvalidPath {
            path: path.to_owned(),
            reason: "names no file".to_owned(),
        });
    }
    Ok((dir, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EspBuilder, EspReader};

    #[test]
    fn files_are_put_replaced_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("esp.img");
        EspBuilder::new(64 << 20)
            .bytes("EFI/Linux/demo_1+3.efi", b"one".to_vec())
            .plan()
            .unwrap()
            .write_to_path(&img)
            .unwrap();
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&img)
                .unwrap()
        };
        let mut e = EspEditor::open(open(), 0, 64 << 20).unwrap();
        e.put("EFI/Linux/demo_2+3.efi", b"two").unwrap();
        e.put("EFI/Linux/demo_1+3.efi", b"one again").unwrap();
        e.put("new/dir/file.conf", b"x").unwrap();
        assert!(e.remove("loader/none.conf").is_ok_and(|r| !r));
        e.finish().unwrap();
        let r = EspReader::open(std::fs::File::open(&img).unwrap(), 0, 64 << 20).unwrap();
        assert_eq!(r.read("EFI/Linux/demo_2+3.efi", 100).unwrap(), b"two");
        assert_eq!(r.read("EFI/Linux/demo_1+3.efi", 100).unwrap(), b"one again");
        assert_eq!(r.read("new/dir/file.conf", 100).unwrap(), b"x");
        let names: Vec<String> = r.files().unwrap().into_iter().map(|f| f.path).collect();
        assert!(
            !names.iter().any(|n| n.ends_with(PARTIAL_SUFFIX)),
            "{names:?}"
        );
        drop(r);
        let mut e = EspEditor::open(open(), 0, 64 << 20).unwrap();
        assert!(e.remove("EFI/Linux/demo_1+3.efi").unwrap());
        e.finish().unwrap();
        let r = EspReader::open(std::fs::File::open(&img).unwrap(), 0, 64 << 20).unwrap();
        assert!(r.read("EFI/Linux/demo_1+3.efi", 100).is_err());
    }
}
