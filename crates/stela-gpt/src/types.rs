//! Partition type GUIDs of the UAPI Discoverable Partitions Specification (DPS).
//!
//! Copied from the table "Defined Partition Type UUIDs" of
//! uapi-group/specifications `specs/discoverable_partitions_specification.md`
//! (commit 0cfe083c); `tests/dps_types.rs` compares every one with what
//! `systemd-id128 show <name>` reports. The names in [`ALL`] are systemd-id128's.

use crate::guid::Guid;

/// EFI System Partition (`SD_GPT_ESP`), defined by UEFI.
pub const ESP: Guid = Guid::from_u128(0xc12a7328_f81f_11d2_ba4b_00a0c93ec93b);
/// Extended Boot Loader Partition (`SD_GPT_XBOOTLDR`).
pub const XBOOTLDR: Guid = Guid::from_u128(0xbc13c2ff_59e6_4262_a352_b275fd6f7172);
/// Swap (`SD_GPT_SWAP`).
pub const SWAP: Guid = Guid::from_u128(0x0657fd6d_a4ab_43c4_84e5_0933c84b4f4f);
/// Home partition, mounted to `/home/` (`SD_GPT_HOME`).
pub const HOME: Guid = Guid::from_u128(0x933ac7e1_2eb4_4f13_b844_0e14e2aef915);
/// Server data partition, mounted to `/srv/` (`SD_GPT_SRV`).
pub const SRV: Guid = Guid::from_u128(0x3b8f8425_20e0_4f3b_907f_1a25a76f98e8);
/// Variable data partition, mounted to `/var/` (`SD_GPT_VAR`).
pub const VAR: Guid = Guid::from_u128(0x4d21b016_b534_45c2_a9fb_5c16e091fd2d);
/// Temporary data partition, mounted to `/var/tmp/` (`SD_GPT_TMP`).
pub const TMP: Guid = Guid::from_u128(0x7ec6f557_3bc5_4aca_b293_16ef5df639d1);
/// Generic Linux data partition, never mounted automatically (`SD_GPT_LINUX_GENERIC`).
pub const LINUX_GENERIC: Guid = Guid::from_u128(0x0fc63daf_8483_4772_8e79_3d69d8477de4);

/// The architecture-specific types for one architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchTypes {
    /// systemd-id128's architecture suffix, e.g. `x86-64`.
    pub arch: &'static str,
    /// Root partition.
    pub root: Guid,
    /// `/usr/` partition.
    pub usr: Guid,
    /// dm-verity hash data of the root partition.
    pub root_verity: Guid,
    /// dm-verity hash data of the `/usr/` partition.
    pub usr_verity: Guid,
    /// Root hash signature (JSON) of the root partition.
    pub root_verity_sig: Guid,
    /// Root hash signature (JSON) of the `/usr/` partition.
    pub usr_verity_sig: Guid,
}

/// amd64 / x86-64 (`SD_GPT_*_X86_64*`).
pub const X86_64: ArchTypes = ArchTypes {
    arch: "x86-64",
    root: Guid::from_u128(0x4f68bce3_e8cd_4db1_96e7_fbcaf984b709),
    usr: Guid::from_u128(0x8484680c_9521_48c6_9c11_b0720656f69e),
    root_verity: Guid::from_u128(0x2c7357ed_ebd2_46d9_aec1_23d437ec2bf5),
    usr_verity: Guid::from_u128(0x77ff5f63_e7b6_4633_acf4_1565b864c0e6),
    root_verity_sig: Guid::from_u128(0x41092b05_9fc8_4523_994f_2def0408b176),
    usr_verity_sig: Guid::from_u128(0xe7bb33fb_06cf_4e81_8273_e543b413e2e2),
};

/// 64-bit ARM / AArch64 (`SD_GPT_*_ARM64*`).
pub const ARM64: ArchTypes = ArchTypes {
    arch: "arm64",
    root: Guid::from_u128(0xb921b045_1df0_41c3_af44_4c6f280d3fae),
    usr: Guid::from_u128(0xb0e01050_ee5f_4390_949a_9101b17104e9),
    root_verity: Guid::from_u128(0xdf3300ce_d69f_4c92_978c_9bfb0f38d820),
    usr_verity: Guid::from_u128(0x6e11a4e7_fbca_4ded_b9e9_e1a512bb664e),
    root_verity_sig: Guid::from_u128(0x6db69de6_29f4_4758_a7a5_962190f00ce3),
    usr_verity_sig: Guid::from_u128(0xc23ce4ff_44bd_4b00_b2d4_b41b3419e02a),
};

/// Every type above with the name `systemd-id128 show` knows it by.
pub const ALL: &[(&str, Guid)] = &[
    ("esp", ESP),
    ("xbootldr", XBOOTLDR),
    ("swap", SWAP),
    ("home", HOME),
    ("srv", SRV),
    ("var", VAR),
    ("tmp", TMP),
    ("linux-generic", LINUX_GENERIC),
    ("root-x86-64", X86_64.root),
    ("usr-x86-64", X86_64.usr),
    ("root-x86-64-verity", X86_64.root_verity),
    ("usr-x86-64-verity", X86_64.usr_verity),
    ("root-x86-64-verity-sig", X86_64.root_verity_sig),
    ("usr-x86-64-verity-sig", X86_64.usr_verity_sig),
    ("root-arm64", ARM64.root),
    ("usr-arm64", ARM64.usr),
    ("root-arm64-verity", ARM64.root_verity),
    ("usr-arm64-verity", ARM64.usr_verity),
    ("root-arm64-verity-sig", ARM64.root_verity_sig),
    ("usr-arm64-verity-sig", ARM64.usr_verity_sig),
];

/// The systemd-id128 name of a known type, for human output (`stela inspect`).
pub fn name_of(type_guid: Guid) -> Option<&'static str> {
    ALL.iter()
        .find(|(_, guid)| *guid == type_guid)
        .map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_guids_are_unique() {
        for (i, (name, guid)) in ALL.iter().enumerate() {
            for (other_name, other_guid) in &ALL[i + 1..] {
                assert_ne!(name, other_name);
                assert_ne!(guid, other_guid, "{name} and {other_name}");
            }
        }
        assert_eq!(
            name_of(X86_64.usr_verity_sig),
            Some("usr-x86-64-verity-sig")
        );
        assert_eq!(name_of(Guid::NIL), None);
    }
}
