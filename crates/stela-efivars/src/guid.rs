//! `EFI_GUID`: the one GUID type of stela, from `stela-gpt` (the same mixed-endian
//! bytes in a GPT entry and a signature list; docs/decisions/0007-image-model.md), and
//! the UEFI GUIDs this crate writes.

pub use stela_gpt::Guid;

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
        assert_eq!(known::EFI_CERT_X509.to_mixed_endian().to_vec(), on_disk);
        let g: Guid = "a5c059a1-94e4-4aa7-87b5-ab155c2bf072"
            .parse()
            .expect("parse");
        assert_eq!(g, known::EFI_CERT_X509);
        assert_eq!(g.to_string(), "a5c059a1-94e4-4aa7-87b5-ab155c2bf072");
        let mut b = [0u8; 16];
        b.copy_from_slice(&on_disk);
        assert_eq!(Guid::from_mixed_endian(b), g);
    }

    #[test]
    fn round_trips_and_rejects_malformed_text() {
        let g = Guid::random();
        assert_eq!(Guid::from_mixed_endian(g.to_mixed_endian()), g);
        assert_eq!(g.to_string().parse::<Guid>().expect("parse"), g);
        for bad in [
            "",
            "a5c059a1-94e4-4aa7-87b5",
            "a5c059a1-94e4-4aa7-87b5-ab155c2bf07",
            "g5c059a1-94e4-4aa7-87b5-ab155c2bf072",
        ] {
            assert!(
                matches!(
                    bad.parse::<Guid>(),
                    Err(stela_gpt::GptError::InvalidGuid { ref text }) if text == bad
                ),
                "{bad}"
            );
        }
    }
}
