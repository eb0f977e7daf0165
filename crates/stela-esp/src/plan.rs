//! Planning: validate names, pick the FAT32 geometry, check that every file fits.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::EspError;
use crate::names::{path_components, VolumeLabel};

/// Sector size of the image.
pub const SECTOR_SIZE: u64 = 512;
/// Fewest clusters a FAT32 volume may have (Microsoft's FAT specification: fewer and
/// every implementation, fsck.fat included, reads the volume as FAT16).
pub const FAT32_MIN_CLUSTERS: u32 = 65525;
/// Most clusters of a FAT32 volume (28-bit entries less the reserved values).
pub const FAT32_MAX_CLUSTERS: u32 = 0x0FFF_FFF4;
/// Reserved sectors fatfs puts before the FATs on FAT32 (boot sector, FSInfo, backup).
const RESERVED_SECTORS: u64 = 8;
const FATS: u64 = 2;
/// Size of a directory entry.
const DIR_ENTRY: u64 = 32;
/// Cluster sizes tried, preferred first: 4 KiB matches page and verity block sizes and
/// keeps the FAT small; smaller ones let small images reach the FAT32 cluster minimum.
const PREFERRED_CLUSTER_SIZES: [u32; 4] = [4096, 2048, 1024, 512];
/// Larger clusters for images too large for 4 KiB ones (32 KiB is the portable maximum).
const LARGE_CLUSTER_SIZES: [u32; 3] = [8192, 16384, 32768];

/// Where a file's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// A file on the build host, read when the image is written.
    HostFile(PathBuf),
}

/// What goes into an ESP image; [`EspBuilder::plan`] checks it.
#[derive(Clone, Debug)]
pub struct EspBuilder {
    size: u64,
    label: String,
    volume_id: u32,
    files: Vec<(String, Source)>,
}

/// Volume ID used unless [`EspBuilder::volume_id`] sets one: fixed, so that the same
/// input gives the same image ("STLA" in ASCII).
pub const DEFAULT_VOLUME_ID: u32 = 0x5354_4c41;

impl EspBuilder {
    /// An ESP of `size` bytes labelled `ESP`, with volume ID [`DEFAULT_VOLUME_ID`].
    pub fn new(size: u64) -> EspBuilder {
        EspBuilder {
            size,
            label: "ESP".to_owned(),
            volume_id: DEFAULT_VOLUME_ID,
            files: Vec::new(),
        }
    }

    /// Sets the volume label (checked by [`EspBuilder::plan`], see [`VolumeLabel::new`]).
    pub fn label(mut self, label: &str) -> EspBuilder {
        self.label = label.to_owned();
        self
    }

    /// Sets the 32-bit volume ID (the "serial number", shown as `XXXX-XXXX`).
    pub fn volume_id(mut self, volume_id: u32) -> EspBuilder {
        self.volume_id = volume_id;
        self
    }

    /// Adds a file at `path` inside the ESP (`/`-separated, e.g. `EFI/BOOT/BOOTX64.EFI`);
    /// the directories above it are created.
    pub fn file(mut self, path: &str, source: Source) -> EspBuilder {
        self.files.push((path.to_owned(), source));
        self
    }

    /// Adds a file with the given bytes.
    pub fn bytes(self, path: &str, bytes: impl Into<Vec<u8>>) -> EspBuilder {
        self.file(path, Source::Bytes(bytes.into()))
    }

    /// Adds a copy of a host file.
    pub fn host_file(self, path: &str, host: impl Into<PathBuf>) -> EspBuilder {
        self.file(path, Source::HostFile(host.into()))
    }

    /// Validates label and paths, measures host files, picks the cluster size and checks
    /// that all directories and files fit.
    pub fn plan(self) -> Result<EspPlan, EspError> {
        let label = VolumeLabel::new(&self.label)?;
        let geometry = Geometry::choose(self.size)?;

        // Key: upper-cased path, as FAT compares names; value: the path as given.
        let mut files: BTreeMap<String, PlannedFile> = BTreeMap::new();
        // Directory (upper-cased) -> the names of its children, for the size estimate.
        let mut dirs: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        dirs.insert(String::new(), (String::new(), Vec::new()));
        for (path, source) in self.files {
            let components = path_components(&path)?;
            let key = path.to_uppercase();
            if let Some(other) = files.get(&key) {
                return Err(EspError::DuplicatePath {
                    other: other.path.clone(),
                    path,
                });
            }
            let len = match &source {
                Source::Bytes(b) => b.len() as u64,
                Source::HostFile(host) => std::fs::metadata(host)
                    .map_err(|source| EspError::HostFile {
                        path: path.clone(),
                        host: host.clone(),
                        source,
                    })?
                    .len(),
            };
            let mut parent = String::new();
            for (depth, name) in components.iter().enumerate() {
                let here = components[..=depth].join("/");
                let here_key = here.to_uppercase();
                let siblings = &mut dirs.entry(parent.clone()).or_default().1;
                if !siblings
                    .iter()
                    .any(|s| s.to_uppercase() == name.to_uppercase())
                {
                    siblings.push((*name).to_owned());
                }
                if depth + 1 < components.len() {
                    if let Some(file) = files.get(&here_key) {
                        return Err(EspError::FileAsDirectory {
                            path,
                            file: file.path.clone(),
                        });
                    }
                    dirs.entry(here_key.clone())
                        .or_insert_with(|| (here.clone(), Vec::new()));
                }
                parent = here_key;
            }
            if let Some((dir, _)) = dirs.get(&key) {
                return Err(EspError::FileAsDirectory {
                    path: dir.clone(),
                    file: path,
                });
            }
            files.insert(key, PlannedFile { path, source, len });
        }

        // Space: directories first (as they are created), then files in path order.
        let cluster = u64::from(geometry.bytes_per_cluster);
        let clusters_for = |bytes: u64| bytes.div_ceil(cluster);
        let mut free = u64::from(geometry.clusters);
        for (key, (path, children)) in &dirs {
            // Each child: one short entry and up to 20 long-name entries of 13 UTF-16
            // units; "." and ".." in subdirectories.
            let entries: u64 = children
                .iter()
                .map(|n| 1 + (n.encode_utf16().count() as u64).div_ceil(13))
                .sum::<u64>()
                + if key.is_empty() { 0 } else { 2 };
            let needed = clusters_for(entries * DIR_ENTRY).max(1);
            free = free
                .checked_sub(needed)
                .ok_or_else(|| EspError::DirectoryDoesNotFit {
                    path: if path.is_empty() {
                        "/".into()
                    } else {
                        path.clone()
                    },
                    image_size: self.size,
                })?;
        }
        for file in files.values() {
            let needed = clusters_for(file.len);
            free = free
                .checked_sub(needed)
                .ok_or_else(|| EspError::FileDoesNotFit {
                    path: file.path.clone(),
                    size: file.len,
                    free: free * cluster,
                    image_size: self.size,
                })?;
        }

        Ok(EspPlan {
            size: self.size,
            label,
            volume_id: self.volume_id,
            geometry,
            directories: dirs
                .into_values()
                .map(|(path, _)| path)
                .filter(|p| !p.is_empty())
                .collect(),
            files: files.into_values().collect(),
        })
    }
}

/// A file placed in the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFile {
    /// Path inside the ESP, as given.
    pub path: String,
    /// Where the bytes come from.
    pub source: Source,
    /// Size in bytes, measured when planned.
    pub len: u64,
}

/// The FAT32 geometry fatfs will produce for a size and cluster size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) bytes_per_cluster: u32,
    pub(crate) clusters: u32,
}

impl Geometry {
    /// Clusters of a FAT32 volume of `sectors` with `spc` sectors per cluster, computed
    /// as fatfs 0.3.6 sizes its FAT (`determine_sectors_per_fat`, rounding the FAT up).
    fn clusters(sectors: u64, spc: u64) -> u64 {
        let t0 = sectors.saturating_sub(RESERVED_SECTORS);
        let entries_per_fat_sector = SECTOR_SIZE / 4;
        let per_cluster = spc * entries_per_fat_sector + FATS;
        let sectors_per_fat = (t0 + 2 * spc).div_ceil(per_cluster);
        t0.saturating_sub(FATS * sectors_per_fat) / spc
    }

    pub(crate) fn choose(size: u64) -> Result<Geometry, EspError> {
        if size % SECTOR_SIZE != 0 {
            return Err(EspError::UnalignedSize { size });
        }
        let max = u64::from(u32::MAX) * SECTOR_SIZE;
        if size > max {
            return Err(EspError::TooLarge { size, max });
        }
        let sectors = size / SECTOR_SIZE;
        let fits = |bpc: u32| {
            let n = Self::clusters(sectors, u64::from(bpc) / SECTOR_SIZE);
            (n >= u64::from(FAT32_MIN_CLUSTERS) && n <= u64::from(FAT32_MAX_CLUSTERS)).then_some(
                Geometry {
                    bytes_per_cluster: bpc,
                    clusters: n as u32,
                },
            )
        };
        if let Some(g) = PREFERRED_CLUSTER_SIZES
            .iter()
            .chain(&LARGE_CLUSTER_SIZES)
            .find_map(|&b| fits(b))
        {
            return Ok(g);
        }
        if Self::clusters(sectors, 1) < u64::from(FAT32_MIN_CLUSTERS) {
            // The smallest size with enough 512-byte clusters.
            let (mut lo, mut hi) = (sectors, u64::from(FAT32_MIN_CLUSTERS) * 2);
            while lo < hi {
                let mid = (lo + hi) / 2;
                if Self::clusters(mid, 1) >= u64::from(FAT32_MIN_CLUSTERS) {
                    hi = mid
                } else {
                    lo = mid + 1
                }
            }
            return Err(EspError::TooSmall {
                size,
                min: lo * SECTOR_SIZE,
            });
        }
        Err(EspError::TooLarge {
            size,
            max: u64::from(FAT32_MAX_CLUSTERS) * 32768,
        })
    }
}

/// A checked ESP: geometry chosen, every file measured and known to fit.
#[derive(Clone, Debug)]
pub struct EspPlan {
    pub(crate) size: u64,
    pub(crate) label: VolumeLabel,
    pub(crate) volume_id: u32,
    pub(crate) geometry: Geometry,
    pub(crate) directories: Vec<String>,
    pub(crate) files: Vec<PlannedFile>,
}

impl EspPlan {
    /// Image size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// The volume label.
    pub fn label(&self) -> &VolumeLabel {
        &self.label
    }
    /// The volume ID.
    pub fn volume_id(&self) -> u32 {
        self.volume_id
    }
    /// Cluster size chosen.
    pub fn bytes_per_cluster(&self) -> u32 {
        self.geometry.bytes_per_cluster
    }
    /// Number of data clusters.
    pub fn cluster_count(&self) -> u32 {
        self.geometry.clusters
    }
    /// Directories to create, parents before children.
    pub fn directories(&self) -> &[String] {
        &self.directories
    }
    /// Files, in the order they are written (sorted by upper-cased path).
    pub fn files(&self) -> &[PlannedFile] {
        &self.files
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn geometry_prefers_4k_clusters_and_stays_fat32() {
        let cases = [
            (34 * MIB, 512),
            (64 * MIB, 512),
            (80 * MIB, 1024),
            (130 * MIB, 2048),
            (260 * MIB, 4096),
            (512 * MIB, 4096),
            (1024 * MIB, 4096),
            (600 * 1024 * MIB, 4096),
            (1536 * 1024 * MIB, 8192),
        ];
        for (size, bpc) in cases {
            let g = Geometry::choose(size).unwrap();
            assert_eq!(g.bytes_per_cluster, bpc, "{size}");
            assert!(g.clusters >= FAT32_MIN_CLUSTERS, "{size}");
        }
    }

    #[test]
    fn too_small_names_the_size_and_minimum() {
        let err = Geometry::choose(32 * MIB).unwrap_err();
        let EspError::TooSmall { size, min } = err else {
            panic!("{err}")
        };
        assert_eq!(size, 32 * MIB);
        assert!(Geometry::choose(min).is_ok() && Geometry::choose(min - 512).is_err());
        assert!(err_text(32 * MIB).contains("33554432"));
        assert!(matches!(
            Geometry::choose(MIB + 1),
            Err(EspError::UnalignedSize { .. })
        ));
    }

    fn err_text(size: u64) -> String {
        Geometry::choose(size).unwrap_err().to_string()
    }

    #[test]
    fn plan_rejects_conflicts_and_oversized_files() {
        let e = EspBuilder::new(64 * MIB)
            .bytes("EFI/x", "a")
            .bytes("efi/X", "b")
            .plan()
            .unwrap_err();
        assert!(matches!(e, EspError::DuplicatePath { .. }), "{e}");
        let e = EspBuilder::new(64 * MIB)
            .bytes("a", "")
            .bytes("a/b", "")
            .plan()
            .unwrap_err();
        assert!(matches!(e, EspError::FileAsDirectory { .. }), "{e}");
        let e = EspBuilder::new(64 * MIB)
            .bytes("a/b", "")
            .bytes("A", "")
            .plan()
            .unwrap_err();
        assert!(matches!(e, EspError::FileAsDirectory { .. }), "{e}");
        let e = EspBuilder::new(64 * MIB)
            .bytes("EFI/Linux/small.efi", vec![0u8; 1000])
            .bytes("EFI/Linux/big.efi", vec![0u8; 70 * MIB as usize])
            .plan()
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("ESP file EFI/Linux/big.efi (73400320 bytes) does not fit"),
            "{e}"
        );
        let e = EspBuilder::new(64 * MIB).label("esp").plan().unwrap_err();
        assert!(matches!(e, EspError::InvalidLabel { .. }), "{e}");
    }
}
