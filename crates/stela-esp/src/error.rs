//! The error type of this crate.

use std::path::PathBuf;

/// Errors from planning and writing an ESP image. Files are named by their path inside
/// the ESP (`EFI/BOOT/BOOTX64.EFI`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EspError {
    /// A size that is not whole 512-byte sectors.
    #[error("ESP size {size} bytes is not a multiple of the 512-byte sector")]
    UnalignedSize {
        /// The size given.
        size: u64,
    },
    /// Too small to hold the 65525 clusters FAT32 needs.
    #[error("ESP size {size} bytes is too small for FAT32, which needs 65525 clusters (at least {min} bytes)")]
    TooSmall {
        /// The size given.
        size: u64,
        /// The smallest FAT32 size.
        min: u64,
    },
    /// Larger than FAT32 with 512-byte sectors can address.
    #[error("ESP size {size} bytes is too large for FAT32 (at most {max} bytes)")]
    TooLarge {
        /// The size given.
        size: u64,
        /// The largest size.
        max: u64,
    },
    /// A volume label FAT cannot store.
    #[error("volume label {label:?}: {reason}")]
    InvalidLabel {
        /// The label given.
        label: String,
        /// What is wrong.
        reason: String,
    },
    /// A path that is not a valid FAT long-name path.
    #[error("ESP path {path:?}: {reason}")]
    InvalidPath {
        /// The path given.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Two files with the same path (FAT compares names case-insensitively).
    #[error("ESP path {path:?} is given twice (also as {other:?}; FAT names ignore case)")]
    DuplicatePath {
        /// The second path.
        path: String,
        /// The first path.
        other: String,
    },
    /// A file whose path runs through another file.
    #[error("ESP path {path:?} needs {file:?} to be a directory, but it is a file")]
    FileAsDirectory {
        /// The path that needs the directory.
        path: String,
        /// The file in the way.
        file: String,
    },
    /// A host file that cannot be read.
    #[error("ESP file {path}: reading {host}")]
    HostFile {
        /// Path inside the ESP.
        path: String,
        /// The host file.
        host: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A host file whose size changed between planning and writing.
    #[error("ESP file {path}: {host} changed size while the image was written ({planned} bytes planned, {found} found)")]
    HostFileChanged {
        /// Path inside the ESP.
        path: String,
        /// The host file.
        host: PathBuf,
        /// Size when planned.
        planned: u64,
        /// Bytes read when written.
        found: u64,
    },
    /// A file for which the image has no room left.
    #[error("ESP file {path} ({size} bytes) does not fit: {free} bytes left in the {image_size}-byte image")]
    FileDoesNotFit {
        /// Path inside the ESP.
        path: String,
        /// The file's size.
        size: u64,
        /// Free bytes (whole clusters) before this file.
        free: u64,
        /// The ESP size.
        image_size: u64,
    },
    /// A directory for which the image has no room left.
    #[error("ESP directory {path} does not fit in the {image_size}-byte image")]
    DirectoryDoesNotFit {
        /// Path inside the ESP.
        path: String,
        /// The ESP size.
        image_size: u64,
    },
    /// The fatfs layer failed, with what was being done.
    #[error("{action}")]
    Fat {
        /// E.g. `writing EFI/BOOT/BOOTX64.EFI`.
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The output file failed.
    #[error("{action} {path}")]
    Output {
        /// What was being done.
        action: &'static str,
        /// The output file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The range given to the reader holds no FAT file system.
    #[error("no FAT file system")]
    NoFileSystem {
        /// What fatfs found wrong.
        #[source]
        source: std::io::Error,
    },
    /// A file larger than the reader was allowed to read.
    #[error("ESP file {path} is {size} bytes, more than the {max} bytes allowed")]
    FileTooLarge {
        /// Path inside the ESP.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// fatfs chose another FAT type than planned (a bug in the geometry computation).
    #[error("formatted a {found} file system with {clusters} clusters where FAT32 was planned")]
    NotFat32 {
        /// What fatfs made.
        found: String,
        /// Its cluster count.
        clusters: u32,
    },
}

impl EspError {
    pub(crate) fn fat(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> EspError {
        let action = action.into();
        move |source| EspError::Fat { action, source }
    }
}
