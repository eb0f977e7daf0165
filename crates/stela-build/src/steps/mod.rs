//! The steps of the pipeline, one module each, in the order they run.

pub mod agent;
pub mod buildtools;
pub mod cachelock;
pub mod content;
pub mod customise;
pub mod disk;
pub mod esp;
pub mod first_boot;
pub mod freshness;
pub mod initrd;
pub mod ipe;
pub mod keys;
pub mod kmods;
pub mod layer;
pub mod overlay;
pub mod provenance;
pub mod publish;
pub mod random_seed;
pub mod rootfs;
pub mod sbom;
pub mod secrets;
pub mod sources;
pub mod ssh_host_keys;
pub mod uki;
pub mod uptodate;
pub mod usr;
pub mod verity;

use sha2::{Digest, Sha256};

/// A value derived from a name and the image label, so that an unchanged recipe gives
/// the same salts, UUIDs and file system identities (reproducible builds).
pub(crate) fn derive(recipe: &stela_recipe::Recipe, what: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"stela-build:v1:");
    h.update(what.as_bytes());
    h.update(b":");
    h.update(recipe.label().as_bytes());
    h.finalize().into()
}

/// A version 4 UUID made from [`derive`]d bytes: stable for an unchanged recipe.
pub(crate) fn derive_uuid(recipe: &stela_recipe::Recipe, what: &str) -> stela_verity::Uuid {
    let bytes = derive(recipe, what);
    let mut u = [0u8; 16];
    u.copy_from_slice(&bytes[..16]);
    uuid::Builder::from_random_bytes(u).into_uuid()
}

/// The fixed time stamp of the image's files: `SOURCE_DATE_EPOCH` when set (seconds since
/// 1970, as reproducible-builds.org defines it), else 0. A value that is not a whole
/// number of seconds is refused rather than read as 0.
pub(crate) fn source_date_epoch() -> anyhow::Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Err(std::env::VarError::NotPresent) => Ok(0),
        Err(std::env::VarError::NotUnicode(v)) => {
            anyhow::bail!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds")
        }
        Ok(v) => parse_epoch(&v),
    }
}

fn parse_epoch(v: &str) -> anyhow::Result<u64> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        anyhow::bail!("SOURCE_DATE_EPOCH={v:?} is not a whole number of seconds since 1970");
    }
    v.parse()
        .map_err(|e| anyhow::anyhow!("SOURCE_DATE_EPOCH={v:?}: {e}"))
}

/// Move a file, falling back to copy + rename across file systems. The copy goes to a
/// temporary name beside `to` first, so a build killed mid-copy never leaves a truncated
/// file under the final name (a cache would otherwise take it for a finished one).
pub(crate) fn move_file(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    let name = to.file_name().unwrap_or_default().to_string_lossy();
    let partial = to.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let copied = std::fs::copy(from, &partial)
        .and_then(|_| std::fs::File::open(&partial)?.sync_all())
        .and_then(|()| std::fs::rename(&partial, to));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(e).with_context(|| format!("copying {} to {}", from.display(), to.display()));
    }
    std::fs::remove_file(from).with_context(|| format!("removing {}", from.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_date_epoch_must_be_a_number() {
        assert_eq!(parse_epoch("1700000000").ok(), Some(1_700_000_000));
        for bad in [
            "",
            "-1",
            "1.5",
            "yesterday",
            " 1",
            "99999999999999999999999",
        ] {
            let err = parse_epoch(bad).expect_err(bad).to_string();
            assert!(err.contains("SOURCE_DATE_EPOCH"), "{err}");
        }
    }
}
