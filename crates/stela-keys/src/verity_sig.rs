//! Signed dm-verity root hashes.
//!
//! The kernel checks a PKCS#7 detached signature over the root hash *as the lowercase hex
//! string of the verity table*, with no newline (`drivers/md/dm-verity-verify-sig.c`).
//! The UAPI Discoverable Partitions Specification stores the same signature in a
//! `*-verity-sig` partition as a JSON object with the fields `rootHash` (hex),
//! `certificateFingerprint` (hex SHA-256 of the DER certificate) and `signature`
//! (base64 of the DER PKCS#7), NUL-padded to a multiple of 4096 bytes.

use base64::Engine;
use serde::{Deserialize, Serialize};
pub use stela_verity::RootHash;

use crate::pkcs7::{self, CertificateInclusion, SignedMessage};
use crate::{Certificate, KeyError, Pkcs7Problem, SignatureFailure, Signer};

/// The size the specification pads a verity signature partition to a multiple of.
pub const SIGNATURE_PARTITION_ALIGNMENT: usize = 4096;

/// The JSON document of a Discoverable Partitions Specification verity signature
/// partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VeritySignatureDocument {
    /// The root hash; written as lowercase hex, read as 64 hex digits of either case.
    #[serde(rename = "rootHash", with = "root_hash_hex")]
    pub root_hash: RootHash,
    /// SHA-256 of the DER signing certificate, lowercase hex.
    #[serde(rename = "certificateFingerprint")]
    pub certificate_fingerprint: String,
    /// The DER PKCS#7 detached signature over `rootHash`, base64.
    pub signature: String,
}

/// Sign a root hash for the kernel: returns the DER PKCS#7 detached signature.
///
/// The certificate is left out by default, which keeps the signature short enough for
/// `systemd.verity_usr_options=root-hash-signature=base64:...` on the kernel command line.
pub fn sign_root_hash(
    signer: &dyn Signer,
    root_hash: &RootHash,
    certs: CertificateInclusion,
) -> Result<Vec<u8>, KeyError> {
    pkcs7::sign_detached(signer, signed_text(root_hash).as_bytes(), certs)
}

/// What the kernel verifies the signature over: the lowercase hex of the root hash.
fn signed_text(root_hash: &RootHash) -> String {
    root_hash.to_string()
}

/// Parse a root hash given as text (a command-line argument, a file's line): 64 hex
/// digits, either case, surrounding white space ignored.
pub fn parse_root_hash(text: &str) -> Result<RootHash, KeyError> {
    let t = text.trim();
    t.parse()
        .map_err(|_| KeyError::BadRootHash { text: t.to_owned() })
}

/// `rootHash` as JSON text; stela_verity stays free of serde.
mod root_hash_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::RootHash;

    pub fn serialize<S: Serializer>(hash: &RootHash, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(hash)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<RootHash, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_root_hash(&text).map_err(serde::de::Error::custom)
    }
}

impl VeritySignatureDocument {
    /// Build the document for a signature made by [`sign_root_hash`].
    pub fn new(root_hash: &RootHash, cert: &Certificate, signature_der: &[u8]) -> Self {
        Self {
            root_hash: *root_hash,
            certificate_fingerprint: hex::encode(cert.sha256_fingerprint()),
            signature: base64::engine::general_purpose::STANDARD.encode(signature_der),
        }
    }

    /// The partition content: compact JSON, NUL-padded to a multiple of 4096 bytes.
    pub fn to_partition_bytes(&self) -> Result<Vec<u8>, KeyError> {
        let mut bytes = serde_json::to_vec(self).map_err(|source| KeyError::Json {
            what: "encoding the verity signature JSON",
            source,
        })?;
        bytes.push(b'\n');
        let padded =
            bytes.len().div_ceil(SIGNATURE_PARTITION_ALIGNMENT) * SIGNATURE_PARTITION_ALIGNMENT;
        bytes.resize(padded, 0);
        Ok(bytes)
    }

    /// Parse partition content (JSON followed by NUL padding).
    pub fn from_partition_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        serde_json::from_slice(&bytes[..end]).map_err(|source| KeyError::Json {
            what: "parsing the verity signature JSON",
            source,
        })
    }

    /// Check the document against a trusted certificate: the fingerprint names it (or a
    /// certificate it issued) and the signature verifies over `rootHash`.
    pub fn verify(&self, trusted: &Certificate) -> Result<(), KeyError> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(self.signature.trim())
            .map_err(|error| {
                KeyError::pkcs7(Pkcs7Problem::Base64 {
                    field: "signature",
                    error,
                })
            })?;
        let verified = SignedMessage::from_der(&der)?
            .verify(Some(signed_text(&self.root_hash).as_bytes()), trusted)?;
        let fingerprint = hex::encode(verified.signer.sha256_fingerprint());
        if !self
            .certificate_fingerprint
            .eq_ignore_ascii_case(&fingerprint)
        {
            return Err(KeyError::bad_signature(SignatureFailure::Fingerprint {
                document: self.certificate_fingerprint.clone(),
                signer: fingerprint,
            }));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CertificateProfile, FileSigner};

    #[test]
    fn document_round_trips_through_partition_bytes_and_verifies() {
        let s = FileSigner::generate_self_signed(&CertificateProfile {
            common_name: "db".into(),
            validity_days: 1,
            ca: false,
        })
        .expect("key");
        let root = parse_root_hash(&"AB".repeat(32)).expect("hash");
        assert_eq!(root.to_string(), "ab".repeat(32));
        let sig = sign_root_hash(&s, &root, CertificateInclusion::Omit).expect("sign");
        let doc = VeritySignatureDocument::new(&root, s.certificate(), &sig);
        let bytes = doc.to_partition_bytes().expect("bytes");
        assert_eq!(bytes.len() % 4096, 0);
        let back = VeritySignatureDocument::from_partition_bytes(&bytes).expect("parse");
        assert_eq!(back, doc);
        back.verify(s.certificate()).expect("verify");
        let mut forged = back.clone();
        forged.root_hash = RootHash::from_bytes([0xcd; 32]);
        let e = forged.verify(s.certificate()).unwrap_err();
        assert!(
            matches!(e.signature_failure(), Some(SignatureFailure::Rsa { .. })),
            "{e}"
        );
    }

    #[test]
    fn root_hash_text_rejects_bad_input() {
        for bad in ["abc".to_owned(), "zz".repeat(32)] {
            let e = parse_root_hash(&bad).unwrap_err();
            assert!(
                matches!(&e, KeyError::BadRootHash { text } if *text == bad),
                "{e}"
            );
            assert!(e.to_string().contains("is not 64 hex digits"), "{e}");
        }
        assert_eq!(
            parse_root_hash(&format!(" {}\n", "Ab".repeat(32)))
                .expect("trimmed")
                .to_string(),
            "ab".repeat(32)
        );
    }

    #[test]
    fn a_document_with_a_bad_root_hash_does_not_parse() {
        let json = br#"{"rootHash":"12ab","certificateFingerprint":"00","signature":""}"#;
        let err = VeritySignatureDocument::from_partition_bytes(json).unwrap_err();
        assert!(matches!(err, KeyError::Json { .. }), "{err}");
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert!(
            cause
                .as_deref()
                .unwrap_or_default()
                .contains("is not 64 hex digits"),
            "{cause:?}"
        );
    }
}
