//! GUIDs in their two byte orders.
//!
//! The textual form `c12a7328-f81f-11d2-ba4b-00a0c93ec93b` reads as a 128-bit big-endian
//! number. UEFI stores the same GUID "mixed-endian" (UEFI 2.10, appendix A, `EFI_GUID`):
//! the first three groups (32, 16, 16 bits) little-endian, the last eight bytes as
//! written, in GPT headers and entries as in signature lists and authenticated
//! variables. [`Guid`] keeps the textual order and converts only at the on-disk
//! boundary, so a GUID copied from the specification never needs byte swapping by hand.
//! It is the one GUID type of stela: `stela-efivars` re-exports it
//! (docs/decisions/0007-image-model.md).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::GptError;

/// A GUID / UUID, stored in textual (RFC 4122 big-endian) byte order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Guid([u8; 16]);

impl Guid {
    /// The all-zero GUID: in GPT it marks an unused partition entry.
    pub const NIL: Guid = Guid([0; 16]);

    /// From the 128-bit number the textual form spells, e.g.
    /// `Guid::from_u128(0xc12a7328_f81f_11d2_ba4b_00a0c93ec93b)`.
    pub const fn from_u128(value: u128) -> Guid {
        Guid(value.to_be_bytes())
    }

    /// From the four fields of `EFI_GUID` (`Data1` u32, `Data2` u16, `Data3` u16,
    /// `Data4` eight bytes), as the UEFI specification writes its GUIDs.
    pub const fn from_fields(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> Guid {
        let a = data1.to_be_bytes();
        let b = data2.to_be_bytes();
        let c = data3.to_be_bytes();
        let d = data4;
        Guid([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5],
            d[6], d[7],
        ])
    }

    /// From bytes in textual order (the order `systemd-id128` prints them).
    pub const fn from_bytes(bytes: [u8; 16]) -> Guid {
        Guid(bytes)
    }

    /// The bytes in textual order.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// From the 16 bytes as UEFI stores them (mixed-endian): a GPT header or partition
    /// entry, an `EFI_SIGNATURE_LIST`, an authenticated variable.
    pub const fn from_mixed_endian(disk: [u8; 16]) -> Guid {
        Guid(swap_mixed(disk))
    }

    /// The 16 bytes as UEFI stores them (mixed-endian).
    pub const fn to_mixed_endian(&self) -> [u8; 16] {
        swap_mixed(self.0)
    }

    /// Whether this is [`Guid::NIL`].
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }

    /// A random version 4 GUID (from the operating system's random source).
    pub fn random() -> Guid {
        Guid(*uuid::Uuid::new_v4().as_bytes())
    }

    /// A version 4 GUID derived from `key` and `name`: the first 128 bits of
    /// SHA-256(key || 0x00 || name), with the version and variant bits set.
    ///
    /// The same inputs always give the same GUID, which keeps images reproducible
    /// (use the image name and version as key, the partition's role as name).
    pub fn derived(key: &[u8], name: &str) -> Guid {
        let mut hasher = Sha256::new();
        hasher.update(key);
        hasher.update([0u8]);
        hasher.update(name.as_bytes());
        let digest = hasher.finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
        bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
        Guid(bytes)
    }

    /// The GUID as 32 lowercase hex digits without dashes (`systemd-id128`'s form).
    pub fn to_simple_string(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Swaps the first three groups between big- and little-endian; its own inverse.
const fn swap_mixed(b: [u8; 16]) -> [u8; 16] {
    [
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
        b[14], b[15],
    ]
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

impl FromStr for Guid {
    type Err = GptError;

    /// Parses `8-4-4-4-12` hex groups or 32 hex digits without dashes, any case.
    fn from_str(text: &str) -> Result<Guid, GptError> {
        let invalid = || GptError::InvalidGuid {
            text: text.to_owned(),
        };
        let digits: Vec<u8> = if text.len() == 36 {
            let dashes_ok = text
                .char_indices()
                .all(|(i, c)| matches!(i, 8 | 13 | 18 | 23) == (c == '-'));
            if !dashes_ok {
                return Err(invalid());
            }
            text.bytes().filter(|&c| c != b'-').collect()
        } else if text.len() == 32 {
            text.bytes().collect()
        } else {
            return Err(invalid());
        };
        let mut bytes = [0u8; 16];
        for (i, pair) in digits.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0]).ok_or_else(invalid)?;
            let lo = hex_value(pair[1]).ok_or_else(invalid)?;
            bytes[i] = (hi << 4) | lo;
        }
        Ok(Guid(bytes))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The partition UUIDs of a dm-verity data partition and its hash partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerityPartitionUuids {
    /// UUID of the data partition (root or usr): the first 128 bits of the root hash.
    pub data: Guid,
    /// UUID of the verity hash partition: the last 128 bits of the root hash.
    pub verity: Guid,
}

impl VerityPartitionUuids {
    /// Derives both UUIDs from a 32-byte (SHA-256) verity root hash.
    ///
    /// DPS, "Defined Partition Type UUIDs", root verity row: "the partition UUID of the root
    /// partition should be the first 128 bits of the root hash of the dm-verity hash data, and
    /// the partition UUID of this dm-verity partition should be the final 128 bits of it".
    /// systemd copies the hash bytes into an `sd_id128_t` in order and compares it with the
    /// partition UUID as libblkid prints it, so the hash bytes are the UUID's textual order:
    /// hash `0123abcd…` gives the UUID `0123abcd-…` (tested against systemd-dissect).
    pub fn from_root_hash(root_hash: &[u8; 32]) -> VerityPartitionUuids {
        let mut data = [0u8; 16];
        let mut verity = [0u8; 16];
        data.copy_from_slice(&root_hash[..16]);
        verity.copy_from_slice(&root_hash[16..]);
        VerityPartitionUuids {
            data: Guid(data),
            verity: Guid(verity),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esp_guid_round_trips_through_text_and_disk_order() {
        let esp: Guid = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B".parse().unwrap();
        assert_eq!(esp, Guid::from_u128(0xc12a7328_f81f_11d2_ba4b_00a0c93ec93b));
        assert_eq!(esp.to_string(), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        // On disk, as every GPT tool writes the ESP type (e.g. `hexdump` of an ESP entry).
        let disk = [
            0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
            0xc9, 0x3b,
        ];
        assert_eq!(esp.to_mixed_endian(), disk);
        assert_eq!(Guid::from_mixed_endian(disk), esp);
        assert_eq!(
            Guid::from_fields(
                0xc12a_7328,
                0xf81f,
                0x11d2,
                [0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b]
            ),
            esp
        );
    }

    #[test]
    fn simple_form_parses_and_prints() {
        let g: Guid = "0fc63daf848347728e793d69d8477de4".parse().unwrap();
        assert_eq!(g.to_string(), "0fc63daf-8483-4772-8e79-3d69d8477de4");
        assert_eq!(g.to_simple_string(), "0fc63daf848347728e793d69d8477de4");
    }

    #[test]
    fn malformed_guids_are_rejected() {
        for text in [
            "",
            "c12a7328f81f-11d2-ba4b-00a0c93ec93b0",
            "c12a7328-f81f-11d2-ba4b-00a0c93ec93g",
            "c12a7328-f81f-11d2-ba4b00-a0c93ec93b",
            "c12a7328f81f11d2ba4b00a0c93ec9",
        ] {
            assert!(
                matches!(text.parse::<Guid>(), Err(GptError::InvalidGuid { .. })),
                "{text:?} parsed"
            );
        }
    }

    #[test]
    fn derived_guids_are_stable_v4() {
        let a = Guid::derived(b"demo_1.0", "esp");
        assert_eq!(a, Guid::derived(b"demo_1.0", "esp"));
        assert_ne!(a, Guid::derived(b"demo_1.0", "usr"));
        assert_eq!(a.as_bytes()[6] >> 4, 4);
        assert_eq!(a.as_bytes()[8] >> 6, 0b10);
    }

    #[test]
    fn verity_uuids_are_hash_halves_in_text_order() {
        let mut hash = [0u8; 32];
        for (i, b) in hash.iter_mut().enumerate() {
            *b = i as u8;
        }
        let uuids = VerityPartitionUuids::from_root_hash(&hash);
        assert_eq!(
            uuids.data.to_string(),
            "00010203-0405-0607-0809-0a0b0c0d0e0f"
        );
        assert_eq!(
            uuids.verity.to_string(),
            "10111213-1415-1617-1819-1a1b1c1d1e1f"
        );
    }
}
