use std::path::Path;

use openssl::hash::MessageDigest;

use crate::{Certificate, KeyError, PrivateKey};

/// Something that makes RSA PKCS#1 v1.5 signatures with SHA-256 for one certificate.
///
/// A key file is one implementation ([`FileSigner`]); a hardware security module is
/// another. The PKCS#7 builders only need this.
pub trait Signer: Send + Sync {
    /// The certificate of the signing key.
    fn certificate(&self) -> &Certificate;

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `data` (the signer does the hashing).
    fn sign_sha256(&self, data: &[u8]) -> Result<Vec<u8>, KeyError>;
}

/// A private key held in memory with its certificate.
#[derive(Debug)]
pub struct FileSigner {
    key: PrivateKey,
    cert: Certificate,
}

impl FileSigner {
    /// Pair a key with its certificate, checking they belong together.
    pub fn new(key: PrivateKey, cert: Certificate) -> Result<Self, KeyError> {
        let public = cert
            .openssl()
            .public_key()
            .map_err(KeyError::crypto("reading a certificate's public key"))?;
        if !public.public_eq(key.pkey()) {
            return Err(KeyError::KeyCertMismatch {
                key: key.origin().to_owned(),
                cert: cert.subject(),
            });
        }
        Ok(Self { key, cert })
    }

    /// Load a key file (PEM or DER) and a certificate file (PEM or DER).
    pub fn load(key_path: &Path, cert_path: &Path) -> Result<Self, KeyError> {
        let key = PrivateKey::from_file(key_path)?;
        let cert = Certificate::from_file(cert_path)?;
        Self::new(key, cert).map_err(|e| match e {
            KeyError::KeyCertMismatch { .. } => KeyError::KeyCertMismatch {
                key: key_path.display().to_string(),
                cert: cert_path.display().to_string(),
            },
            other => other,
        })
    }

    /// The private key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }
}

impl Signer for FileSigner {
    fn certificate(&self) -> &Certificate {
        &self.cert
    }

    fn sign_sha256(&self, data: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut signer = openssl::sign::Signer::new(MessageDigest::sha256(), self.key.pkey())
            .map_err(KeyError::crypto("starting an RSA signature"))?;
        signer
            .update(data)
            .map_err(KeyError::crypto("hashing data to sign"))?;
        signer
            .sign_to_vec()
            .map_err(KeyError::crypto("making an RSA signature"))
    }
}
