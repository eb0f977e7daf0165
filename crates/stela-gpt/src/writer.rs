//! Writing a planned layout: the tables, then partition contents.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use crate::error::GptError;
use crate::format::{protective_mbr, SECTOR_SIZE};
use crate::layout::{DiskLayout, PlacedPartition};

/// Writes protective MBR, both headers and both entry arrays of `layout` into `out`,
/// which must already be `layout.disk_size()` bytes long. Partition contents are left
/// untouched.
///
/// The backup table is written first and the primary last, so a reader never finds a
/// valid primary header pointing at a missing backup.
pub fn write_tables<W: Write + Seek>(out: &mut W, layout: &DiskLayout) -> Result<(), GptError> {
    let entries = layout.entry_array();
    let crc = crc32fast::hash(&entries);
    let (primary, backup) = layout.headers(crc);
    let at = |lba: u64| SeekFrom::Start(lba * SECTOR_SIZE);

    write_at(
        out,
        at(layout.backup_entries_lba()),
        &entries,
        "the backup partition entry array",
    )?;
    write_at(
        out,
        at(backup.my_lba),
        &backup.encode(),
        "the backup GPT header",
    )?;
    write_at(
        out,
        at(primary.partition_entry_lba),
        &entries,
        "the primary partition entry array",
    )?;
    write_at(
        out,
        at(primary.my_lba),
        &primary.encode(),
        "the primary GPT header",
    )?;
    write_at(
        out,
        at(0),
        &protective_mbr(layout.total_sectors()),
        "the protective MBR",
    )?;
    out.flush().map_err(GptError::io("flushing the GPT"))
}

fn write_at<W: Write + Seek>(
    out: &mut W,
    pos: SeekFrom,
    bytes: &[u8],
    what: &str,
) -> Result<(), GptError> {
    out.seek(pos)
        .and_then(|_| out.write_all(bytes))
        .map_err(GptError::io(format!("writing {what}")))
}

/// Copies all of `content` into `partition` on `disk`, refusing (before writing past the
/// partition) content larger than the partition. Returns the bytes copied; the rest of
/// the partition keeps its bytes (zeros in a fresh image).
pub fn copy_into_partition<W: Write + Seek, R: Read>(
    disk: &mut W,
    partition: &PlacedPartition,
    content: &mut R,
) -> Result<u64, GptError> {
    copy(disk, partition, 0, content, ZeroBlocks::Write)
}

/// Like [`copy_into_partition`], for a partition of a fresh (sparse, all-zero) image:
/// 4 KiB blocks of zeros in `content` are skipped rather than written, so the image file
/// stays sparse. Never use it on a partition that may hold old data.
pub fn copy_into_fresh_partition<W: Write + Seek, R: Read>(
    disk: &mut W,
    partition: &PlacedPartition,
    content: &mut R,
) -> Result<u64, GptError> {
    copy(disk, partition, 0, content, ZeroBlocks::Skip)
}

/// Like [`copy_into_fresh_partition`] for content in a file, whose holes are not even
/// read: a FAT image is mostly holes, and reading a hole makes the kernel clear page
/// cache for it, which costs more than the copy. Returns the file's length.
pub fn copy_file_into_fresh_partition<W: Write + Seek>(
    disk: &mut W,
    partition: &PlacedPartition,
    content: &File,
) -> Result<u64, GptError> {
    let name = format!("partition {} ({:?})", partition.index, partition.spec.label);
    let read_err = || GptError::io(format!("reading the content of {name}"));
    let len = content.metadata().map_err(read_err())?.len();
    if len > partition.len() {
        return Err(GptError::ContentTooLarge {
            index: partition.index,
            label: partition.spec.label.clone(),
            capacity: partition.len(),
        });
    }
    let mut pos = 0u64;
    while pos < len {
        let data = match rustix::fs::seek(content, rustix::fs::SeekFrom::Data(pos)) {
            Ok(d) => d.min(len),
            // No data after pos.
            Err(rustix::io::Errno::NXIO) => len,
            // A file system without SEEK_DATA: read everything.
            Err(rustix::io::Errno::INVAL) => pos,
            Err(e) => return Err(read_err()(e.into())),
        };
        if data >= len {
            break;
        }
        let end = match rustix::fs::seek(content, rustix::fs::SeekFrom::Hole(data)) {
            Ok(h) => h.min(len),
            Err(_) => len,
        };
        let mut reader = content;
        reader.seek(SeekFrom::Start(data)).map_err(read_err())?;
        let mut extent = reader.take(end - data);
        copy(disk, partition, data, &mut extent, ZeroBlocks::Skip)?;
        pos = end;
    }
    Ok(len)
}

/// Whether blocks of zeros are written or left as holes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ZeroBlocks {
    Write,
    Skip,
}

/// Copies `content` into `partition` from byte `start` of the partition; the bytes
/// copied. Runs of blocks are written at once (one seek and one write each).
fn copy<W: Write + Seek, R: Read>(
    disk: &mut W,
    partition: &PlacedPartition,
    start: u64,
    content: &mut R,
    zeros: ZeroBlocks,
) -> Result<u64, GptError> {
    let capacity = partition.len();
    let name = format!("partition {} ({:?})", partition.index, partition.spec.label);
    let mut buf = vec![0u8; 1 << 20];
    let mut copied = 0u64;
    loop {
        let n = match content.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(GptError::io(format!("reading the content of {name}"))(e)),
        };
        if start + copied + n as u64 > capacity {
            return Err(GptError::ContentTooLarge {
                index: partition.index,
                label: partition.spec.label.clone(),
                capacity,
            });
        }
        let chunk = &buf[..n];
        let is_zero = |b: &[u8]| zeros == ZeroBlocks::Skip && b.iter().all(|&x| x == 0);
        let mut i = 0;
        while i < n {
            let block_end = (i + 4096).min(n);
            if is_zero(&chunk[i..block_end]) {
                i = block_end;
                continue;
            }
            // Extend the run over the following blocks that are not zeros.
            let mut run_end = block_end;
            while run_end < n {
                let next = (run_end + 4096).min(n);
                if is_zero(&chunk[run_end..next]) {
                    break;
                }
                run_end = next;
            }
            let at = partition.offset() + start + copied + i as u64;
            disk.seek(SeekFrom::Start(at))
                .map_err(GptError::io(format!("seeking in {name}")))?;
            disk.write_all(&chunk[i..run_end])
                .map_err(GptError::io(format!("writing {name}")))?;
            i = run_end;
        }
        copied += n as u64;
    }
    Ok(copied)
}

/// A disk image under construction: a sparse temporary file beside the target that
/// already holds the partition tables. [`ImageFile::persist`] renames it into place;
/// dropping it instead removes it, so a failed build leaves no partial image.
#[derive(Debug)]
pub struct ImageFile {
    tmp: NamedTempFile,
    target: PathBuf,
    layout: DiskLayout,
}

impl ImageFile {
    /// Creates the temporary file, sizes it (sparse) and writes the tables.
    pub fn create(target: &Path, layout: &DiskLayout) -> Result<ImageFile, GptError> {
        let file_err = |action| {
            let path = target.to_owned();
            move |source| GptError::File {
                action,
                path,
                source,
            }
        };
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let mut tmp =
            NamedTempFile::new_in(dir).map_err(file_err("creating a temporary file for"))?;
        tmp.as_file()
            .set_len(layout.disk_size())
            .map_err(file_err("sizing the temporary file for"))?;
        write_tables(tmp.as_file_mut(), layout)?;
        Ok(ImageFile {
            tmp,
            target: target.to_owned(),
            layout: layout.clone(),
        })
    }

    /// The layout being written.
    pub fn layout(&self) -> &DiskLayout {
        &self.layout
    }

    /// The open image file, for writers that fill a partition themselves (seek to
    /// [`PlacedPartition::offset`] and stay within [`PlacedPartition::len`]).
    pub fn file_mut(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// Copies `content` into the partition labelled `label`; see [`copy_into_partition`].
    pub fn copy_into(&mut self, label: &str, content: &mut impl Read) -> Result<u64, GptError> {
        let partition = self.layout.partition(label)?.clone();
        copy_into_partition(self.tmp.as_file_mut(), &partition, content)
    }

    /// Syncs the image, renames it to the target path and syncs the directory.
    pub fn persist(self) -> Result<(), GptError> {
        let target = self.target;
        let file_err = |action, path: &Path| {
            let path = path.to_owned();
            move |source| GptError::File {
                action,
                path,
                source,
            }
        };
        self.tmp
            .as_file()
            .sync_all()
            .map_err(file_err("syncing the image for", &target))?;
        self.tmp
            .persist(&target)
            .map_err(|e| e.error)
            .map_err(file_err("renaming the image to", &target))?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(file_err("syncing the directory", dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{types, Attributes, DiskLayout, DiskSize, Guid, PartitionSpec};
    use std::io::Cursor;

    #[test]
    fn fresh_copy_skips_zero_blocks_but_reads_back_the_same() {
        let spec = PartitionSpec {
            type_guid: types::LINUX_GENERIC,
            guid: Guid::derived(b"test", "p1"),
            label: "p1".into(),
            attributes: Attributes::default(),
            size: 1 << 20,
        };
        let layout =
            DiskLayout::plan(Guid::derived(b"test", "disk"), &[spec], DiskSize::Fit).expect("plan");
        let part = layout.partitions()[0].clone();
        let mut content = vec![0u8; 64 * 1024];
        content[5000] = 7;
        content[40_000] = 9;
        let mut disk = Cursor::new(vec![0u8; layout.disk_size() as usize]);
        let n = copy_into_fresh_partition(&mut disk, &part, &mut content.as_slice()).expect("copy");
        assert_eq!(n, content.len() as u64);
        let bytes = disk.into_inner();
        let at = part.offset() as usize;
        assert_eq!(&bytes[at..at + content.len()], content.as_slice());

        let too_big = vec![1u8; (1 << 20) + 1];
        let mut disk = Cursor::new(vec![0u8; layout.disk_size() as usize]);
        let e = copy_into_fresh_partition(&mut disk, &part, &mut too_big.as_slice()).unwrap_err();
        assert!(e.to_string().contains("p1"), "{e}");

        // From a sparse file: holes skipped, data runs (over block boundaries) copied.
        use std::io::Write as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("content");
        let mut f = File::create(&path).expect("create");
        f.seek(SeekFrom::Start(300 * 1024)).expect("seek");
        f.write_all(&[3u8; 10_000]).expect("w");
        f.write_all(&[0u8; 8192]).expect("w");
        f.write_all(b"end").expect("w");
        f.set_len(900 * 1024).expect("len");
        drop(f);
        let expected = std::fs::read(&path).expect("read");
        let mut disk = Cursor::new(vec![0u8; layout.disk_size() as usize]);
        let file = File::open(&path).expect("open");
        let n = copy_file_into_fresh_partition(&mut disk, &part, &file).expect("copy file");
        assert_eq!(n, expected.len() as u64);
        let bytes = disk.into_inner();
        assert_eq!(&bytes[at..at + expected.len()], expected.as_slice());
        assert!(bytes[at + expected.len()..at + part.len() as usize]
            .iter()
            .all(|&b| b == 0));
    }
}
