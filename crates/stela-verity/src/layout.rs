//! Where every level of the tree sits in the hash file, computed from sizes alone.
//!
//! What veritysetup 2.6 writes (checked by experiment, pinned by the tests against it):
//! - the superblock at offset 0, zero padded to a whole hash block; the tree starts at
//!   `hash_block_size * ceil(512 / hash_block_size)` (offset 0 without a superblock);
//! - the top level first, the level of data-block hashes (level 0 here) last;
//! - each level a run of hash blocks holding `hash_block_size / 32` digests each, the last
//!   block of a level zero padded; a level has `ceil(entries below / digests per block)`
//!   blocks, and levels are added until one block holds them all;
//! - a single data block needs no tree: its own hash is the root hash.

use crate::params::{BlockSize, Header, DIGEST_SIZE};
use crate::superblock::SUPERBLOCK_SIZE;

/// One level of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    /// Byte offset of its first hash block in the hash file.
    pub offset: u64,
    /// Number of hash blocks.
    pub blocks: u64,
    /// Number of digests (blocks of the level below, or data blocks for level 0).
    pub entries: u64,
}

/// The shape of a tree: sizes and level offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    data_block_size: BlockSize,
    hash_block_size: BlockSize,
    data_blocks: u64,
    tree_offset: u64,
    levels: Vec<Level>,
}

impl Layout {
    /// Plan the tree over `data_blocks` blocks. `None` if its size overflows 64 bits or
    /// there is no data block.
    pub fn new(
        data_blocks: u64,
        data_block_size: BlockSize,
        hash_block_size: BlockSize,
        header: &Header,
    ) -> Option<Self> {
        if data_blocks == 0 {
            return None;
        }
        data_blocks.checked_mul(data_block_size.bytes())?;
        let hbs = hash_block_size.bytes();
        let tree_offset = match header {
            Header::Superblock { .. } => (SUPERBLOCK_SIZE as u64).div_ceil(hbs) * hbs,
            Header::NoSuperblock => 0,
        };
        let per_block = hbs / DIGEST_SIZE as u64;
        // Bottom up: entries and blocks of each level.
        let mut shape = Vec::new();
        let mut entries = data_blocks;
        while entries > 1 {
            let blocks = entries.div_ceil(per_block);
            shape.push((entries, blocks));
            entries = blocks;
        }
        // Top down on disk: the highest level first.
        let mut levels = vec![
            Level {
                offset: 0,
                blocks: 0,
                entries: 0
            };
            shape.len()
        ];
        let mut offset = tree_offset;
        for (i, &(entries, blocks)) in shape.iter().enumerate().rev() {
            levels[i] = Level {
                offset,
                blocks,
                entries,
            };
            offset = offset.checked_add(blocks.checked_mul(hbs)?)?;
        }
        Some(Self {
            data_block_size,
            hash_block_size,
            data_blocks,
            tree_offset,
            levels,
        })
    }

    /// Data block size.
    pub fn data_block_size(&self) -> BlockSize {
        self.data_block_size
    }

    /// Hash block size.
    pub fn hash_block_size(&self) -> BlockSize {
        self.hash_block_size
    }

    /// Number of data blocks covered.
    pub fn data_blocks(&self) -> u64 {
        self.data_blocks
    }

    /// Bytes of data covered.
    pub fn data_size(&self) -> u64 {
        // Checked in `new`.
        self.data_blocks * self.data_block_size.bytes()
    }

    /// Byte offset of the tree (its top level) in the hash file.
    pub fn tree_offset(&self) -> u64 {
        self.tree_offset
    }

    /// The levels, index 0 holding the digests of the data blocks.
    pub fn levels(&self) -> &[Level] {
        &self.levels
    }

    /// Digests in a hash block.
    pub fn digests_per_block(&self) -> u64 {
        self.hash_block_size.bytes() / DIGEST_SIZE as u64
    }

    /// Hash blocks in the tree (without the superblock).
    pub fn hash_blocks(&self) -> u64 {
        self.levels.iter().map(|l| l.blocks).sum()
    }

    /// Size of the hash file: superblock, padding and tree.
    pub fn hash_size(&self) -> u64 {
        // Checked in `new`: the last level ends there.
        self.tree_offset + self.hash_blocks() * self.hash_block_size.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(blocks: u64, dbs: u32, hbs: u32, header: &Header) -> Layout {
        let (Ok(d), Ok(h)) = (BlockSize::new(dbs), BlockSize::new(hbs)) else {
            panic!("bad block size in test");
        };
        Layout::new(blocks, d, h, header).unwrap_or_else(|| panic!("no layout"))
    }

    #[test]
    fn sizes_as_veritysetup() {
        let sb = Header::Superblock {
            uuid: uuid::Uuid::nil(),
        };
        // (data blocks, data bs, hash bs, header, "Hash device size" veritysetup printed)
        let cases = [
            (1, 4096, 4096, sb, 4096),
            (2, 4096, 4096, sb, 8192),
            (128, 4096, 4096, sb, 8192),
            (129, 4096, 4096, sb, 16384),
            (16384, 4096, 4096, sb, 532480),
            (16385, 4096, 4096, sb, 544768),
            (300, 512, 512, sb, 11776),
            (300, 512, 4096, sb, 20480),
            (129, 4096, 1024, sb, 7168),
            (129, 4096, 4096, Header::NoSuperblock, 12288),
            (1, 4096, 4096, Header::NoSuperblock, 0),
        ];
        for (blocks, dbs, hbs, header, size) in cases {
            let l = layout(blocks, dbs, hbs, &header);
            assert_eq!(
                l.hash_size(),
                size,
                "{blocks} x {dbs}, hash {hbs}, {header:?}"
            );
        }
    }

    #[test]
    fn top_level_first() {
        let l = layout(16385, 4096, 4096, &Header::NoSuperblock);
        let got: Vec<_> = l
            .levels()
            .iter()
            .map(|l| (l.offset, l.blocks, l.entries))
            .collect();
        assert_eq!(got, [(3 * 4096, 129, 16385), (4096, 2, 129), (0, 1, 2)]);
    }

    #[test]
    fn refuses_nothing_and_overflow() {
        let d = BlockSize::DEFAULT;
        assert!(Layout::new(0, d, d, &Header::NoSuperblock).is_none());
        assert!(Layout::new(u64::MAX / 1024, d, d, &Header::NoSuperblock).is_none());
    }
}
