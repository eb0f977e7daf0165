//! The image's IPE policies (recipe `[ipe]`, docs/recipe.md): one for the initrd, which
//! also trusts the initramfs, and one for the booted system, which trusts signed
//! dm-verity alone. Both are signed with the db key as PKCS#7 with the policy inside and
//! no signed attributes, the form the kernel takes; the kernel checks them against the
//! firmware's db (the `.platform` keyring), as it checks the /usr root hash. systemd's
//! PID 1 loads and activates `/usr/lib/ipe/*.p7b` early, in the initrd and again after
//! the switch to the root file system (systemd 257, `ipe-setup`).

use std::path::Path;

use anyhow::Context;
use stela_ipe::{image_policy, Stage};
use stela_keys::pkcs7::{self, CertificateInclusion};
use stela_keys::Signer;
use stela_recipe::{IpeMode, Recipe};

/// One signed policy, ready to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPolicy {
    /// Where it goes (`/usr/lib/ipe/NAME.p7b`), absolute in the image or initrd.
    pub path: String,
    /// The DER PKCS#7.
    pub der: Vec<u8>,
}

/// Sign `stage`'s policy for `recipe`, or `None` when the recipe turns IPE off.
pub fn policy(
    recipe: &Recipe,
    stage: Stage,
    signer: &dyn Signer,
) -> anyhow::Result<Option<SignedPolicy>> {
    if recipe.ipe().mode == IpeMode::Off {
        return Ok(None);
    }
    let policy = image_policy(stage, &recipe.ipe().extra_rules);
    let text = policy.to_text();
    // The certificate goes in: the kernel finds it in .platform either way, and a reader
    // (`stela ipe check`, openssl) sees who signed.
    let der = pkcs7::sign_attached(signer, text.as_bytes(), CertificateInclusion::Include)
        .with_context(|| format!("signing the IPE policy {}", policy.name))?;
    Ok(Some(SignedPolicy {
        path: policy.name.install_path(),
        der,
    }))
}

/// Put the host's policy into the tree's /usr and return the initrd's, which the initrd
/// step adds to the initramfs only (the host must never load the policy that trusts the
/// initramfs).
pub fn install(
    recipe: &Recipe,
    tree: &Path,
    signer: &dyn Signer,
) -> anyhow::Result<Option<SignedPolicy>> {
    let Some(host) = policy(recipe, Stage::Host, signer)? else {
        return Ok(None);
    };
    super::customise::write_bytes(&tree.join(host.path.trim_start_matches('/')), &host.der)?;
    policy(recipe, Stage::Initrd, signer)
}
