//! The three operations on a repository: make one, publish a release into it, and
//! re-sign its freshness roles.

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use serde::Serialize;
use stela_image::boot::compare_versions;
use tough::editor::signed::SignedRole;
use tough::editor::RepositoryEditor;
use tough::key_source::KeySource;
use tough::schema::decoded::{Decoded, Hex};
use tough::schema::{
    Hashes, KeyHolder, Metafile, RoleKeys, Root, Signed, Snapshot, Target, Timestamp,
};
use tough::{ExpirationEnforcement, FilesystemTransport, RepositoryLoader, TargetName};

use crate::error::RepoError;
use crate::frames;
use crate::keys::{Role, RoleKey, RoleKeyDir};
use crate::layout::{put, sync_dir, Layout};
use crate::policy::Settings;
use crate::release::{Kind, Release, TargetInfo};
use crate::rollout::ChannelRules;
use crate::runtime::block_on;
use sha2::{Digest, Sha256};

const SPEC_VERSION: &str = "1.0.0";

/// What `init` is asked for.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// How many root keys the root role has.
    pub root_keys: usize,
    /// How many of them must sign a root.
    pub threshold: u64,
    /// The repository settings (validity periods, compression).
    pub settings: Settings,
}

/// What `init` did.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    /// The repository.
    pub repo: PathBuf,
    /// The root every device must trust first (`metadata/1.root.json`).
    pub root: PathBuf,
    /// Key files made (existing ones were used as they were).
    pub keys_made: Vec<PathBuf>,
    /// Key IDs of the roles.
    pub key_ids: HashMap<String, Vec<String>>,
    /// root.json's expiry.
    pub root_expires: String,
}

/// Make a new repository at `dir` (absent or empty): root signed by every root key, and
/// empty targets, snapshot and timestamp.
pub fn init(
    dir: &Path,
    keys: &RoleKeyDir,
    opts: &InitOptions,
    now: jiff::Timestamp,
) -> Result<InitReport, RepoError> {
    if opts.root_keys == 0 || opts.threshold == 0 || opts.threshold > opts.root_keys as u64 {
        return Err(RepoError::Options(format!(
            "a root of {} key(s) with threshold {}: the threshold must be from 1 to the \
             number of root keys",
            opts.root_keys, opts.threshold
        )));
    }
    opts.settings.check(Path::new(crate::policy::FILE))?;
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(RepoError::io("reading", dir))?
            .next()
            .is_none();
        if !empty {
            return Err(RepoError::NotEmpty(dir.to_owned()));
        }
    }
    let keys_made = keys.ensure(opts.root_keys)?;
    let root_keys = keys.root_keys()?;
    if root_keys.len() < opts.root_keys {
        return Err(RepoError::Options(format!(
            "{} holds {} root key(s), fewer than the {} asked for",
            keys.dir().display(),
            root_keys.len(),
            opts.root_keys
        )));
    }
    let root_keys: Vec<RoleKey> = root_keys.into_iter().take(opts.root_keys).collect();
    let others =
        [Role::Targets, Role::Snapshot, Role::Timestamp].map(|r| keys.key(r).map(|k| (r, k)));
    let others: Vec<(Role, RoleKey)> = others.into_iter().collect::<Result<_, _>>()?;

    // Stage the whole repository beside `dir`, then rename it into place.
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(RepoError::io("creating", parent))?;
    let stage = tempfile::Builder::new()
        .prefix(".stela-repo-init-")
        .tempdir_in(parent)
        .map_err(RepoError::io("creating a staging directory in", parent))?;
    let staged = Layout::new(stage.path());
    for d in [staged.metadata(), staged.targets()] {
        std::fs::create_dir_all(&d).map_err(RepoError::io("creating", &d))?;
    }

    let mut key_ids: HashMap<String, Vec<String>> = HashMap::new();
    let mut root = Root {
        spec_version: SPEC_VERSION.to_owned(),
        consistent_snapshot: true,
        version: NonZeroU64::MIN,
        expires: opts.settings.expires.root.after(now)?,
        keys: HashMap::new(),
        roles: HashMap::new(),
        _extra: HashMap::new(),
    };
    let mut add = |role: Role, keys: &[&RoleKey], threshold: u64| -> Result<(), RepoError> {
        let mut ids = Vec::new();
        for k in keys {
            let public = k.public()?;
            let id = public
                .key_id()
                .map_err(RepoError::tuf("computing a key ID"))?;
            key_ids
                .entry(role.name().to_owned())
                .or_default()
                .push(hex::encode(&*id));
            root.keys.insert(id.clone(), public);
            ids.push(id);
        }
        root.roles.insert(
            role.tough(),
            RoleKeys {
                keyids: ids,
                threshold: NonZeroU64::new(threshold).expect("threshold checked above"),
                _extra: HashMap::new(),
            },
        );
        Ok(())
    };
    add(
        Role::Root,
        &root_keys.iter().collect::<Vec<_>>(),
        opts.threshold,
    )?;
    for (role, key) in &others {
        add(*role, &[key], 1)?;
    }
    let root_expires = root.expires.to_string();
    let sources: Vec<Box<dyn KeySource>> = root_keys
        .iter()
        .map(|k| Box::new(RoleKey::load(k.path()).expect("loaded before")) as Box<dyn KeySource>)
        .collect();
    let holder = KeyHolder::Root(root.clone());
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let signed_root = block_on(SignedRole::new(root, &holder, &sources, &rng))?
        .map_err(RepoError::tuf("signing root.json"))?;
    put(&staged.root(1), signed_root.buffer(), false)?;

    let online = online_keys(keys)?;
    let expires = opts.settings.expires;
    let signed = block_on(async {
        let mut editor = RepositoryEditor::new(staged.root(1)).await?;
        editor
            .targets_version(NonZeroU64::MIN)?
            .targets_expires(expires.targets.after(now).expect("checked period"))?
            .snapshot_version(NonZeroU64::MIN)
            .snapshot_expires(expires.snapshot.after(now).expect("checked period"))
            .timestamp_version(NonZeroU64::MIN)
            .timestamp_expires(expires.timestamp.after(now).expect("checked period"));
        editor.sign(&online).await
    })?
    .map_err(RepoError::tuf(
        "signing the first targets, snapshot and timestamp",
    ))?;
    block_on(signed.write(staged.metadata()))?
        .map_err(RepoError::tuf("writing the first metadata"))?;
    put(
        &stage.path().join(crate::policy::FILE),
        opts.settings.render().as_bytes(),
        false,
    )?;

    let stage = stage.keep();
    if dir.exists() {
        // Empty (checked above): rename(2) replaces an empty directory.
        std::fs::remove_dir(dir).map_err(RepoError::io("replacing the empty directory", dir))?;
    }
    std::fs::rename(&stage, dir).map_err(RepoError::io("renaming the new repository to", dir))?;
    sync_dir(parent)?;
    let layout = Layout::new(dir);
    Ok(InitReport {
        repo: dir.to_owned(),
        root: layout.root(1),
        keys_made,
        key_ids,
        root_expires,
    })
}

/// The keys of targets, snapshot and timestamp, as tough takes them.
fn online_keys(keys: &RoleKeyDir) -> Result<Vec<Box<dyn KeySource>>, RepoError> {
    let mut v: Vec<Box<dyn KeySource>> = Vec::new();
    for role in [Role::Targets, Role::Snapshot, Role::Timestamp] {
        v.push(Box::new(keys.key(role)?));
    }
    Ok(v)
}

/// A repository as its publisher loads it: the metadata verified from 1.root.json on
/// (signatures, versions, hashes), expiry not enforced (a refresh must be able to renew
/// an expired timestamp).
pub(crate) fn load(layout: &Layout) -> Result<tough::Repository, RepoError> {
    layout.check()?;
    let root = std::fs::read(layout.root(1)).map_err(RepoError::io("reading", layout.root(1)))?;
    let url = |p: PathBuf| {
        url::Url::from_directory_path(std::path::absolute(&p).unwrap_or(p.clone())).map_err(|()| {
            RepoError::NotARepository {
                path: p,
                reason: "the path cannot be made a file:// URL".to_owned(),
            }
        })
    };
    let metadata = url(layout.metadata())?;
    let targets = url(layout.targets())?;
    block_on(
        RepositoryLoader::new(&root, metadata, targets)
            .transport(FilesystemTransport)
            .expiration_enforcement(ExpirationEnforcement::Unsafe)
            .load(),
    )?
    .map_err(RepoError::tuf(format!(
        "loading the repository {}",
        layout.dir().display()
    )))
}

/// What `publish` did.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    /// Image name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The channel.
    pub channel: String,
    /// The usr image's root hash.
    pub root_hash: String,
    /// The targets, name and size.
    pub targets: Vec<(String, u64)>,
    /// Whether the release was on another channel already (its files were kept, the
    /// channel added).
    pub promoted: bool,
    /// The new targets.json version.
    pub targets_version: u64,
    /// Size of the usr image and of its compressed target.
    pub usr_bytes: (u64, u64),
}

/// Publish the release in the build output `out` on `channel`.
pub fn publish(
    dir: &Path,
    keys: &RoleKeyDir,
    out: &Path,
    channel: &str,
    now: jiff::Timestamp,
) -> Result<PublishReport, RepoError> {
    check_channel_name(channel)?;
    let layout = Layout::new(dir);
    let settings = Settings::load(dir)?;
    let repo = load(&layout)?;
    let release = Release::read(out)?;
    let label = release.label();
    let m = &release.manifest;

    // What the channel and the repository hold already.
    let existing: Vec<(TargetName, Target, TargetInfo)> = repo
        .targets()
        .signed
        .targets
        .iter()
        .filter_map(|(n, t)| TargetInfo::from_custom(&t.custom).map(|i| (n.clone(), t.clone(), i)))
        .collect();
    let same_release: Vec<&(TargetName, Target, TargetInfo)> = existing
        .iter()
        .filter(|(_, _, i)| i.name == m.name && i.version == m.version)
        .collect();
    if let Some((_, _, i)) = same_release.first() {
        if i.root_hash != m.root_hash {
            return Err(RepoError::Channel {
                channel: channel.to_owned(),
                reason: format!(
                    "{label} is already published with root hash {} and this build has {}: a \
                     version is published once; give the new build a new version",
                    i.root_hash, m.root_hash
                ),
            });
        }
        if i.channels.iter().any(|c| c == channel) {
            return Err(RepoError::Channel {
                channel: channel.to_owned(),
                reason: format!("{label} is already on it"),
            });
        }
    }
    if let Some(newer) = existing
        .iter()
        .filter(|(_, _, i)| i.name == m.name && i.channels.iter().any(|c| c == channel))
        .map(|(_, _, i)| &i.version)
        .find(|v| compare_versions(v, &m.version).is_gt())
    {
        return Err(RepoError::Channel {
            channel: channel.to_owned(),
            reason: format!(
                "it has {}_{newer}, newer than {label}; devices never move to an older \
                 version by an update",
                m.name
            ),
        });
    }

    let editor_root = layout.root(repo.root().signed.version.get());
    let mut new_targets: Vec<(String, Target)> = Vec::new();
    let mut usr_bytes = (0, 0);
    let promoted = !same_release.is_empty();
    if promoted {
        for (n, t, i) in &same_release {
            let mut info = i.clone();
            info.channels.push(channel.to_owned());
            info.published.insert(channel.to_owned(), now.to_string());
            let mut t = t.clone();
            t.custom = info.to_custom();
            new_targets.push((n.raw().to_owned(), t));
        }
    } else {
        let stage = tempfile::Builder::new()
            .prefix(".stela-publish-")
            .tempdir_in(layout.targets())
            .map_err(RepoError::io(
                "creating a staging directory in",
                layout.targets(),
            ))?;
        for f in &release.files {
            let name = f.kind.target_name(&label);
            let staged = stage.path().join(&name);
            let mut info = TargetInfo {
                name: m.name.clone(),
                version: m.version.clone(),
                kind: f.kind,
                root_hash: m.root_hash.clone(),
                channels: vec![channel.to_owned()],
                published: [(channel.to_owned(), now.to_string())].into(),
                frames: None,
            };
            let (length, sha256) = if f.kind == Kind::Usr {
                let frame = u64::from(settings.usr.frame_mib) << 20;
                let c = frames::compress(&f.path, &staged, frame, settings.usr.zstd_level)?;
                usr_bytes = (c.table.image_bytes, c.length);
                info.frames = Some(c.table);
                (c.length, hex::encode(c.sha256))
            } else {
                std::fs::copy(&f.path, &staged).map_err(RepoError::io("copying", &f.path))?;
                crate::release::sha256_file(&staged)?
            };
            let file = layout.target_file(&name, &sha256);
            if !file.exists() {
                std::fs::rename(&staged, &file)
                    .map_err(RepoError::io("renaming into place", &file))?;
            }
            let target = Target {
                length,
                hashes: Hashes {
                    sha256: Decoded::<Hex>::from(hex::decode(&sha256).expect("own hex")),
                    _extra: HashMap::new(),
                },
                custom: info.to_custom(),
                _extra: HashMap::new(),
            };
            new_targets.push((name, target));
        }
        sync_dir(&layout.targets())?;
    }

    let targets_version = repo.targets().signed.version.get() + 1;
    let signed = sign_release(
        &repo,
        &editor_root,
        keys,
        &settings,
        now,
        new_targets.clone(),
        Vec::new(),
    )?;
    write_metadata(&layout, &signed)?;
    Ok(PublishReport {
        name: m.name.clone(),
        version: m.version.clone(),
        channel: channel.to_owned(),
        root_hash: m.root_hash.clone(),
        targets: new_targets
            .into_iter()
            .map(|(n, t)| (n, t.length))
            .collect(),
        promoted,
        targets_version,
        usr_bytes,
    })
}

fn check_channel_name(channel: &str) -> Result<(), RepoError> {
    let ok = !channel.is_empty()
        && channel.len() <= 64
        && channel
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(RepoError::Options(format!(
            "--channel `{channel}`: a channel name is 1 to 64 letters, digits, `-`, `_` or `.`"
        )))
    }
}

/// Targets with `add` added or replaced and `remove` removed, every role version one up.
fn sign_release(
    repo: &tough::Repository,
    root_path: &Path,
    keys: &RoleKeyDir,
    settings: &Settings,
    now: jiff::Timestamp,
    add: Vec<(String, Target)>,
    remove: Vec<String>,
) -> Result<tough::editor::signed::SignedRepository, RepoError> {
    let online = online_keys(keys)?;
    let next = |v: NonZeroU64| v.checked_add(1).expect("a version below u64::MAX");
    let tv = next(repo.targets().signed.version);
    let sv = next(repo.snapshot().signed.version);
    let ts = next(repo.timestamp().signed.version);
    let e = settings.expires;
    let (t_exp, s_exp, ts_exp) = (
        e.targets.after(now)?,
        e.snapshot.after(now)?,
        e.timestamp.after(now)?,
    );
    let repo = repo.clone();
    block_on(async move {
        let mut editor = RepositoryEditor::from_repo(root_path, repo).await?;
        for name in remove {
            editor.remove_target(&TargetName::new(name)?)?;
        }
        for (name, target) in add {
            let name = TargetName::new(name)?;
            editor.remove_target(&name)?;
            editor.add_target(name, target)?;
        }
        editor
            .targets_version(tv)?
            .targets_expires(t_exp)?
            .snapshot_version(sv)
            .snapshot_expires(s_exp)
            .timestamp_version(ts)
            .timestamp_expires(ts_exp);
        editor.sign(&online).await
    })?
    .map_err(RepoError::tuf("signing the release"))
}

/// Move freshly signed metadata into `metadata/`: versioned files first (each written
/// once), `timestamp.json` last.
fn write_metadata(
    layout: &Layout,
    signed: &tough::editor::signed::SignedRepository,
) -> Result<(), RepoError> {
    let stage = tempfile::Builder::new()
        .prefix(".stela-metadata-")
        .tempdir_in(layout.metadata())
        .map_err(RepoError::io(
            "creating a staging directory in",
            layout.metadata(),
        ))?;
    block_on(signed.write(stage.path()))?.map_err(RepoError::tuf("writing the metadata"))?;
    move_staged(layout, stage.path())
}

fn move_staged(layout: &Layout, stage: &Path) -> Result<(), RepoError> {
    let mut names: Vec<String> = std::fs::read_dir(stage)
        .map_err(RepoError::io("reading", stage))?
        .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .collect();
    // Versioned files (`N.role.json`) first; timestamp.json, which points at them, last.
    names.sort_by_key(|n| n == "timestamp.json");
    for name in names {
        let bytes = std::fs::read(stage.join(&name))
            .map_err(RepoError::io("reading", stage.join(&name)))?;
        put(
            &layout.metadata().join(&name),
            &bytes,
            name == "timestamp.json",
        )?;
    }
    Ok(())
}

/// What `rules` did.
#[derive(Debug, Clone, Serialize)]
pub struct RulesReport {
    /// The channel.
    pub channel: String,
    /// The rules now in force (`None`: cleared, every release on the channel is seen by
    /// every device at once).
    pub rules: Option<ChannelRules>,
    /// The new targets.json version.
    pub targets_version: u64,
}

/// Set (or with `None` clear) the rules of `rules.channel`, signed into the targets
/// metadata as the target [`ChannelRules::target_name`].
pub fn set_rules(
    dir: &Path,
    keys: &RoleKeyDir,
    channel: &str,
    rules: Option<ChannelRules>,
    now: jiff::Timestamp,
) -> Result<RulesReport, RepoError> {
    check_channel_name(channel)?;
    if let Some(r) = &rules {
        if r.channel != channel {
            return Err(RepoError::Options(format!(
                "rules for channel {} given for channel {channel}",
                r.channel
            )));
        }
        r.check().map_err(|reason| RepoError::Channel {
            channel: channel.to_owned(),
            reason,
        })?;
    }
    let layout = Layout::new(dir);
    let settings = Settings::load(dir)?;
    let repo = load(&layout)?;
    let name = ChannelRules::target_name(channel);
    let mut add = Vec::new();
    let mut remove = Vec::new();
    match &rules {
        Some(r) => {
            let mut bytes = serde_json::to_vec_pretty(r).expect("rules serialise");
            bytes.push(b'\n');
            let sha256 = Sha256::digest(&bytes);
            put(
                &layout.target_file(&name, &hex::encode(sha256)),
                &bytes,
                false,
            )?;
            add.push((
                name,
                Target {
                    length: bytes.len() as u64,
                    hashes: Hashes {
                        sha256: Decoded::<Hex>::from(sha256.to_vec()),
                        _extra: HashMap::new(),
                    },
                    custom: r.to_custom(),
                    _extra: HashMap::new(),
                },
            ));
        }
        None => {
            let known =
                TargetName::new(name.clone()).map_err(RepoError::tuf("naming the rules target"))?;
            if !repo.targets().signed.targets.contains_key(&known) {
                return Err(RepoError::Channel {
                    channel: channel.to_owned(),
                    reason: "has no rules to clear".to_owned(),
                });
            }
            remove.push(name);
        }
    }
    let editor_root = layout.root(repo.root().signed.version.get());
    let targets_version = repo.targets().signed.version.get() + 1;
    let signed = sign_release(&repo, &editor_root, keys, &settings, now, add, remove)?;
    write_metadata(&layout, &signed)?;
    Ok(RulesReport {
        channel: channel.to_owned(),
        rules,
        targets_version,
    })
}

/// The rules of every channel that has some.
pub fn rules(dir: &Path) -> Result<Vec<ChannelRules>, RepoError> {
    let repo = load(&Layout::new(dir))?;
    Ok(repo
        .targets()
        .signed
        .targets
        .values()
        .filter_map(|t| ChannelRules::from_custom(&t.custom))
        .collect())
}

/// What `refresh` did.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshReport {
    /// The new snapshot version.
    pub snapshot_version: u64,
    /// The new timestamp version.
    pub timestamp_version: u64,
    /// When the new timestamp expires.
    pub timestamp_expires: String,
}

/// Re-sign snapshot and timestamp with new versions and expiry (targets unchanged).
pub fn refresh(
    dir: &Path,
    keys: &RoleKeyDir,
    now: jiff::Timestamp,
) -> Result<RefreshReport, RepoError> {
    let layout = Layout::new(dir);
    let settings = Settings::load(dir)?;
    let repo = load(&layout)?;
    let holder = KeyHolder::Root(repo.root().signed.clone());
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let next = |v: NonZeroU64| v.checked_add(1).expect("a version below u64::MAX");

    let old = &repo.snapshot().signed;
    let mut snapshot = Snapshot::new(
        SPEC_VERSION.to_owned(),
        next(old.version),
        settings.expires.snapshot.after(now)?,
    );
    snapshot.meta = old.meta.clone();
    snapshot._extra = old._extra.clone();
    let skey: Vec<Box<dyn KeySource>> = vec![Box::new(keys.key(Role::Snapshot)?)];
    let signed_snapshot = block_on(SignedRole::new(snapshot, &holder, &skey, &rng))?
        .map_err(RepoError::tuf("signing snapshot.json"))?;

    let mut timestamp = Timestamp::new(
        SPEC_VERSION.to_owned(),
        next(repo.timestamp().signed.version),
        settings.expires.timestamp.after(now)?,
    );
    timestamp.meta.insert(
        "snapshot.json".to_owned(),
        Metafile {
            length: Some(*signed_snapshot.length()),
            hashes: Some(Hashes {
                sha256: Decoded::<Hex>::from(signed_snapshot.sha256().to_vec()),
                _extra: HashMap::new(),
            }),
            version: signed_snapshot.signed().signed.version,
            _extra: HashMap::new(),
        },
    );
    let tkey: Vec<Box<dyn KeySource>> = vec![Box::new(keys.key(Role::Timestamp)?)];
    let signed_timestamp = block_on(SignedRole::new(timestamp, &holder, &tkey, &rng))?
        .map_err(RepoError::tuf("signing timestamp.json"))?;

    let sv = signed_snapshot.signed().signed.version.get();
    put(
        &layout.metadata().join(format!("{sv}.snapshot.json")),
        signed_snapshot.buffer(),
        false,
    )?;
    put(
        &layout.metadata().join("timestamp.json"),
        signed_timestamp.buffer(),
        true,
    )?;
    Ok(RefreshReport {
        snapshot_version: sv,
        timestamp_version: signed_timestamp.signed().signed.version.get(),
        timestamp_expires: signed_timestamp.signed().signed.expires.to_string(),
    })
}

/// One release as the repository lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseEntry {
    /// Image name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Root hash.
    pub root_hash: String,
    /// Channels.
    pub channels: Vec<String>,
    /// Bytes of its targets.
    pub bytes: u64,
}

/// What `show` reports.
#[derive(Debug, Clone, Serialize)]
pub struct RepoSummary {
    /// Role versions and expiry: `(role, version, expires)`.
    pub roles: Vec<(String, u64, String)>,
    /// Releases, oldest first.
    pub releases: Vec<ReleaseEntry>,
}

/// Load and verify the repository and list its roles and releases.
pub fn show(dir: &Path) -> Result<RepoSummary, RepoError> {
    let repo = load(&Layout::new(dir))?;
    let roles = vec![
        (
            "root".to_owned(),
            repo.root().signed.version.get(),
            repo.root().signed.expires.to_string(),
        ),
        (
            "targets".to_owned(),
            repo.targets().signed.version.get(),
            repo.targets().signed.expires.to_string(),
        ),
        (
            "snapshot".to_owned(),
            repo.snapshot().signed.version.get(),
            repo.snapshot().signed.expires.to_string(),
        ),
        (
            "timestamp".to_owned(),
            repo.timestamp().signed.version.get(),
            repo.timestamp().signed.expires.to_string(),
        ),
    ];
    let mut releases: Vec<ReleaseEntry> = Vec::new();
    for t in repo.targets().signed.targets.values() {
        let Some(i) = TargetInfo::from_custom(&t.custom) else {
            continue;
        };
        match releases
            .iter_mut()
            .find(|r| r.name == i.name && r.version == i.version)
        {
            Some(r) => r.bytes += t.length,
            None => releases.push(ReleaseEntry {
                name: i.name,
                version: i.version,
                root_hash: i.root_hash,
                channels: i.channels,
                bytes: t.length,
            }),
        }
    }
    releases.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then(compare_versions(&a.version, &b.version))
    });
    Ok(RepoSummary { roles, releases })
}

/// `Signed<Root>` is re-exported for callers that embed the trusted root.
pub type SignedRoot = Signed<Root>;
