//! Reading one file out of an uncompressed erofs image.
//!
//! stela's usr images are erofs without compression (`mkfs.erofs -E noinline_data`);
//! `stela ipe show` and later readers need a file or two of them from a disk image,
//! without mounting it (the host kernel may have no erofs) or extracting all of it. This
//! reader follows the on-disk format of the kernel's `fs/erofs/erofs_fs.h`: the
//! superblock at byte 1024, inodes of 32 (compact) or 64 (extended) bytes addressed by
//! their number in 32-byte slots from the metadata block, file data either in whole
//! blocks (`FLAT_PLAIN`) or in whole blocks plus a tail stored after the inode
//! (`FLAT_INLINE`), directories as blocks of 12-byte entries followed by their names.
//! Compressed and chunked files are refused by name. Every offset and size is checked
//! against the image's length and the caller's size limit before anything is read, so a
//! hostile image gets an error, never a panic or an allocation it asked for.

use std::io::{Read, Seek, SeekFrom};

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ErofsError {
    /// Reading the image failed.
    #[error("reading the erofs image at byte {offset}: {source}")]
    Io {
        /// Where, from the image's start.
        offset: u64,
        /// The error.
        source: std::io::Error,
    },
    /// No erofs superblock.
    #[error("no erofs superblock (magic {found:#010x} at byte 1024, expected 0xe0f5e1e2)")]
    NotErofs {
        /// What was there.
        found: u32,
    },
    /// A structure the image describes does not fit it, or a field is out of range.
    #[error("corrupt erofs image: {0}")]
    Corrupt(String),
    /// A layout this reader does not handle.
    #[error("{path}: {what} is not supported by stela's erofs reader")]
    Unsupported {
        /// The path being read.
        path: String,
        /// What was found.
        what: String,
    },
    /// The path does not exist.
    #[error("{path}: not in the image")]
    NotFound {
        /// The path.
        path: String,
    },
    /// A component of the path is not a directory, or the path is not a regular file.
    #[error("{path}: {what}")]
    WrongType {
        /// The path.
        path: String,
        /// What it is instead.
        what: String,
    },
    /// The file is larger than the caller allows.
    #[error("{path}: {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The path.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
}

const SUPERBLOCK_OFFSET: u64 = 1024;
const MAGIC: u32 = 0xE0F5_E1E2;
const SLOT: u64 = 32;
const DIRENT: usize = 12;
/// Deepest path followed (a hostile image cannot make the walk long).
const MAX_DEPTH: usize = 64;
/// Largest directory read whole (stela's largest, /usr/lib/x86_64-linux-gnu, is a few
/// hundred KiB).
const MAX_DIR_BYTES: u64 = 64 << 20;

const S_IFMT: u16 = 0o170000;
const S_IFDIR: u16 = 0o040000;
const S_IFREG: u16 = 0o100000;

/// An erofs image inside a reader (a disk image: `start` is the partition's first byte,
/// `len` its length).
pub struct Erofs<R> {
    reader: R,
    start: u64,
    len: u64,
    block_bits: u8,
    meta_block: u64,
    root_nid: u64,
}

/// One inode, as far as reading needs it.
struct Inode {
    mode: u16,
    size: u64,
    layout: u16,
    raw_block: u64,
    /// Where the inline tail would start: after the inode and its inline xattrs.
    tail_offset: u64,
}

impl<R: Read + Seek> Erofs<R> {
    /// Open the erofs image of `len` bytes at byte `start` of `reader`.
    pub fn open(mut reader: R, start: u64, len: u64) -> Result<Self, ErofsError> {
        let mut sb = [0u8; 128];
        read_exact_at(&mut reader, start, len, SUPERBLOCK_OFFSET, &mut sb)?;
        let magic = u32_le(&sb, 0);
        if magic != MAGIC {
            return Err(ErofsError::NotErofs { found: magic });
        }
        let block_bits = sb[12];
        if !(9..=16).contains(&block_bits) {
            return Err(ErofsError::Corrupt(format!(
                "block size 2^{block_bits} (blkszbits) outside 512 to 65536"
            )));
        }
        Ok(Erofs {
            reader,
            start,
            len,
            block_bits,
            meta_block: u64::from(u32_le(&sb, 40)),
            root_nid: u64::from(u16_le(&sb, 14)),
        })
    }

    fn block_size(&self) -> u64 {
        1 << self.block_bits
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), ErofsError> {
        read_exact_at(&mut self.reader, self.start, self.len, offset, buf)
    }

    fn inode(&mut self, nid: u64) -> Result<Inode, ErofsError> {
        let at = self
            .meta_block
            .checked_mul(self.block_size())
            .and_then(|m| nid.checked_mul(SLOT).and_then(|n| m.checked_add(n)))
            .ok_or_else(|| ErofsError::Corrupt(format!("inode {nid} lies beyond any image")))?;
        let mut raw = [0u8; 64];
        self.read_at(at, &mut raw[..32])?;
        let format = u16_le(&raw, 0);
        let extended = format & 1 == 1;
        let xattr_count = u64::from(u16_le(&raw, 2));
        let (size, inode_len) = if extended {
            self.read_at(at + 32, &mut raw[32..])?;
            (u64_le(&raw, 8), 64)
        } else {
            (u64::from(u32_le(&raw, 8)), 32)
        };
        let xattrs = if xattr_count == 0 {
            0
        } else {
            12 + (xattr_count - 1) * 4
        };
        Ok(Inode {
            mode: u16_le(&raw, 4),
            size,
            layout: (format >> 1) & 0x7,
            raw_block: u64::from(u32_le(&raw, 16)),
            tail_offset: at + inode_len + xattrs,
        })
    }

    /// The bytes of `inode`, at most `limit` of them (`path` names it in errors).
    fn data(&mut self, inode: &Inode, path: &str, limit: u64) -> Result<Vec<u8>, ErofsError> {
        if inode.size > limit {
            return Err(ErofsError::TooLarge {
                path: path.to_owned(),
                size: inode.size,
                limit,
            });
        }
        if inode.size > self.len {
            return Err(ErofsError::Corrupt(format!(
                "{path}: {} bytes in an image of {}",
                inode.size, self.len
            )));
        }
        let size = usize::try_from(inode.size)
            .map_err(|_| ErofsError::Corrupt(format!("{path}: size {}", inode.size)))?;
        let mut out = vec![0u8; size];
        let block_start = inode
            .raw_block
            .checked_mul(self.block_size())
            .ok_or_else(|| ErofsError::Corrupt(format!("{path}: block {}", inode.raw_block)))?;
        match inode.layout {
            // FLAT_PLAIN: contiguous blocks.
            0 => self.read_at(block_start, &mut out)?,
            // FLAT_INLINE: whole blocks, then the tail after the inode.
            2 => {
                let whole = (inode.size / self.block_size() * self.block_size()) as usize;
                let (head, tail) = out.split_at_mut(whole);
                if !head.is_empty() {
                    self.read_at(block_start, head)?;
                }
                if !tail.is_empty() {
                    // The tail must not cross the metadata block it sits in.
                    let in_block = inode.tail_offset % self.block_size();
                    if in_block + tail.len() as u64 > self.block_size() {
                        return Err(ErofsError::Corrupt(format!(
                            "{path}: inline tail of {} bytes crosses a block",
                            tail.len()
                        )));
                    }
                    self.read_at(inode.tail_offset, tail)?;
                }
            }
            other => {
                let what = match other {
                    1 | 3 => "a compressed file".to_owned(),
                    4 => "a chunk-based file".to_owned(),
                    n => format!("data layout {n}"),
                };
                return Err(ErofsError::Unsupported {
                    path: path.to_owned(),
                    what,
                });
            }
        }
        Ok(out)
    }

    /// Look `name` up in the directory `dir` (`path` names it in errors).
    fn lookup(&mut self, dir: &Inode, name: &str, path: &str) -> Result<u64, ErofsError> {
        let data = self.data(dir, path, MAX_DIR_BYTES)?;
        let block = self.block_size() as usize;
        for chunk in data.chunks(block) {
            if chunk.len() < DIRENT {
                return Err(ErofsError::Corrupt(format!(
                    "{path}: a directory block of {} bytes",
                    chunk.len()
                )));
            }
            let first_name = usize::from(u16_le(chunk, 8));
            if first_name % DIRENT != 0 || first_name == 0 || first_name > chunk.len() {
                return Err(ErofsError::Corrupt(format!(
                    "{path}: first name at {first_name} in a directory block"
                )));
            }
            let count = first_name / DIRENT;
            for i in 0..count {
                let e = &chunk[i * DIRENT..(i + 1) * DIRENT];
                let from = usize::from(u16_le(e, 8));
                let to = if i + 1 < count {
                    usize::from(u16_le(&chunk[(i + 1) * DIRENT..], 8))
                } else {
                    chunk.len()
                };
                if from < first_name || to < from || to > chunk.len() {
                    return Err(ErofsError::Corrupt(format!(
                        "{path}: directory entry {i} names bytes {from}..{to} of a {}-byte block",
                        chunk.len()
                    )));
                }
                let mut entry = &chunk[from..to];
                if i + 1 == count {
                    // The last name runs to the block's end, padded with NULs.
                    while let [rest @ .., 0] = entry {
                        entry = rest;
                    }
                }
                if entry == name.as_bytes() {
                    return Ok(u64_le(e, 0));
                }
            }
        }
        Err(ErofsError::NotFound {
            path: path.to_owned(),
        })
    }

    /// The content of the regular file at `path` (absolute within the image, `/` between
    /// components), at most `limit` bytes. Symbolic links are not followed.
    pub fn read_file(&mut self, path: &str, limit: u64) -> Result<Vec<u8>, ErofsError> {
        let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        if components.len() > MAX_DEPTH {
            return Err(ErofsError::WrongType {
                path: path.to_owned(),
                what: format!("more than {MAX_DEPTH} components"),
            });
        }
        let mut inode = self.inode(self.root_nid)?;
        let mut walked = String::new();
        for c in &components {
            if inode.mode & S_IFMT != S_IFDIR {
                return Err(ErofsError::WrongType {
                    path: walked,
                    what: "not a directory".into(),
                });
            }
            let dir_path = if walked.is_empty() {
                "/".to_owned()
            } else {
                walked.clone()
            };
            walked.push('/');
            walked.push_str(c);
            let nid = self.lookup(&inode, c, &dir_path).map_err(|e| match e {
                ErofsError::NotFound { .. } => ErofsError::NotFound {
                    path: walked.clone(),
                },
                other => other,
            })?;
            inode = self.inode(nid)?;
        }
        if inode.mode & S_IFMT != S_IFREG {
            return Err(ErofsError::WrongType {
                path: path.to_owned(),
                what: "not a regular file".into(),
            });
        }
        self.data(&inode, path, limit)
    }
}

fn read_exact_at<R: Read + Seek>(
    reader: &mut R,
    start: u64,
    len: u64,
    offset: u64,
    buf: &mut [u8],
) -> Result<(), ErofsError> {
    let end = offset.checked_add(buf.len() as u64);
    if end.is_none_or(|e| e > len) {
        return Err(ErofsError::Corrupt(format!(
            "{} bytes at {offset} lie beyond the image's {len}",
            buf.len()
        )));
    }
    let io = |source| ErofsError::Io { offset, source };
    reader.seek(SeekFrom::Start(start + offset)).map_err(io)?;
    reader.read_exact(buf).map_err(io)
}

fn u16_le(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_le(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}
