//! Architectures and what a verity signature partition signs, from DPS type GUIDs.

use stela_gpt::{types, Guid};

/// A CPU architecture stela builds for, by its DPS partition types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Arch {
    /// amd64.
    X86_64,
    /// arm64.
    Arm64,
}

impl Arch {
    /// Every architecture, for lookups by type GUID.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Arm64];

    /// Its DPS partition types.
    pub fn types(self) -> types::ArchTypes {
        match self {
            Arch::X86_64 => types::X86_64,
            Arch::Arm64 => types::ARM64,
        }
    }
}

/// The partition a verity signature partition covers: `/usr` (a stela slot) or root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Payload {
    /// `usr-<arch>-verity-sig`: signs the usr / usr-verity pair of a slot.
    Usr,
    /// `root-<arch>-verity-sig`: signs a root / root-verity pair (stela writes none, but
    /// reads one it finds).
    Root,
}

/// What a `*-verity-sig` type GUID signs: its architecture, payload, and the types of
/// the data and hash partitions it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedTypes {
    /// The architecture.
    pub arch: Arch,
    /// usr or root.
    pub payload: Payload,
    /// Type of the data partition (usr or root).
    pub data: Guid,
    /// Type of the dm-verity hash partition.
    pub verity: Guid,
}

impl SignedTypes {
    /// For a verity signature partition type, what it signs; `None` for any other type.
    pub fn of(type_guid: Guid) -> Option<SignedTypes> {
        Arch::ALL.into_iter().find_map(|arch| {
            let t = arch.types();
            let (payload, data, verity) = if type_guid == t.usr_verity_sig {
                (Payload::Usr, t.usr, t.usr_verity)
            } else if type_guid == t.root_verity_sig {
                (Payload::Root, t.root, t.root_verity)
            } else {
                return None;
            };
            Some(SignedTypes {
                arch,
                payload,
                data,
                verity,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_types_name_their_pair() {
        let s = SignedTypes::of(types::X86_64.usr_verity_sig).expect("usr sig");
        assert_eq!((s.arch, s.payload), (Arch::X86_64, Payload::Usr));
        assert_eq!(
            (s.data, s.verity),
            (types::X86_64.usr, types::X86_64.usr_verity)
        );
        let r = SignedTypes::of(types::ARM64.root_verity_sig).expect("root sig");
        assert_eq!((r.arch, r.payload), (Arch::Arm64, Payload::Root));
        assert_eq!(SignedTypes::of(types::ESP), None);
        assert_eq!(SignedTypes::of(types::X86_64.usr), None);
    }
}
