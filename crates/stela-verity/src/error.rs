//! Errors: each names the file, the field and both values where there are two.

use std::path::PathBuf;

/// A parameter that cannot describe a dm-verity tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// A block size out of range or not a power of two.
    #[error("block size {value} is not a power of two from 512 to 65536")]
    BlockSize {
        /// The rejected size.
        value: u32,
    },
    /// A block size that is not a number.
    #[error("block size {input:?} is not a number of bytes")]
    BlockSizeText {
        /// The rejected text.
        input: String,
    },
    /// A salt longer than the superblock holds.
    #[error("salt is {len} bytes, at most 256 fit in the superblock")]
    SaltTooLong {
        /// Its length.
        len: usize,
    },
    /// A salt that is not hex.
    #[error("salt {input:?} is not hex (or - for none)")]
    SaltText {
        /// The rejected text.
        input: String,
    },
    /// A root hash that is not 64 hex digits.
    #[error("root hash {input:?} is not 64 hex digits")]
    RootHashText {
        /// The rejected text.
        input: String,
    },
}

/// What is wrong with a superblock, field by field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SuperblockError {
    /// The file is shorter than a superblock.
    #[error("{len} bytes, shorter than the 512-byte superblock")]
    Short {
        /// Length of the file.
        len: u64,
    },
    /// The first 8 bytes are not `verity\0\0`.
    #[error("bad magic {found:02x?}, expected \"verity\\0\\0\" (no superblock?)")]
    BadMagic {
        /// The bytes found.
        found: [u8; 8],
    },
    /// A superblock version other than 1.
    #[error("unsupported superblock version {version}, stela reads version 1")]
    Version {
        /// The version found.
        version: u32,
    },
    /// A hash type other than 1 (0 is the Chrome OS format).
    #[error("unsupported hash type {hash_type}, stela reads type 1")]
    HashType {
        /// The hash type found.
        hash_type: u32,
    },
    /// An algorithm other than sha256.
    #[error("unsupported hash algorithm {name:?}, stela reads sha256")]
    Algorithm {
        /// The name found.
        name: String,
    },
    /// A block size field out of range.
    #[error("{field} is {value}, not a power of two from 512 to 65536")]
    BlockSize {
        /// `data_block_size` or `hash_block_size`.
        field: &'static str,
        /// The value found.
        value: u32,
    },
    /// A salt size beyond the 256-byte field.
    #[error("salt_size is {size}, at most 256")]
    SaltSize {
        /// The size found.
        size: u16,
    },
    /// A tree over no data.
    #[error("data_blocks is 0")]
    NoDataBlocks,
    /// A data size that does not fit in 64 bits.
    #[error("data_blocks {blocks} of {block} bytes overflow 64 bits")]
    TooLarge {
        /// The count found.
        blocks: u64,
        /// The data block size.
        block: u32,
    },
}

/// Everything that can go wrong formatting or verifying.
///
/// A tree that does not match is not an error: [`crate::verify`] returns
/// [`crate::Verdict::Invalid`] for that.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerityError {
    /// A bad parameter.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// An empty data file: a tree needs at least one block.
    #[error("data file {path} is empty")]
    EmptyData {
        /// The data file.
        path: PathBuf,
    },
    /// A data file whose size is not a whole number of blocks.
    #[error("data file {path} is {len} bytes, not a multiple of the {block}-byte data block")]
    Unaligned {
        /// The data file.
        path: PathBuf,
        /// Its size.
        len: u64,
        /// The data block size.
        block: u32,
    },
    /// A data file too large to describe.
    #[error("data file {path} is too large for a verity tree")]
    TooLarge {
        /// The data file.
        path: PathBuf,
    },
    /// A data file shorter than the blocks its superblock covers.
    #[error("data file {path} is {len} bytes, but the superblock covers {expected} bytes ({blocks} blocks of {block})")]
    DataTooShort {
        /// The data file.
        path: PathBuf,
        /// Its size.
        len: u64,
        /// What the tree covers.
        expected: u64,
        /// Data blocks in the superblock.
        blocks: u64,
        /// Data block size in the superblock.
        block: u32,
    },
    /// A data stream that ended before the length it was said to have.
    #[error("data {path} ended after {read} of {expected} bytes")]
    DataEnded {
        /// The data file or stream.
        path: PathBuf,
        /// Bytes read.
        read: u64,
        /// Bytes expected.
        expected: u64,
    },
    /// A hash file shorter than its tree.
    #[error("hash file {path} is truncated: {len} bytes, the tree needs {expected}")]
    HashTruncated {
        /// The hash file.
        path: PathBuf,
        /// Its size.
        len: u64,
        /// The size of superblock and tree.
        expected: u64,
    },
    /// A superblock that stela cannot read.
    #[error("invalid verity superblock in {path}")]
    Superblock {
        /// The hash file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: SuperblockError,
    },
    /// Data and hash file are the same file: writing would destroy the data.
    #[error("hash file {hash} is the data file {data}")]
    SameFile {
        /// The data file.
        data: PathBuf,
        /// The hash file.
        hash: PathBuf,
    },
    /// Opening a file.
    #[error("opening {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading a file.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing a file.
    #[error("writing {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Creating the temporary file the output is written to before its rename.
    #[error("creating a temporary file beside {path}")]
    TempFile {
        /// The output file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Renaming the finished temporary file to the output.
    #[error("renaming the temporary file to {path}")]
    Persist {
        /// The output file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The operating system gave no random bytes for the salt.
    #[error("getting random bytes for the salt")]
    Random {
        /// Why.
        #[source]
        source: getrandom::Error,
    },
}
