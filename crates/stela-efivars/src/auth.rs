//! Time-based authenticated variables: `EFI_VARIABLE_AUTHENTICATION_2` (UEFI 2.10, 8.2.2,
//! `SetVariable`, "Using the EFI_VARIABLE_AUTHENTICATION_2 descriptor").
//!
//! An `.auth` file is what `SetVariable` is given as `Data`:
//!
//! ```text
//! 0x00 TimeStamp                 EFI_TIME, Pad1/Nanosecond/TimeZone/Daylight/Pad2 = 0
//! 0x10 AuthInfo.Hdr.dwLength     u32   8 + 16 + size of CertData
//! 0x14 AuthInfo.Hdr.wRevision    u16   0x0200
//! 0x16 AuthInfo.Hdr.wCertificateType u16 0x0EF1 (WIN_CERT_TYPE_EFI_GUID)
//! 0x18 AuthInfo.CertType         EFI_GUID  EFI_CERT_TYPE_PKCS7_GUID
//! 0x28 AuthInfo.CertData         DER PKCS#7 SignedData (bare, no ContentInfo)
//! 0x10 + dwLength                the new variable data (signature lists)
//! ```
//!
//! CertData signs, detached, `VariableName || VendorGuid || Attributes || TimeStamp ||
//! Data` (the name in UTF-16LE without its NUL, the GUID in its on-disk form, the
//! attributes as u32 LE) and carries the signer's certificate. efitools'
//! `sign-efi-sig-list` writes the same shape: a bare `SignedData`, no signed
//! attributes, RSA PKCS#1 v1.5 over SHA-256 (see docs/decisions/0005-secure-boot-keys.md).

use stela_keys::pkcs7::{self, CertificateInclusion, SignedMessage, Verified};
use stela_keys::{Certificate, Signer};

use crate::guid::known;
use crate::siglist::{parse_lists, SignatureList};
use crate::time::EFI_TIME_SIZE;
use crate::{EfiTime, EfiVarsError, Guid};

/// `WIN_CERTIFICATE.wRevision` for `WIN_CERTIFICATE_UEFI_GUID`.
pub const WIN_CERT_REVISION: u16 = 0x0200;
/// `WIN_CERT_TYPE_EFI_GUID`.
pub const WIN_CERT_TYPE_EFI_GUID: u16 = 0x0EF1;
/// Size of `WIN_CERTIFICATE_UEFI_GUID` before `CertData`.
pub const WIN_CERT_UEFI_GUID_HEADER_SIZE: usize = 24;
/// Offset of `CertData` in an `.auth` file.
pub const CERT_DATA_OFFSET: usize = EFI_TIME_SIZE + WIN_CERT_UEFI_GUID_HEADER_SIZE;

/// Variable attributes (UEFI 2.10, 8.2.1, `EFI_VARIABLE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariableAttributes(u32);

impl VariableAttributes {
    /// `EFI_VARIABLE_NON_VOLATILE`.
    pub const NON_VOLATILE: u32 = 0x0000_0001;
    /// `EFI_VARIABLE_BOOTSERVICE_ACCESS`.
    pub const BOOTSERVICE_ACCESS: u32 = 0x0000_0002;
    /// `EFI_VARIABLE_RUNTIME_ACCESS`.
    pub const RUNTIME_ACCESS: u32 = 0x0000_0004;
    /// `EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS`.
    pub const TIME_BASED_AUTHENTICATED_WRITE_ACCESS: u32 = 0x0000_0020;
    /// `EFI_VARIABLE_APPEND_WRITE`.
    pub const APPEND_WRITE: u32 = 0x0000_0040;

    /// NV|BS|RT|TIME_BASED_AUTHENTICATED_WRITE_ACCESS (0x27): what `PK`, `KEK`, `db` and
    /// `dbx` are written with to replace their contents.
    pub const fn secure_boot() -> Self {
        Self(
            Self::NON_VOLATILE
                | Self::BOOTSERVICE_ACCESS
                | Self::RUNTIME_ACCESS
                | Self::TIME_BASED_AUTHENTICATED_WRITE_ACCESS,
        )
    }

    /// The same with APPEND_WRITE (0x67): add entries to `db` or `dbx` instead.
    pub const fn secure_boot_append() -> Self {
        Self(Self::secure_boot().0 | Self::APPEND_WRITE)
    }

    /// From raw bits.
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }
}

/// The four variables of UEFI Secure Boot (UEFI 2.10, 32.3 and 32.6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecureBootVariable {
    /// `PK`, the platform key: signs updates of itself and of `KEK`.
    Pk,
    /// `KEK`, the key exchange keys: sign updates of `db` and `dbx`.
    Kek,
    /// `db`, the authorized signature database: keys and hashes of bootable images.
    Db,
    /// `dbx`, the forbidden signature database: revoked keys and hashes.
    Dbx,
}

impl SecureBootVariable {
    /// All four, in order of authority.
    pub const ALL: [SecureBootVariable; 4] = [Self::Pk, Self::Kek, Self::Db, Self::Dbx];

    /// The variable name (`PK`, `KEK`, `db`, `dbx`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Pk => "PK",
            Self::Kek => "KEK",
            Self::Db => "db",
            Self::Dbx => "dbx",
        }
    }

    /// The vendor GUID: `EFI_GLOBAL_VARIABLE` for `PK` and `KEK`,
    /// `EFI_IMAGE_SECURITY_DATABASE_GUID` for `db` and `dbx`.
    pub fn vendor(self) -> Guid {
        match self {
            Self::Pk | Self::Kek => known::EFI_GLOBAL_VARIABLE,
            Self::Db | Self::Dbx => known::EFI_IMAGE_SECURITY_DATABASE,
        }
    }

    /// The variable whose key signs updates of this one (`PK` for `PK` and `KEK`, `KEK`
    /// for `db` and `dbx`).
    pub fn signed_by(self) -> SecureBootVariable {
        match self {
            Self::Pk | Self::Kek => Self::Pk,
            Self::Db | Self::Dbx => Self::Kek,
        }
    }

    /// The variable of this exact name (case matters: `db`, not `DB`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// The bytes the PKCS#7 signature covers: `VariableName || VendorGuid || Attributes ||
/// TimeStamp || Data` (UEFI 2.10, 8.2.2, step 2 of creating an authenticated update).
pub fn signed_payload(
    name: &str,
    vendor: Guid,
    attributes: VariableAttributes,
    timestamp: EfiTime,
    data: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() * 2 + 36 + data.len());
    for unit in name.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out.extend_from_slice(&vendor.to_mixed_endian());
    out.extend_from_slice(&attributes.bits().to_le_bytes());
    out.extend_from_slice(&timestamp.to_bytes());
    out.extend_from_slice(data);
    out
}

/// An authenticated variable update: the `.auth` file, parsed or to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedVariable {
    timestamp: EfiTime,
    cert_data: Vec<u8>,
    data: Vec<u8>,
}

impl AuthenticatedVariable {
    /// Sign `data` as the new contents of the variable `name` / `vendor`.
    ///
    /// `CertData` gets the bare `SignedData` (the specification's form), detached, with
    /// the signer's certificate, no signed attributes.
    pub fn sign(
        signer: &dyn Signer,
        name: &str,
        vendor: Guid,
        attributes: VariableAttributes,
        timestamp: EfiTime,
        data: &[u8],
    ) -> Result<Self, EfiVarsError> {
        let wrap = |source| EfiVarsError::Sign {
            variable: name.to_owned(),
            source,
        };
        let payload = signed_payload(name, vendor, attributes, timestamp, data);
        let content_info =
            pkcs7::sign_detached(signer, &payload, CertificateInclusion::Include).map_err(wrap)?;
        let cert_data = SignedMessage::from_der(&content_info)
            .and_then(|m| m.signed_data_der())
            .map_err(wrap)?;
        Ok(Self {
            timestamp,
            cert_data,
            data: data.to_vec(),
        })
    }

    /// Sign `lists` as the new contents of one of the Secure Boot variables, replacing it
    /// (attributes 0x27).
    pub fn sign_secure_boot(
        signer: &dyn Signer,
        variable: SecureBootVariable,
        timestamp: EfiTime,
        lists: &[SignatureList],
    ) -> Result<Self, EfiVarsError> {
        Self::sign(
            signer,
            variable.name(),
            variable.vendor(),
            VariableAttributes::secure_boot(),
            timestamp,
            &crate::siglist::encode_lists(lists),
        )
    }

    /// Parse an `.auth` file, checking every field of the authentication header.
    ///
    /// The PKCS#7 is parsed too (a bare `SignedData`, or one wrapped in a `ContentInfo`,
    /// which EDK2 also accepts); the signature is not checked here, see [`Self::verify`].
    pub fn parse(bytes: &[u8]) -> Result<Self, EfiVarsError> {
        let bad = |s: String| Err(EfiVarsError::AuthHeader(s));
        if bytes.len() < CERT_DATA_OFFSET {
            return bad(format!(
                "truncated: EFI_VARIABLE_AUTHENTICATION_2 needs at least {CERT_DATA_OFFSET} bytes, there are {}",
                bytes.len()
            ));
        }
        let mut time = [0u8; EFI_TIME_SIZE];
        time.copy_from_slice(&bytes[..EFI_TIME_SIZE]);
        let timestamp = EfiTime::from_bytes(&time)
            .map_err(|e| EfiVarsError::AuthHeader(format!("TimeStamp at offset 0: {e}")))?;
        let le16 = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let dw_length = u32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]) as usize;
        if dw_length < WIN_CERT_UEFI_GUID_HEADER_SIZE {
            return bad(format!(
                "AuthInfo.Hdr.dwLength {dw_length} at offset 16 is smaller than the {WIN_CERT_UEFI_GUID_HEADER_SIZE}-byte WIN_CERTIFICATE_UEFI_GUID header"
            ));
        }
        if EFI_TIME_SIZE + dw_length > bytes.len() {
            return bad(format!(
                "truncated: AuthInfo.Hdr.dwLength {dw_length} at offset 16 runs past the end ({} bytes)",
                bytes.len()
            ));
        }
        if le16(20) != WIN_CERT_REVISION {
            return bad(format!(
                "AuthInfo.Hdr.wRevision at offset 20 is {:#06x}, not {WIN_CERT_REVISION:#06x}",
                le16(20)
            ));
        }
        if le16(22) != WIN_CERT_TYPE_EFI_GUID {
            return bad(format!(
                "AuthInfo.Hdr.wCertificateType at offset 22 is {:#06x}, not WIN_CERT_TYPE_EFI_GUID {WIN_CERT_TYPE_EFI_GUID:#06x}",
                le16(22)
            ));
        }
        let mut g = [0u8; 16];
        g.copy_from_slice(&bytes[24..40]);
        let cert_type = Guid::from_mixed_endian(g);
        if cert_type != known::EFI_CERT_TYPE_PKCS7 {
            return bad(format!(
                "AuthInfo.CertType at offset 24 is {cert_type}, not EFI_CERT_TYPE_PKCS7_GUID {}",
                known::EFI_CERT_TYPE_PKCS7
            ));
        }
        let end = EFI_TIME_SIZE + dw_length;
        let cert_data = bytes[CERT_DATA_OFFSET..end].to_vec();
        SignedMessage::from_der(&cert_data).map_err(|e| {
            EfiVarsError::AuthHeader(format!(
                "AuthInfo.CertData at offset {CERT_DATA_OFFSET} ({} bytes): {e}",
                cert_data.len()
            ))
        })?;
        Ok(Self {
            timestamp,
            cert_data,
            data: bytes[end..].to_vec(),
        })
    }

    /// The encoded `.auth` file.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CERT_DATA_OFFSET + self.cert_data.len() + self.data.len());
        out.extend_from_slice(&self.timestamp.to_bytes());
        let dw_length = WIN_CERT_UEFI_GUID_HEADER_SIZE + self.cert_data.len();
        // A DER SignedData made here or parsed from a file is far below 4 GiB.
        out.extend_from_slice(&u32::try_from(dw_length).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&WIN_CERT_REVISION.to_le_bytes());
        out.extend_from_slice(&WIN_CERT_TYPE_EFI_GUID.to_le_bytes());
        out.extend_from_slice(&known::EFI_CERT_TYPE_PKCS7.to_mixed_endian());
        out.extend_from_slice(&self.cert_data);
        out.extend_from_slice(&self.data);
        out
    }

    /// `TimeStamp`.
    pub fn timestamp(&self) -> EfiTime {
        self.timestamp
    }

    /// `AuthInfo.CertData`: the DER PKCS#7.
    pub fn cert_data(&self) -> &[u8] {
        &self.cert_data
    }

    /// Offset of the variable data in the `.auth` file.
    pub fn data_offset(&self) -> usize {
        CERT_DATA_OFFSET + self.cert_data.len()
    }

    /// The new variable data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The variable data parsed as signature lists (error offsets are relative to
    /// [`Self::data_offset`]).
    pub fn signature_lists(&self) -> Result<Vec<SignatureList>, EfiVarsError> {
        parse_lists(&self.data)
    }

    /// The parsed PKCS#7 message.
    pub fn message(&self) -> Result<SignedMessage, EfiVarsError> {
        SignedMessage::from_der(&self.cert_data)
            .map_err(|e| EfiVarsError::AuthHeader(format!("AuthInfo.CertData: {e}")))
    }

    /// Check that `trusted` (or a certificate it issued, carried in the message) signed
    /// this update of `name` / `vendor` with `attributes`.
    pub fn verify(
        &self,
        name: &str,
        vendor: Guid,
        attributes: VariableAttributes,
        trusted: &Certificate,
    ) -> Result<Verified, EfiVarsError> {
        let payload = signed_payload(name, vendor, attributes, self.timestamp, &self.data);
        self.message()?
            .verify(Some(&payload), trusted)
            .map_err(|source| EfiVarsError::Verify {
                variable: name.to_owned(),
                source,
            })
    }

    /// [`Self::verify`] for a Secure Boot variable; tries the replacing attributes, then
    /// the appending ones (the `.auth` file does not record which were signed).
    pub fn verify_secure_boot(
        &self,
        variable: SecureBootVariable,
        trusted: &Certificate,
    ) -> Result<(Verified, VariableAttributes), EfiVarsError> {
        let replace = VariableAttributes::secure_boot();
        match self.verify(variable.name(), variable.vendor(), replace, trusted) {
            Ok(v) => Ok((v, replace)),
            Err(e) if e.is_bad_signature() => {
                let append = VariableAttributes::secure_boot_append();
                match self.verify(variable.name(), variable.vendor(), append, trusted) {
                    Ok(v) => Ok((v, append)),
                    // Report the failure of the common case.
                    Err(_) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stela_keys::{CertificateProfile, FileSigner};

    fn signer(cn: &str) -> FileSigner {
        FileSigner::generate_self_signed(&CertificateProfile {
            common_name: cn.into(),
            validity_days: 10,
            ca: true,
        })
        .expect("generate")
    }

    #[test]
    fn payload_layout_matches_the_specification() {
        let t = EfiTime::from_unix(1_704_164_645).expect("time");
        let p = signed_payload(
            "db",
            known::EFI_IMAGE_SECURITY_DATABASE,
            VariableAttributes::secure_boot(),
            t,
            b"xy",
        );
        assert_eq!(
            hex::encode(&p),
            // "db" UTF-16LE, GUID on disk, 0x27, EFI_TIME, data (from `sign-efi-sig-list -o`).
            "64006200cbb219d73a3d9645a3bcdad00e67656f27000000e8070102030405000000000000000000"
                .to_owned()
                + "7879"
        );
    }

    #[test]
    fn signed_update_round_trips_and_verifies_only_for_its_variable_and_signer() {
        let kek = signer("KEK");
        let other = signer("other");
        let t = EfiTime::from_unix(1_704_164_645).expect("time");
        let list = SignatureList::x509(Guid::random(), kek.certificate().to_der()).expect("list");
        let auth = AuthenticatedVariable::sign_secure_boot(
            &kek,
            SecureBootVariable::Db,
            t,
            std::slice::from_ref(&list),
        )
        .expect("sign");
        let bytes = auth.to_bytes();
        // CertData is a bare SignedData: SEQUENCE { INTEGER 1, ... }.
        let cd = &bytes[CERT_DATA_OFFSET..];
        assert_eq!(cd[0], 0x30);
        assert_eq!(&cd[4..7], &[0x02, 0x01, 0x01]);
        let parsed = AuthenticatedVariable::parse(&bytes).expect("parse");
        assert_eq!(parsed, auth);
        assert_eq!(parsed.signature_lists().expect("lists"), vec![list]);
        let (v, attrs) = parsed
            .verify_secure_boot(SecureBootVariable::Db, kek.certificate())
            .expect("verify");
        assert_eq!(attrs, VariableAttributes::secure_boot());
        assert_eq!(&v.signer, kek.certificate());
        let e = parsed
            .verify_secure_boot(SecureBootVariable::Kek, kek.certificate())
            .unwrap_err();
        assert!(e.is_bad_signature(), "{e}");
        let e = parsed
            .verify_secure_boot(SecureBootVariable::Db, other.certificate())
            .unwrap_err();
        assert!(e.is_bad_signature(), "{e}");
    }

    #[test]
    fn header_errors_name_the_field() {
        let kek = signer("KEK");
        let t = EfiTime::from_unix(0).expect("time");
        let good = AuthenticatedVariable::sign(
            &kek,
            "db",
            known::EFI_IMAGE_SECURITY_DATABASE,
            VariableAttributes::secure_boot(),
            t,
            b"",
        )
        .expect("sign")
        .to_bytes();
        let patch = |at: usize, v: &[u8]| {
            let mut b = good.clone();
            b[at..at + v.len()].copy_from_slice(v);
            b
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (good[..30].to_vec(), "needs at least 40 bytes, there are 30"),
            (
                good[..good.len() - 1].to_vec(),
                "truncated: AuthInfo.Hdr.dwLength",
            ),
            (
                patch(16, &[3, 0, 0, 0]),
                "dwLength 3 at offset 16 is smaller",
            ),
            (patch(20, &[0, 1]), "wRevision at offset 20 is 0x0100"),
            (
                patch(22, &[2, 0]),
                "wCertificateType at offset 22 is 0x0002",
            ),
            (patch(24, &[0; 16]), "CertType at offset 24 is 00000000-"),
            (patch(40, &[0xff]), "AuthInfo.CertData at offset 40"),
            (
                patch(12, &[1]),
                "TimeStamp at offset 0: time stamp: TimeZone is 1",
            ),
        ];
        for (bytes, want) in cases {
            let got = AuthenticatedVariable::parse(&bytes)
                .unwrap_err()
                .to_string();
            assert!(got.contains(want), "want {want:?}, got {got:?}");
        }
    }
}
