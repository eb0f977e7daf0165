//! PKCS#7 (RFC 2315) `SignedData`: the two shapes the boot chain uses, and verification.
//!
//! Both shapes are version 1 `SignedData` with one signer identified by issuer and
//! serial number, SHA-256 and RSA PKCS#1 v1.5 (`rsaEncryption`), as OpenSSL's
//! `PKCS7_sign` and sbsign write them:
//!
//! - [`sign_detached`]: content type `data`, no content, no signed attributes; the RSA
//!   signature covers the data itself. This is what the kernel wants for a dm-verity root
//!   hash (`openssl smime -sign -binary -noattr`) and what UEFI wants in an authenticated
//!   variable's `WIN_CERTIFICATE_UEFI_GUID`.
//! - [`sign_embedded`]: the content (Authenticode's `SpcIndirectDataContent`) is embedded
//!   as an explicit `[0]` field of type ANY (PKCS#7 v1.5, not CMS's OCTET STRING), and
//!   the signed attributes carry `contentType` and `messageDigest`, the digest of the
//!   content's value octets (RFC 2315, 9.3: "the contents octets of the DER encoding").

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, OctetString, SetOfVec};
use der::{Decode, Encode};
use openssl::hash::MessageDigest;
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;

use crate::{oid, Certificate, KeyError, Pkcs7Problem, SignatureFailure, Signer};

/// sha256WithRSAEncryption, which some signers name instead of `rsaEncryption`.
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// Whether a detached signature carries the signer's certificate.
///
/// The kernel finds the key by issuer and serial number in its keyrings and needs no
/// certificate; leaving it out keeps the signature short enough for the kernel command
/// line (about 400 bytes DER for RSA-2048 instead of about 1.2 KB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateInclusion {
    /// Embed the signer's certificate (self-contained, easier to check with openssl).
    Include,
    /// Leave it out (`-nocerts`).
    Omit,
}

fn sha256_alg() -> AlgorithmIdentifierOwned {
    // NULL parameters, as OpenSSL 3 (`openssl smime`, efitools, sbsign) writes them, so
    // that stela's output is byte-identical to theirs. RFC 5754 allows both forms.
    AlgorithmIdentifierOwned {
        oid: oid::SHA256,
        parameters: Some(Any::null()),
    }
}

fn rsa_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oid::RSA_ENCRYPTION,
        parameters: Some(Any::null()),
    }
}

fn signer_id(cert: &Certificate) -> SignerIdentifier {
    let tbs = &cert.parsed().tbs_certificate;
    SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
        issuer: tbs.issuer.clone(),
        serial_number: tbs.serial_number.clone(),
    })
}

fn one<T: der::DerOrd + Clone>(value: T, what: &'static str) -> Result<SetOfVec<T>, KeyError> {
    SetOfVec::try_from(vec![value]).map_err(KeyError::der(what))
}

fn assemble(
    signer: &dyn Signer,
    encap: EncapsulatedContentInfo,
    signed_attrs: Option<SetOfVec<Attribute>>,
    signature: Vec<u8>,
    certs: CertificateInclusion,
) -> Result<Vec<u8>, KeyError> {
    let cert = signer.certificate();
    let certificates = match certs {
        CertificateInclusion::Include => Some(CertificateSet(one(
            CertificateChoices::Certificate(cert.parsed().clone()),
            "encoding the certificate set",
        )?)),
        CertificateInclusion::Omit => None,
    };
    let info = SignerInfo {
        version: CmsVersion::V1,
        sid: signer_id(cert),
        digest_alg: sha256_alg(),
        signed_attrs,
        signature_algorithm: rsa_alg(),
        signature: OctetString::new(signature).map_err(KeyError::der("encoding the signature"))?,
        unsigned_attrs: None,
    };
    let signed = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: one(sha256_alg(), "encoding the digest algorithms")?,
        encap_content_info: encap,
        certificates,
        crls: None,
        signer_infos: SignerInfos(one(info, "encoding the signer infos")?),
    };
    let content = Any::encode_from(&signed).map_err(KeyError::der("encoding SignedData"))?;
    ContentInfo {
        content_type: oid::PKCS7_SIGNED_DATA,
        content,
    }
    .to_der()
    .map_err(KeyError::der("encoding ContentInfo"))
}

/// A detached signature over `data`: `openssl smime -sign -binary -noattr -outform der`.
///
/// Returns the DER of the PKCS#7 `ContentInfo`.
pub fn sign_detached(
    signer: &dyn Signer,
    data: &[u8],
    certs: CertificateInclusion,
) -> Result<Vec<u8>, KeyError> {
    let signature = signer.sign_sha256(data)?;
    let encap = EncapsulatedContentInfo {
        econtent_type: oid::PKCS7_DATA,
        econtent: None,
    };
    assemble(signer, encap, None, signature, certs)
}

/// A signature that carries `data` inside it and signs it directly, without signed
/// attributes: `openssl smime -sign -binary -nodetach -noattr -outform der`. The Linux
/// kernel takes IPE policies in this form (`/sys/kernel/security/ipe/new_policy`).
///
/// Returns the DER of the PKCS#7 `ContentInfo`.
pub fn sign_attached(
    signer: &dyn Signer,
    data: &[u8],
    certs: CertificateInclusion,
) -> Result<Vec<u8>, KeyError> {
    let signature = signer.sign_sha256(data)?;
    let content = Any::encode_from(
        &OctetString::new(data.to_vec()).map_err(KeyError::der("encoding the content"))?,
    )
    .map_err(KeyError::der("encoding the content"))?;
    let encap = EncapsulatedContentInfo {
        econtent_type: oid::PKCS7_DATA,
        econtent: Some(content),
    };
    assemble(signer, encap, None, signature, certs)
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Result<Attribute, KeyError> {
    Ok(Attribute {
        oid,
        values: one(value, "encoding a signed attribute")?,
    })
}

/// A signature with embedded content of type `content_type`; `content_der` is the full
/// DER encoding of the content (for Authenticode, the `SpcIndirectDataContent` SEQUENCE).
///
/// `extra_attributes` are added to the signed attributes after `contentType` and
/// `messageDigest` (Authenticode adds an empty `SpcSpOpusInfo`). The signer's certificate
/// is included, as Authenticode verifiers expect.
pub fn sign_embedded(
    signer: &dyn Signer,
    content_type: ObjectIdentifier,
    content_der: &[u8],
    extra_attributes: Vec<Attribute>,
) -> Result<Vec<u8>, KeyError> {
    let content =
        Any::from_der(content_der).map_err(KeyError::der("decoding the content to sign"))?;
    let digest = crate::sha256(content.value());
    let mut attrs = vec![
        attribute(
            oid::PKCS9_CONTENT_TYPE,
            Any::encode_from(&content_type).map_err(KeyError::der("encoding contentType"))?,
        )?,
        attribute(
            oid::PKCS9_MESSAGE_DIGEST,
            Any::encode_from(
                &OctetString::new(digest.to_vec())
                    .map_err(KeyError::der("encoding messageDigest"))?,
            )
            .map_err(KeyError::der("encoding messageDigest"))?,
        )?,
    ];
    attrs.extend(extra_attributes);
    let signed_attrs =
        SetOfVec::try_from(attrs).map_err(KeyError::der("encoding signed attributes"))?;
    // The signature covers the DER of the attributes as a SET OF (tag 0x31), not the
    // implicit [0] they are stored under (RFC 2315, 9.3).
    let to_sign = signed_attrs
        .to_der()
        .map_err(KeyError::der("encoding signed attributes"))?;
    let signature = signer.sign_sha256(&to_sign)?;
    let encap = EncapsulatedContentInfo {
        econtent_type: content_type,
        econtent: Some(content),
    };
    assemble(
        signer,
        encap,
        Some(signed_attrs),
        signature,
        CertificateInclusion::Include,
    )
}

/// A parsed PKCS#7 `SignedData` message, to inspect and verify.
#[derive(Debug, Clone)]
pub struct SignedMessage {
    signed: SignedData,
}

/// What a successful verification found.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The certificate whose key made the signature.
    pub signer: Certificate,
}

impl SignedMessage {
    /// Parse a DER `ContentInfo` holding `SignedData` (or a bare `SignedData`, as some
    /// UEFI tools store it).
    pub fn from_der(bytes: &[u8]) -> Result<Self, KeyError> {
        let bad = |der| KeyError::pkcs7(Pkcs7Problem::NotSignedData { der });
        let signed = match ContentInfo::from_der(bytes) {
            Ok(ci) => {
                if ci.content_type != oid::PKCS7_SIGNED_DATA {
                    return Err(KeyError::pkcs7(Pkcs7Problem::ContentType {
                        content_type: ci.content_type,
                    }));
                }
                ci.content.decode_as::<SignedData>().map_err(bad)?
            }
            Err(_) => SignedData::from_der(bytes).map_err(bad)?,
        };
        Ok(Self { signed })
    }

    /// The bare `SignedData` DER, without the `ContentInfo` around it (the form the UEFI
    /// specification puts in `WIN_CERTIFICATE_UEFI_GUID.CertData`).
    pub fn signed_data_der(&self) -> Result<Vec<u8>, KeyError> {
        self.signed
            .to_der()
            .map_err(KeyError::der("encoding SignedData"))
    }

    /// The type of the (embedded or detached) content.
    pub fn content_type(&self) -> ObjectIdentifier {
        self.signed.encap_content_info.econtent_type
    }

    /// The DER encoding of the embedded content, if there is one.
    pub fn embedded_content(&self) -> Result<Option<Vec<u8>>, KeyError> {
        self.signed
            .encap_content_info
            .econtent
            .as_ref()
            .map(|c| {
                c.to_der()
                    .map_err(KeyError::der("encoding embedded content"))
            })
            .transpose()
    }

    /// The embedded data of an `id-data` message (the octets of its OCTET STRING), as
    /// signed; `None` for a detached signature or another content type.
    pub fn embedded_data(&self) -> Option<&[u8]> {
        if self.content_type() != oid::PKCS7_DATA {
            return None;
        }
        self.signed
            .encap_content_info
            .econtent
            .as_ref()
            .map(|c| c.value())
    }

    /// The certificates carried in the message.
    pub fn certificates(&self) -> Result<Vec<Certificate>, KeyError> {
        let Some(set) = &self.signed.certificates else {
            return Ok(Vec::new());
        };
        set.0
            .iter()
            .filter_map(|c| match c {
                CertificateChoices::Certificate(c) => Some(c),
                CertificateChoices::Other(_) => None,
            })
            .map(|c| {
                let der = c
                    .to_der()
                    .map_err(KeyError::der("encoding a carried certificate"))?;
                Certificate::from_der(&der, "a certificate carried in the PKCS#7 message")
            })
            .collect()
    }

    /// Check the signature: over `detached` data if given, else over the embedded
    /// content. The signer must be `trusted` or hold a certificate issued by it.
    ///
    /// A signature that was checked and is wrong gives [`KeyError::BadSignature`]; a
    /// message stela cannot check gives [`KeyError::Pkcs7`].
    pub fn verify(
        &self,
        detached: Option<&[u8]>,
        trusted: &Certificate,
    ) -> Result<Verified, KeyError> {
        let infos = &self.signed.signer_infos.0;
        let [info] = infos.as_slice() else {
            return Err(KeyError::pkcs7(Pkcs7Problem::SignerCount {
                count: infos.len(),
            }));
        };
        if info.digest_alg.oid != oid::SHA256 {
            return Err(KeyError::pkcs7(Pkcs7Problem::DigestAlgorithm {
                oid: info.digest_alg.oid,
            }));
        }
        let sig_oid = info.signature_algorithm.oid;
        if sig_oid != oid::RSA_ENCRYPTION && sig_oid != SHA256_WITH_RSA {
            return Err(KeyError::pkcs7(Pkcs7Problem::SignatureAlgorithm {
                oid: sig_oid,
            }));
        }
        let embedded = self.signed.encap_content_info.econtent.as_ref();
        let content: &[u8] = match (detached, embedded) {
            (Some(_), Some(_)) => return Err(KeyError::pkcs7(Pkcs7Problem::ContentTwice)),
            (Some(data), None) => data,
            (None, Some(any)) => any.value(),
            (None, None) => return Err(KeyError::pkcs7(Pkcs7Problem::NoContent)),
        };
        let signed_bytes = match &info.signed_attrs {
            None => content.to_vec(),
            Some(attrs) => {
                self.check_signed_attributes(attrs, content)?;
                attrs
                    .to_der()
                    .map_err(KeyError::der("encoding signed attributes"))?
            }
        };
        let signer = self.find_signer(info, trusted)?;
        let key = signer
            .openssl()
            .public_key()
            .map_err(KeyError::crypto("reading the signer's public key"))?;
        let mut verifier = openssl::sign::Verifier::new(MessageDigest::sha256(), &key)
            .map_err(KeyError::crypto("starting signature verification"))?;
        verifier
            .update(&signed_bytes)
            .map_err(KeyError::crypto("hashing signed data"))?;
        let good = verifier.verify(info.signature.as_bytes()).unwrap_or(false);
        if !good {
            return Err(KeyError::bad_signature(SignatureFailure::Rsa {
                signer: signer.subject(),
            }));
        }
        if !signer.is_issued_by(trusted) {
            return Err(KeyError::bad_signature(SignatureFailure::Untrusted {
                signer: signer.subject(),
                trusted: trusted.subject(),
            }));
        }
        Ok(Verified { signer })
    }

    fn check_signed_attributes(
        &self,
        attrs: &SetOfVec<Attribute>,
        content: &[u8],
    ) -> Result<(), KeyError> {
        let find = |oid: ObjectIdentifier| {
            attrs
                .iter()
                .find(|a| a.oid == oid)
                .and_then(|a| a.values.get(0))
        };
        let digest = find(oid::PKCS9_MESSAGE_DIGEST)
            .ok_or(KeyError::pkcs7(Pkcs7Problem::NoMessageDigest))?;
        let digest = digest.decode_as::<OctetString>().map_err(|der| {
            KeyError::pkcs7(Pkcs7Problem::Attribute {
                attribute: "messageDigest",
                expected: "an OCTET STRING",
                der,
            })
        })?;
        let computed = crate::sha256(content);
        if digest.as_bytes() != computed {
            return Err(KeyError::bad_signature(SignatureFailure::MessageDigest {
                signed: hex::encode(digest.as_bytes()),
                computed: hex::encode(computed),
            }));
        }
        if let Some(ct) = find(oid::PKCS9_CONTENT_TYPE) {
            let ct = ct.decode_as::<ObjectIdentifier>().map_err(|der| {
                KeyError::pkcs7(Pkcs7Problem::Attribute {
                    attribute: "contentType",
                    expected: "an OID",
                    der,
                })
            })?;
            if ct != self.content_type() {
                return Err(KeyError::bad_signature(SignatureFailure::ContentType {
                    signed: ct,
                    content: self.content_type(),
                }));
            }
        }
        Ok(())
    }

    /// The carried certificate the message's signer names (by issuer and serial), not
    /// checked: who the message says made it. `None` when no carried certificate matches.
    ///
    /// Errors when the message has not exactly one signer or names it by key id.
    pub fn claimed_signer(&self) -> Result<Option<Certificate>, KeyError> {
        let infos = &self.signed.signer_infos.0;
        let [info] = infos.as_slice() else {
            return Err(KeyError::pkcs7(Pkcs7Problem::SignerCount {
                count: infos.len(),
            }));
        };
        let sid = issuer_and_serial(info)?;
        Ok(self.certificates()?.into_iter().find(|c| names(sid, c)))
    }

    fn find_signer(
        &self,
        info: &SignerInfo,
        trusted: &Certificate,
    ) -> Result<Certificate, KeyError> {
        let sid = issuer_and_serial(info)?;
        if names(sid, trusted) {
            return Ok(trusted.clone());
        }
        self.certificates()?
            .into_iter()
            .find(|c| names(sid, c))
            .ok_or_else(|| {
                KeyError::bad_signature(SignatureFailure::SignerNotFound {
                    serial: hex::encode(sid.serial_number.as_bytes()),
                    trusted: trusted.subject(),
                })
            })
    }
}

fn issuer_and_serial(info: &SignerInfo) -> Result<&IssuerAndSerialNumber, KeyError> {
    match &info.sid {
        SignerIdentifier::IssuerAndSerialNumber(sid) => Ok(sid),
        SignerIdentifier::SubjectKeyIdentifier(_) => {
            Err(KeyError::pkcs7(Pkcs7Problem::SignerKeyId))
        }
    }
}

/// Whether `cert` is the certificate `sid` identifies.
fn names(sid: &IssuerAndSerialNumber, cert: &Certificate) -> bool {
    let tbs = &cert.parsed().tbs_certificate;
    tbs.issuer == sid.issuer && tbs.serial_number == sid.serial_number
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CertificateProfile, FileSigner};

    fn signer(cn: &str) -> FileSigner {
        FileSigner::generate_self_signed(&CertificateProfile {
            common_name: cn.into(),
            validity_days: 10,
            ca: false,
        })
        .expect("generate key")
    }

    #[test]
    fn attached_signature_carries_the_data_and_verifies_only_with_the_key() {
        let s = signer("db");
        let other = signer("other");
        let der = sign_attached(&s, b"policy_name=x", CertificateInclusion::Omit).expect("sign");
        let msg = SignedMessage::from_der(&der).expect("parse");
        assert_eq!(msg.content_type(), oid::PKCS7_DATA);
        // The embedded content is an OCTET STRING of the data; verify reads its value.
        let embedded = msg.embedded_content().expect("content").expect("embedded");
        assert!(embedded.ends_with(b"policy_name=x"));
        msg.verify(None, s.certificate()).expect("verify");
        assert!(msg
            .verify(None, other.certificate())
            .unwrap_err()
            .is_bad_signature());
        // Deterministic (RSA PKCS#1 v1.5, no signing time): the build is reproducible.
        assert_eq!(
            der,
            sign_attached(&s, b"policy_name=x", CertificateInclusion::Omit).expect("sign")
        );
    }

    #[test]
    fn detached_signature_verifies_only_for_the_signed_data_and_key() {
        let s = signer("db");
        let other = signer("other");
        for certs in [CertificateInclusion::Include, CertificateInclusion::Omit] {
            let der = sign_detached(&s, b"abc123", certs).expect("sign");
            let msg = SignedMessage::from_der(&der).expect("parse");
            assert_eq!(msg.content_type(), oid::PKCS7_DATA);
            msg.verify(Some(b"abc123"), s.certificate())
                .expect("verify");
            let e = msg.verify(Some(b"abc124"), s.certificate()).unwrap_err();
            assert!(e.is_bad_signature(), "{e}");
            let e = msg
                .verify(Some(b"abc123"), other.certificate())
                .unwrap_err();
            assert!(e.is_bad_signature(), "{e}");
        }
    }

    #[test]
    fn embedded_signature_checks_the_message_digest() {
        let s = signer("db");
        // A SEQUENCE { INTEGER 5 } as stand-in content.
        let content = [0x30, 0x03, 0x02, 0x01, 0x05];
        let der = sign_embedded(&s, oid::SPC_INDIRECT_DATA, &content, vec![]).expect("sign");
        let msg = SignedMessage::from_der(&der).expect("parse");
        assert_eq!(
            msg.embedded_content().expect("content"),
            Some(content.to_vec())
        );
        msg.verify(None, s.certificate()).expect("verify");
        let e = msg.verify(Some(b"x"), s.certificate()).unwrap_err();
        assert!(
            matches!(e.pkcs7_problem(), Some(Pkcs7Problem::ContentTwice)),
            "{e}"
        );
        let e = msg.verify(None, signer("other").certificate()).unwrap_err();
        assert!(
            matches!(
                e.signature_failure(),
                Some(SignatureFailure::Untrusted { .. })
            ),
            "{e}"
        );
    }

    #[test]
    fn garbage_is_reported_as_not_pkcs7() {
        let e = SignedMessage::from_der(b"\x30\x03\x02\x01").unwrap_err();
        assert!(
            matches!(e.pkcs7_problem(), Some(Pkcs7Problem::NotSignedData { .. })),
            "{e}"
        );
    }
}
