//! The repository as a device sees it: metadata verified by tough from a trusted root on,
//! every role's expiry enforced, and the newest trusted metadata kept in a datastore so
//! that a repository (or a man in the middle) cannot later serve older metadata.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::StreamExt;
use stela_image::boot::compare_versions;
use stela_repo::{ChannelRules, Kind, RolloutPosition, TargetInfo};
use stela_verity::RootHash;
use tough::schema::Target;
use tough::{ExpirationEnforcement, RepositoryLoader, TargetName};

use crate::error::AgentError;
use crate::runtime::block_on;
use crate::transport::{BlockingTransport, Timeouts};

/// Where this machine stands in a channel's staged rollout, at a given time.
#[derive(Debug, Clone, Copy)]
pub struct RolloutSpot {
    /// Its position, from its machine-id.
    pub position: RolloutPosition,
    /// The wave its configuration names in place of the position's (`wave =`).
    pub pinned_wave: Option<u8>,
    /// The time the releases' publication times are compared with.
    pub now: jiff::Timestamp,
}

/// What [`UpdateSource::select`] found.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The release to install.
    pub offer: Option<Offer>,
    /// A newer release that this machine's rollout wave has not reached yet.
    pub held_back: Option<HeldBack>,
}

/// A release held back from this machine by the channel's staged rollout.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeldBack {
    /// `<name>_<version>`.
    pub release: String,
    /// The machine's wave (0 is the first).
    pub wave: usize,
    /// When the wave reaches it: the release's arrival on the channel plus the wave's
    /// delay; `None` when the arrival time in the signed metadata is not readable (the
    /// release then waits for a corrected one).
    pub from: Option<jiff::Timestamp>,
}

/// `Some((wave, from))` while `rules` hold `offer` back from a machine at `spot`.
fn held_until(
    rules: &ChannelRules,
    offer: &Offer,
    channel: &str,
    spot: &RolloutSpot,
) -> Option<(usize, Option<jiff::Timestamp>)> {
    let wave = rules.wave_of(spot.position, spot.pinned_wave);
    let delay = rules.delay_seconds(wave);
    if delay == 0 {
        return None;
    }
    // Releases published before arrival times were recorded have none: not held.
    let arrived = offer
        .targets
        .values()
        .find_map(|t| t.info.published.get(channel))?;
    let Ok(arrived) = arrived.parse::<jiff::Timestamp>() else {
        tracing::warn!(
            "{}: its arrival on {channel} ({arrived:?}) is not a time; held back",
            offer.label()
        );
        return Some((wave, None));
    };
    let from = arrived
        .checked_add(jiff::SignedDuration::from_secs(delay))
        .ok()?;
    (spot.now < from).then_some((wave, Some(from)))
}

/// A verified view of the repository.
#[derive(Debug)]
pub struct UpdateSource {
    location: String,
    repo: tough::Repository,
}

/// One release the repository offers.
#[derive(Debug, Clone)]
pub struct Offer {
    /// Image name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The usr image's root hash.
    pub root_hash: RootHash,
    /// Its targets by kind.
    pub targets: BTreeMap<KindKey, OfferedTarget>,
}

/// [`Kind`] as a map key.
pub type KindKey = u8;

/// One target of a release.
#[derive(Debug, Clone)]
pub struct OfferedTarget {
    /// Its name in the repository.
    pub name: TargetName,
    /// Length and hashes, signed.
    pub target: Target,
    /// stela's custom metadata.
    pub info: TargetInfo,
}

fn key(kind: Kind) -> KindKey {
    Kind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(usize::MAX) as KindKey
}

impl Offer {
    /// `<name>_<version>`.
    pub fn label(&self) -> String {
        format!("{}_{}", self.name, self.version)
    }

    /// The target of `kind`.
    pub fn target(&self, kind: Kind) -> Result<&OfferedTarget, AgentError> {
        self.targets
            .get(&key(kind))
            .ok_or_else(|| AgentError::Release {
                release: self.label(),
                reason: format!("has no {kind:?} target"),
            })
    }
}

impl UpdateSource {
    /// Load the repository at `location` (a directory, a `file://` URL of one, or an
    /// `http://` or `https://` URL) from `trusted_root` on, keeping verified metadata in
    /// `datastore`, with the default [`Timeouts`].
    pub fn open(
        location: &str,
        trusted_root: &Path,
        datastore: &Path,
    ) -> Result<UpdateSource, AgentError> {
        UpdateSource::open_with(location, trusted_root, datastore, Timeouts::default())
    }

    /// [`UpdateSource::open`] with the given network timeouts.
    pub fn open_with(
        location: &str,
        trusted_root: &Path,
        datastore: &Path,
        timeouts: Timeouts,
    ) -> Result<UpdateSource, AgentError> {
        let repo_err = |reason: String| AgentError::Repository {
            location: location.to_owned(),
            source: reason.into(),
        };
        let base = if location.contains("://") {
            url::Url::parse(location).map_err(|e| repo_err(format!("not a URL: {e}")))?
        } else {
            let abs =
                std::path::absolute(location).map_err(|e| repo_err(format!("not a path: {e}")))?;
            url::Url::from_directory_path(&abs)
                .map_err(|()| repo_err("cannot be a file:// URL".to_owned()))?
        };
        if !matches!(base.scheme(), "file" | "http" | "https") {
            return Err(repo_err(format!(
                "the {} scheme is not one stela fetches from (file, http, https)",
                base.scheme()
            )));
        }
        let base = if base.path().ends_with('/') {
            base
        } else {
            url::Url::parse(&format!("{base}/")).map_err(|e| repo_err(e.to_string()))?
        };
        let metadata = base
            .join(&format!("{}/", stela_repo::METADATA))
            .map_err(|e| repo_err(e.to_string()))?;
        let targets = base
            .join(&format!("{}/", stela_repo::TARGETS))
            .map_err(|e| repo_err(e.to_string()))?;
        let root = std::fs::read(trusted_root).map_err(|e| {
            repo_err(format!(
                "reading the trusted root {}: {e}",
                trusted_root.display()
            ))
        })?;
        std::fs::create_dir_all(datastore).map_err(|e| {
            repo_err(format!(
                "creating the datastore {}: {e}",
                datastore.display()
            ))
        })?;
        let repo = block_on(
            RepositoryLoader::new(&root, metadata, targets)
                .transport(BlockingTransport::new(timeouts))
                .datastore(datastore)
                .expiration_enforcement(ExpirationEnforcement::Safe)
                .load(),
        )
        .map_err(|e| repo_err(e.to_string()))?
        .map_err(|e| AgentError::Repository {
            location: location.to_owned(),
            source: Box::new(e),
        })?;
        Ok(UpdateSource {
            location: location.to_owned(),
            repo,
        })
    }

    /// Where the repository is.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The releases of image `name` on `channel`, oldest first.
    pub fn offers(&self, name: &str, channel: &str) -> Vec<Offer> {
        let mut by_version: BTreeMap<String, Offer> = BTreeMap::new();
        for (tname, target) in &self.repo.targets().signed.targets {
            let Some(info) = TargetInfo::from_custom(&target.custom) else {
                continue;
            };
            if info.name != name || !info.channels.iter().any(|c| c == channel) {
                continue;
            }
            let Ok(root_hash) = info.root_hash.parse::<RootHash>() else {
                continue;
            };
            let offer = by_version
                .entry(info.version.clone())
                .or_insert_with(|| Offer {
                    name: info.name.clone(),
                    version: info.version.clone(),
                    root_hash,
                    targets: BTreeMap::new(),
                });
            if offer.root_hash != root_hash {
                continue;
            }
            offer.targets.insert(
                key(info.kind),
                OfferedTarget {
                    name: tname.clone(),
                    target: target.clone(),
                    info,
                },
            );
        }
        let mut v: Vec<Offer> = by_version.into_values().collect();
        v.sort_by(|a, b| compare_versions(&a.version, &b.version));
        v
    }

    /// The signed rules of `channel` (`stela repo rules`), if it has any.
    pub fn rules(&self, channel: &str) -> Option<ChannelRules> {
        let name = ChannelRules::target_name(channel);
        self.repo
            .targets()
            .signed
            .targets
            .iter()
            .find(|(t, _)| t.raw() == name)
            .and_then(|(_, target)| ChannelRules::from_custom(&target.custom))
            .filter(|r| r.channel == channel)
    }

    /// The newest release of `name` on `channel` newer than `running` (and not in
    /// `refused`) that this machine may install now: within the channel's signed version
    /// limits, and reached by its rollout wave at `spot` (`None`: staged rollouts do not
    /// apply, as for an operator updating a disk image by hand). A newer release that its
    /// wave has not reached yet is reported as held back.
    pub fn select(
        &self,
        name: &str,
        channel: &str,
        running: &str,
        refused: &[String],
        spot: Option<&RolloutSpot>,
    ) -> Selection {
        let rules = self.rules(channel);
        let mut selection = Selection::default();
        let candidates = self
            .offers(name, channel)
            .into_iter()
            .filter(|o| compare_versions(&o.version, running).is_gt())
            .filter(|o| rules.as_ref().is_none_or(|r| r.allows(&o.version)))
            .filter(|o| !refused.contains(&o.version));
        for offer in candidates {
            let held = match (&rules, spot) {
                (Some(r), Some(spot)) => held_until(r, &offer, channel, spot),
                _ => None,
            };
            match held {
                Some((wave, from)) => {
                    selection.held_back = Some(HeldBack {
                        release: offer.label(),
                        wave,
                        from,
                    })
                }
                None => {
                    selection.offer = Some(offer);
                    selection.held_back = None;
                }
            }
        }
        selection
    }

    /// Stream target `t` into `sink`, chunk by chunk; tough checks length and SHA-256 as
    /// the bytes come, and the last chunk is followed by an error if they do not match,
    /// so `sink` must not treat what it got as valid before this returns `Ok`.
    pub fn fetch(
        &self,
        t: &OfferedTarget,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<u64, AgentError> {
        let target = t.name.raw().to_owned();
        let terr = |reason: String| AgentError::Target {
            target: target.clone(),
            reason,
        };
        block_on(async {
            let stream = self
                .repo
                .read_target(&t.name)
                .await
                .map_err(|e| terr(e.to_string()))?
                .ok_or_else(|| terr("not in the signed targets".to_owned()))?;
            let mut stream = Box::pin(stream);
            let mut n = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| terr(e.to_string()))?;
                n += chunk.len() as u64;
                sink(&chunk).map_err(|e| terr(format!("storing it: {e}")))?;
            }
            Ok(n)
        })
        .map_err(|e| terr(e.to_string()))?
    }
}
