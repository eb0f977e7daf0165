//! Object identifiers used by the boot chain's signatures.

use const_oid::ObjectIdentifier;

/// PKCS#7 `data` (RFC 2315, 14).
pub const PKCS7_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
/// PKCS#7 `signedData` (RFC 2315, 14).
pub const PKCS7_SIGNED_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// PKCS#9 `contentType` attribute.
pub const PKCS9_CONTENT_TYPE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
/// PKCS#9 `messageDigest` attribute.
pub const PKCS9_MESSAGE_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
/// `rsaEncryption` (PKCS#1), the signature algorithm PKCS#7 v1.5 signers name.
pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// SHA-256 (NIST).
pub const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
/// Authenticode `SPC_INDIRECT_DATA_OBJID`.
pub const SPC_INDIRECT_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.4");
/// Authenticode `SPC_SP_OPUS_INFO_OBJID`.
pub const SPC_SP_OPUS_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.12");
/// Authenticode `SPC_PE_IMAGE_DATAOBJ`.
pub const SPC_PE_IMAGE_DATA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.15");
