//! The 512-byte superblock veritysetup writes at the start of the hash file.
//!
//! Layout (cryptsetup `lib/verity/verity.c`, `struct verity_sb`; all integers little-endian):
//!
//! ```text
//! 0x000  signature[8]       "verity\0\0"
//! 0x008  version: u32       1
//! 0x00c  hash_type: u32     1 = salt prepended to each block (0 is Chrome OS)
//! 0x010  uuid[16]           RFC 4122 byte order
//! 0x020  algorithm[32]      "sha256", NUL padded
//! 0x040  data_block_size: u32
//! 0x044  hash_block_size: u32
//! 0x048  data_blocks: u64
//! 0x050  salt_size: u16
//! 0x052  _pad1[6]
//! 0x058  salt[256]          salt_size bytes used, rest zero
//! 0x158  _pad2[168]         zero
//! ```
//!
//! The tree then starts at the next hash block boundary; the bytes between are zero.

use uuid::Uuid;

use crate::error::SuperblockError;
use crate::params::{BlockSize, Salt, ALGORITHM};

/// Size of the on-disk superblock.
pub const SUPERBLOCK_SIZE: usize = 512;

const MAGIC: [u8; 8] = *b"verity\0\0";
const VERSION: u32 = 1;
const HASH_TYPE: u32 = 1;

const OFF_VERSION: usize = 0x08;
const OFF_HASH_TYPE: usize = 0x0c;
const OFF_UUID: usize = 0x10;
const OFF_ALGORITHM: usize = 0x20;
const ALGORITHM_LEN: usize = 32;
const OFF_DATA_BLOCK_SIZE: usize = 0x40;
const OFF_HASH_BLOCK_SIZE: usize = 0x44;
const OFF_DATA_BLOCKS: usize = 0x48;
const OFF_SALT_SIZE: usize = 0x50;
const OFF_SALT: usize = 0x58;

/// A validated superblock: version 1, hash type 1, sha256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// UUID of the hash device.
    pub uuid: Uuid,
    /// Data block size.
    pub data_block_size: BlockSize,
    /// Hash block size.
    pub hash_block_size: BlockSize,
    /// Number of data blocks the tree covers.
    pub data_blocks: u64,
    /// Salt.
    pub salt: Salt,
}

impl Superblock {
    /// The on-disk bytes.
    pub fn to_bytes(&self) -> [u8; SUPERBLOCK_SIZE] {
        let mut b = [0u8; SUPERBLOCK_SIZE];
        b[..8].copy_from_slice(&MAGIC);
        put(&mut b, OFF_VERSION, &VERSION.to_le_bytes());
        put(&mut b, OFF_HASH_TYPE, &HASH_TYPE.to_le_bytes());
        put(&mut b, OFF_UUID, self.uuid.as_bytes());
        put(&mut b, OFF_ALGORITHM, ALGORITHM.as_bytes());
        put(
            &mut b,
            OFF_DATA_BLOCK_SIZE,
            &self.data_block_size.get().to_le_bytes(),
        );
        put(
            &mut b,
            OFF_HASH_BLOCK_SIZE,
            &self.hash_block_size.get().to_le_bytes(),
        );
        put(&mut b, OFF_DATA_BLOCKS, &self.data_blocks.to_le_bytes());
        let salt = self.salt.as_bytes();
        // Salt::new keeps it at most 256 bytes, so the length fits in u16.
        put(&mut b, OFF_SALT_SIZE, &(salt.len() as u16).to_le_bytes());
        put(&mut b, OFF_SALT, salt);
        b
    }

    /// Read and validate the on-disk bytes.
    pub fn parse(b: &[u8; SUPERBLOCK_SIZE]) -> Result<Self, SuperblockError> {
        let magic: [u8; 8] = array(b, 0);
        if magic != MAGIC {
            return Err(SuperblockError::BadMagic { found: magic });
        }
        let version = u32::from_le_bytes(array(b, OFF_VERSION));
        if version != VERSION {
            return Err(SuperblockError::Version { version });
        }
        let hash_type = u32::from_le_bytes(array(b, OFF_HASH_TYPE));
        if hash_type != HASH_TYPE {
            return Err(SuperblockError::HashType { hash_type });
        }
        let alg = &b[OFF_ALGORITHM..OFF_ALGORITHM + ALGORITHM_LEN];
        let alg = alg.split(|&c| c == 0).next().unwrap_or_default();
        if alg != ALGORITHM.as_bytes() {
            return Err(SuperblockError::Algorithm {
                name: String::from_utf8_lossy(alg).into_owned(),
            });
        }
        let block = |field, off| {
            let value = u32::from_le_bytes(array(b, off));
            BlockSize::new(value).map_err(|_| SuperblockError::BlockSize { field, value })
        };
        let data_block_size = block("data_block_size", OFF_DATA_BLOCK_SIZE)?;
        let hash_block_size = block("hash_block_size", OFF_HASH_BLOCK_SIZE)?;
        let data_blocks = u64::from_le_bytes(array(b, OFF_DATA_BLOCKS));
        if data_blocks == 0 {
            return Err(SuperblockError::NoDataBlocks);
        }
        if data_blocks.checked_mul(data_block_size.bytes()).is_none() {
            return Err(SuperblockError::TooLarge {
                blocks: data_blocks,
                block: data_block_size.get(),
            });
        }
        let size = u16::from_le_bytes(array(b, OFF_SALT_SIZE));
        // The size is checked before the slice: a hostile superblock claims up to 65535
        // bytes of a 256-byte field.
        let salt = b
            .get(OFF_SALT..OFF_SALT + usize::from(size))
            .and_then(|bytes| Salt::new(bytes.to_vec()).ok())
            .ok_or(SuperblockError::SaltSize { size })?;
        Ok(Self {
            uuid: Uuid::from_bytes(array(b, OFF_UUID)),
            data_block_size,
            hash_block_size,
            data_blocks,
            salt,
        })
    }
}

fn put(b: &mut [u8; SUPERBLOCK_SIZE], off: usize, bytes: &[u8]) {
    b[off..off + bytes.len()].copy_from_slice(bytes);
}

fn array<const N: usize>(b: &[u8; SUPERBLOCK_SIZE], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[off..off + N]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn sample() -> Result<Superblock, Box<dyn std::error::Error>> {
        Ok(Superblock {
            uuid: "12345678-9abc-4def-8123-456789abcdef".parse()?,
            data_block_size: BlockSize::new(4096)?,
            hash_block_size: BlockSize::new(4096)?,
            data_blocks: 2,
            salt: "1234".parse()?,
        })
    }

    #[test]
    fn bytes_as_veritysetup_writes_them() -> TestResult {
        // First 0x60 bytes of `veritysetup format --salt 1234 --uuid 12345678-...` on 8 KiB.
        let expected = hex::decode(concat!(
            "7665726974790000",
            "01000000",
            "01000000",
            "123456789abc4def8123456789abcdef",
            "7368613235360000000000000000000000000000000000000000000000000000",
            "00100000",
            "00100000",
            "0200000000000000",
            "0200",
            "000000000000",
            "1234",
        ))?;
        let b = sample()?.to_bytes();
        assert_eq!(&b[..expected.len()], &expected[..]);
        assert!(b[expected.len()..].iter().all(|&c| c == 0));
        Ok(())
    }

    #[test]
    fn round_trip() -> TestResult {
        let sb = sample()?;
        assert_eq!(Superblock::parse(&sb.to_bytes())?, sb);
        Ok(())
    }

    #[test]
    fn rejects_each_bad_field() -> TestResult {
        let good = sample()?.to_bytes();
        let cases: [(usize, &[u8], SuperblockError); 7] = [
            (
                0,
                b"verify",
                SuperblockError::BadMagic {
                    found: *b"verify\0\0",
                },
            ),
            (OFF_VERSION, &[2], SuperblockError::Version { version: 2 }),
            (
                OFF_HASH_TYPE,
                &[0],
                SuperblockError::HashType { hash_type: 0 },
            ),
            (
                OFF_ALGORITHM,
                b"sha1\0",
                SuperblockError::Algorithm {
                    name: "sha1".into(),
                },
            ),
            (
                OFF_HASH_BLOCK_SIZE,
                &[0, 3],
                SuperblockError::BlockSize {
                    field: "hash_block_size",
                    value: 768,
                },
            ),
            (
                OFF_SALT_SIZE,
                &[1, 1],
                SuperblockError::SaltSize { size: 257 },
            ),
            (OFF_DATA_BLOCKS, &[0], SuperblockError::NoDataBlocks),
        ];
        for (off, bytes, expected) in cases {
            let mut b = good;
            b[off..off + bytes.len()].copy_from_slice(bytes);
            assert_eq!(Superblock::parse(&b), Err(expected));
        }
        Ok(())
    }
}
