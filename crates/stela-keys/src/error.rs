use std::path::PathBuf;

/// What went wrong with a key, a certificate or a signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A file could not be read.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A private key file holds no key stela can parse.
    #[error("{path} is not a PEM or DER private key (PKCS#8 or PKCS#1)")]
    BadPrivateKey {
        /// The file.
        path: PathBuf,
        /// What OpenSSL said.
        #[source]
        source: openssl::error::ErrorStack,
    },
    /// A certificate file holds no X.509 certificate.
    #[error("{what} is not a PEM or DER X.509 certificate")]
    BadCertificate {
        /// The file or the structure the certificate came from.
        what: String,
        /// What the parser said.
        detail: String,
    },
    /// A key of a type the boot chain cannot use.
    #[error("{what} is a {kind} key; UEFI Secure Boot and stela need RSA (2048 to 4096 bits)")]
    UnsupportedKey {
        /// The file or key description.
        what: String,
        /// The key type found.
        kind: String,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key {key} does not match the certificate {cert}")]
    KeyCertMismatch {
        /// The key file.
        key: String,
        /// The certificate file.
        cert: String,
    },
    /// An OpenSSL operation failed.
    #[error("{operation}")]
    Crypto {
        /// What stela was doing.
        operation: &'static str,
        /// What OpenSSL said.
        #[source]
        source: openssl::error::ErrorStack,
    },
    /// A DER structure could not be encoded or decoded.
    #[error("{what}: {detail}")]
    Der {
        /// What was being encoded or decoded.
        what: &'static str,
        /// The DER error.
        detail: String,
    },
    /// A PKCS#7 message is malformed or of a shape stela does not accept.
    #[error("PKCS#7 signature: {0}")]
    Pkcs7(String),
    /// A signature was checked and does not verify.
    #[error("signature does not verify: {0}")]
    BadSignature(String),
}

impl KeyError {
    pub(crate) fn crypto(
        operation: &'static str,
    ) -> impl FnOnce(openssl::error::ErrorStack) -> Self {
        move |source| KeyError::Crypto { operation, source }
    }

    pub(crate) fn der(what: &'static str) -> impl FnOnce(der::Error) -> Self {
        move |e| KeyError::Der {
            what,
            detail: e.to_string(),
        }
    }

    /// True if this error means "checked, and the signature is not good" rather than
    /// "could not check".
    pub fn is_bad_signature(&self) -> bool {
        matches!(self, KeyError::BadSignature(_))
    }
}
