//! Extra kernel command line arguments, and the keys the image keeps for itself.
//!
//! The command line lives in the signed UKI and is part of the chain of trust: it carries
//! the verity root hash and its signature and tells the initrd what to check. A recipe
//! may add arguments, but none that the build sets ([`crate::BUILD_ARGS`]) or that would
//! loosen the chain ([`RESERVED`] below).

use serde::Serialize;

use crate::error::InvalidValue;

/// Linux `COMMAND_LINE_SIZE` on x86 and arm64, terminating NUL included.
pub const CMDLINE_MAX: usize = 2048;

/// Bytes kept for the arguments the build adds ([`crate::BUILD_ARGS`]): `usrhash=` (72
/// bytes), `systemd.verity_usr_options=root-hash-signature=base64:...` (about 545 with an
/// RSA-2048 db key, about 890 with RSA-4096), the fixed ones and separators: 1143 bytes
/// with an RSA-4096 key (stela-build's `cmdline` test checks the reserve covers it).
pub const BUILD_CMDLINE_RESERVE: usize = 1200;

/// The most bytes `kernel.cmdline_extra` may hold: what is left of [`CMDLINE_MAX`] after
/// the NUL, [`BUILD_CMDLINE_RESERVE`] and one separating space.
pub const CMDLINE_EXTRA_MAX: usize = CMDLINE_MAX - 1 - BUILD_CMDLINE_RESERVE - 1;

/// How a reserved key is matched.
enum Match {
    Exact(&'static str),
    Prefix(&'static str),
}

/// Keys the recipe may not set for another reason than "the build sets it" (those are
/// [`crate::BUILD_ARGS`], checked first), with the reason given to the user. Names are
/// compared after turning `-` into `_`, as the kernel and systemd do.
///
/// `lockdown=` is not here: the kernel only ever raises the lockdown level
/// (`lock_kernel_down` refuses a level below the current one), so a recipe can ask for
/// `confidentiality` but cannot lower what Secure Boot set.
const RESERVED: &[(Match, &str)] = &[
    (
        Match::Exact("roothash"),
        "/usr is the verified partition; root is not verity",
    ),
    (
        Match::Exact("root"),
        "systemd-repart creates and finds the root partition",
    ),
    (
        Match::Exact("rootfstype"),
        "the recipe sets partitions.root.filesystem",
    ),
    (
        Match::Exact("rootflags"),
        "the build mounts the root partition",
    ),
    (
        Match::Exact("ro"),
        "the build mounts the root partition read-write (`rw`)",
    ),
    (
        Match::Prefix("mount.usr"),
        "the build mounts /usr from the verity device",
    ),
    (
        Match::Prefix("systemd.verity"),
        "the build sets the verity options and signature",
    ),
    (
        Match::Prefix("dm_verity."),
        "the build requires signed verity root hashes",
    ),
    (
        Match::Exact("init"),
        "PID 1 is systemd from the verified /usr",
    ),
    (
        Match::Exact("rdinit"),
        "the initrd is part of the signed UKI",
    ),
    (
        Match::Prefix("rd."),
        "the initrd enforces the chain of trust; its options belong to the build",
    ),
    (
        Match::Prefix("ipe."),
        "IPE is set by the recipe's `[ipe] mode` (enforce, audit or off)",
    ),
    (
        Match::Exact("lsm"),
        "the security modules (IPE) cannot be changed",
    ),
    (
        Match::Exact("security"),
        "the security modules (IPE) cannot be changed",
    ),
    (
        Match::Exact("module.sig_enforce"),
        "module signatures are always enforced",
    ),
    (
        Match::Exact("systemd.debug_shell"),
        "it opens an unauthenticated root shell",
    ),
    (
        Match::Exact("systemd.volatile"),
        "the image's mount layout is fixed",
    ),
    (
        Match::Exact("systemd.mount_extra"),
        "extra mounts could hide verified files",
    ),
    (
        Match::Exact("systemd.image_policy"),
        "image policies are part of the build",
    ),
    (
        Match::Exact("systemd.gpt_auto"),
        "partition discovery is part of the build",
    ),
];

/// Extra kernel command line arguments, checked: printable ASCII, balanced double quotes,
/// no reserved key, at most [`CMDLINE_EXTRA_MAX`] bytes. Kept normalised: arguments
/// separated by single spaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct KernelCmdline(Vec<String>);

impl KernelCmdline {
    /// Checks `s`; every problem is returned, one message each.
    pub fn parse(s: &str) -> Result<KernelCmdline, Vec<InvalidValue>> {
        if let Some(c) = s.chars().find(|c| c.is_control() || !c.is_ascii()) {
            let what = match c {
                '\0' => "a NUL byte".to_owned(),
                '\n' | '\r' => "a line break".to_owned(),
                c => format!("{c:?}"),
            };
            return Err(vec![InvalidValue(format!(
                "contains {what}; use printable ASCII separated by spaces"
            ))]);
        }
        let args = split_args(s).map_err(|e| vec![e])?;
        let mut problems = Vec::new();
        for arg in &args {
            let key = arg.split('=').next().unwrap_or_default();
            if let Some(reason) = reserved(key) {
                problems.push(InvalidValue(format!("`{key}` is reserved: {reason}")));
            }
        }
        let line = KernelCmdline(args);
        let len = line.as_string().len();
        if len > CMDLINE_EXTRA_MAX {
            problems.push(InvalidValue(format!(
                "is {len} bytes, at most {CMDLINE_EXTRA_MAX} are allowed ({CMDLINE_MAX} \
                 less {BUILD_CMDLINE_RESERVE} for the arguments the build adds)"
            )));
        }
        if problems.is_empty() {
            Ok(line)
        } else {
            Err(problems)
        }
    }

    /// The arguments.
    pub fn args(&self) -> &[String] {
        &self.0
    }

    /// The arguments joined by single spaces.
    pub fn as_string(&self) -> String {
        self.0.join(" ")
    }

    /// The final command line: `build` (the build's own arguments) then these, checked
    /// against the kernel's [`CMDLINE_MAX`].
    pub fn compose(&self, build: &str) -> Result<String, InvalidValue> {
        let mut line = build.trim().to_owned();
        if !self.0.is_empty() {
            line.push(' ');
            line.push_str(&self.as_string());
        }
        if line.len() >= CMDLINE_MAX {
            return Err(InvalidValue(format!(
                "the kernel command line is {} bytes; the kernel takes at most {}",
                line.len(),
                CMDLINE_MAX - 1
            )));
        }
        Ok(line)
    }
}

/// Splits on spaces outside double quotes, as the kernel's `next_arg()` does.
fn split_args(s: &str) -> Result<Vec<String>, InvalidValue> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ' ' | '\t' if !quoted => {
                if !current.is_empty() {
                    args.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err(InvalidValue("has an unbalanced '\"'".into()));
    }
    if !current.is_empty() {
        args.push(current);
    }
    Ok(args)
}

/// Why `key` may not be set by the recipe, if it may not.
fn reserved(key: &str) -> Option<String> {
    let key = key.trim_matches('"').replace('-', "_");
    if let Some(arg) = crate::build_args::build_arg(&key) {
        return Some(format!(
            "the build sets `{}{}`: {}",
            arg.key,
            arg.value.describe(),
            arg.why
        ));
    }
    RESERVED.iter().find_map(|(m, reason)| {
        let hit = match m {
            Match::Exact(k) => key == *k,
            Match::Prefix(p) => key.starts_with(p),
        };
        hit.then(|| (*reason).to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(s: &str) -> Vec<String> {
        KernelCmdline::parse(s)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.0)
            .collect()
    }

    #[test]
    fn accepts_and_normalises() {
        let line = KernelCmdline::parse("  console=ttyS0,115200   quiet  foo=\"a b\" ");
        assert_eq!(
            line.map(|l| l.as_string()).ok().as_deref(),
            Some("console=ttyS0,115200 quiet foo=\"a b\"")
        );
    }

    #[test]
    fn rejects_reserved_keys() {
        for (line, key) in [
            ("usrhash=00", "usrhash"),
            ("root=/dev/sda2", "root"),
            ("mount.usrfstype=ext4", "mount.usrfstype"),
            ("systemd.verity=0", "systemd.verity"),
            (
                "systemd.verity_usr_options=panic-on-corruption",
                "systemd.verity_usr_options",
            ),
            ("init=/bin/sh", "init"),
            ("rd.break", "rd.break"),
            ("rd.systemd.unit=emergency.target", "rd.systemd.unit"),
            ("ipe.enforce=0", "ipe.enforce"),
            (
                "dm-verity.require_signatures=0",
                "dm-verity.require_signatures",
            ),
            ("systemd.debug-shell", "systemd.debug-shell"),
            ("lsm=landlock", "lsm"),
        ] {
            let got = problems(line);
            assert_eq!(got.len(), 1, "{line}: {got:?}");
            assert!(
                got[0].contains(&format!("`{key}` is reserved")),
                "{line}: {got:?}"
            );
        }
        assert_eq!(
            problems("quiet rootwait console=tty0"),
            Vec::<String>::new()
        );
        assert_eq!(problems("usrhash=1 init=/x quiet").len(), 2);
        // Refused for their own reasons, not because the build sets them.
        for (line, reason) in [
            ("init=/bin/sh", "PID 1 is systemd"),
            ("rd.break", "the initrd enforces the chain of trust"),
            ("systemd.debug_shell", "unauthenticated root shell"),
            ("mount.usrflags=rw", "mounts /usr from the verity device"),
            ("ro", "read-write"),
        ] {
            let got = problems(line);
            assert!(
                got.len() == 1 && got[0].contains(reason) && !got[0].contains("the build sets"),
                "{line}: {got:?}"
            );
        }
        // The kernel only raises the lockdown level: asking for more is allowed.
        assert_eq!(problems("lockdown=confidentiality"), Vec::<String>::new());
    }

    #[test]
    fn every_key_the_build_sets_is_refused_with_its_reason() {
        for arg in crate::BUILD_ARGS {
            for key in [arg.key.to_owned(), arg.key.replace('_', "-")] {
                let got = problems(&format!("quiet {key}=x"));
                assert_eq!(got.len(), 1, "{key}: {got:?}");
                assert!(
                    got[0]
                        .starts_with(&format!("`{key}` is reserved: the build sets `{}", arg.key))
                        && got[0].ends_with(arg.why),
                    "{key}: {got:?}"
                );
            }
        }
    }

    #[test]
    fn rejects_control_characters_and_quotes() {
        assert!(problems("quiet\0x")[0].contains("NUL"));
        assert!(problems("quiet\nx")[0].contains("line break"));
        assert!(problems("foo=\"a b")[0].contains("unbalanced"));
    }

    #[test]
    fn length_budget() {
        let fits = format!("x={}", "a".repeat(CMDLINE_EXTRA_MAX - 2));
        assert!(KernelCmdline::parse(&fits).is_ok());
        let long = format!("x={}", "a".repeat(CMDLINE_EXTRA_MAX - 1));
        assert!(problems(&long)[0].contains(&format!("at most {CMDLINE_EXTRA_MAX}")));
        // The build's own part plus the largest extra still fits the kernel.
        let extra = KernelCmdline::parse(&fits).unwrap_or_default();
        let build = "b".repeat(BUILD_CMDLINE_RESERVE);
        assert!(extra.compose(&build).is_ok());
        assert!(extra.compose(&format!("{build}b")).is_err());
    }
}
