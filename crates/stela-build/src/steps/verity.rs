//! The verity tree of the usr image and its signed root hash.

use std::path::{Path, PathBuf};

use anyhow::Context;
use stela_keys::pkcs7::CertificateInclusion;
use stela_keys::verity_sig::{sign_root_hash, VeritySignatureDocument};
use stela_recipe::Recipe;
use stela_verity::{BlockSize, Header, NoProgress, RootHash, Salt, VerityParams};

use super::keys::BuildKeys;
use super::usr::UsrImage;

/// The hash tree's file name among the outputs.
pub const TREE_FILE: &str = "usr.verity";
/// The DER PKCS#7 root hash signature's file name among the outputs.
pub const SIGNATURE_FILE: &str = "usr.verity.p7s";
/// The signature partition content's file name among the outputs.
pub const SIG_PARTITION_FILE: &str = "usr.verity-sig.json";

/// The verity outputs.
#[derive(Debug, Clone)]
pub struct VerityOutput {
    /// The root hash.
    pub root_hash: RootHash,
    /// The hash tree file (`usr.verity`).
    pub tree: PathBuf,
    /// Its size.
    pub tree_size: u64,
    /// The DER PKCS#7 signature file (`usr.verity.p7s`).
    pub signature: PathBuf,
    /// The DER signature bytes.
    pub signature_der: Vec<u8>,
    /// The signature partition content (`usr.verity-sig.json`, NUL-padded).
    pub sig_partition: PathBuf,
}

/// Hash the usr image, sign the root hash with the db key.
pub fn build(
    recipe: &Recipe,
    usr: &UsrImage,
    out: &Path,
    keys: &BuildKeys,
) -> anyhow::Result<VerityOutput> {
    let salt = super::derive(recipe, "verity-salt");
    let params = VerityParams {
        data_block_size: BlockSize::DEFAULT,
        hash_block_size: BlockSize::DEFAULT,
        salt: Salt::new(salt.to_vec()).context("the verity salt")?,
        header: Header::Superblock {
            uuid: super::derive_uuid(recipe, "verity-uuid"),
        },
    };
    let tree = out.join(TREE_FILE);
    let info = stela_verity::format(&usr.path, &tree, &params, &mut NoProgress)
        .context("hashing the usr image")?;
    let der = sign_root_hash(&keys.db, &info.root_hash, CertificateInclusion::Omit)
        .context("signing the root hash with the db key")?;
    let signature = out.join(SIGNATURE_FILE);
    std::fs::write(&signature, &der).with_context(|| format!("writing {}", signature.display()))?;
    let doc = VeritySignatureDocument::new(
        &info.root_hash,
        stela_keys::Signer::certificate(&keys.db),
        &der,
    );
    let sig_partition = out.join(SIG_PARTITION_FILE);
    let bytes = doc
        .to_partition_bytes()
        .context("encoding the verity signature partition")?;
    std::fs::write(&sig_partition, bytes)
        .with_context(|| format!("writing {}", sig_partition.display()))?;
    Ok(VerityOutput {
        root_hash: info.root_hash,
        tree,
        tree_size: info.hash_size,
        signature,
        signature_der: der,
        sig_partition,
    })
}
