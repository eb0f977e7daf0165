//! The kernel's module index in the tree (`modules.dep`, `modules.builtin`), read so that
//! the initrd step can check that the drivers the boot chain needs exist before dracut
//! runs (dracut skips a missing driver with only a message) and work out which modules
//! to keep out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;

/// The modules of one kernel release: each loadable module's path and hard
/// dependencies, and the names built into the kernel image.
#[derive(Debug, Clone, Default)]
pub struct ModuleIndex {
    /// Module name -> its path under the release's directory (`kernel/...`).
    paths: BTreeMap<String, String>,
    /// Module name -> the modules it needs loaded first.
    deps: BTreeMap<String, Vec<String>>,
    builtin: BTreeSet<String>,
}

/// A module's name as the kernel and kmod see it: the file name without the `.ko` and
/// compression suffixes, `-` spelled `_`.
pub fn module_name(path_or_name: &str) -> String {
    let base = path_or_name.rsplit('/').next().unwrap_or(path_or_name);
    let base = [".xz", ".zst", ".gz"]
        .iter()
        .find_map(|ext| base.strip_suffix(ext))
        .unwrap_or(base);
    let base = base.strip_suffix(".ko").unwrap_or(base);
    base.replace('-', "_")
}

impl ModuleIndex {
    /// Read the index of kernel release `kver` in the tree.
    pub fn load(tree: &Path, kver: &str) -> anyhow::Result<Self> {
        let dir = tree.join("usr/lib/modules").join(kver);
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))
        };
        Ok(Self::parse(
            &read("modules.dep")?,
            &read("modules.builtin")?,
        ))
    }

    /// The index from the text of `modules.dep` and `modules.builtin`.
    pub fn parse(modules_dep: &str, modules_builtin: &str) -> Self {
        let mut index = ModuleIndex::default();
        for line in modules_dep.lines() {
            let Some((path, deps)) = line.split_once(':') else {
                continue;
            };
            let name = module_name(path);
            index.deps.insert(
                name.clone(),
                deps.split_whitespace().map(module_name).collect(),
            );
            index.paths.insert(name, path.trim().to_owned());
        }
        index.builtin = modules_builtin
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(module_name)
            .collect();
        index
    }

    /// Whether the kernel has `name`, loadable or built in.
    pub fn has(&self, name: &str) -> bool {
        let name = module_name(name);
        self.paths.contains_key(&name) || self.builtin.contains(&name)
    }

    /// Whether `name` is built into the kernel image (nothing to put in the initrd).
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&module_name(name))
    }

    /// The loadable modules among `names` and everything they depend on, by name.
    /// Built-in and unknown names contribute nothing.
    pub fn closure<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<String> = names.into_iter().map(module_name).collect();
        while let Some(name) = todo.pop() {
            let Some(deps) = self.deps.get(&name) else {
                continue;
            };
            if out.insert(name) {
                todo.extend(deps.iter().cloned());
            }
        }
        out
    }

    /// The names of the loadable modules under `dir` (`kernel/drivers/md`), in order.
    pub fn under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let dir = dir.trim_end_matches('/');
        self.paths
            .iter()
            .filter(move |(_, p)| {
                p.len() > dir.len() && p.starts_with(dir) && p.as_bytes()[dir.len()] == b'/'
            })
            .map(|(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "\
kernel/drivers/md/dm-verity.ko.xz: kernel/drivers/md/dm-bufio.ko.xz kernel/drivers/md/dm-mod.ko.xz kernel/lib/reed_solomon/reed_solomon.ko.xz
kernel/drivers/md/dm-bufio.ko.xz: kernel/drivers/md/dm-mod.ko.xz
kernel/drivers/md/dm-mod.ko.xz:
kernel/drivers/md/dm-vdo/dm-vdo.ko.xz: kernel/drivers/md/dm-bufio.ko.xz kernel/drivers/md/dm-mod.ko.xz
kernel/drivers/mdio.ko.xz:
kernel/lib/reed_solomon/reed_solomon.ko.xz:
kernel/fs/erofs/erofs.ko.zst: kernel/lib/libcrc32c.ko.zst
kernel/lib/libcrc32c.ko.zst:
";
    const BUILTIN: &str =
        "kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/char/tpm/tpm_crb.ko\n";

    #[test]
    fn names_drop_suffixes_and_dashes() {
        assert_eq!(
            module_name("kernel/drivers/md/dm-verity.ko.xz"),
            "dm_verity"
        );
        assert_eq!(module_name("ext4.ko"), "ext4");
        assert_eq!(module_name("nls_iso8859-1"), "nls_iso8859_1");
    }

    #[test]
    fn closure_follows_hard_dependencies_only_for_loadable_modules() {
        let index = ModuleIndex::parse(DEP, BUILTIN);
        let got = index.closure(["dm-verity", "erofs", "virtio_pci", "no_such"]);
        let want: BTreeSet<String> = [
            "dm_verity",
            "dm_bufio",
            "dm_mod",
            "reed_solomon",
            "erofs",
            "libcrc32c",
        ]
        .into_iter()
        .map(str::to_owned)
        .collect();
        assert_eq!(got, want);
        assert!(index.has("virtio_pci") && index.is_builtin("virtio-pci"));
        assert!(index.has("dm-vdo") && !index.is_builtin("dm_vdo"));
        assert!(!index.has("no_such"));
    }

    #[test]
    fn under_is_a_directory_prefix() {
        let index = ModuleIndex::parse(DEP, BUILTIN);
        let md: Vec<&str> = index.under("kernel/drivers/md").collect();
        assert_eq!(md, ["dm_bufio", "dm_mod", "dm_vdo", "dm_verity"]);
    }
}
