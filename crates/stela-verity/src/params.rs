//! Validated parameters: block sizes, salt, root hash, and what goes into a hash tree.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::{ParamError, VerityError};

/// Size in bytes of a SHA-256 digest, the only hash stela writes.
pub const DIGEST_SIZE: usize = 32;

/// The hash algorithm name as the superblock stores it.
pub const ALGORITHM: &str = "sha256";

/// A data or hash block size: a power of two from 512 to 65536 bytes, as the kernel accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockSize(u32);

impl BlockSize {
    /// The smallest block size, one sector.
    pub const MIN: u32 = 512;
    /// The largest block size dm-verity takes.
    pub const MAX: u32 = 65536;
    /// 4096 bytes, veritysetup's default for both data and hash blocks.
    pub const DEFAULT: BlockSize = BlockSize(4096);

    /// Check `bytes` is a power of two in `512..=65536`.
    pub fn new(bytes: u32) -> Result<Self, ParamError> {
        if (Self::MIN..=Self::MAX).contains(&bytes) && bytes.is_power_of_two() {
            Ok(Self(bytes))
        } else {
            Err(ParamError::BlockSize { value: bytes })
        }
    }

    /// The size in bytes.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The size in bytes, as a `u64` for file offsets.
    pub fn bytes(self) -> u64 {
        u64::from(self.0)
    }

    /// The size in bytes, as a `usize` for buffers.
    pub fn as_usize(self) -> usize {
        // A u32 of at most 65536 always fits.
        self.0 as usize
    }
}

impl Default for BlockSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for BlockSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for BlockSize {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let value = s.parse().map_err(|_| ParamError::BlockSizeText {
            input: s.to_owned(),
        })?;
        Self::new(value)
    }
}

/// The salt prepended to every block before hashing (format version 1): at most 256 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Salt(Vec<u8>);

impl Salt {
    /// The largest salt the superblock can hold.
    pub const MAX_LEN: usize = 256;
    /// The length of a random salt, as veritysetup makes it.
    pub const RANDOM_LEN: usize = 32;

    /// Check `bytes` fits in the superblock.
    pub fn new(bytes: Vec<u8>) -> Result<Self, ParamError> {
        if bytes.len() > Self::MAX_LEN {
            return Err(ParamError::SaltTooLong { len: bytes.len() });
        }
        Ok(Self(bytes))
    }

    /// 32 random bytes from the operating system.
    pub fn random() -> Result<Self, VerityError> {
        let mut bytes = vec![0u8; Self::RANDOM_LEN];
        getrandom::fill(&mut bytes).map_err(|source| VerityError::Random { source })?;
        Ok(Self(bytes))
    }

    /// The salt bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Lowercase hex, or `-` for an empty salt as veritysetup prints it.
impl fmt::Display for Salt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("-")
        } else {
            f.write_str(&hex::encode(&self.0))
        }
    }
}

/// Hex, or `-` (or nothing) for an empty salt, as veritysetup's `--salt` takes it.
impl FromStr for Salt {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "-" {
            return Ok(Self::default());
        }
        let bytes = hex::decode(s).map_err(|_| ParamError::SaltText {
            input: s.to_owned(),
        })?;
        Self::new(bytes)
    }
}

/// The root hash of a tree: SHA-256 of the salt followed by the top hash block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RootHash([u8; DIGEST_SIZE]);

impl RootHash {
    /// Wrap a digest.
    pub fn from_bytes(bytes: [u8; DIGEST_SIZE]) -> Self {
        Self(bytes)
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; DIGEST_SIZE] {
        &self.0
    }
}

/// Lowercase hex, as veritysetup prints it and as `usrhash=` takes it.
impl fmt::Display for RootHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// 64 hex digits, either case.
impl FromStr for RootHash {
    type Err = ParamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; DIGEST_SIZE];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| ParamError::RootHashText {
            input: s.to_owned(),
        })?;
        Ok(Self(bytes))
    }
}

/// Whether the hash file starts with a superblock describing the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// A 512-byte superblock, padded to a hash block, then the tree (veritysetup's default).
    Superblock {
        /// Identifies the hash device; `veritysetup` prints it, systemd does not use it.
        uuid: Uuid,
    },
    /// The tree alone, from offset 0 (`veritysetup --no-superblock`): the parameters must
    /// then be given again to verify or activate it.
    NoSuperblock,
}

/// What to build a tree with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityParams {
    /// Size of the data blocks the tree covers.
    pub data_block_size: BlockSize,
    /// Size of the hash blocks, which hold `hash_block_size / 32` digests each.
    pub hash_block_size: BlockSize,
    /// Salt prepended to every block before hashing.
    pub salt: Salt,
    /// Superblock or not.
    pub header: Header,
}

impl VerityParams {
    /// veritysetup's defaults: 4096-byte blocks, a random 32-byte salt, a superblock with a
    /// random version 4 UUID.
    pub fn new() -> Result<Self, VerityError> {
        Ok(Self {
            data_block_size: BlockSize::DEFAULT,
            hash_block_size: BlockSize::DEFAULT,
            salt: Salt::random()?,
            header: Header::Superblock {
                uuid: Uuid::new_v4(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes() {
        for ok in [512, 1024, 4096, 65536] {
            assert_eq!(BlockSize::new(ok).map(BlockSize::get), Ok(ok));
        }
        for bad in [0, 256, 511, 513, 3000, 131072] {
            assert!(BlockSize::new(bad).is_err(), "{bad} accepted");
        }
        assert!("4096".parse::<BlockSize>().is_ok());
        assert!("4k".parse::<BlockSize>().is_err());
    }

    #[test]
    fn salt_text() {
        assert_eq!("-".parse::<Salt>().map(|s| s.to_string()), Ok("-".into()));
        assert_eq!(
            "AB01".parse::<Salt>().map(|s| s.to_string()),
            Ok("ab01".into())
        );
        assert!("abc".parse::<Salt>().is_err());
        assert!("zz".parse::<Salt>().is_err());
        assert!(Salt::new(vec![0; 256]).is_ok());
        assert_eq!(
            Salt::new(vec![0; 257]),
            Err(ParamError::SaltTooLong { len: 257 })
        );
        let random = Salt::random().map(|s| s.as_bytes().len());
        assert!(matches!(random, Ok(32)));
    }

    #[test]
    fn root_hash_round_trip() -> Result<(), ParamError> {
        let text = "075111a8c59728030211ac1f8de212a31c1bc11da9913b30d255bb671a87f1ae";
        let hash: RootHash = text.to_uppercase().parse()?;
        assert_eq!(hash.to_string(), text);
        assert!(text[1..].parse::<RootHash>().is_err());
        Ok(())
    }
}
