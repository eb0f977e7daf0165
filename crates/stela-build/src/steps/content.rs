//! Digests of what really decides a cached step's output: the installed packages (the
//! tree's dpkg status) and the content of the recipe's host files and overlays (the
//! recipe names them only by path).

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};
use stela_recipe::{FileSource, Recipe};

/// Feed a file or a directory tree into `h`: names in byte order, file type, mode,
/// symlink targets and file contents; owners and times are left out (the build resets
/// them).
pub fn hash_path(h: &mut Sha256, path: &Path) -> anyhow::Result<()> {
    let meta =
        std::fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    h.update(meta.permissions().mode().to_le_bytes());
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target =
            std::fs::read_link(path).with_context(|| format!("reading {}", path.display()))?;
        h.update(b"L");
        h.update(target.as_os_str().as_encoded_bytes());
        h.update([0]);
    } else if kind.is_dir() {
        let mut names: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("listing {}", path.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("listing {}", path.display()))?;
        names.sort();
        h.update(b"D");
        h.update((names.len() as u64).to_le_bytes());
        for name in names {
            h.update(name.as_encoded_bytes());
            h.update([0]);
            hash_path(h, &path.join(&name))?;
        }
    } else if kind.is_file() {
        h.update(b"F");
        h.update(meta.size().to_le_bytes());
        for_each_chunk(path, |chunk| h.update(chunk))?;
    } else {
        h.update(b"S");
        h.update(meta.rdev().to_le_bytes());
    }
    Ok(())
}

/// Read the file at `path` in chunks of 1 MiB, handing each to `f`; the bytes read.
pub fn for_each_chunk(path: &Path, mut f: impl FnMut(&[u8])) -> anyhow::Result<u64> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok(total);
        }
        f(&buf[..n]);
        total += n as u64;
    }
}

/// Read the file at `path` in order, handing `f` its bytes, but its holes as zeros from
/// memory: a disk image is mostly holes (the free slot, the space for the root
/// partition), and reading a hole makes the kernel clear page cache for it, which costs
/// more than the hashing. The bytes handed over.
pub fn for_each_chunk_sparse(path: &Path, mut f: impl FnMut(&[u8])) -> anyhow::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let ctx = || format!("reading {}", path.display());
    let mut file = std::fs::File::open(path).with_context(ctx)?;
    let len = file.metadata().with_context(ctx)?.len();
    let zeros = vec![0u8; 1 << 20];
    let mut buf = vec![0u8; 1 << 20];
    let feed_zeros = |f: &mut dyn FnMut(&[u8]), mut n: u64| {
        while n > 0 {
            let k = n.min(zeros.len() as u64) as usize;
            f(&zeros[..k]);
            n -= k as u64;
        }
    };
    let mut pos = 0u64;
    while pos < len {
        let data = match rustix::fs::seek(&file, rustix::fs::SeekFrom::Data(pos)) {
            Ok(d) => d,
            // No data after pos: the rest is a hole.
            Err(rustix::io::Errno::NXIO) => len,
            // A file system without SEEK_DATA: all of it is data.
            Err(rustix::io::Errno::INVAL) => pos,
            Err(e) => return Err(std::io::Error::from(e)).with_context(ctx),
        }
        .min(len);
        feed_zeros(&mut f, data - pos);
        pos = data;
        if pos >= len {
            break;
        }
        let end = match rustix::fs::seek(&file, rustix::fs::SeekFrom::Hole(pos)) {
            Ok(h) => h.min(len),
            Err(_) => len,
        };
        file.seek(SeekFrom::Start(pos)).with_context(ctx)?;
        let mut left = end - pos;
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = file.read(&mut buf[..want]).with_context(ctx)?;
            if n == 0 {
                anyhow::bail!("{} ended early at byte {pos}", path.display());
            }
            f(&buf[..n]);
            pos += n as u64;
            left -= n as u64;
        }
    }
    Ok(len)
}

/// The content of every host file and overlay the recipe names.
pub fn recipe_content(h: &mut Sha256, recipe: &Recipe) -> anyhow::Result<()> {
    for f in recipe.files() {
        if let FileSource::Host(src) = &f.source {
            h.update(b"file\0");
            hash_path(h, src.resolved())
                .with_context(|| format!("files: hashing {src} for the cache key"))?;
        }
    }
    if let Some(u) = recipe.update() {
        h.update(b"update-root\0");
        hash_path(h, u.root.resolved())
            .with_context(|| format!("update.root: hashing {} for the cache key", u.root))?;
    }
    if let Some(loader) = &recipe.boot().loader {
        h.update(b"boot-loader\0");
        hash_path(h, loader.resolved())
            .with_context(|| format!("boot.loader: hashing {loader} for the cache key"))?;
    }
    for overlay in recipe.overlay() {
        h.update(b"overlay\0");
        hash_path(h, overlay.resolved())
            .with_context(|| format!("overlay: hashing {overlay} for the cache key"))?;
    }
    Ok(())
}

/// The tree's dpkg status file: every installed package and version.
pub fn dpkg_status(h: &mut Sha256, tree: &Path) -> anyhow::Result<()> {
    let status = tree.join("var/lib/dpkg/status");
    h.update(b"dpkg-status\0");
    hash_path(h, &status).context("hashing the installed packages for the cache key")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(p: &Path) -> [u8; 32] {
        let mut h = Sha256::new();
        hash_path(&mut h, p).expect("hash");
        h.finalize().into()
    }

    #[test]
    fn sparse_reading_gives_the_same_bytes_as_plain_reading() {
        use std::io::{Seek, SeekFrom, Write};
        let tmp = tempfile::tempdir().expect("tempdir");
        let p = tmp.path().join("sparse");
        let mut f = std::fs::File::create(&p).expect("create");
        // A hole, data, a long hole, data, and a hole to the end.
        f.seek(SeekFrom::Start(3 << 20)).expect("seek");
        f.write_all(&[7u8; 5000]).expect("w");
        f.seek(SeekFrom::Start(9 << 20)).expect("seek");
        f.write_all(b"tail data").expect("w");
        f.set_len(12 << 20).expect("len");
        drop(f);
        let mut plain = Vec::new();
        let n = for_each_chunk(&p, |c| plain.extend_from_slice(c)).expect("plain");
        let mut sparse = Vec::new();
        let m = for_each_chunk_sparse(&p, |c| sparse.extend_from_slice(c)).expect("sparse");
        assert_eq!((n, m), (12 << 20, 12 << 20));
        assert!(
            plain == sparse,
            "the sparse reader must hand over the same bytes"
        );
    }

    #[test]
    fn contents_modes_names_and_links_change_the_digest() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let d = tmp.path().join("overlay");
        std::fs::create_dir_all(d.join("etc")).expect("mkdir");
        std::fs::write(d.join("etc/a.conf"), b"one").expect("w");
        let base = digest(&d);
        assert_eq!(base, digest(&d), "stable");
        std::fs::write(d.join("etc/a.conf"), b"two").expect("w");
        let content = digest(&d);
        assert_ne!(base, content);
        std::fs::set_permissions(d.join("etc/a.conf"), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        let mode = digest(&d);
        assert_ne!(content, mode);
        std::os::unix::fs::symlink("a.conf", d.join("etc/b.conf")).expect("ln");
        let link = digest(&d);
        assert_ne!(mode, link);
        std::fs::rename(d.join("etc/b.conf"), d.join("etc/c.conf")).expect("mv");
        assert_ne!(link, digest(&d));
    }
}
