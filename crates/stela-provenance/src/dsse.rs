//! DSSE envelopes (Dead Simple Signing Envelope, v1).

use base64::Engine;
use serde::{Deserialize, Serialize};
use stela_keys::{Certificate, Signer};

use crate::ProvenanceError;

/// The payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// DSSE's pre-authentication encoding of a payload: what is signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// The signing certificate's SHA-256 fingerprint, hex.
    pub keyid: String,
    /// The signature, base64.
    pub sig: String,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// The payload, base64.
    pub payload: String,
    /// Its type.
    pub payload_type: String,
    /// Its signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

impl Envelope {
    /// `payload` of `payload_type`, signed by `signer`.
    pub fn sign(
        payload_type: &str,
        payload: &[u8],
        signer: &dyn Signer,
    ) -> Result<Envelope, ProvenanceError> {
        let sig = signer.sign_sha256(&pae(payload_type, payload))?;
        Ok(Envelope {
            payload: b64().encode(payload),
            payload_type: payload_type.to_owned(),
            signatures: vec![EnvelopeSignature {
                keyid: hex::encode(signer.certificate().sha256_fingerprint()),
                sig: b64().encode(sig),
            }],
        })
    }

    /// The payload, decoded.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, String> {
        b64()
            .decode(&self.payload)
            .map_err(|e| format!("payload is not base64: {e}"))
    }

    /// Whether a signature verifies with `cert`'s public key.
    pub fn verified_by(&self, cert: &Certificate) -> Result<bool, String> {
        let payload = self.payload_bytes()?;
        let message = pae(&self.payload_type, &payload);
        for s in &self.signatures {
            let Ok(sig) = b64().decode(&s.sig) else {
                continue;
            };
            if cert
                .verifies_sha256(&message, &sig)
                .map_err(|e| e.to_string())?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_dsse_s() {
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
        );
    }
}
