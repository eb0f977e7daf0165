//! The policy model and its text form.

use std::fmt;

use serde::Serialize;

/// An operation IPE decides on (`op=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Op {
    /// exec, and mapping or re-protecting memory as executable.
    Execute,
    /// Firmware a driver loads from a file.
    Firmware,
    /// A kernel module loaded from a file (`finit_module`).
    Kmodule,
    /// The kernel image of a kexec.
    KexecImage,
    /// The initramfs of a kexec.
    KexecInitramfs,
    /// An IMA policy loaded from a file.
    Policy,
    /// An X.509 certificate loaded from a file into a keyring.
    X509Cert,
}

impl Op {
    /// Every operation the 6.12 kernel knows, in its order; a policy must give a default
    /// for each (a global `DEFAULT` does).
    pub const ALL: [Op; 7] = [
        Op::Execute,
        Op::Firmware,
        Op::Kmodule,
        Op::KexecImage,
        Op::KexecInitramfs,
        Op::Policy,
        Op::X509Cert,
    ];

    /// The keyword after `op=`.
    pub fn keyword(self) -> &'static str {
        match self {
            Op::Execute => "EXECUTE",
            Op::Firmware => "FIRMWARE",
            Op::Kmodule => "KMODULE",
            Op::KexecImage => "KEXEC_IMAGE",
            Op::KexecInitramfs => "KEXEC_INITRAMFS",
            Op::Policy => "POLICY",
            Op::X509Cert => "X509_CERT",
        }
    }

    /// The operation a keyword names.
    pub fn from_keyword(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.keyword() == s)
    }
}

/// What a matching rule or a default does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Action {
    /// Let the operation go ahead.
    Allow,
    /// Refuse it (EACCES); in permissive mode only logged.
    Deny,
}

impl Action {
    /// `ALLOW` or `DENY`.
    pub fn keyword(self) -> &'static str {
        match self {
            Action::Allow => "ALLOW",
            Action::Deny => "DENY",
        }
    }
}

/// A property of the file's origin a rule matches on. All of a rule's properties must
/// hold for it to match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Property {
    /// The file is on the initial root file system, where the kernel unpacked the
    /// initramfs (every cpio it unpacked, including those systemd-stub builds from files
    /// on the ESP): trust for the initrd only.
    BootVerified(bool),
    /// The file is on a dm-verity device whose root hash signature the kernel verified.
    DmveritySignature(bool),
    /// The file is on a dm-verity device with this root hash (`ALG:HEX`).
    DmverityRoothash {
        /// The hash algorithm's kernel name (`sha256`).
        algorithm: String,
        /// The root hash, lowercase hex.
        hex: String,
    },
    /// The file has fs-verity with a builtin signature the kernel verified.
    FsveritySignature(bool),
    /// The file's fs-verity digest (`ALG:HEX`).
    FsverityDigest {
        /// The hash algorithm's kernel name.
        algorithm: String,
        /// The digest, lowercase hex.
        hex: String,
    },
}

impl fmt::Display for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = |v: bool| if v { "TRUE" } else { "FALSE" };
        match self {
            Property::BootVerified(v) => write!(f, "boot_verified={}", b(*v)),
            Property::DmveritySignature(v) => write!(f, "dmverity_signature={}", b(*v)),
            Property::DmverityRoothash { algorithm, hex } => {
                write!(f, "dmverity_roothash={algorithm}:{hex}")
            }
            Property::FsveritySignature(v) => write!(f, "fsverity_signature={}", b(*v)),
            Property::FsverityDigest { algorithm, hex } => {
                write!(f, "fsverity_digest={algorithm}:{hex}")
            }
        }
    }
}

/// One rule: for `op`, when every property holds, `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// The operation.
    pub op: Op,
    /// What the file must have; empty matches every file of the operation.
    pub properties: Vec<Property>,
    /// What happens on a match.
    pub action: Action,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op={}", self.op.keyword())?;
        for p in &self.properties {
            write!(f, " {p}")?;
        }
        write!(f, " action={}", self.action.keyword())
    }
}

/// `policy_version=`: three numbers of 16 bits. The kernel activates a policy only if its
/// version is at least the active one's, and updates one in place only to a higher one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Version {
    /// The first number.
    pub major: u16,
    /// The second.
    pub minor: u16,
    /// The third.
    pub revision: u16,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.revision)
    }
}

/// `policy_name=`: 1 to 64 ASCII letters, digits, `_`, `-` or `.`. systemd loads
/// `/usr/lib/ipe/NAME.p7b` under this name, so it is also a file name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyName(String);

impl PolicyName {
    /// Checks `s`.
    pub fn new(s: &str) -> Option<PolicyName> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        ok.then(|| PolicyName(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where systemd's PID 1 loads it from in the initrd and in the booted system.
    pub fn install_path(&self) -> String {
        format!("/usr/lib/ipe/{}.p7b", self.0)
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A whole policy, in the kernel's order: header, defaults, rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// `policy_name=`.
    pub name: PolicyName,
    /// `policy_version=`.
    pub version: Version,
    /// `DEFAULT action=`, for every operation without a default of its own.
    pub default: Option<Action>,
    /// `DEFAULT op=OP action=`.
    pub op_defaults: Vec<(Op, Action)>,
    /// The rules, first match wins.
    pub rules: Vec<Rule>,
}

impl Policy {
    /// What the policy does for `op` when no rule matches.
    pub fn default_for(&self, op: Op) -> Option<Action> {
        self.op_defaults
            .iter()
            .find(|(o, _)| *o == op)
            .map(|(_, a)| *a)
            .or(self.default)
    }

    /// The policy as the kernel reads it (`/sys/kernel/security/ipe/new_policy`, inside
    /// the signed PKCS#7): LF line ends, one trailing LF.
    pub fn to_text(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "policy_name={} policy_version={}",
            self.name, self.version
        )?;
        if let Some(a) = self.default {
            writeln!(f, "DEFAULT action={}", a.keyword())?;
        }
        for (op, a) in &self.op_defaults {
            writeln!(f, "DEFAULT op={} action={}", op.keyword(), a.keyword())?;
        }
        for r in &self.rules {
            writeln!(f, "{r}")?;
        }
        Ok(())
    }
}

/// Which of an image's two policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Stage {
    /// Loaded by systemd in the initrd: also trusts the initramfs (`boot_verified`).
    Initrd,
    /// Loaded by systemd after the switch to the root file system: signed dm-verity only.
    Host,
}

impl Stage {
    /// The policy's name, distinct per stage: systemd 257 updates a loaded policy of the
    /// same name in place, which the kernel refuses unless the version is higher, and
    /// systemd treats that refusal as fatal.
    pub fn policy_name(self) -> PolicyName {
        PolicyName(
            match self {
                Stage::Initrd => "stela_initrd",
                Stage::Host => "stela_host",
            }
            .to_owned(),
        )
    }

    /// The host's version is above the initrd's: the kernel activates a policy only at
    /// or above the active version, so once the host policy is active nobody can switch
    /// back to the one that trusts the initramfs.
    pub fn version(self) -> Version {
        Version {
            major: 1,
            minor: 0,
            revision: match self {
                Stage::Initrd => 0,
                Stage::Host => 1,
            },
        }
    }
}

/// The operations whose files an image's policy allows from signed dm-verity (and, in
/// the initrd, from the initramfs): programs and libraries, kernel modules (kmod passes
/// the file), firmware. Every other operation (kexec, IMA policies, certificates from
/// files) is denied by the default.
const TRUSTED_OPS: [Op; 3] = [Op::Execute, Op::Kmodule, Op::Firmware];

/// The policy a stela image installs for `stage`: the recipe's `extra` rules first (so a
/// deny rule for an old root hash wins over the general allow), then the allow rules for
/// signed dm-verity (and the initramfs in the initrd), and a default of DENY for every
/// operation.
pub fn image_policy(stage: Stage, extra: &[Rule]) -> Policy {
    let mut rules: Vec<Rule> = extra.to_vec();
    for op in TRUSTED_OPS {
        if stage == Stage::Initrd {
            rules.push(Rule {
                op,
                properties: vec![Property::BootVerified(true)],
                action: Action::Allow,
            });
        }
        rules.push(Rule {
            op,
            properties: vec![Property::DmveritySignature(true)],
            action: Action::Allow,
        });
    }
    Policy {
        name: stage.policy_name(),
        version: stage.version(),
        default: Some(Action::Deny),
        op_defaults: Vec::new(),
        rules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_policy_trusts_signed_verity_only_and_outranks_the_initrd_one() {
        let host = image_policy(Stage::Host, &[]);
        let text = host.to_text();
        assert_eq!(
            text,
            "policy_name=stela_host policy_version=1.0.1\n\
             DEFAULT action=DENY\n\
             op=EXECUTE dmverity_signature=TRUE action=ALLOW\n\
             op=KMODULE dmverity_signature=TRUE action=ALLOW\n\
             op=FIRMWARE dmverity_signature=TRUE action=ALLOW\n"
        );
        assert!(!text.contains("boot_verified"));
        let initrd = image_policy(Stage::Initrd, &[]);
        assert!(initrd
            .to_text()
            .contains("op=EXECUTE boot_verified=TRUE action=ALLOW"));
        assert!(host.version > initrd.version);
        assert_ne!(host.name, initrd.name);
        for op in Op::ALL {
            assert_eq!(host.default_for(op), Some(Action::Deny), "{op:?}");
        }
    }

    #[test]
    fn extra_rules_come_first_so_a_deny_wins_over_the_general_allow() {
        let deny = Rule {
            op: Op::Execute,
            properties: vec![Property::DmverityRoothash {
                algorithm: "sha256".into(),
                hex: "ab".repeat(32),
            }],
            action: Action::Deny,
        };
        let p = image_policy(Stage::Host, std::slice::from_ref(&deny));
        assert_eq!(p.rules[0], deny);
        assert_eq!(
            p.rules[0].to_string(),
            format!(
                "op=EXECUTE dmverity_roothash=sha256:{} action=DENY",
                "ab".repeat(32)
            )
        );
    }

    #[test]
    fn policy_names_are_file_names() {
        assert!(PolicyName::new("stela_host").is_some());
        for bad in ["", ".", "..", "a/b", "a b", "a=b", &"x".repeat(65)] {
            assert!(PolicyName::new(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            Stage::Initrd.policy_name().install_path(),
            "/usr/lib/ipe/stela_initrd.p7b"
        );
    }
}
