//! A release: the files of one `stela build` output that a device needs to install that
//! version, checked against the build's manifest, with the names and metadata they get as
//! TUF targets.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stela_build::manifest::{self, Manifest};
use stela_build::steps::{esp, sbom, usr, verity};

use crate::error::RepoError;
use crate::frames::FrameTable;

/// What a target is to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The usr image (erofs), compressed as independent zstd frames.
    Usr,
    /// Its dm-verity hash tree, for the usr-verity partition.
    UsrVerity,
    /// The signature partition content (JSON: root hash, certificate fingerprint,
    /// PKCS#7 signature), for the usr-verity-sig partition.
    UsrVeritySig,
    /// The detached PKCS#7 signature of the root hash (DER).
    RootHashSignature,
    /// The signed Unified Kernel Image, for the ESP.
    Uki,
    /// The build's manifest (packages, tools, digests).
    Manifest,
    /// The signed boot loader (systemd-boot), for the boot loader's A/B copies on the
    /// ESP. Releases published before it existed have none.
    BootLoader,
    /// The software bill of materials (CycloneDX JSON), for the fleet's operators and
    /// their scanners; devices do not fetch it. Releases published before it existed
    /// have none.
    Sbom,
    /// The build's signed provenance (a DSSE envelope, `stela verify-release`); devices do
    /// not fetch it. Releases published before it existed have none.
    Provenance,
}

impl Kind {
    /// Every kind, in the order a device installs them.
    pub const ALL: [Kind; 9] = [
        Kind::Usr,
        Kind::UsrVerity,
        Kind::UsrVeritySig,
        Kind::RootHashSignature,
        Kind::Uki,
        Kind::Manifest,
        Kind::BootLoader,
        Kind::Sbom,
        Kind::Provenance,
    ];

    /// The target name of this kind for release `label` (`<name>_<version>`).
    ///
    /// Flat names (no `/`): for a name with directories, tough and python-tuf put the
    /// consistent-snapshot hash prefix in different places, so only flat names are read
    /// alike by both (docs/decisions/0010-tuf-repository.md).
    pub fn target_name(self, label: &str) -> String {
        match self {
            Kind::Usr => format!("{label}.usr.erofs.zst"),
            Kind::UsrVerity => format!("{label}.{}", verity::TREE_FILE),
            Kind::UsrVeritySig => format!("{label}.{}", verity::SIG_PARTITION_FILE),
            Kind::RootHashSignature => format!("{label}.{}", verity::SIGNATURE_FILE),
            Kind::Uki => format!("{label}.efi"),
            Kind::Manifest => format!("{label}.{}", manifest::FILE),
            Kind::BootLoader => format!("{label}.{}", esp::LOADER_FILE),
            Kind::Sbom => format!("{label}.{}", sbom::FILE),
            Kind::Provenance => format!("{label}.{}", stela_provenance::FILE),
        }
    }
}

/// The custom metadata of every target stela publishes (TUF `custom`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// Image name.
    pub name: String,
    /// Image version.
    pub version: String,
    /// What the target is.
    pub kind: Kind,
    /// The usr image's verity root hash (every target of a release carries it, so a
    /// device can tell the release from any one of them).
    pub root_hash: String,
    /// The channels the release is on.
    pub channels: Vec<String>,
    /// When the release reached each of its channels (RFC 3339, UTC): staged rollouts
    /// count from it. A release without it is seen at once.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub published: std::collections::BTreeMap<String, String>,
    /// For [`Kind::Usr`]: the zstd frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<FrameTable>,
}

impl TargetInfo {
    /// Read from a target's `custom` map; `None` for a target stela did not publish.
    pub fn from_custom(
        custom: &std::collections::HashMap<String, serde_json::Value>,
    ) -> Option<TargetInfo> {
        let v = serde_json::to_value(custom).ok()?;
        serde_json::from_value(v).ok()
    }

    /// As a `custom` map.
    pub fn to_custom(&self) -> std::collections::HashMap<String, serde_json::Value> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m.into_iter().collect(),
            _ => unreachable!("TargetInfo serialises to an object"),
        }
    }
}

/// One file of a build output.
#[derive(Debug, Clone)]
pub struct ReleaseFile {
    /// What it is.
    pub kind: Kind,
    /// Where it is.
    pub path: PathBuf,
    /// Its SHA-256 (checked against the manifest).
    pub sha256: String,
}

/// The release in a build output directory.
#[derive(Debug, Clone)]
pub struct Release {
    /// The build's manifest.
    pub manifest: Manifest,
    /// The files, one per [`Kind`] (the boot loader only when the build made one), in
    /// [`Kind::ALL`] order.
    pub files: Vec<ReleaseFile>,
}

impl Release {
    /// Read `out/manifest.json` and check that every file a device needs is there with the
    /// size and SHA-256 the manifest gives.
    pub fn read(out: &Path) -> Result<Release, RepoError> {
        let mpath = out.join(manifest::FILE);
        let text = stela_limits::read(&mpath, stela_limits::JSON_DOCUMENT)
            .map_err(RepoError::io("reading the manifest", &mpath))?;
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|e| RepoError::BuildOutput {
                path: mpath.clone(),
                reason: format!("not a stela build manifest: {e}"),
            })?;
        if manifest.manifest_version != manifest::VERSION {
            return Err(RepoError::BuildOutput {
                path: mpath,
                reason: format!(
                    "manifest_version {} is not the one this stela reads ({})",
                    manifest.manifest_version,
                    manifest::VERSION
                ),
            });
        }
        let label = format!("{}_{}", manifest.name, manifest.version);
        let mut files = Vec::new();
        for kind in Kind::ALL {
            let name = match kind {
                Kind::Usr => usr::FILE.to_owned(),
                Kind::UsrVerity => verity::TREE_FILE.to_owned(),
                Kind::UsrVeritySig => verity::SIG_PARTITION_FILE.to_owned(),
                Kind::RootHashSignature => verity::SIGNATURE_FILE.to_owned(),
                Kind::Uki => format!("{label}.efi"),
                Kind::BootLoader => {
                    // Optional: outputs of builds before the boot loader was one.
                    if !manifest
                        .artifacts
                        .iter()
                        .any(|a| a.file == esp::LOADER_FILE)
                    {
                        continue;
                    }
                    esp::LOADER_FILE.to_owned()
                }
                Kind::Sbom => {
                    // Optional: outputs of builds before the SBOM was one.
                    if !manifest.artifacts.iter().any(|a| a.file == sbom::FILE) {
                        continue;
                    }
                    sbom::FILE.to_owned()
                }
                Kind::Provenance => {
                    // Written after the manifest, so not among its artifacts; optional.
                    let path = out.join(stela_provenance::FILE);
                    if !path.exists() {
                        continue;
                    }
                    let (_, sha256) = sha256_file(&path)?;
                    files.push(ReleaseFile { kind, path, sha256 });
                    continue;
                }
                Kind::Manifest => {
                    files.push(ReleaseFile {
                        kind,
                        path: mpath.clone(),
                        sha256: hex::encode(openssl::sha::sha256(&text)),
                    });
                    continue;
                }
            };
            let path = out.join(&name);
            let listed = manifest
                .artifacts
                .iter()
                .find(|a| a.file == name)
                .ok_or_else(|| RepoError::BuildOutput {
                    path: mpath.clone(),
                    reason: format!("lists no artifact {name}"),
                })?;
            let (size, sha256) = sha256_file(&path)?;
            if size != listed.size || sha256 != listed.sha256 {
                return Err(RepoError::BuildOutput {
                    path,
                    reason: format!(
                        "{size} bytes with SHA-256 {sha256}, but the manifest says {} bytes \
                         with {}: the output changed after the build",
                        listed.size, listed.sha256
                    ),
                });
            }
            files.push(ReleaseFile { kind, path, sha256 });
        }
        Ok(Release { manifest, files })
    }

    /// `<name>_<version>`.
    pub fn label(&self) -> String {
        format!("{}_{}", self.manifest.name, self.manifest.version)
    }
}

/// Size and SHA-256 (hex) of a file.
pub(crate) fn sha256_file(path: &Path) -> Result<(u64, String), RepoError> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(RepoError::io("opening", path))?;
    let mut h = openssl::sha::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(RepoError::io("reading", path))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex::encode(h.finish())))
}
