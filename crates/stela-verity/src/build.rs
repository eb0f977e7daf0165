//! Writing a hash file: plan the layout, write the superblock, stream the tree into place.

use std::fs::{self, File, Permissions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::error::VerityError;
use crate::layout::Layout;
use crate::params::{BlockSize, Header, RootHash, Salt, VerityParams};
use crate::progress::Progress;
use crate::superblock::{Superblock, SUPERBLOCK_SIZE};
use crate::tree::{hash_stream, BlockSink};

/// What a tree was built with and its root hash: everything `veritysetup format` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityInfo {
    /// The root hash, for `usrhash=` or `veritysetup open`.
    pub root_hash: RootHash,
    /// The salt.
    pub salt: Salt,
    /// The superblock's UUID; `None` without a superblock.
    pub uuid: Option<Uuid>,
    /// Data block size.
    pub data_block_size: BlockSize,
    /// Hash block size.
    pub hash_block_size: BlockSize,
    /// Data blocks covered.
    pub data_blocks: u64,
    /// Hash blocks in the tree, without the superblock.
    pub hash_blocks: u64,
    /// Bytes of the hash file: superblock, padding and tree.
    pub hash_size: u64,
}

impl VerityInfo {
    pub(crate) fn new(layout: &Layout, salt: &Salt, header: &Header, root_hash: RootHash) -> Self {
        Self {
            root_hash,
            salt: salt.clone(),
            uuid: match header {
                Header::Superblock { uuid } => Some(*uuid),
                Header::NoSuperblock => None,
            },
            data_block_size: layout.data_block_size(),
            hash_block_size: layout.hash_block_size(),
            data_blocks: layout.data_blocks(),
            hash_blocks: layout.hash_blocks(),
            hash_size: layout.hash_size(),
        }
    }
}

/// Build the tree of the file `data` and write it to `hash`, atomically: a temporary file
/// beside `hash` is renamed over it once complete and synced.
///
/// The data file must be a non-empty whole number of data blocks (veritysetup would
/// silently leave a partial last block unprotected).
pub fn format(
    data: &Path,
    hash: &Path,
    params: &VerityParams,
    progress: &mut dyn Progress,
) -> Result<VerityInfo, VerityError> {
    let mut data_file = File::open(data).map_err(|source| VerityError::Open {
        path: data.to_owned(),
        source,
    })?;
    let len = file_len(&data_file, data)?;
    data_file.rewind().map_err(|source| VerityError::Read {
        path: data.to_owned(),
        source,
    })?;
    if same_file(data, hash) {
        return Err(VerityError::SameFile {
            data: data.to_owned(),
            hash: hash.to_owned(),
        });
    }
    let layout = plan(data, len, params)?;

    let dir = match hash.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let temp_err = |source| VerityError::TempFile {
        path: hash.to_owned(),
        source,
    };
    // Hash trees are public, readable like the data (tempfile would make them 0600).
    let mut tmp = tempfile::Builder::new()
        .prefix(".stela-verity-")
        .permissions(Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(temp_err)?;
    let info = write_tree(
        &mut data_file,
        data,
        &layout,
        tmp.as_file_mut(),
        hash,
        params,
        progress,
    )?;
    let write_err = |source| VerityError::Write {
        path: hash.to_owned(),
        source,
    };
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(hash).map_err(|e| VerityError::Persist {
        path: hash.to_owned(),
        source: e.error,
    })?;
    // The rename itself must reach the disk.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(write_err)?;
    Ok(info)
}

/// Build the tree of `data_len` bytes read from `data` and write the hash file to `out`,
/// each part at its offset from the start of `out` (levels are not written in file order).
///
/// `data_len` must be a non-empty whole number of data blocks; reading stops after it.
/// Errors name the data `"<data>"` and the output `"<hash output>"`.
pub fn format_to<R: Read + Send, W: Write + Seek>(
    mut data: R,
    data_len: u64,
    out: &mut W,
    params: &VerityParams,
    progress: &mut dyn Progress,
) -> Result<VerityInfo, VerityError> {
    let data_name = Path::new("<data>");
    let layout = plan(data_name, data_len, params)?;
    write_tree(
        &mut data,
        data_name,
        &layout,
        out,
        Path::new("<hash output>"),
        params,
        progress,
    )
}

/// The layout for `len` bytes of data, or why there is none.
pub(crate) fn plan(data: &Path, len: u64, params: &VerityParams) -> Result<Layout, VerityError> {
    let block = params.data_block_size;
    if len == 0 {
        return Err(VerityError::EmptyData {
            path: data.to_owned(),
        });
    }
    if len % block.bytes() != 0 {
        return Err(VerityError::Unaligned {
            path: data.to_owned(),
            len,
            block: block.get(),
        });
    }
    Layout::new(
        len / block.bytes(),
        block,
        params.hash_block_size,
        &params.header,
    )
    .ok_or_else(|| VerityError::TooLarge {
        path: data.to_owned(),
    })
}

fn write_tree<R: Read + Send, W: Write + Seek>(
    data: &mut R,
    data_name: &Path,
    layout: &Layout,
    out: &mut W,
    out_name: &Path,
    params: &VerityParams,
    progress: &mut dyn Progress,
) -> Result<VerityInfo, VerityError> {
    let mut sink = WriteSink {
        out,
        path: out_name,
        layout,
        pos: None,
    };
    if let Header::Superblock { uuid } = params.header {
        let sb = Superblock {
            uuid,
            data_block_size: params.data_block_size,
            hash_block_size: params.hash_block_size,
            data_blocks: layout.data_blocks(),
            salt: params.salt.clone(),
        };
        // Superblock, then zeros up to the first hash block of the tree.
        let mut header = vec![0u8; layout.tree_offset() as usize];
        header[..SUPERBLOCK_SIZE].copy_from_slice(&sb.to_bytes());
        sink.write_at(0, &header)?;
    }
    let root = hash_stream(data, data_name, layout, &params.salt, &mut sink, progress)?
        .expect("a writer never stops hashing early");
    sink.out.flush().map_err(|source| VerityError::Write {
        path: out_name.to_owned(),
        source,
    })?;
    Ok(VerityInfo::new(layout, &params.salt, &params.header, root))
}

/// Puts each hash block at its offset, seeking only when the next write is elsewhere.
struct WriteSink<'a, W> {
    out: &'a mut W,
    path: &'a Path,
    layout: &'a Layout,
    pos: Option<u64>,
}

impl<W: Write + Seek> WriteSink<'_, W> {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), VerityError> {
        let err = |source| VerityError::Write {
            path: self.path.to_owned(),
            source,
        };
        if self.pos != Some(offset) {
            self.out.seek(SeekFrom::Start(offset)).map_err(err)?;
        }
        self.out.write_all(bytes).map_err(err)?;
        self.pos = Some(offset + bytes.len() as u64);
        Ok(())
    }
}

impl<W: Write + Seek> BlockSink for WriteSink<'_, W> {
    fn blocks(&mut self, level: usize, first: u64, bytes: &[u8]) -> Result<(), VerityError> {
        let offset =
            self.layout.levels()[level].offset + first * self.layout.hash_block_size().bytes();
        self.write_at(offset, bytes)
    }
}

/// Whether two paths name the same existing file (a hash file that does not exist yet
/// cannot be the data).
fn same_file(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| -> Option<PathBuf> { fs::canonicalize(p).ok() };
    matches!((canon(a), canon(b)), (Some(x), Some(y)) if x == y)
}

/// Size of a regular file or a block device (whose metadata says 0); moves the position.
pub(crate) fn file_len(mut file: &File, path: &Path) -> Result<u64, VerityError> {
    file.seek(SeekFrom::End(0))
        .map_err(|source| VerityError::Read {
            path: path.to_owned(),
            source,
        })
}
