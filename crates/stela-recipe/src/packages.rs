//! The package set of an image: a base every stela image needs, what the recipe's
//! choices imply, and the recipe's extras; checked against the mirror's index.

use std::collections::{BTreeSet, HashSet};

use crate::error::RecipeError;
use crate::model::{Encryption, Recipe};
use crate::names::PackageName;

/// Packages every stela image has, whatever the recipe says: systemd as PID 1, udev,
/// systemd-boot and its UEFI stub (the build takes the boot loader and the UKI stub from
/// the image itself), systemd-repart (creates the root partition at first boot) and
/// systemd-cryptsetup (systemd-veritysetup, which the initrd needs for /usr). The kernel
/// is added per architecture. The build's own tools are [`BUILD_PACKAGES`].
pub const BASE_PACKAGES: [&str; 7] = [
    "systemd",
    "systemd-sysv",
    "udev",
    "systemd-boot",
    "systemd-boot-efi",
    "systemd-repart",
    "systemd-cryptsetup",
];

/// Packages the build runs from inside the tree, so that their versions come from the
/// target release: dracut builds the initrd, erofs-utils makes the usr image. They are
/// part of [`RootfsInputs`](crate::RootfsInputs), so the cache key is the build's.
pub const BUILD_PACKAGES: [&str; 5] = [
    "dracut",
    "dracut-core",
    "erofs-utils",
    "kmod",
    "systemd-cryptsetup",
];

/// The TPM2 Software Stack libraries systemd loads to seal the root partition's key to
/// the TPM (`encrypt = "tpm2"`); trixie's names (the `t64` transition). Checked against
/// the index by [`Recipe::unknown_packages`], so a later suite that renames them is
/// caught before the build.
pub const TPM2_PACKAGES: [&str; 4] = [
    "libtss2-esys-3.0.2-0t64",
    "libtss2-mu-4.0.1-0t64",
    "libtss2-rc0t64",
    "libtss2-tcti-device0t64",
];

impl Recipe {
    /// Every package the root file system gets: [`BASE_PACKAGES`], the kernel for the
    /// architecture, what the recipe's choices imply (the root file system's mkfs, the
    /// TPM2 libraries, `locales` for a locale other than C, `tzdata` for a zone other
    /// than UTC, `openssh-server` when root SSH keys are given) and the recipe's extras.
    pub fn package_set(&self) -> BTreeSet<PackageName> {
        let mut set: BTreeSet<PackageName> = BASE_PACKAGES
            .iter()
            .map(|p| PackageName::known(p))
            .collect();
        set.insert(PackageName::known(
            self.debian.architecture.kernel_package(),
        ));
        let root = &self.partitions.root;
        set.insert(PackageName::known(root.filesystem.package()));
        if root.encrypt == Encryption::Tpm2 {
            set.extend(TPM2_PACKAGES.iter().map(|p| PackageName::known(p)));
        }
        if !self.firstboot.locale.is_builtin() {
            set.insert(PackageName::known("locales"));
        }
        if !self.firstboot.timezone.is_utc() {
            set.insert(PackageName::known("tzdata"));
        }
        if !self.firstboot.root_ssh_keys.is_empty() {
            set.insert(PackageName::known("openssh-server"));
        }
        set.extend(self.packages.iter().cloned());
        set
    }

    /// The names of [`Recipe::package_set`] that `available` (the package names of the
    /// mirror's `Packages` indices for the suite, components and architecture, see
    /// [`parse_package_index`]) does not have: all of them, sorted.
    pub fn unknown_packages(&self, available: &HashSet<String>) -> Vec<PackageName> {
        self.package_set()
            .into_iter()
            .filter(|p| !available.contains(p.as_str()))
            .collect()
    }

    /// [`Recipe::unknown_packages`] as an error naming the suite and every unknown name.
    pub fn check_packages(&self, available: &HashSet<String>) -> Result<(), RecipeError> {
        let unknown = self.unknown_packages(available);
        if unknown.is_empty() {
            return Ok(());
        }
        let d = &self.debian;
        let components: Vec<&str> = d.components.iter().map(|c| c.as_str()).collect();
        Err(RecipeError::UnknownPackages {
            archive: format!("{} {} ({})", d.suite, components.join(" "), d.architecture),
            names: unknown,
        })
    }
}

/// The package names of a Debian `Packages` index (the `Package:` field of each stanza).
///
/// Virtual packages (`Provides:`) are not included: the build installs real packages.
pub fn parse_package_index(text: &str) -> HashSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("Package:"))
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names() {
        let index = "Package: systemd\nVersion: 257\nDescription: system and service manager\n \
                     Package: not-a-field (continuation line)\n\nPackage: udev\nProvides: hotplug\n";
        let names = parse_package_index(index);
        let mut sorted: Vec<_> = names.into_iter().collect();
        sorted.sort();
        assert_eq!(sorted, ["systemd", "udev"]);
    }

    #[test]
    fn all_unknown_names_reported_at_once() {
        let recipe = Recipe::parse(
            "name = \"a\"\nversion = \"1\"\npackages = [\"foo\", \"bar\"]\n",
            "r.toml",
            std::path::Path::new("."),
        );
        let Ok(recipe) = recipe else {
            panic!("fixture recipe: {recipe:?}");
        };
        let mut available: HashSet<String> =
            recipe.package_set().iter().map(|p| p.to_string()).collect();
        available.remove("foo");
        available.remove("bar");
        available.remove("udev");
        let unknown: Vec<String> = recipe
            .unknown_packages(&available)
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(unknown, ["bar", "foo", "udev"]);
        let err = recipe
            .check_packages(&available)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("packages not in trixie main (amd64): bar, foo, udev")
        );
    }
}
