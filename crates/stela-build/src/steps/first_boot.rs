//! Work a first boot would otherwise redo, done once at build time.
//!
//! systemd rebuilds some caches in /etc and /var when they are older than /usr
//! (`ConditionNeedsUpdate=`): the dynamic linker cache (ldconfig.service), the system
//! users (systemd-sysusers.service), the journal's message catalog
//! (systemd-journal-catalog-update.service), the hardware database when /etc has one.
//! It compares the time stamp of `/etc/.updated` and `/var/.updated` with that of /usr.
//! A machine's /etc and /var start empty and lacked those files, so every first boot
//! rebuilt caches the build had made already: about 5 s before the login prompt under
//! emulation, on the way to `sysinit.target`.
//!
//! So the build brings the caches up to date in the tree (after the recipe's files and
//! overlays, which may add libraries, users or catalog entries) and ships both marker
//! files with /usr's time stamp (the usr image gives every file the same one): /etc's in
//! the factory /etc, /var's and the catalog through tmpfiles. The next image's /usr has
//! a newer time stamp when `SOURCE_DATE_EPOCH` moves; when it does not, the update agent
//! dates the markers before 1970 after installing a version, so its first boot rebuilds
//! them (stela-agent's `update_hooks`).
//!
//! The other part is presets. At a first boot systemd enables every unit its preset files
//! name (Debian's 90-systemd.preset enables systemd-networkd-wait-online,
//! systemd-timesyncd and more), which would undo a recipe's `systemd.disable` on every
//! new machine and cost seconds. The image's unit state is the build's: the packages'
//! defaults and the recipe's `systemd.enable`/`disable`. A preset file that comes first
//! and disables everything makes the first boot leave it as built.

use std::path::Path;

use anyhow::Context;

use super::customise::write;
use crate::run;

/// The marker of an /etc up to date with its /usr (copied with the factory /etc).
pub const ETC_UPDATED: &str = "etc/.updated";

/// The factory copy of /var's marker.
pub const FACTORY_VAR_UPDATED: &str = "usr/share/factory/var/.updated";

/// The factory copy of the journal's message catalog.
pub const FACTORY_CATALOG: &str = "usr/share/factory/var/lib/systemd/catalog/database";

/// The tmpfiles.d file that puts /var's marker and the catalog on the root partition.
pub const FACTORY_VAR_TMPFILES: &str = "usr/lib/tmpfiles.d/00-stela-factory-var.conf";

/// The preset file that keeps a first boot from enabling units.
pub const PRESET_PATH: &str = "usr/lib/systemd/system-preset/00-stela.preset";

const MARKER: &str = "\
# stela: this directory is up to date with the /usr it was made from. systemd compares
# this file's time stamp with /usr's (ConditionNeedsUpdate=, systemd-update-done.service(8)).
";

const PRESET: &str = "\
# stela: the image's units are enabled or disabled at build time (the packages' defaults
# and the recipe's systemd.enable and systemd.disable); a first boot changes nothing.
disable *
";

/// Bring the caches of `tree` up to date and mark /etc and /var as up to date with /usr.
pub fn prepare(tree: &Path) -> anyhow::Result<()> {
    if tree.join("usr/sbin/ldconfig").exists() || tree.join("sbin/ldconfig").exists() {
        run::in_tree(tree, &["ldconfig"], "rebuilding the dynamic linker cache")?;
    }
    if tree.join("usr/bin/systemd-sysusers").exists() {
        run::in_tree(
            tree,
            &["systemd-sysusers"],
            "creating the system users of sysusers.d",
        )?;
    }
    if has_entries(&tree.join("etc/udev/hwdb.d"))? {
        run::in_tree(
            tree,
            &["systemd-hwdb", "update"],
            "compiling /etc/udev/hwdb.d",
        )?;
    }
    let mut var_rules = String::from(
        "# /var's first contents, from the factory copy in /usr (stela)\n\
         C /var/.updated - - - - /usr/share/factory/var/.updated\n",
    );
    if tree.join("usr/bin/journalctl").exists() {
        run::in_tree(
            tree,
            &["journalctl", "--update-catalog"],
            "building the journal's message catalog",
        )?;
        let built = tree.join("var/lib/systemd/catalog/database");
        let factory = tree.join(FACTORY_CATALOG);
        if let Some(dir) = factory.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::copy(&built, &factory)
            .with_context(|| format!("copying {} to {}", built.display(), factory.display()))?;
        var_rules.push_str(
            "C /var/lib/systemd/catalog/database - - - - /usr/share/factory/var/lib/systemd/catalog/database\n",
        );
    }
    write(&tree.join(ETC_UPDATED), MARKER)?;
    write(&tree.join(FACTORY_VAR_UPDATED), MARKER)?;
    write(&tree.join(FACTORY_VAR_TMPFILES), &var_rules)?;
    write(&tree.join(PRESET_PATH), PRESET)
}

fn has_entries(dir: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("listing {}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_rules_and_preset_land_in_the_tree() {
        // A tree without ldconfig, sysusers or journalctl: only the files are written.
        let t = tempfile::tempdir().unwrap();
        prepare(t.path()).unwrap();
        for p in [ETC_UPDATED, FACTORY_VAR_UPDATED] {
            let text = std::fs::read_to_string(t.path().join(p)).unwrap();
            assert!(text.contains("ConditionNeedsUpdate"), "{p}: {text}");
        }
        let rules = std::fs::read_to_string(t.path().join(FACTORY_VAR_TMPFILES)).unwrap();
        assert!(rules.contains("C /var/.updated - - - - /usr/share/factory/var/.updated\n"));
        assert!(!rules.contains("catalog"), "{rules}");
        let preset = std::fs::read_to_string(t.path().join(PRESET_PATH)).unwrap();
        let rules: Vec<&str> = preset.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(rules, ["disable *"]);
    }

    #[test]
    fn an_empty_or_missing_hwdb_directory_has_no_entries() {
        let t = tempfile::tempdir().unwrap();
        assert!(!has_entries(&t.path().join("missing")).unwrap());
        assert!(!has_entries(t.path()).unwrap());
        std::fs::write(t.path().join("50-x.hwdb"), "").unwrap();
        assert!(has_entries(t.path()).unwrap());
    }
}
