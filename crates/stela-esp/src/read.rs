//! Reading an ESP: its volume label, its files depth first, a file's bytes.

use std::io::{self, Read, Seek, SeekFrom, Write};

use fatfs::{FileSystem, FsOptions};

use crate::error::EspError;
use crate::window::Window;

/// Deepest directory nesting [`EspReader::files`] follows: a damaged FAT whose
/// directory points at an ancestor would otherwise be listed forever.
pub const MAX_DIRECTORY_DEPTH: usize = 32;

/// A file found on an ESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspFile {
    /// Path from the root, `/`-separated, as the long names spell it.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
}

/// A FAT file system inside a byte range of a disk (or a whole ESP image), opened to
/// read. Reads never leave the range, and nothing is ever written: the stream is
/// wrapped so that every write fails, should fatfs try one (it only does to repair its
/// FSInfo sector).
pub struct EspReader<F: Read + Seek> {
    fs: FileSystem<ReadOnly<Window<F>>>,
}

impl<F: Read + Seek> std::fmt::Debug for EspReader<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EspReader").finish_non_exhaustive()
    }
}

impl<F: Read + Seek> EspReader<F> {
    /// Opens the FAT file system in `len` bytes of `disk` from `start` (a partition's
    /// byte range; `0` and the file size for an ESP image).
    ///
    /// [`EspError::NoFileSystem`] when the range holds no FAT file system.
    pub fn open(disk: F, start: u64, len: u64) -> Result<EspReader<F>, EspError> {
        let window = Window::new(disk, start, len).map_err(EspError::fat("seeking to the ESP"))?;
        let fs = FileSystem::new(ReadOnly(window), FsOptions::new())
            .map_err(|source| EspError::NoFileSystem { source })?;
        Ok(EspReader { fs })
    }

    /// The volume label of the boot sector, without its space padding.
    pub fn volume_label(&self) -> String {
        self.fs.volume_label().trim_end().to_owned()
    }

    /// Every file (not directory), depth first in directory order: a directory's files
    /// and subdirectories in the order of its entries, each subdirectory's contents
    /// right after its entry.
    pub fn files(&self) -> Result<Vec<EspFile>, EspError> {
        let mut files = Vec::new();
        self.walk(&self.fs.root_dir(), "", 0, &mut files)?;
        Ok(files)
    }

    fn walk(
        &self,
        dir: &fatfs::Dir<'_, ReadOnly<Window<F>>>,
        prefix: &str,
        depth: usize,
        out: &mut Vec<EspFile>,
    ) -> Result<(), EspError> {
        if depth > MAX_DIRECTORY_DEPTH {
            return Err(EspError::Fat {
                action: format!("listing /{prefix}"),
                source: io::Error::other(format!(
                    "directories nested deeper than {MAX_DIRECTORY_DEPTH}"
                )),
            });
        }
        // Files of a directory first, then its subdirectories, each in entry order:
        // the listing `stela inspect` has always printed.
        let mut subdirs = Vec::new();
        for entry in dir.iter() {
            let entry = entry.map_err(EspError::fat(format!("listing /{prefix}")))?;
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            let path = format!("{prefix}{name}");
            if entry.is_dir() {
                subdirs.push((format!("{path}/"), entry.to_dir()));
            } else {
                out.push(EspFile {
                    path,
                    size: entry.len(),
                });
            }
        }
        for (path, sub) in subdirs {
            self.walk(&sub, &path, depth + 1, out)?;
        }
        Ok(())
    }

    /// The bytes of the file at `path` (`/`-separated, names compared ignoring case, as
    /// FAT does), refusing a file larger than `max` bytes before reading it.
    pub fn read(&self, path: &str, max: u64) -> Result<Vec<u8>, EspError> {
        let mut file = self
            .fs
            .root_dir()
            .open_file(path)
            .map_err(EspError::fat(format!("opening {path}")))?;
        let size = file
            .seek(SeekFrom::End(0))
            .and_then(|size| file.seek(SeekFrom::Start(0)).map(|_| size))
            .map_err(EspError::fat(format!("sizing {path}")))?;
        if size > max {
            return Err(EspError::FileTooLarge {
                path: path.to_owned(),
                size,
                max,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.read_to_end(&mut bytes)
            .map_err(EspError::fat(format!("reading {path}")))?;
        Ok(bytes)
    }
}

/// A stream whose writes fail: a reader must leave the image as it found it.
struct ReadOnly<F>(F);

impl<F: Read> Read for ReadOnly<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<F: Seek> Seek for ReadOnly<F> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}

impl<F> Write for ReadOnly<F> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the ESP is opened to read only",
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EspBuilder;

    fn image() -> Vec<u8> {
        let plan = EspBuilder::new(64 << 20)
            .label("TESTESP")
            .bytes("EFI/BOOT/BOOTX64.EFI", vec![1u8; 5000])
            .bytes("loader/loader.conf", "timeout 0\n")
            .bytes("loader/keys/auto/db.auth", vec![2u8; 10])
            .bytes("README", "top")
            .plan()
            .expect("plan");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("esp.img");
        plan.write_to_path(&path).expect("write");
        std::fs::read(&path).expect("read")
    }

    #[test]
    fn lists_reads_and_labels_what_the_builder_wrote() {
        let bytes = image();
        // Inside a larger "disk", at an offset: the window bounds every read.
        let mut disk = vec![0xffu8; 4096];
        disk.extend_from_slice(&bytes);
        disk.extend_from_slice(&[0xff; 4096]);
        let esp = EspReader::open(io::Cursor::new(disk), 4096, bytes.len() as u64).expect("open");
        assert_eq!(esp.volume_label(), "TESTESP");
        let files: Vec<(String, u64)> = esp
            .files()
            .expect("files")
            .into_iter()
            .map(|f| (f.path, f.size))
            .collect();
        let mut sorted = files.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                ("EFI/BOOT/BOOTX64.EFI".to_owned(), 5000),
                ("README".to_owned(), 3),
                ("loader/keys/auto/db.auth".to_owned(), 10),
                ("loader/loader.conf".to_owned(), 10),
            ]
        );
        // Depth first: a directory's contents follow each other.
        let pos = |p: &str| files.iter().position(|f| f.0 == p).expect(p);
        assert_eq!(
            pos("loader/keys/auto/db.auth"),
            pos("loader/loader.conf") + 1
        );
        assert_eq!(
            esp.read("LOADER/Loader.conf", 100).expect("read"),
            b"timeout 0\n"
        );
        assert!(matches!(
            esp.read("EFI/BOOT/BOOTX64.EFI", 4999),
            Err(EspError::FileTooLarge {
                size: 5000,
                max: 4999,
                ..
            })
        ));
        assert!(matches!(
            esp.read("missing", 10),
            Err(EspError::Fat { ref action, .. }) if action == "opening missing"
        ));
    }

    #[test]
    fn zeros_are_no_file_system() {
        let err = EspReader::open(io::Cursor::new(vec![0u8; 1 << 20]), 0, 1 << 20).unwrap_err();
        assert!(matches!(err, EspError::NoFileSystem { .. }), "{err}");
    }
}
