//! Repairs two flaws of fatfs 0.3.6 directories that fsck.fat reports (and firmware
//! may trip over): every new directory starts with a long-name entry before "." and
//! another before "..", where FAT requires "." in slot 0 and ".." in slot 1; and ".." of
//! a directory in the root holds cluster 2 where the FAT specification says 0.
//!
//! After fatfs has unmounted, each directory's first four slots `[lfn(.), ., lfn(..), ..]`
//! become `[., .., deleted, deleted]`. The walk reads the volume itself (boot sector,
//! FAT chains), so it depends on nothing fatfs keeps in memory.

use std::io::{self, Read, Seek, SeekFrom, Write};

const ENTRY: usize = 32;
const ATTR_LONG_NAME: u8 = 0x0F;
const ATTR_VOLUME_ID: u8 = 0x08;
const ATTR_DIRECTORY: u8 = 0x10;
const DELETED: u8 = 0xE5;
const END_OF_CHAIN: u32 = 0x0FFF_FFF8;

struct Volume {
    bytes_per_cluster: u64,
    fat_offset: u64,
    data_offset: u64,
    root_cluster: u32,
}

impl Volume {
    fn read<D: Read + Seek>(disk: &mut D) -> io::Result<Volume> {
        let mut boot = [0u8; 512];
        disk.seek(SeekFrom::Start(0))?;
        disk.read_exact(&mut boot)?;
        let bytes_per_sector = u64::from(u16::from_le_bytes([boot[11], boot[12]]));
        let sectors_per_cluster = u64::from(boot[13]);
        let reserved = u64::from(u16::from_le_bytes([boot[14], boot[15]]));
        let fats = u64::from(boot[16]);
        let sectors_per_fat =
            u64::from(u32::from_le_bytes([boot[36], boot[37], boot[38], boot[39]]));
        let root_cluster = u32::from_le_bytes([boot[44], boot[45], boot[46], boot[47]]);
        Ok(Volume {
            bytes_per_cluster: bytes_per_sector * sectors_per_cluster,
            fat_offset: reserved * bytes_per_sector,
            data_offset: (reserved + fats * sectors_per_fat) * bytes_per_sector,
            root_cluster,
        })
    }

    fn cluster_offset(&self, cluster: u32) -> u64 {
        self.data_offset + u64::from(cluster - 2) * self.bytes_per_cluster
    }

    /// The clusters of the chain starting at `first`.
    fn chain<D: Read + Seek>(&self, disk: &mut D, first: u32) -> io::Result<Vec<u32>> {
        let mut chain = vec![first];
        let mut cluster = first;
        loop {
            let mut entry = [0u8; 4];
            disk.seek(SeekFrom::Start(self.fat_offset + 4 * u64::from(cluster)))?;
            disk.read_exact(&mut entry)?;
            let next = u32::from_le_bytes(entry) & 0x0FFF_FFFF;
            if !(2..END_OF_CHAIN).contains(&next) {
                return Ok(chain);
            }
            if chain.len() > 1 << 20 || chain.contains(&next) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "directory cluster chain loops",
                ));
            }
            chain.push(next);
            cluster = next;
        }
    }
}

/// Rewrites the first slots of every directory below the root; see the module docs.
pub(crate) fn fix_directories<D: Read + Write + Seek>(disk: &mut D) -> io::Result<()> {
    let volume = Volume::read(disk)?;
    // (directory's first cluster, whether its parent is the root)
    let mut pending = vec![(volume.root_cluster, false)];
    while let Some((first, in_root)) = pending.pop() {
        let is_root = first == volume.root_cluster;
        if !is_root {
            fix_dot_entries(disk, &volume, first, in_root)?;
        }
        let mut bytes = Vec::new();
        for cluster in volume.chain(disk, first)? {
            let mut buf = vec![0u8; volume.bytes_per_cluster as usize];
            disk.seek(SeekFrom::Start(volume.cluster_offset(cluster)))?;
            disk.read_exact(&mut buf)?;
            bytes.extend_from_slice(&buf);
        }
        for entry in bytes.chunks_exact(ENTRY) {
            match entry[0] {
                0x00 => break,
                DELETED | b'.' => continue,
                _ => {}
            }
            let attr = entry[11];
            if attr == ATTR_LONG_NAME || attr & ATTR_VOLUME_ID != 0 || attr & ATTR_DIRECTORY == 0 {
                continue;
            }
            let cluster = u32::from(u16::from_le_bytes([entry[26], entry[27]]))
                | u32::from(u16::from_le_bytes([entry[20], entry[21]])) << 16;
            if cluster >= 2 {
                pending.push((cluster, is_root));
            }
        }
    }
    disk.flush()
}

fn fix_dot_entries<D: Read + Write + Seek>(
    disk: &mut D,
    volume: &Volume,
    first: u32,
    in_root: bool,
) -> io::Result<()> {
    let at = volume.cluster_offset(first);
    let mut slots = [0u8; 4 * ENTRY];
    disk.seek(SeekFrom::Start(at))?;
    disk.read_exact(&mut slots)?;
    let name = |i: usize| &slots[i * ENTRY..i * ENTRY + 11];
    let attr = |i: usize| slots[i * ENTRY + 11];
    let fatfs_layout = attr(0) == ATTR_LONG_NAME
        && name(1) == b".          "
        && attr(2) == ATTR_LONG_NAME
        && name(3) == b"..         ";
    let mut fixed = [0u8; 4 * ENTRY];
    if fatfs_layout {
        fixed[..ENTRY].copy_from_slice(&slots[ENTRY..2 * ENTRY]);
        fixed[ENTRY..2 * ENTRY].copy_from_slice(&slots[3 * ENTRY..]);
        fixed[2 * ENTRY] = DELETED;
        fixed[3 * ENTRY] = DELETED;
    } else if name(0) == b".          " && name(1) == b"..         " {
        fixed = slots;
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("directory at cluster {first} does not start with \".\" and \"..\""),
        ));
    }
    if in_root {
        // FAT specification: ".." of a directory in the root holds cluster 0.
        fixed[ENTRY + 20..ENTRY + 22].fill(0);
        fixed[ENTRY + 26..ENTRY + 28].fill(0);
    }
    disk.seek(SeekFrom::Start(at))?;
    disk.write_all(&fixed)
}
