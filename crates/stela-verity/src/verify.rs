//! Checking a hash file: recompute every level from the data and compare block by block.

use std::fmt;
use std::fs::File;
use std::io::{self, Seek};

use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::build::{file_len, plan, VerityInfo};
use crate::error::{SuperblockError, VerityError};
use crate::layout::Layout;
use crate::params::{BlockSize, Header, RootHash, Salt, VerityParams, DIGEST_SIZE};
use crate::progress::Progress;
use crate::superblock::{Superblock, SUPERBLOCK_SIZE};
use crate::tree::{hash_stream, BlockSink};

/// Where to take the tree's parameters from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyMode {
    /// From the superblock at the start of the hash file.
    Superblock,
    /// The hash file has no superblock: the caller gives the parameters, and the tree
    /// covers the whole data file.
    NoSuperblock {
        /// Data block size.
        data_block_size: BlockSize,
        /// Hash block size.
        hash_block_size: BlockSize,
        /// Salt.
        salt: Salt,
    },
}

/// The answer of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// Every block matches and the root hash is the expected one.
    Valid(VerityInfo),
    /// The first difference found.
    Invalid(Mismatch),
}

/// What a hash entry covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Covered {
    /// A data block (entries of level 0).
    DataBlock {
        /// Its index.
        index: u64,
        /// Its byte offset in the data file.
        offset: u64,
    },
    /// A hash block of the level below.
    HashBlock {
        /// The level below.
        level: usize,
        /// The block's index in that level.
        index: u64,
        /// Its byte offset in the hash file.
        offset: u64,
    },
    /// Nothing: the zero padding after the last entry of a level.
    Padding,
}

/// The first place where the hash file and the data disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// A stored hash block differs from the one computed from the data and lower levels.
    HashBlock {
        /// Tree level, 0 holding the digests of the data blocks.
        level: usize,
        /// Index of the hash block within its level.
        block: u64,
        /// Hash file offset of the first differing byte.
        offset: u64,
        /// What the differing entry covers.
        covered: Covered,
    },
    /// The tree matches the data, but its root hash is not the expected one.
    RootHash {
        /// The root hash of the tree.
        computed: RootHash,
        /// The root hash asked for.
        expected: RootHash,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::HashBlock {
                level,
                block,
                offset,
                covered,
            } => {
                let at = format!("level {level} hash block {block}, hash file offset {offset}");
                match covered {
                    Covered::DataBlock { index, offset } => write!(
                        f,
                        "data block {index} (data offset {offset}) does not match its hash \
                         ({at})"
                    ),
                    Covered::HashBlock {
                        level: below,
                        index,
                        offset,
                    } => write!(
                        f,
                        "level {below} hash block {index} (hash file offset {offset}) does \
                         not match its hash ({at})"
                    ),
                    Covered::Padding => write!(f, "padding is not zero ({at})"),
                }
            }
            Mismatch::RootHash { computed, expected } => write!(
                f,
                "root hash mismatch: the tree has {computed}, expected {expected}"
            ),
        }
    }
}

/// Read and validate the superblock at the start of the hash file `hash`.
pub fn read_superblock(hash: &Path) -> Result<Superblock, VerityError> {
    let file = open(hash)?;
    read_superblock_of(&file, hash)
}

fn read_superblock_of(file: &File, path: &Path) -> Result<Superblock, VerityError> {
    let sb_err = |source| VerityError::Superblock {
        path: path.to_owned(),
        source,
    };
    let mut bytes = [0u8; SUPERBLOCK_SIZE];
    match file.read_exact_at(&mut bytes, 0) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            let len = file_len(file, path)?;
            return Err(sb_err(SuperblockError::Short { len }));
        }
        Err(source) => {
            return Err(VerityError::Read {
                path: path.to_owned(),
                source,
            })
        }
    }
    Superblock::parse(&bytes).map_err(sb_err)
}

/// Recompute the tree of `data` and compare it with the hash file `hash`, level by level,
/// then the root hash with `expected`.
///
/// With a superblock, the data file may be longer than the blocks it covers (a partition
/// with room to spare); the rest is not read.
pub fn verify(
    data: &Path,
    hash: &Path,
    expected: &RootHash,
    mode: &VerifyMode,
    progress: &mut dyn Progress,
) -> Result<Verdict, VerityError> {
    let hash_file = open(hash)?;
    let mut data_file = open(data)?;
    let data_len = file_len(&data_file, data)?;
    let (layout, params) = match mode {
        VerifyMode::Superblock => {
            let sb = read_superblock_of(&hash_file, hash)?;
            let params = VerityParams {
                data_block_size: sb.data_block_size,
                hash_block_size: sb.hash_block_size,
                salt: sb.salt,
                header: Header::Superblock { uuid: sb.uuid },
            };
            let too_large = |_| VerityError::Superblock {
                path: hash.to_owned(),
                source: SuperblockError::TooLarge {
                    blocks: sb.data_blocks,
                    block: sb.data_block_size.get(),
                },
            };
            let layout = Layout::new(
                sb.data_blocks,
                sb.data_block_size,
                sb.hash_block_size,
                &params.header,
            )
            .ok_or(())
            .map_err(too_large)?;
            if data_len < layout.data_size() {
                return Err(VerityError::DataTooShort {
                    path: data.to_owned(),
                    len: data_len,
                    expected: layout.data_size(),
                    blocks: sb.data_blocks,
                    block: sb.data_block_size.get(),
                });
            }
            (layout, params)
        }
        VerifyMode::NoSuperblock {
            data_block_size,
            hash_block_size,
            salt,
        } => {
            let params = VerityParams {
                data_block_size: *data_block_size,
                hash_block_size: *hash_block_size,
                salt: salt.clone(),
                header: Header::NoSuperblock,
            };
            (plan(data, data_len, &params)?, params)
        }
    };
    let hash_len = file_len(&hash_file, hash)?;
    if hash_len < layout.hash_size() {
        return Err(VerityError::HashTruncated {
            path: hash.to_owned(),
            len: hash_len,
            expected: layout.hash_size(),
        });
    }
    data_file.rewind().map_err(|source| VerityError::Read {
        path: data.to_owned(),
        source,
    })?;
    let mut sink = CompareSink {
        file: &hash_file,
        path: hash,
        layout: &layout,
        stored: Vec::new(),
        mismatch: None,
    };
    let root = hash_stream(
        &mut data_file,
        data,
        &layout,
        &params.salt,
        &mut sink,
        progress,
    )?;
    if let Some(mismatch) = sink.mismatch {
        return Ok(Verdict::Invalid(mismatch));
    }
    let root = root.expect("hashing stops early only on a mismatch");
    if root != *expected {
        return Ok(Verdict::Invalid(Mismatch::RootHash {
            computed: root,
            expected: *expected,
        }));
    }
    Ok(Verdict::Valid(VerityInfo::new(
        &layout,
        &params.salt,
        &params.header,
        root,
    )))
}

/// Compares each computed hash block with the stored one; remembers the first difference.
struct CompareSink<'a> {
    file: &'a File,
    path: &'a Path,
    layout: &'a Layout,
    stored: Vec<u8>,
    mismatch: Option<Mismatch>,
}

impl BlockSink for CompareSink<'_> {
    fn blocks(&mut self, level: usize, first: u64, bytes: &[u8]) -> Result<(), VerityError> {
        if self.mismatch.is_some() {
            return Ok(());
        }
        let hbs = self.layout.hash_block_size().bytes();
        let start = self.layout.levels()[level].offset + first * hbs;
        self.stored.resize(bytes.len(), 0);
        self.file
            .read_exact_at(&mut self.stored, start)
            .map_err(|source| VerityError::Read {
                path: self.path.to_owned(),
                source,
            })?;
        let Some(at) = bytes.iter().zip(&self.stored).position(|(a, b)| a != b) else {
            return Ok(());
        };
        let at = at as u64;
        let block = first + at / hbs;
        let entry = block * self.layout.digests_per_block() + at % hbs / DIGEST_SIZE as u64;
        let covered = if entry >= self.layout.levels()[level].entries {
            Covered::Padding
        } else if level == 0 {
            Covered::DataBlock {
                index: entry,
                offset: entry * self.layout.data_block_size().bytes(),
            }
        } else {
            Covered::HashBlock {
                level: level - 1,
                index: entry,
                offset: self.layout.levels()[level - 1].offset + entry * hbs,
            }
        };
        self.mismatch = Some(Mismatch::HashBlock {
            level,
            block,
            offset: start + at,
            covered,
        });
        Ok(())
    }

    fn done(&self) -> bool {
        self.mismatch.is_some()
    }
}

fn open(path: &Path) -> Result<File, VerityError> {
    File::open(path).map_err(|source| VerityError::Open {
        path: path.to_owned(),
        source,
    })
}
