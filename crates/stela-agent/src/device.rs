//! The machine the agent runs on: its configuration, the disk it booted from, the
//! version it runs, and how to reach its ESP.
//!
//! The running version is the root hash on the kernel command line (`usrhash=`, which
//! the signed UKI carries): not a guess from labels or boot entries. The disk is the one
//! whose partition table holds a slot with that root hash.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use stela_image::StelaDisk;
use stela_recipe::{MaintenanceWindow, Update};
use stela_repo::RolloutPosition;
use stela_verity::RootHash;

use crate::error::AgentError;

/// The image's agent configuration, from the recipe's `[update]` table (in the verified
/// /usr, so it changes with the image).
pub const IMAGE_CONFIG: &str = "/usr/lib/stela/update.toml";
/// Local changes to it (a different repository mirror or channel); optional.
pub const LOCAL_CONFIG: &str = "/etc/stela/update.toml";
/// The repository's trusted root, from the recipe's `update.root`.
pub const TRUSTED_ROOT: &str = "/usr/lib/stela/root.json";
/// What the agent keeps between runs: verified metadata (so older metadata is refused
/// later), the versions that failed, the last run's result.
pub const STATE_DIR: &str = "/var/lib/stela";

/// Where the agent updates from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceConfig {
    /// The repository URL.
    pub repository: String,
    /// The channel followed.
    pub channel: String,
    /// The trusted root metadata.
    pub root: PathBuf,
    /// The agent's state directory.
    pub state_dir: PathBuf,
    /// Boots a new version gets (its boot entry's `+N`).
    pub tries: u8,
    /// When `apply --reboot` may reboot into a new version; any time if `None`.
    pub window: Option<MaintenanceWindow>,
    /// The rollout wave this machine is in, in place of the one its machine-id gives.
    pub wave: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    repository: Option<String>,
    channel: Option<String>,
    tries: Option<u8>,
    window: Option<String>,
    wave: Option<u8>,
}

fn read_config(path: &Path) -> Result<Option<ConfigFile>, AgentError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(AgentError::Config {
                path: path.to_owned(),
                reason: e.to_string(),
            })
        }
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| AgentError::Config {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

impl DeviceConfig {
    /// Whether `apply --reboot` may reboot into a new version at `now`: inside the
    /// maintenance window (UTC), or at any time without one.
    pub fn may_reboot_at(&self, now: jiff::Timestamp) -> bool {
        let Some(window) = &self.window else {
            return true;
        };
        let utc = now.to_zoned(jiff::tz::TimeZone::UTC);
        let weekday = utc.weekday().to_monday_zero_offset();
        let minute = i32::from(utc.hour()) * 60 + i32::from(utc.minute());
        match (u8::try_from(weekday), u16::try_from(minute)) {
            (Ok(d), Ok(m)) => window.contains(d, m),
            _ => false,
        }
    }

    /// The configuration of this machine: [`IMAGE_CONFIG`], with the fields that
    /// [`LOCAL_CONFIG`] sets in its place.
    pub fn load() -> Result<DeviceConfig, AgentError> {
        Self::load_from(
            Path::new(IMAGE_CONFIG),
            Path::new(LOCAL_CONFIG),
            Path::new(TRUSTED_ROOT),
            Path::new(STATE_DIR),
        )
    }

    /// The configuration from these files (tests use their own).
    pub fn load_from(
        image: &Path,
        local: &Path,
        root: &Path,
        state_dir: &Path,
    ) -> Result<DeviceConfig, AgentError> {
        let Some(base) = read_config(image)? else {
            return Err(AgentError::Config {
                path: image.to_owned(),
                reason: "missing: this image was built without an [update] table".to_owned(),
            });
        };
        let local_path = local;
        let local = read_config(local)?.unwrap_or_default();
        let repository =
            local
                .repository
                .or(base.repository)
                .ok_or_else(|| AgentError::Config {
                    path: image.to_owned(),
                    reason: "no `repository`".to_owned(),
                })?;
        let channel = local
            .channel
            .or(base.channel)
            .unwrap_or_else(|| "stable".to_owned());
        let tries = local.tries.or(base.tries).unwrap_or(3);
        if !(1..=9).contains(&tries) {
            return Err(AgentError::Config {
                path: image.to_owned(),
                reason: format!("tries = {tries}: a new version gets 1 to 9 boots"),
            });
        }
        let window = match local.window.as_ref().or(base.window.as_ref()) {
            None => None,
            Some(w) => Some(MaintenanceWindow::parse(w).map_err(|e| AgentError::Config {
                path: if local.window.is_some() {
                    local_path.to_owned()
                } else {
                    image.to_owned()
                },
                reason: format!("window: {e}"),
            })?),
        };
        let wave = local.wave.or(base.wave);
        if let Some(n) = wave.filter(|n| *n > Update::WAVE_MAX) {
            return Err(AgentError::Config {
                path: if local.wave.is_some() {
                    local_path.to_owned()
                } else {
                    image.to_owned()
                },
                reason: format!("wave = {n}: a wave is 0 to {}", Update::WAVE_MAX),
            });
        }
        if !root.is_file() {
            return Err(AgentError::Config {
                path: root.to_owned(),
                reason: "the trusted root metadata is missing".to_owned(),
            });
        }
        Ok(DeviceConfig {
            repository,
            channel,
            root: root.to_owned(),
            state_dir: state_dir.to_owned(),
            tries,
            window,
            wave,
        })
    }
}

/// The system the agent runs on.
#[derive(Debug, Clone)]
pub struct RunningSystem {
    /// The whole-disk block device it booted from.
    pub disk: PathBuf,
    /// The root hash of the usr image it runs.
    pub root_hash: RootHash,
    /// How its ESP is reached.
    pub esp: EspAccess,
    /// Its place in staged rollouts, from `/etc/machine-id`.
    pub rollout: RolloutPosition,
}

impl RunningSystem {
    /// Find the running version and its disk.
    pub fn detect() -> Result<RunningSystem, AgentError> {
        let cmdline = std::fs::read_to_string("/proc/cmdline")
            .map_err(|e| AgentError::Running(format!("reading /proc/cmdline: {e}")))?;
        let root_hash = stela_image::boot::usrhash(&cmdline).ok_or_else(|| {
            AgentError::Running(
                "the kernel command line has no usrhash=: this is not a booted stela image"
                    .to_owned(),
            )
        })?;
        let disk = find_disk(Path::new("/sys/block"), Path::new("/dev"), &root_hash)?;
        let model = StelaDisk::open(&disk).map_err(AgentError::disk(&disk))?;
        let esp = match model.esps().first() {
            Some(e) => EspAccess::find(&e.partition.guid.to_string()),
            None => {
                return Err(AgentError::Running(format!(
                    "{} has no ESP",
                    disk.display()
                )))
            }
        };
        let machine_id = std::fs::read_to_string(MACHINE_ID)
            .map_err(|e| AgentError::Running(format!("reading {MACHINE_ID}: {e}")))?;
        Ok(RunningSystem {
            disk,
            root_hash,
            esp,
            rollout: RolloutPosition::from_machine_id(&machine_id),
        })
    }
}

/// The machine's identity, which places it in staged rollouts.
const MACHINE_ID: &str = "/etc/machine-id";

/// The whole disk (not a partition, loop, RAM or mapped device) whose partition table
/// has a slot holding `root_hash`.
fn find_disk(sys_block: &Path, dev: &Path, root_hash: &RootHash) -> Result<PathBuf, AgentError> {
    let mut names: Vec<String> = std::fs::read_dir(sys_block)
        .map_err(|e| AgentError::Running(format!("listing {}: {e}", sys_block.display())))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| {
            !["loop", "ram", "dm-", "zram", "sr", "md", "nbd", "fd"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .collect();
    names.sort();
    for name in &names {
        let path = dev.join(name);
        match StelaDisk::open(&path) {
            Ok(model) if model.slot_holding(root_hash).is_some() => return Ok(path),
            Ok(_) => {}
            Err(e) => tracing::debug!("{}: {e}", path.display()),
        }
    }
    Err(AgentError::Running(format!(
        "no disk among {names:?} has a slot holding the running root hash {root_hash}"
    )))
}

/// How the agent changes files on the ESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EspAccess {
    /// Through its FAT file system on the disk: only when nothing has it mounted (a disk
    /// image, or a machine without an ESP mount).
    Raw,
    /// Through the kernel's mount of it at this directory: writing the partition
    /// underneath a mounted FAT would corrupt it.
    Mounted(PathBuf),
}

/// Where systemd mounts the ESP (the first that holds it wins).
const ESP_MOUNT_POINTS: [&str; 3] = ["/efi", "/boot", "/boot/efi"];

impl EspAccess {
    /// The ESP with partition GUID `partuuid`: mounted (an automount is triggered by
    /// looking into its directory) or not.
    pub fn find(partuuid: &str) -> EspAccess {
        for dir in ESP_MOUNT_POINTS {
            // Listing the directory makes systemd's automount mount it.
            let _ = std::fs::read_dir(dir).map(|mut d| d.next());
        }
        let node = Path::new("/dev/disk/by-partuuid").join(partuuid.to_ascii_lowercase());
        let Ok(meta) = std::fs::metadata(&node) else {
            return EspAccess::Raw;
        };
        let rdev = std::os::unix::fs::MetadataExt::rdev(&meta);
        let id = format!("{}:{}", rustix::fs::major(rdev), rustix::fs::minor(rdev));
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        match mount_point_of(&mountinfo, &id) {
            Some(dir) => EspAccess::Mounted(dir),
            None => EspAccess::Raw,
        }
    }
}

/// The mount point of device `major:minor` in a mountinfo text (the first listed).
fn mount_point_of(mountinfo: &str, dev: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let mut f = line.split(' ');
        let (_, _, id, _, point) = (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
        (id == dev).then(|| PathBuf::from(unescape_mountinfo(point)))
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Put `bytes` at `rel` under the mounted ESP `dir`: written under a temporary name,
/// synced, renamed, the directory synced.
pub(crate) fn mounted_put(dir: &Path, rel: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dest = dir.join(rel);
    let parent = dest.parent().unwrap_or(dir).to_owned();
    std::fs::create_dir_all(&parent)?;
    let tmp = parent.join(".stela-partial");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, &dest)?;
    std::fs::File::open(&parent)?.sync_all()
}

/// Remove `rel` under the mounted ESP `dir`, the directory synced.
pub(crate) fn mounted_remove(dir: &Path, rel: &str) -> std::io::Result<()> {
    let path = dir.join(rel);
    std::fs::remove_file(&path)?;
    std::fs::File::open(path.parent().unwrap_or(dir))?.sync_all()
}

/// The image model of `disk` as the device holds it now: on a running machine the
/// kernel may have changed the ESP through its mount (systemd-bless-boot renames
/// entries), behind the whole disk's page cache, so everything is synced and the
/// disk's cached pages dropped before it is read.
pub fn read_disk(disk: &Path) -> Result<StelaDisk, AgentError> {
    rustix::fs::sync();
    let f = std::fs::File::open(disk).map_err(|source| AgentError::Io {
        path: disk.to_owned(),
        what: "opening".to_owned(),
        source,
    })?;
    rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).map_err(|e| AgentError::Io {
        path: disk.to_owned(),
        what: "dropping cached pages".to_owned(),
        source: e.into(),
    })?;
    StelaDisk::open(disk).map_err(AgentError::disk(disk))
}

/// The name of a boot entry with no tries left: `X.efi` and `X+N-M.efi` become
/// `X+0.efi` and `X+0-M.efi`, which systemd-boot sorts last.
pub(crate) fn bad_entry_name(entry: &str) -> String {
    let stem = entry.strip_suffix(".efi").unwrap_or(entry);
    let (id, done) = match stem.rsplit_once('+') {
        Some((id, counter)) if counter.bytes().all(|b| b.is_ascii_digit() || b == b'-') => {
            (id, counter.split_once('-').map(|(_, d)| d))
        }
        _ => (stem, None),
    };
    match done {
        Some(d) => format!("{id}+0-{d}.efi"),
        None => format!("{id}+0.efi"),
    }
}

/// Rename a boot entry on the ESP (only through its mount: renaming is what
/// systemd-bless-boot does there too).
pub(crate) fn rename_entry(esp: &EspAccess, from: &str, to: &str) -> Result<(), AgentError> {
    let EspAccess::Mounted(dir) = esp else {
        return Err(AgentError::Running(
            "the ESP is not mounted (at /efi or /boot): boot entries are renamed through its mount"
                .to_owned(),
        ));
    };
    let (a, b) = (dir.join(from), dir.join(to));
    std::fs::rename(&a, &b)
        .and_then(|()| std::fs::File::open(b.parent().unwrap_or(dir))?.sync_all())
        .map_err(|source| AgentError::Io {
            path: a.clone(),
            what: format!("renaming to {}", b.display()),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_entry_names() {
        assert_eq!(bad_entry_name("EFI/Linux/a_2.efi"), "EFI/Linux/a_2+0.efi");
        assert_eq!(
            bad_entry_name("EFI/Linux/a_2+2-1.efi"),
            "EFI/Linux/a_2+0-1.efi"
        );
        assert_eq!(bad_entry_name("EFI/Linux/a_2+3.efi"), "EFI/Linux/a_2+0.efi");
    }

    #[test]
    fn mountinfo() {
        let text = "22 1 254:3 / / rw,relatime shared:1 - ext4 /dev/vda3 rw\n\
                    40 22 254:1 / /efi rw,relatime shared:20 - vfat /dev/vda1 rw\n\
                    41 22 7:0 / /mnt/with\\040space rw - ext4 /dev/loop0 rw\n";
        assert_eq!(mount_point_of(text, "254:1"), Some(PathBuf::from("/efi")));
        assert_eq!(
            mount_point_of(text, "7:0"),
            Some(PathBuf::from("/mnt/with space"))
        );
        assert_eq!(mount_point_of(text, "8:1"), None);
    }

    #[test]
    fn config_local_fields_win_and_missing_image_config_is_named() {
        let d = tempfile::tempdir().expect("tmp");
        let image = d.path().join("update.toml");
        let local = d.path().join("local.toml");
        let root = d.path().join("root.json");
        std::fs::write(&root, "{}").expect("root");
        let err = DeviceConfig::load_from(&image, &local, &root, d.path()).expect_err("none");
        assert!(
            err.to_string().contains("without an [update] table"),
            "{err}"
        );
        std::fs::write(
            &image,
            "repository = \"http://10.0.2.100:8080/\"\nchannel = \"stable\"\ntries = 3\nwindow = \"Sat 02:00-04:00\"\n",
        )
        .expect("image");
        let c = DeviceConfig::load_from(&image, &local, &root, d.path()).expect("config");
        assert_eq!(c.repository, "http://10.0.2.100:8080/");
        assert_eq!(c.channel, "stable");
        assert_eq!(c.tries, 3);
        assert_eq!(
            c.window.as_ref().map(|w| w.as_str()),
            Some("Sat 02:00-04:00")
        );
        assert_eq!(c.wave, None);
        // 2026-12-05 is a Saturday: inside the window at 03:00 UTC only.
        let at = |t: &str| t.parse::<jiff::Timestamp>().expect("time");
        assert!(c.may_reboot_at(at("2026-12-05T03:00:00Z")));
        assert!(!c.may_reboot_at(at("2026-12-05T04:30:00Z")));
        assert!(!c.may_reboot_at(at("2026-12-06T03:00:00Z")));
        std::fs::write(&local, "channel = \"beta\"\nwave = 0\n").expect("local");
        let c = DeviceConfig::load_from(&image, &local, &root, d.path()).expect("config");
        assert_eq!(c.channel, "beta");
        assert_eq!(c.wave, Some(0));
        // Without a window, any time.
        let mut any = c.clone();
        any.window = None;
        assert!(any.may_reboot_at(at("2026-12-06T03:00:00Z")));
        std::fs::write(&local, "window = \"Someday 02:00-03:00\"\n").expect("local");
        let err = DeviceConfig::load_from(&image, &local, &root, d.path()).expect_err("window");
        assert!(
            err.to_string().contains("local.toml") && err.to_string().contains("not a day"),
            "{err}"
        );
        std::fs::write(&local, "wave = 99\n").expect("local");
        let err = DeviceConfig::load_from(&image, &local, &root, d.path()).expect_err("wave");
        assert!(err.to_string().contains("wave = 99"), "{err}");
        std::fs::write(&local, "chanel = \"beta\"\n").expect("local");
        let err = DeviceConfig::load_from(&image, &local, &root, d.path()).expect_err("typo");
        assert!(err.to_string().contains("local.toml"), "{err}");
    }
}
