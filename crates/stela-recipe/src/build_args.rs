//! The arguments the build puts on the kernel command line: one table, from which
//! stela-build renders them and [`crate::KernelCmdline`] refuses them in
//! `kernel.cmdline_extra` (a recipe that set one could override the build's choice, as
//! the last of two equal keys wins in the kernel and in systemd).

/// How the build computes the value of one of its arguments.
///
/// Exhaustive on purpose: a new kind of value must not compile until stela-build
/// renders it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildValue {
    /// The key alone, no `=`.
    Flag,
    /// `key=<this>`, the same for every image.
    Fixed(&'static str),
    /// `key=<the verity root hash of /usr>`, lowercase hex.
    RootHash,
    /// `key=root-hash-signature=base64:<the DER PKCS#7 signature of the root hash>`.
    RootHashSignature,
}

impl BuildValue {
    /// What follows the key, for messages: `=no`, `=<verity root hash of /usr>`, or
    /// nothing for a flag.
    pub fn describe(self) -> String {
        match self {
            Self::Flag => String::new(),
            Self::Fixed(v) => format!("={v}"),
            Self::RootHash => "=<verity root hash of /usr>".into(),
            Self::RootHashSignature => "=root-hash-signature=base64:<its signature>".into(),
        }
    }
}

/// One argument the build sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildArg {
    /// The key, as the build writes it (with `_`; `-` is the same to the kernel).
    pub key: &'static str,
    /// Its value.
    pub value: BuildValue,
    /// Why the build sets it (also the reason a recipe may not).
    pub why: &'static str,
}

/// The build's arguments, in the order they appear on the command line, before the
/// recipe's `kernel.cmdline_extra`.
pub const BUILD_ARGS: &[BuildArg] = &[
    BuildArg {
        key: "usrhash",
        value: BuildValue::RootHash,
        why: "systemd's initrd finds the usr and usr-verity partitions by the UUIDs derived \
              from it and sets up /dev/mapper/usr",
    },
    BuildArg {
        key: "mount.usrfstype",
        value: BuildValue::Fixed("erofs"),
        why: "/usr is an erofs image",
    },
    BuildArg {
        key: "systemd.verity_usr_options",
        value: BuildValue::RootHashSignature,
        why: "systemd 257 does not read the signature partition at boot, so the kernel sees \
              the root hash signature only this way",
    },
    BuildArg {
        key: "dm_verity.require_signatures",
        value: BuildValue::Fixed("1"),
        why: "unsigned verity tables are refused",
    },
    BuildArg {
        key: "rw",
        value: BuildValue::Flag,
        why: "the root partition (found by gpt-auto) is mounted read-write",
    },
    BuildArg {
        key: "systemd.firstboot",
        value: BuildValue::Fixed("off"),
        why: "first-boot answers come from the recipe, not from prompts at the console",
    },
    BuildArg {
        key: "systemd.machine_id",
        value: BuildValue::Fixed("firmware"),
        why: "the machine ID is the SMBIOS product UUID",
    },
    BuildArg {
        key: "systemd.import_credentials",
        value: BuildValue::Fixed("no"),
        why: "credentials from SMBIOS, fw_cfg or the ESP could add units or configuration \
              from outside the signed image",
    },
    BuildArg {
        key: "systemd.ssh_auto",
        value: BuildValue::Fixed("no"),
        why: "in a virtual machine systemd-ssh-generator would bind sshd to AF_VSOCK, a \
              channel the hypervisor controls, and load the vsock drivers on every boot; \
              sshd listens where the image's own configuration says",
    },
];

/// The build's argument for `key` (compared after turning `-` into `_`, as the kernel
/// and systemd do).
pub(crate) fn build_arg(key: &str) -> Option<&'static BuildArg> {
    BUILD_ARGS.iter().find(|a| a.key == key)
}
