//! Who an image's first signature says signed it, without checking the signature: what
//! a listing shows when there is no certificate to check against.

use stela_keys::pkcs7::SignedMessage;

use super::verify::der_prefix;
use crate::format as f;
use crate::{PeError, PeImage};

/// What the first `WIN_CERTIFICATE` of an image claims about its signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimedSigner {
    /// The image has no attribute certificate.
    Unsigned,
    /// The subject of the carried certificate the first signature names as its signer.
    Subject(String),
    /// The first entry is not a PKCS#7 signature that names a carried certificate.
    Unreadable {
        /// Why, in one line.
        reason: String,
    },
}

/// Who the first signature of the PE image `data` (named `file` in errors) says signed
/// it. Nothing is verified: a forged signature names whom it likes.
///
/// A file whose headers or certificate table are malformed is an error, as for
/// [`super::verify`]; a single unreadable signature is [`ClaimedSigner::Unreadable`].
pub fn claimed_signer(file: &str, data: &[u8]) -> Result<ClaimedSigner, PeError> {
    let image = PeImage::parse(file, data)?;
    let certs = image.certificates()?;
    let Some(first) = certs.first() else {
        return Ok(ClaimedSigner::Unsigned);
    };
    let unreadable = |reason: String| Ok(ClaimedSigner::Unreadable { reason });
    if first.certificate_type != f::WIN_CERT_TYPE_PKCS_SIGNED_DATA {
        return unreadable(format!(
            "WIN_CERTIFICATE type {:#06x}, not PKCS_SIGNED_DATA",
            first.certificate_type
        ));
    }
    let der = match der_prefix(first.data) {
        Ok(der) => der,
        Err(e) => return unreadable(format!("the certificate data is not DER ({e})")),
    };
    match SignedMessage::from_der(der).and_then(|m| m.claimed_signer()) {
        Ok(Some(cert)) => Ok(ClaimedSigner::Subject(cert.subject())),
        Ok(None) => unreadable("the signer's certificate is not carried".into()),
        Err(e) => unreadable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authenticode::sign;
    use crate::image::PeKind;
    use crate::testpe::minimal_pe;
    use stela_keys::{CertificateProfile, FileSigner};

    #[test]
    fn names_the_signer_of_a_signed_image_and_nothing_else() {
        let db = FileSigner::generate_self_signed(&CertificateProfile {
            common_name: "claimed db".into(),
            validity_days: 10,
            ca: false,
        })
        .expect("key");
        let unsigned = minimal_pe(PeKind::Pe32Plus);
        assert_eq!(
            claimed_signer("t.efi", &unsigned).expect("read"),
            ClaimedSigner::Unsigned
        );
        let signed = sign("t.efi", &unsigned, &db).expect("sign").bytes;
        assert_eq!(
            claimed_signer("t.efi", &signed).expect("read"),
            ClaimedSigner::Subject("CN=claimed db".into())
        );

        let table = PeImage::parse("t", &signed)
            .expect("parse")
            .certificate_table()
            .expect("table");
        let mut garbage = signed.clone();
        garbage[table.offset as usize + 8] = 0x04;
        assert!(matches!(
            claimed_signer("t.efi", &garbage).expect("read"),
            ClaimedSigner::Unreadable { .. }
        ));

        let err = claimed_signer("t.efi", b"not a PE image").unwrap_err();
        assert!(
            matches!(err, PeError::NotMz { .. } | PeError::Truncated { .. }),
            "{err}"
        );
    }
}
