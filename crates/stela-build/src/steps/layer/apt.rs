//! apt for a layered install, run the way mmdebstrap runs it for the packages after the
//! essential ones: the host's apt-get from outside the tree (`DPkg::Chroot-Directory`,
//! dpkg started through `env` so that it loses TMPDIR), mmdebstrap's configuration and
//! environment, and apt's lists from the time the base tree was made. The same apt
//! also simulates (`--simulate`) what a full build would install, and in which order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::run;

/// What mmdebstrap writes into the tree while it installs (its `00mmdebstrap`), and
/// removes at the end.
pub const MMDEBSTRAP_CONF: &str = "Apt::Install-Recommends false;\nAcquire::Languages \"none\";\n";

/// apt's default `DPkg::Path`, which mmdebstrap appends to PATH.
const DPKG_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// One apt configuration: the tree apt works on, the dpkg status it starts from, the
/// lists it reads.
#[derive(Debug, Clone)]
pub struct AptConfig {
    /// The configuration file (`APT_CONFIG`).
    pub file: PathBuf,
    /// The tree (`Dir`): its /etc/apt is read, packages go there.
    pub root: PathBuf,
}

impl AptConfig {
    /// Write a configuration as mmdebstrap's own (architecture, `Dir`, the status file,
    /// no essential package forced by apt), with the lists and the status given here,
    /// and a binary cache of the lists shared by every apt run of the layered install.
    pub fn write(
        file: &Path,
        root: &Path,
        architecture: &str,
        status: &Path,
        extended_states: &Path,
        lists: &Path,
        srcpkgcache: &Path,
    ) -> anyhow::Result<AptConfig> {
        // apt takes a relative `Dir::State::*` as relative to `Dir`: every path is made
        // absolute (a cache given as `--cache cache` left apt without its lists).
        let q = |p: &Path| -> anyhow::Result<String> {
            let p = std::path::absolute(p)
                .with_context(|| format!("{}: making the path absolute", p.display()))?;
            let s = p
                .to_str()
                .with_context(|| format!("{}: not UTF-8, apt cannot be told", p.display()))?;
            if s.contains('"') || s.contains('\n') {
                bail!("{s}: a path with a quote or a new line cannot go into apt's configuration");
            }
            Ok(format!("\"{s}\""))
        };
        let text = format!(
            "Apt::Architecture \"{architecture}\";\n\
             Apt::Architectures \"{architecture}\";\n\
             Dir {};\n\
             Dir::State::Status {};\n\
             Dir::State::extended_states {};\n\
             Dir::State::Lists {};\n\
             Dir::Cache::pkgcache \"\";\n\
             Dir::Cache::srcpkgcache {};\n\
             pkgCacheGen::ForceEssential \",\";\n",
            q(root)?,
            q(status)?,
            q(extended_states)?,
            q(lists)?,
            q(srcpkgcache)?,
        );
        std::fs::write(file, text).with_context(|| format!("writing {}", file.display()))?;
        Ok(AptConfig {
            file: file.to_owned(),
            root: std::path::absolute(root)
                .with_context(|| format!("{}: making the path absolute", root.display()))?,
        })
    }

    fn command(&self) -> std::process::Command {
        let mut cmd = run::command("apt-get");
        // mmdebstrap's environment for apt, dpkg and the maintainer scripts.
        cmd.env("APT_CONFIG", &self.file)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .env("DEBCONF_NONINTERACTIVE_SEEN", "true")
            .env("LANGUAGE", "C.UTF-8")
            .env("LANG", "C.UTF-8")
            .env("PATH", format!("{}:{DPKG_PATH}", run::TOOL_PATH))
            .env("TMPDIR", self.root.join("tmp"))
            // As for mmdebstrap (rootfs.rs): no generic initrd from the kernel's hooks.
            .env("INITRD", "No");
        cmd
    }

    /// `apt-get --simulate install PACKAGES`: the steps apt would take.
    pub fn simulate(&self, packages: &[String]) -> anyhow::Result<Vec<Step>> {
        let mut cmd = self.command();
        cmd.args(["--simulate", "--quiet", "--yes", "install"])
            .args(packages);
        let start = std::time::Instant::now();
        let out = run::run(
            &mut cmd,
            "resolving the package set with apt-get --simulate",
        )?;
        tracing::debug!(
            "apt-get --simulate ({}) took {:.1} s",
            self.file.display(),
            start.elapsed().as_secs_f64()
        );
        Ok(parse_simulation(&out))
    }

    /// Install PACKAGES into the tree as mmdebstrap does; nothing may be removed.
    pub fn install(&self, packages: &[String]) -> anyhow::Result<String> {
        let mut cmd = self.command();
        cmd.args(["-o", "Dir::Bin::dpkg=env"])
            .args(["-o", "DPkg::Options::=--unset=TMPDIR"])
            .args(["-o", "DPkg::Options::=dpkg"])
            .arg("-o")
            .arg(format!("DPkg::Chroot-Directory={}", self.root.display()))
            .args(["--yes", "--no-remove", "install", "-oDpkg::Use-Pty=false"])
            .args(packages);
        run::run(&mut cmd, "installing the added packages with apt-get")
    }
}

/// The package list mmdebstrap gives apt after the essential packages, for its variant
/// `variant`: the recipe's packages (`includes`, sorted), then the pattern of the
/// variant's priorities (`minbase` is `required`: the `Priority: required` packages of
/// the suite that are not essential).
pub fn mmdebstrap_packages(
    variant: &str,
    suite: &str,
    architecture: &str,
    includes: &[String],
) -> anyhow::Result<Vec<String>> {
    if variant != "minbase" && variant != "required" {
        bail!("a layered install knows mmdebstrap's minbase variant only, not {variant}");
    }
    let mut out = includes.to_vec();
    out.push(format!(
        "?narrow(?or(?archive(^{suite}$),?codename(^{suite}$)),?architecture({architecture}),?and(?priority(required),?not(?essential)))"
    ));
    Ok(out)
}

/// What apt does to a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Unpack (`Inst`).
    Unpack,
    /// Configure (`Conf`).
    Configure,
    /// Remove (`Remv`).
    Remove,
}

/// One step of apt's plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What.
    pub action: Action,
    /// The package (without an architecture qualifier).
    pub package: String,
    /// The version it gets (none for a removal).
    pub version: Option<String>,
}

/// Read `apt-get --simulate`'s `Inst`, `Conf` and `Remv` lines, in order:
/// `Inst less (668-1 Debian:13.8/stable [amd64])`, `Inst a [1.0] (1.1 ...)` for an
/// upgrade, `Remv b [2.0]`.
pub fn parse_simulation(text: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for line in text.lines() {
        let (action, rest) = if let Some(r) = line.strip_prefix("Inst ") {
            (Action::Unpack, r)
        } else if let Some(r) = line.strip_prefix("Conf ") {
            (Action::Configure, r)
        } else if let Some(r) = line.strip_prefix("Remv ") {
            (Action::Remove, r)
        } else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let Some(name) = words.next() else { continue };
        let package = name.split(':').next().unwrap_or(name).to_owned();
        let version = rest
            .split_once('(')
            .and_then(|(_, v)| v.split_whitespace().next())
            .map(|v| v.trim_end_matches(')').to_owned());
        steps.push(Step {
            action,
            package,
            version: if action == Action::Remove {
                None
            } else {
                version
            },
        });
    }
    steps
}

/// The installed packages of a dpkg status file, name to version.
pub fn installed(status: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(status).with_context(|| format!("reading {}", status.display()))?;
    Ok(parse_status(&text))
}

/// The packages whose `Status` is `install ok installed`, from a dpkg status file.
pub fn parse_status(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        if let (Some(p), Some(v), Some("install ok installed")) =
            (field("Package"), field("Version"), field("Status"))
        {
            out.insert(p.to_owned(), v.to_owned());
        }
    }
    out
}

/// The conffiles of the installed packages named, path (absolute) to MD5, from the
/// status file's `Conffiles` fields.
pub fn conffiles(text: &str, packages: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for stanza in text.split("\n\n") {
        let Some(name) = stanza
            .lines()
            .find_map(|l| l.strip_prefix("Package:"))
            .map(str::trim)
        else {
            continue;
        };
        if !packages.iter().any(|p| p == name) {
            continue;
        }
        let mut in_field = false;
        for line in stanza.lines() {
            if line.starts_with("Conffiles:") {
                in_field = true;
            } else if in_field && line.starts_with(' ') {
                let mut w = line.split_whitespace();
                if let (Some(path), Some(md5)) = (w.next(), w.next()) {
                    out.insert(path.to_owned(), md5.to_owned());
                }
            } else {
                in_field = false;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_reach_apt_absolute() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("apt.conf");
        let rel = Path::new("cache/rootfs/x");
        let conf = AptConfig::write(&file, rel, "amd64", rel, rel, rel, rel).unwrap();
        assert!(conf.root.is_absolute());
        let text = std::fs::read_to_string(&file).unwrap();
        let cwd = std::env::current_dir().unwrap();
        for line in text.lines().filter(|l| l.starts_with("Dir")) {
            if line.starts_with("Dir::Cache::pkgcache") {
                continue;
            }
            assert!(line.contains(&format!("\"{}/", cwd.display())), "{line}");
        }
    }

    #[test]
    fn simulation_lines_are_read_in_order() {
        let text = "NOTE: This is only a simulation!\n\
            Inst less (668-1 Debian:13.8/stable [amd64])\n\
            Inst libfoo1:amd64 [1.0-1] (1.0-2 Debian-Security:13/stable-security [amd64])\n\
            Remv old [2.0]\n\
            Conf less (668-1 Debian:13.8/stable [amd64])\n";
        let steps = parse_simulation(text);
        assert_eq!(steps.len(), 4);
        assert_eq!(steps[0].action, Action::Unpack);
        assert_eq!(steps[0].package, "less");
        assert_eq!(steps[0].version.as_deref(), Some("668-1"));
        assert_eq!(steps[1].package, "libfoo1");
        assert_eq!(steps[1].version.as_deref(), Some("1.0-2"));
        assert_eq!(steps[2].action, Action::Remove);
        assert_eq!(steps[2].version, None);
        assert_eq!(steps[3].action, Action::Configure);
    }

    #[test]
    fn the_status_file_gives_installed_packages_and_conffiles() {
        let text = "Package: a\nStatus: install ok installed\nVersion: 1\nConffiles:\n /etc/a.conf 0123 \n /etc/b.conf 4567 obsolete\nDescription: x\n continued\n\n\
            Package: b\nStatus: deinstall ok config-files\nVersion: 2\n\n\
            Package: c\nStatus: install ok installed\nVersion: 3:1.0-1\n";
        let got = parse_status(text);
        assert_eq!(got.len(), 2);
        assert_eq!(got["a"], "1");
        assert_eq!(got["c"], "3:1.0-1");
        let conf = conffiles(text, &["a".to_owned()]);
        assert_eq!(conf.len(), 2);
        assert_eq!(conf["/etc/a.conf"], "0123");
        assert_eq!(conf["/etc/b.conf"], "4567");
        assert!(conffiles(text, &["c".to_owned()]).is_empty());
    }
}
