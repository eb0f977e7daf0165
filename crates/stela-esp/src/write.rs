//! Writing a planned ESP with fatfs.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

use fatfs::{
    Date, DateTime, FatType, FileSystem, FormatVolumeOptions, FsOptions, Time, TimeProvider,
};
use fscommon::BufStream;
use tempfile::NamedTempFile;

use crate::error::EspError;
use crate::plan::{EspPlan, PlannedFile, Source, SECTOR_SIZE};
use crate::window::Window;

/// Every timestamp in the image: 1980-01-01 00:00:00, the FAT epoch. A build clock in
/// the image would make two builds of the same input differ.
#[derive(Debug)]
struct FatEpoch;

const FAT_EPOCH_DATE: Date = Date {
    year: 1980,
    month: 1,
    day: 1,
};

impl TimeProvider for FatEpoch {
    fn get_current_date(&self) -> Date {
        FAT_EPOCH_DATE
    }
    fn get_current_date_time(&self) -> DateTime {
        DateTime {
            date: FAT_EPOCH_DATE,
            time: Time {
                hour: 0,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    }
}

static FAT_EPOCH: FatEpoch = FatEpoch;

impl EspPlan {
    /// Writes the ESP image to `path`: into a sparse temporary file beside it, renamed
    /// into place once complete (no partial image on failure).
    pub fn write_to_path(&self, path: &Path) -> Result<(), EspError> {
        let out_err = |action, path: &Path| {
            let path = path.to_owned();
            move |source| EspError::Output {
                action,
                path,
                source,
            }
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut tmp =
            NamedTempFile::new_in(dir).map_err(out_err("creating a temporary file for", path))?;
        tmp.as_file()
            .set_len(self.size)
            .map_err(out_err("sizing the temporary file for", path))?;
        self.write_into(tmp.as_file_mut(), 0)?;
        tmp.as_file().sync_all().map_err(out_err("syncing", path))?;
        tmp.persist(path)
            .map_err(|e| e.error)
            .map_err(out_err("renaming the image to", path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(out_err("syncing the directory", dir))
    }

    /// Formats and fills the region `offset..offset + size` of `disk` (e.g. the ESP
    /// partition of a GPT image). Unused clusters keep the bytes the region had: zeros
    /// in a freshly sized image file.
    pub fn write_into<F: Read + Write + Seek>(&self, disk: F, offset: u64) -> Result<(), EspError> {
        let window = Window::new(disk, offset, self.size)
            .map_err(EspError::fat("seeking to the ESP region"))?;
        let mut stream = BufStream::new(window);
        let options = FormatVolumeOptions::new()
            .fat_type(FatType::Fat32)
            .bytes_per_sector(SECTOR_SIZE as u16)
            .bytes_per_cluster(self.geometry.bytes_per_cluster)
            .total_sectors((self.size / SECTOR_SIZE) as u32)
            .volume_id(self.volume_id)
            .volume_label(self.label.as_bytes());
        fatfs::format_volume(&mut stream, options)
            .map_err(EspError::fat("formatting the FAT32 file system"))?;
        stream
            .seek(io::SeekFrom::Start(0))
            .map_err(EspError::fat("seeking to the boot sector"))?;

        let fs = FileSystem::new(
            &mut stream,
            FsOptions::new()
                .time_provider(&FAT_EPOCH)
                .update_accessed_date(false),
        )
        .map_err(EspError::fat("opening the new file system"))?;
        let stats = fs
            .stats()
            .map_err(EspError::fat("reading the file system statistics"))?;
        if fs.fat_type() != FatType::Fat32 || stats.total_clusters() != self.geometry.clusters {
            return Err(EspError::NotFat32 {
                found: format!("{:?} ({} clusters)", fs.fat_type(), stats.total_clusters()),
                clusters: self.geometry.clusters,
            });
        }
        let root = fs.root_dir();
        for dir in &self.directories {
            root.create_dir(dir)
                .map_err(EspError::fat(format!("creating directory {dir}")))?;
        }
        for file in &self.files {
            write_file(&fs, file, self.size)?;
        }
        drop(root);
        fs.unmount()
            .map_err(EspError::fat("unmounting the file system"))?;
        crate::fixup::fix_directories(&mut stream)
            .map_err(EspError::fat("repairing the directories' dot entries"))?;
        stream.flush().map_err(EspError::fat("flushing the ESP"))
    }
}

fn write_file<T: fatfs::ReadWriteSeek>(
    fs: &FileSystem<T>,
    file: &PlannedFile,
    image_size: u64,
) -> Result<(), EspError> {
    let path = &file.path;
    // Checked again against the real free space, which the plan only estimated.
    let stats = fs
        .stats()
        .map_err(EspError::fat("reading the file system statistics"))?;
    let cluster = u64::from(stats.cluster_size());
    let free = u64::from(stats.free_clusters()) * cluster;
    if file.len.div_ceil(cluster) * cluster > free {
        return Err(EspError::FileDoesNotFit {
            path: path.clone(),
            size: file.len,
            free,
            image_size,
        });
    }
    let mut out = fs
        .root_dir()
        .create_file(path)
        .map_err(EspError::fat(format!("creating {path}")))?;
    out.truncate()
        .map_err(EspError::fat(format!("truncating {path}")))?;
    let written = match &file.source {
        Source::Bytes(bytes) => {
            out.write_all(bytes)
                .map_err(EspError::fat(format!("writing {path}")))?;
            bytes.len() as u64
        }
        Source::HostFile(host) => {
            let host_err = |source| EspError::HostFile {
                path: path.clone(),
                host: host.clone(),
                source,
            };
            let mut input = File::open(host).map_err(host_err)?;
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0u64;
            loop {
                let n = match input.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(host_err(e)),
                };
                total += n as u64;
                if total > file.len {
                    break;
                }
                out.write_all(&buf[..n])
                    .map_err(EspError::fat(format!("writing {path}")))?;
            }
            total
        }
    };
    if written != file.len {
        let host = match &file.source {
            Source::HostFile(h) => h.clone(),
            Source::Bytes(_) => Default::default(),
        };
        return Err(EspError::HostFileChanged {
            path: path.clone(),
            host,
            planned: file.len,
            found: written,
        });
    }
    out.flush()
        .map_err(EspError::fat(format!("writing {path}")))
}
