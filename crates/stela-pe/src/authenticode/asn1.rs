//! The Authenticode ASN.1 structures, with the names of the specification
//! ("Authenticode-Specific Structures", section "SpcIndirectDataContent").

use der::asn1::{Any, BitString, BmpString, Ia5String, ObjectIdentifier, OctetString};
use der::{Choice, Sequence};
use spki::AlgorithmIdentifierOwned;

/// The signed content of an Authenticode signature:
///
/// ```text
/// SpcIndirectDataContent ::= SEQUENCE {
///     data                    SpcAttributeTypeAndOptionalValue,
///     messageDigest           DigestInfo }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct SpcIndirectDataContent {
    /// What was hashed: for a PE image, `SPC_PE_IMAGE_DATAOBJ` with an `SpcPeImageData`.
    pub data: SpcAttributeTypeAndOptionalValue,
    /// The image hash.
    pub message_digest: DigestInfo,
}

/// `SpcAttributeTypeAndOptionalValue ::= SEQUENCE { type ObjectID, value ANY OPTIONAL }`.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct SpcAttributeTypeAndOptionalValue {
    /// `type`.
    pub value_type: ObjectIdentifier,
    /// `value`, whose type `type` decides.
    #[asn1(optional = "true")]
    pub value: Option<Any>,
}

/// `DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest OCTETSTRING }`.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct DigestInfo {
    /// `digestAlgorithm`.
    pub digest_algorithm: AlgorithmIdentifierOwned,
    /// `digest`.
    pub digest: OctetString,
}

/// ```text
/// SpcPeImageData ::= SEQUENCE {
///     flags                   SpcPeImageFlags DEFAULT { includeResources },
///     file                    SpcLink }
/// ```
/// `file` is written `[0] EXPLICIT`, as signtool and sbsign do.
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub(crate) struct SpcPeImageData {
    /// `SpcPeImageFlags ::= BIT STRING`; signers write it empty.
    pub flags: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub file: Option<SpcLink>,
}

/// `SpcLink ::= CHOICE { url [0] IMPLICIT IA5STRING, ..., file [2] EXPLICIT SpcString }`.
#[derive(Debug, Clone, PartialEq, Eq, Choice)]
pub(crate) enum SpcLink {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Url(Ia5String),
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    File(SpcString),
}

/// `SpcString ::= CHOICE { unicode [0] IMPLICIT BMPSTRING, ascii [1] IMPLICIT IA5STRING }`.
#[derive(Debug, Clone, PartialEq, Eq, Choice)]
pub(crate) enum SpcString {
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Unicode(BmpString),
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT")]
    Ascii(Ia5String),
}

/// The file link signers put in `SpcPeImageData`: the specification says the field is
/// obsolete, and signtool writes this placeholder text.
pub(crate) const OBSOLETE_FILE_LINK: &str = "<<<Obsolete>>>";
