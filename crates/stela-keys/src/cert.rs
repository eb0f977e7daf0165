use std::path::Path;

use der::Decode;
use openssl::x509::X509;

use crate::KeyError;

/// An X.509 certificate, kept both as its DER bytes and in parsed form.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    x509: X509,
    parsed: x509_cert::Certificate,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject())
            .field("sha256", &hex::encode(self.sha256_fingerprint()))
            .finish()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

impl Certificate {
    /// Read a certificate from a PEM or DER file.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let bytes = stela_limits::read(path, stela_limits::CERTIFICATE).map_err(|source| {
            KeyError::Read {
                path: path.to_owned(),
                source,
            }
        })?;
        Self::from_pem_or_der(&bytes, &path.display().to_string())
    }

    /// Parse a PEM or DER certificate; `what` names its origin in errors.
    pub fn from_pem_or_der(bytes: &[u8], what: &str) -> Result<Self, KeyError> {
        let x509 = if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            X509::from_pem(bytes)
        } else {
            X509::from_der(bytes)
        }
        .map_err(|e| KeyError::BadCertificate {
            what: what.to_owned(),
            source: e.into(),
        })?;
        let der = x509
            .to_der()
            .map_err(KeyError::crypto("encoding a certificate"))?;
        Self::from_parts(der, x509, what)
    }

    /// Parse a DER certificate; `what` names its origin in errors.
    pub fn from_der(der: &[u8], what: &str) -> Result<Self, KeyError> {
        let x509 = X509::from_der(der).map_err(|e| KeyError::BadCertificate {
            what: what.to_owned(),
            source: e.into(),
        })?;
        Self::from_parts(der.to_vec(), x509, what)
    }

    pub(crate) fn from_openssl(x509: X509) -> Result<Self, KeyError> {
        let der = x509
            .to_der()
            .map_err(KeyError::crypto("encoding a certificate"))?;
        Self::from_parts(der, x509, "a new certificate")
    }

    fn from_parts(der: Vec<u8>, x509: X509, what: &str) -> Result<Self, KeyError> {
        let parsed =
            x509_cert::Certificate::from_der(&der).map_err(|e| KeyError::BadCertificate {
                what: what.to_owned(),
                source: e.into(),
            })?;
        Ok(Self { der, x509, parsed })
    }

    /// The DER encoding.
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// The PEM encoding.
    pub fn to_pem(&self) -> Result<Vec<u8>, KeyError> {
        self.x509
            .to_pem()
            .map_err(KeyError::crypto("encoding a certificate as PEM"))
    }

    /// SHA-256 over the DER encoding: the certificate fingerprint that the
    /// Discoverable Partitions Specification's `certificateFingerprint` holds.
    pub fn sha256_fingerprint(&self) -> [u8; 32] {
        crate::sha256(&self.der)
    }

    /// The subject as OpenSSL prints it in one line, e.g. `CN=stela db`.
    pub fn subject(&self) -> String {
        self.x509
            .subject_name()
            .entries()
            .map(|e| {
                let key = e.object().nid().short_name().unwrap_or("?");
                let value = e.data().to_string().unwrap_or_else(|_| "?".to_owned());
                format!("{key}={value}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The start of the validity period (`notBefore`).
    pub fn not_before(&self) -> std::time::SystemTime {
        self.parsed
            .tbs_certificate
            .validity
            .not_before
            .to_system_time()
    }

    /// The end of the validity period (`notAfter`).
    pub fn not_after(&self) -> std::time::SystemTime {
        self.parsed
            .tbs_certificate
            .validity
            .not_after
            .to_system_time()
    }

    /// True if `self` was signed by `issuer`'s key (or is `issuer`).
    pub fn is_issued_by(&self, issuer: &Certificate) -> bool {
        if self == issuer {
            return true;
        }
        match issuer.x509.public_key() {
            Ok(key) => self.x509.verify(&key).unwrap_or(false),
            Err(_) => false,
        }
    }

    /// Whether `signature` is this certificate's key's RSA PKCS#1 v1.5 signature with
    /// SHA-256 over `data` (what [`crate::Signer::sign_sha256`] makes).
    pub fn verifies_sha256(&self, data: &[u8], signature: &[u8]) -> Result<bool, KeyError> {
        let key = self
            .x509
            .public_key()
            .map_err(KeyError::crypto("reading a certificate's public key"))?;
        let mut v = openssl::sign::Verifier::new(openssl::hash::MessageDigest::sha256(), &key)
            .map_err(KeyError::crypto("starting a signature check"))?;
        v.update(data)
            .map_err(KeyError::crypto("hashing signed data"))?;
        // A malformed signature is a signature that does not verify.
        Ok(v.verify(signature).unwrap_or(false))
    }

    pub(crate) fn openssl(&self) -> &X509 {
        &self.x509
    }

    pub(crate) fn parsed(&self) -> &x509_cert::Certificate {
        &self.parsed
    }
}
