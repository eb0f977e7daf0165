//! The validated recipe: what the build trusts without checking again.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::cmdline::KernelCmdline;
use crate::content::Content;
use crate::debian::{Architecture, Component, Mirror, Snapshot, Suite};
use crate::firstboot::Firstboot;
use crate::names::{Hostname, ImageName, PackageName, UnitName, Version};
use crate::paths::{FileMode, HostPath, ImagePath};
use crate::size::Size;
use crate::update::{Health, Update};

/// A checked recipe. Made by [`Recipe::parse`], [`Recipe::load`] or
/// [`Recipe::default_recipe`]; every field has been validated, alone and against the
/// others (the partition label fits, no unit is both enabled and disabled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipe {
    pub(crate) name: ImageName,
    pub(crate) version: Version,
    pub(crate) debian: Debian,
    pub(crate) packages: BTreeSet<PackageName>,
    pub(crate) files: Vec<FileEntry>,
    pub(crate) overlay: Vec<HostPath>,
    pub(crate) systemd: Units,
    pub(crate) hostname: Option<Hostname>,
    pub(crate) kernel: Kernel,
    pub(crate) partitions: Partitions,
    pub(crate) keys: Option<HostPath>,
    pub(crate) firstboot: Firstboot,
    pub(crate) content: Content,
    pub(crate) update: Option<Update>,
    pub(crate) health: Health,
    pub(crate) ipe: crate::ipe::Ipe,
    #[serde(skip_serializing_if = "Boot::is_default")]
    pub(crate) boot: Boot,
}

impl Recipe {
    /// The image name.
    pub fn name(&self) -> &ImageName {
        &self.name
    }

    /// The image version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// `<name>_<version>`: the GPT label of the usr partitions (at most 36 characters, checked).
    pub fn label(&self) -> String {
        format!("{}_{}", self.name, self.version)
    }

    /// The UKI's path on the ESP with systemd-boot's tries (`update.tries`, 3 by
    /// default): `EFI/Linux/<name>_<version>+3.efi`.
    pub fn uki_path(&self) -> String {
        let tries = self
            .update
            .as_ref()
            .map_or(crate::update::BootTries::DEFAULT, |u| u.tries);
        format!("EFI/Linux/{}+{}.efi", self.label(), tries.get())
    }

    /// Where the packages come from.
    pub fn debian(&self) -> &Debian {
        &self.debian
    }

    /// The extra packages the recipe names (see [`Recipe::package_set`] for all).
    pub fn packages(&self) -> &BTreeSet<PackageName> {
        &self.packages
    }

    /// Files to put into the image, in recipe order (later entries win).
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// Directories copied over the root file system, in recipe order (later ones win).
    pub fn overlay(&self) -> &[HostPath] {
        &self.overlay
    }

    /// Units to enable and disable.
    pub fn systemd(&self) -> &Units {
        &self.systemd
    }

    /// The host name, if the recipe sets one.
    pub fn hostname(&self) -> Option<&Hostname> {
        self.hostname.as_ref()
    }

    /// Kernel settings.
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// Partition sizes and the root partition.
    pub fn partitions(&self) -> &Partitions {
        &self.partitions
    }

    /// The signing key directory, if the recipe names one.
    pub fn keys(&self) -> Option<&HostPath> {
        self.keys.as_ref()
    }

    /// First-boot answers.
    pub fn firstboot(&self) -> &Firstboot {
        &self.firstboot
    }

    /// What of the packages' files the image keeps (documentation, translations).
    pub fn content(&self) -> &Content {
        &self.content
    }

    /// The update agent's configuration, if the image follows a repository.
    pub fn update(&self) -> Option<&Update> {
        self.update.as_ref()
    }

    /// The units a boot must reach before it counts as good.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// `[ipe]`: the image's IPE policy mode and extra rules.
    pub fn ipe(&self) -> &crate::ipe::Ipe {
        &self.ipe
    }

    /// Boot loader settings.
    pub fn boot(&self) -> &Boot {
        &self.boot
    }
}

/// `[boot]`: the boot loader the image ships.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Boot {
    /// A systemd-boot binary to ship in place of the one from the image's own
    /// `systemd-boot-efi` package (a newer or patched build); the build signs it.
    pub loader: Option<HostPath>,
}

impl Boot {
    fn is_default(&self) -> bool {
        self.loader.is_none()
    }
}

/// `[debian]`: the archive the root file system is bootstrapped from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Debian {
    /// Suite codename; trixie by default.
    pub suite: Suite,
    /// Mirror URL; `http://deb.debian.org/debian` by default.
    pub mirror: Mirror,
    /// Archive areas, without duplicates, `main` always among them.
    pub components: Vec<Component>,
    /// Architecture; amd64 by default.
    pub architecture: Architecture,
    /// Whether `<suite>-security` is used (Debian's security fixes); on by default where
    /// the suite has one.
    pub security: bool,
    /// The security archive's URL; `http://deb.debian.org/debian-security` by default.
    pub security_mirror: Mirror,
    /// Whether `<suite>-updates` is used (stable updates published between point
    /// releases); on by default where the suite has one.
    pub updates: bool,
    /// The moment of the archive the packages are pinned to, if any: the mirrors
    /// default to snapshot.debian.org at that time, and apt accepts Release files
    /// whose `Valid-Until` has passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
}

impl Default for Debian {
    fn default() -> Self {
        Debian {
            suite: Suite::DEFAULT,
            mirror: Mirror::default_mirror(),
            components: vec![Component::main()],
            architecture: Architecture::DEFAULT,
            security: Suite::DEFAULT.has_security(),
            security_mirror: Mirror::default_security_mirror(),
            updates: Suite::DEFAULT.has_updates(),
            snapshot: None,
        }
    }
}

impl Debian {
    /// The archives packages are installed from, in apt's order: the suite, then its
    /// -security and -updates suites when they are switched on.
    pub fn sources(&self) -> Vec<Source> {
        let mut out = vec![Source {
            url: self.mirror.clone(),
            suite: self.suite.as_str().to_owned(),
            components: self.components.clone(),
        }];
        if self.security {
            out.push(Source {
                url: self.security_mirror.clone(),
                suite: format!("{}-security", self.suite),
                components: self.components.clone(),
            });
        }
        if self.updates {
            out.push(Source {
                url: self.mirror.clone(),
                suite: format!("{}-updates", self.suite),
                components: self.components.clone(),
            });
        }
        out
    }
}

/// One archive suite packages come from: a `deb` line of sources.list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Source {
    /// The archive's URL.
    pub url: Mirror,
    /// The suite as in `dists/<suite>` (`trixie`, `trixie-security`, ...).
    pub suite: String,
    /// Archive areas.
    pub components: Vec<Component>,
}

impl Source {
    /// The one-line sources.list form, `deb URL SUITE COMPONENT...`.
    pub fn deb_line(&self) -> String {
        let components: Vec<&str> = self.components.iter().map(|c| c.as_str()).collect();
        format!("deb {} {} {}", self.url, self.suite, components.join(" "))
    }
}

/// One `[[files]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct FileEntry {
    /// Where the file goes in the image.
    pub dest: ImagePath,
    /// Where its content comes from.
    pub source: FileSource,
    /// Its permission bits (owner is root).
    pub mode: FileMode,
}

/// The content of a `[[files]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileSource {
    /// `src`: a file on the build host, relative to the recipe.
    Host(HostPath),
    /// `content`: the text itself, written into the recipe.
    Inline(String),
}

/// `[systemd]`: units to enable and disable, sorted, without duplicates and without a
/// unit in both lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Units {
    pub(crate) enable: BTreeSet<UnitName>,
    pub(crate) disable: BTreeSet<UnitName>,
}

impl Units {
    /// Units to enable (`systemctl enable` in the image).
    pub fn enable(&self) -> &BTreeSet<UnitName> {
        &self.enable
    }

    /// Units to disable.
    pub fn disable(&self) -> &BTreeSet<UnitName> {
        &self.disable
    }
}

/// `[kernel]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Kernel {
    /// Arguments appended after the ones the build sets.
    pub cmdline_extra: KernelCmdline,
}

/// `[partitions]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Partitions {
    /// Size of each usr slot (A and B), with headroom for later, larger versions; the
    /// verity tree gets its own partition beside it. At least 64M, whole MiB.
    pub usr_size: Size,
    /// Size of the ESP, which holds systemd-boot and one UKI per installed version. At
    /// least 100M, whole MiB.
    pub esp_size: Size,
    /// The root partition, created at first boot.
    pub root: RootPartition,
}

/// Default usr slot size.
pub const DEFAULT_USR_SIZE: Size = Size::mib(1024);
/// Default ESP size.
pub const DEFAULT_ESP_SIZE: Size = Size::mib(512);
/// Smallest usr slot.
pub const MIN_USR_SIZE: Size = Size::mib(64);
/// Smallest ESP: FAT32 and at least one UKI (a trixie UKI is about 57 MB).
pub const MIN_ESP_SIZE: Size = Size::mib(100);
/// Default minimum size of the root partition.
pub const DEFAULT_ROOT_MIN_SIZE: Size = Size::mib(1024);

impl Default for Partitions {
    fn default() -> Self {
        Partitions {
            usr_size: DEFAULT_USR_SIZE,
            esp_size: DEFAULT_ESP_SIZE,
            root: RootPartition::default(),
        }
    }
}

/// `[partitions.root]`: made by systemd-repart at first boot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RootPartition {
    /// Smallest size systemd-repart creates (`SizeMinBytes=`); at least what the file
    /// system needs ([`Filesystem::min_size`]).
    pub min_size: Size,
    /// Whether the partition grows to fill the disk.
    pub grow: bool,
    /// Whether the partition is encrypted, and bound to what.
    pub encrypt: Encryption,
    /// The file system systemd-repart formats it with.
    pub filesystem: Filesystem,
}

impl Default for RootPartition {
    fn default() -> Self {
        RootPartition {
            min_size: DEFAULT_ROOT_MIN_SIZE,
            grow: true,
            encrypt: Encryption::None,
            filesystem: Filesystem::Ext4,
        }
    }
}

/// `partitions.root.encrypt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Encryption {
    /// LUKS2 sealed to the machine's TPM2 (systemd-repart `Encrypt=tpm2`).
    Tpm2,
    /// No encryption.
    None,
}

impl Encryption {
    /// The recipe spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Encryption::Tpm2 => "tpm2",
            Encryption::None => "none",
        }
    }
}

/// `partitions.root.filesystem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Filesystem {
    /// ext4.
    Ext4,
    /// btrfs.
    Btrfs,
    /// XFS.
    Xfs,
}

impl Filesystem {
    /// The recipe spelling, also systemd-repart's `Format=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Filesystem::Ext4 => "ext4",
            Filesystem::Btrfs => "btrfs",
            Filesystem::Xfs => "xfs",
        }
    }

    /// The package whose mkfs systemd-repart runs at first boot.
    pub fn package(self) -> &'static str {
        match self {
            Filesystem::Ext4 => "e2fsprogs",
            Filesystem::Btrfs => "btrfs-progs",
            Filesystem::Xfs => "xfsprogs",
        }
    }

    /// The smallest file system its mkfs makes with default options (mkfs.btrfs refuses
    /// below about 109 MiB, mkfs.xfs from xfsprogs 5.19 below 300 MiB).
    pub fn min_size(self) -> Size {
        match self {
            Filesystem::Ext4 => Size::mib(64),
            Filesystem::Btrfs => Size::mib(128),
            Filesystem::Xfs => Size::mib(300),
        }
    }
}
