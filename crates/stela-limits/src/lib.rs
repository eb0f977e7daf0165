//! Bounded reads of input files.
//!
//! `std::fs::read` reserves as much memory as the file claims to hold: a sparse file of
//! 64 GiB given where a certificate belongs either fails to allocate or, with
//! overcommit, is read in whole. Every file stela reads into memory from a path a user
//! or a download names goes through [`read`] with the [`Limit`] of its kind instead, and
//! a file over it is refused with an error that names the limit. Files stela streams
//! (disk images, usr images, verity trees) need no limit and do not use this.

use std::fmt;
use std::io::Read;
use std::path::Path;

/// The most bytes one kind of input may hold, and what that kind is called in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The kind of file, as errors name it ("a certificate or key").
    pub what: &'static str,
    /// Its largest size in bytes.
    pub bytes: u64,
}

const MIB: u64 = 1 << 20;

/// Certificates and private keys (PEM or DER): a few KiB each.
pub const CERTIFICATE: Limit = Limit {
    what: "a certificate or key",
    bytes: MIB,
};

/// EFI signature lists and authenticated variables (`.esl`, `.auth`): firmware
/// variable stores hold a few hundred KiB in all; Debian's whole dbx is under 30 KiB.
pub const EFI_VARIABLE: Limit = Limit {
    what: "an EFI signature list or authenticated variable",
    bytes: 16 * MIB,
};

/// EFI binaries and UKIs, read whole to hash and sign: a UKI with its initrd is tens of
/// MiB.
pub const PE_IMAGE: Limit = Limit {
    what: "an EFI binary or UKI",
    bytes: 1024 * MIB,
};

/// JSON documents stela writes and reads back: manifests, SBOMs, provenance, TUF
/// metadata (an SBOM of a large image is a few MiB).
pub const JSON_DOCUMENT: Limit = Limit {
    what: "a JSON document (manifest, SBOM, provenance)",
    bytes: 256 * MIB,
};

/// Recipes and other settings files written by people.
pub const SETTINGS: Limit = Limit {
    what: "a recipe or settings file",
    bytes: 4 * MIB,
};

/// IPE policies, as text or signed PKCS#7 (`stela ipe`): a few KiB; the kernel has no
/// total limit, stela's parser takes at most 1 MiB of text.
pub const IPE_POLICY: Limit = Limit {
    what: "an IPE policy",
    bytes: 2 * MIB,
};

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.bytes % MIB == 0 {
            write!(f, "{} MiB", self.bytes / MIB)
        } else {
            write!(f, "{} bytes", self.bytes)
        }
    }
}

fn too_large(size: u64, limit: Limit) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!(
            "{size} bytes, more than the {limit} that {} may hold",
            limit.what
        ),
    )
}

/// Read the whole file at `path` if it holds at most `limit.bytes`. A directory, and a
/// file over the limit, give an error (kinds `IsADirectory`, `FileTooLarge`) whose text
/// says why; callers add the path, as for any other read error.
pub fn read(path: &Path, limit: Limit) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "a directory, not a file",
        ));
    }
    if meta.len() > limit.bytes {
        return Err(too_large(meta.len(), limit));
    }
    // The size can change while it is read, and files in /proc report 0: the read
    // itself is bounded too.
    let mut out = Vec::with_capacity(meta.len() as usize);
    file.take(limit.bytes + 1).read_to_end(&mut out)?;
    if out.len() as u64 > limit.bytes {
        return Err(too_large(out.len() as u64, limit));
    }
    Ok(out)
}

/// [`read`] as UTF-8 text.
pub fn read_to_string(path: &Path, limit: Limit) -> std::io::Result<String> {
    String::from_utf8(read(path, limit)?).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_its_limit_is_refused_without_being_read() {
        let t = tempfile::tempdir().expect("tempdir");
        let huge = t.path().join("huge");
        let f = std::fs::File::create(&huge).expect("create");
        f.set_len(64 << 30).expect("a sparse 64 GiB file");
        let e = read(&huge, CERTIFICATE).expect_err("refused");
        assert_eq!(e.kind(), std::io::ErrorKind::FileTooLarge);
        assert_eq!(
            e.to_string(),
            "68719476736 bytes, more than the 1 MiB that a certificate or key may hold"
        );
        let small = t.path().join("small");
        std::fs::write(&small, b"hello").expect("write");
        assert_eq!(read(&small, CERTIFICATE).expect("read"), b"hello");
        let e = read(t.path(), SETTINGS).expect_err("a directory");
        assert_eq!(e.kind(), std::io::ErrorKind::IsADirectory);
        std::fs::write(&small, [0xff, 0xfe]).expect("write");
        let e = read_to_string(&small, SETTINGS).expect_err("not text");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    }
}
