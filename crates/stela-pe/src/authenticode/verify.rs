//! Verifying the Authenticode signatures of a PE image against a trusted certificate.

use der::{Decode, Reader};
use stela_keys::pkcs7::SignedMessage;
use stela_keys::{oid, Certificate};

use super::asn1::SpcIndirectDataContent;
use super::image_digest;
use crate::format as f;
use crate::image::WinCertificate;
use crate::{PeError, PeImage};

/// What checking one signature found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// The signature covers this image and was made by the trusted key (or one it issued).
    Verified {
        /// The signer's subject.
        signer: String,
    },
    /// The signature was checked and does not hold: the image changed after signing, or
    /// another key signed it.
    Bad {
        /// Why, in one line.
        reason: String,
    },
    /// The signature cannot be checked: malformed, or of a kind stela does not handle.
    CannotCheck {
        /// Why, in one line.
        reason: String,
    },
}

/// One attribute certificate entry and its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureReport {
    /// File offset of the `WIN_CERTIFICATE`.
    pub offset: usize,
    /// The image digest the signature carries, if it could be read.
    pub signed_digest: Option<Vec<u8>>,
    /// The outcome.
    pub status: SignatureStatus,
}

/// The answer for the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// At least one signature verified.
    Verified {
        /// The subject of the first signer that verified.
        signer: String,
    },
    /// The image carries no signature.
    Unsigned,
    /// No signature verified and at least one was checked and found bad.
    Bad {
        /// The first bad signature's reason.
        reason: String,
    },
    /// No signature could be checked.
    CannotCheck {
        /// The first signature's reason.
        reason: String,
    },
}

/// Everything [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The Authenticode SHA-256 digest recomputed from the image.
    pub digest: [u8; 32],
    /// One report per `WIN_CERTIFICATE`, in file order.
    pub signatures: Vec<SignatureReport>,
}

impl VerifyReport {
    /// Sum the signatures up: one good signature is enough (as for UEFI `db`).
    pub fn verdict(&self) -> Verdict {
        let mut bad = None;
        let mut unknown = None;
        for s in &self.signatures {
            match &s.status {
                SignatureStatus::Verified { signer } => {
                    return Verdict::Verified {
                        signer: signer.clone(),
                    }
                }
                SignatureStatus::Bad { reason } => {
                    bad.get_or_insert_with(|| reason.clone());
                }
                SignatureStatus::CannotCheck { reason } => {
                    unknown.get_or_insert_with(|| reason.clone());
                }
            }
        }
        match (bad, unknown) {
            (Some(reason), _) => Verdict::Bad { reason },
            (None, Some(reason)) => Verdict::CannotCheck { reason },
            (None, None) => Verdict::Unsigned,
        }
    }
}

/// Check every Authenticode signature of the PE image `data` (named `file` in errors)
/// against `trusted`.
///
/// A file whose headers or certificate table are malformed is an error: nothing can be
/// said about it. Problems of a single signature are reported in its [`SignatureStatus`].
pub fn verify(file: &str, data: &[u8], trusted: &Certificate) -> Result<VerifyReport, PeError> {
    let image = PeImage::parse(file, data)?;
    let digest = image_digest(&image);
    let signatures = image
        .certificates()?
        .iter()
        .map(|c| check_one(c, &digest, trusted))
        .collect();
    Ok(VerifyReport { digest, signatures })
}

fn check_one(
    cert: &WinCertificate<'_>,
    digest: &[u8; 32],
    trusted: &Certificate,
) -> SignatureReport {
    let mut report = SignatureReport {
        offset: cert.offset,
        signed_digest: None,
        status: SignatureStatus::CannotCheck {
            reason: String::new(),
        },
    };
    report.status = match check_status(cert, digest, trusted, &mut report.signed_digest) {
        Ok(status) | Err(status) => status,
    };
    report
}

fn cannot(reason: impl Into<String>) -> SignatureStatus {
    SignatureStatus::CannotCheck {
        reason: reason.into(),
    }
}

fn check_status(
    cert: &WinCertificate<'_>,
    digest: &[u8; 32],
    trusted: &Certificate,
    signed_digest: &mut Option<Vec<u8>>,
) -> Result<SignatureStatus, SignatureStatus> {
    if cert.revision != f::WIN_CERT_REVISION_2_0 {
        return Err(cannot(format!(
            "WIN_CERTIFICATE revision {:#06x}, not 2.0",
            cert.revision
        )));
    }
    if cert.certificate_type != f::WIN_CERT_TYPE_PKCS_SIGNED_DATA {
        return Err(cannot(format!(
            "WIN_CERTIFICATE type {:#06x}, not PKCS_SIGNED_DATA",
            cert.certificate_type
        )));
    }
    let der = der_prefix(cert.data)
        .map_err(|e| cannot(format!("the certificate data is not DER ({e})")))?;
    let msg = SignedMessage::from_der(der).map_err(|e| cannot(e.to_string()))?;
    if msg.content_type() != oid::SPC_INDIRECT_DATA {
        return Err(cannot(format!(
            "content type {}, not SpcIndirectDataContent",
            msg.content_type()
        )));
    }
    let content = msg
        .embedded_content()
        .map_err(|e| cannot(e.to_string()))?
        .ok_or_else(|| cannot("no embedded SpcIndirectDataContent"))?;
    let indirect = SpcIndirectDataContent::from_der(&content)
        .map_err(|e| cannot(format!("SpcIndirectDataContent: {e}")))?;
    if indirect.data.value_type != oid::SPC_PE_IMAGE_DATA {
        return Err(cannot(format!(
            "signed data of type {}, not a PE image",
            indirect.data.value_type
        )));
    }
    let alg = indirect.message_digest.digest_algorithm.oid;
    if alg != oid::SHA256 {
        return Err(cannot(format!(
            "image digest algorithm {alg}; stela checks SHA-256 only"
        )));
    }
    let signed = indirect.message_digest.digest.as_bytes();
    *signed_digest = Some(signed.to_vec());
    if signed != digest {
        return Err(SignatureStatus::Bad {
            reason: format!(
                "the image was modified after it was signed: digest {}, signed {}",
                hex::encode(digest),
                hex::encode(signed)
            ),
        });
    }
    match msg.verify(None, trusted) {
        Ok(v) => Ok(SignatureStatus::Verified {
            signer: v.signer.subject(),
        }),
        Err(e) if e.is_bad_signature() => Err(SignatureStatus::Bad {
            reason: e.to_string(),
        }),
        Err(e) => Err(cannot(e.to_string())),
    }
}

/// The first DER element of `data`: `bCertificate` may end in alignment padding.
pub(super) fn der_prefix(data: &[u8]) -> der::Result<&[u8]> {
    let mut reader = der::SliceReader::new(data)?;
    let header = der::Header::decode(&mut reader)?;
    // Reading the value checks that it lies inside the data.
    reader.read_slice(header.length)?;
    let total = usize::try_from(reader.position())?;
    Ok(&data[..total])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticode::sign;
    use crate::image::PeKind;
    use crate::testpe::minimal_pe;
    use stela_keys::{CertificateProfile, FileSigner, Signer};

    fn signer(cn: &str) -> FileSigner {
        FileSigner::generate_self_signed(&CertificateProfile {
            common_name: cn.into(),
            validity_days: 10,
            ca: false,
        })
        .expect("generate key")
    }

    #[test]
    fn sign_verify_round_trip_and_every_way_to_fail() {
        let db = signer("db");
        let other = signer("other");
        let mut unsigned = minimal_pe(PeKind::Pe32);
        unsigned.extend_from_slice(b"odd"); // not 8-aligned: signing pads it
        let signed = sign("t.efi", &unsigned, &db).expect("sign");
        assert_eq!(signed.replaced, 0);
        assert_eq!(signed.bytes.len() % 8, 0);

        let report = verify("t.efi", &signed.bytes, db.certificate()).expect("verify");
        assert_eq!(report.digest, signed.digest);
        assert_eq!(report.signatures.len(), 1);
        assert_eq!(
            report.verdict(),
            Verdict::Verified {
                signer: "CN=db".into()
            }
        );

        let mut flipped = signed.bytes.clone();
        flipped[0x210] ^= 0x80;
        let v = verify("t.efi", &flipped, db.certificate())
            .expect("verify")
            .verdict();
        assert!(
            matches!(&v, Verdict::Bad { reason } if reason.starts_with("the image was modified after it was signed: digest ")),
            "{v:?}"
        );

        let v = verify("t.efi", &signed.bytes, other.certificate())
            .expect("verify")
            .verdict();
        assert!(matches!(v, Verdict::Bad { .. }), "{v:?}");

        let v = verify("t.efi", &unsigned, db.certificate())
            .expect("verify")
            .verdict();
        assert_eq!(v, Verdict::Unsigned);

        // Re-signing replaces: still one signature, now by the other key.
        let again = sign("t.efi", &signed.bytes, &other).expect("sign");
        assert_eq!(again.replaced, 1);
        assert_eq!(again.digest, signed.digest);
        let report = verify("t.efi", &again.bytes, other.certificate()).expect("verify");
        assert_eq!(report.signatures.len(), 1);
        assert!(matches!(report.verdict(), Verdict::Verified { .. }));

        // Garbage in the certificate: cannot check (not "bad").
        let mut garbage = signed.bytes.clone();
        let table = PeImage::parse("t", &garbage)
            .expect("parse")
            .certificate_table()
            .expect("table");
        garbage[table.offset as usize + 8] = 0x04;
        let v = verify("t.efi", &garbage, db.certificate())
            .expect("verify")
            .verdict();
        assert!(matches!(v, Verdict::CannotCheck { .. }), "{v:?}");
    }
}
