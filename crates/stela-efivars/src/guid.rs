//! `EFI_GUID` with the UEFI byte order.

use std::fmt;
use std::str::FromStr;

use crate::EfiVarsError;

/// A UEFI GUID (UEFI 2.10, appendix A, "GUID and Time Formats").
///
/// Text form `aabbccdd-eeff-gghh-iijj-kkllmmnnoopp`; on disk the first three groups are
/// little-endian (`Data1` u32, `Data2` u16, `Data3` u16) and the last eight bytes are
/// stored as written ("mixed-endian"), unlike RFC 4122 byte order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid {
    // Kept in text (big-endian) order so that Ord and Display agree.
    text_order: [u8; 16],
}

impl Guid {
    /// The all-zero GUID.
    pub const ZERO: Guid = Guid {
        text_order: [0; 16],
    };

    /// Build from the four fields of `EFI_GUID`.
    pub const fn from_fields(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> Self {
        let a = data1.to_be_bytes();
        let b = data2.to_be_bytes();
        let c = data3.to_be_bytes();
        Guid {
            text_order: [
                a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], data4[0], data4[1], data4[2],
                data4[3], data4[4], data4[5], data4[6], data4[7],
            ],
        }
    }

    /// A new random (version 4) GUID, e.g. for a signature owner.
    pub fn random() -> Self {
        Guid {
            text_order: *uuid::Uuid::new_v4().as_bytes(),
        }
    }

    /// Decode the 16 on-disk bytes.
    pub const fn from_bytes(b: [u8; 16]) -> Self {
        Guid {
            text_order: [
                b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12],
                b[13], b[14], b[15],
            ],
        }
    }

    /// The 16 on-disk bytes.
    pub const fn to_bytes(self) -> [u8; 16] {
        let t = self.text_order;
        [
            t[3], t[2], t[1], t[0], t[5], t[4], t[7], t[6], t[8], t[9], t[10], t[11], t[12], t[13],
            t[14], t[15],
        ]
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = hex::encode(self.text_order);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

impl FromStr for Guid {
    type Err = EfiVarsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || EfiVarsError::BadGuid { text: s.to_owned() };
        let groups: Vec<&str> = s.split('-').collect();
        let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
        if lengths != [8, 4, 4, 4, 12] {
            return Err(bad());
        }
        let joined: String = groups.concat();
        let mut text_order = [0u8; 16];
        hex::decode_to_slice(&joined, &mut text_order).map_err(|_| bad())?;
        Ok(Guid { text_order })
    }
}

/// GUIDs of the UEFI specification that stela uses. Each is pinned in the tests against
/// what efitools writes.
pub mod known {
    use super::Guid;

    /// `EFI_GLOBAL_VARIABLE` (UEFI 2.10, 3.3): vendor GUID of `PK` and `KEK`.
    pub const EFI_GLOBAL_VARIABLE: Guid = Guid::from_fields(
        0x8be4_df61,
        0x93ca,
        0x11d2,
        [0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c],
    );
    /// `EFI_IMAGE_SECURITY_DATABASE_GUID` (UEFI 2.10, 32.6.1): vendor GUID of `db`, `dbx`.
    pub const EFI_IMAGE_SECURITY_DATABASE: Guid = Guid::from_fields(
        0xd719_b2cb,
        0x3d3a,
        0x4596,
        [0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f],
    );
    /// `EFI_CERT_X509_GUID` (UEFI 2.10, 32.4.1): one DER X.509 certificate per entry.
    pub const EFI_CERT_X509: Guid = Guid::from_fields(
        0xa5c0_59a1,
        0x94e4,
        0x4aa7,
        [0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72],
    );
    /// `EFI_CERT_SHA256_GUID` (UEFI 2.10, 32.4.1): one SHA-256 digest per entry.
    pub const EFI_CERT_SHA256: Guid = Guid::from_fields(
        0xc1c4_1626,
        0x504c,
        0x4092,
        [0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28],
    );
    /// `EFI_CERT_TYPE_PKCS7_GUID` (UEFI 2.10, 32.2.4): `CertType` of an authenticated
    /// variable's `WIN_CERTIFICATE_UEFI_GUID`.
    pub const EFI_CERT_TYPE_PKCS7: Guid = Guid::from_fields(
        0x4aaf_d29d,
        0x68df,
        0x49ee,
        [0x8a, 0xa9, 0x34, 0x7d, 0x37, 0x56, 0x65, 0xa7],
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_endian_encoding_matches_the_spec_example() {
        // EFI_CERT_X509_GUID as efitools writes it at the start of every X.509 list.
        let on_disk = hex::decode("a159c0a5e494a74a87b5ab155c2bf072").expect("hex");
        assert_eq!(known::EFI_CERT_X509.to_bytes().to_vec(), on_disk);
        let g: Guid = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072"
            .parse()
            .expect("parse");
        assert_eq!(g, known::EFI_CERT_X509);
        assert_eq!(g.to_string(), "a5c059a1-94e4-4aa7-87b5-ab155c2bf072");
        let mut b = [0u8; 16];
        b.copy_from_slice(&on_disk);
        assert_eq!(Guid::from_bytes(b), g);
    }

    #[test]
    fn round_trips_and_rejects_malformed_text() {
        let g = Guid::random();
        assert_eq!(Guid::from_bytes(g.to_bytes()), g);
        assert_eq!(g.to_string().parse::<Guid>().expect("parse"), g);
        for bad in [
            "",
            "a5c059a1-94e4-4aa7-87b5",
            "a5c059a194e44aa787b5ab155c2bf072",
            "g5c059a1-94e4-4aa7-87b5-ab155c2bf072",
        ] {
            let e = bad.parse::<Guid>().unwrap_err();
            assert!(
                matches!(&e, EfiVarsError::BadGuid { text } if text == bad),
                "{bad}: {e}"
            );
        }
    }
}
