use std::path::PathBuf;

use const_oid::ObjectIdentifier;

/// What went wrong with a key, a certificate or a signature.
///
/// Two variants say "the signature was checked and is wrong" ([`KeyError::BadSignature`],
/// see [`KeyError::is_bad_signature`]); every other one means "could not check", or that a
/// file or structure is unusable.
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
    /// A certificate file or structure holds no X.509 certificate.
    #[error("{what} is not a PEM or DER X.509 certificate")]
    BadCertificate {
        /// The file or the structure the certificate came from.
        what: String,
        /// What the parser said.
        #[source]
        source: CertificateParseError,
    },
    /// A key of an algorithm the boot chain cannot use.
    #[error(
        "{what} is a {algorithm:?} key; UEFI Secure Boot and stela need RSA (2048 to 4096 bits)"
    )]
    NotRsa {
        /// The file or key description.
        what: String,
        /// The algorithm found.
        algorithm: openssl::pkey::Id,
    },
    /// An RSA key of a size the boot chain cannot use.
    #[error("{what} is a {bits}-bit RSA key; UEFI Secure Boot and stela need 2048 to 4096 bits")]
    RsaKeySize {
        /// The file or key description.
        what: String,
        /// The modulus size found.
        bits: u32,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key {key} does not match the certificate {cert}")]
    KeyCertMismatch {
        /// The key file (or where the key came from).
        key: String,
        /// The certificate file (or its subject).
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
    #[error("{what}")]
    Der {
        /// What was being encoded or decoded.
        what: &'static str,
        /// The DER error.
        #[source]
        source: der::Error,
    },
    /// A JSON document (the verity signature partition) could not be encoded or decoded.
    #[error("{what}")]
    Json {
        /// What was being encoded or decoded.
        what: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A root hash given as text is not 64 hex digits.
    #[error("root hash {text:?} is not 64 hex digits (a SHA-256 verity root hash)")]
    BadRootHash {
        /// The text given.
        text: String,
    },
    /// A PKCS#7 message is malformed or of a shape stela does not accept.
    // The two details are boxed: they carry OIDs and DER errors, and a KeyError sits in
    // the Result of every signing call (and inside stela-efivars' errors).
    #[error("PKCS#7 signature: {0}")]
    Pkcs7(Box<Pkcs7Problem>),
    /// A signature was checked and does not verify.
    #[error("signature does not verify: {0}")]
    BadSignature(Box<SignatureFailure>),
}

/// Why a certificate did not parse: OpenSSL refused it, or the DER parser did.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateParseError {
    /// OpenSSL could not read it. Shown by OpenSSL's reasons only ("bad base64
    /// decode"): its full error text carries source file names and line numbers, which
    /// mean nothing to a user and change with every OpenSSL release.
    /// (Not a `source`: the chain would print the full text after the reasons.)
    #[error("{}", openssl_reasons(.0))]
    OpenSsl(openssl::error::ErrorStack),
    /// OpenSSL read it, the X.509 DER parser did not.
    #[error(transparent)]
    Der(#[from] der::Error),
}

/// A PKCS#7 message stela cannot check: its structure, or a choice it does not support.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs7Problem {
    /// The bytes are neither a DER `ContentInfo` nor a bare `SignedData`.
    #[error("not a DER PKCS#7 SignedData ({der})")]
    NotSignedData {
        /// The DER error of the `SignedData` parse.
        der: der::Error,
    },
    /// A `ContentInfo` of another type than `signedData`.
    #[error("content type is {content_type}, not signedData")]
    ContentType {
        /// The type found.
        content_type: ObjectIdentifier,
    },
    /// Not exactly one `SignerInfo`.
    #[error("{count} signers, expected exactly one")]
    SignerCount {
        /// How many there are.
        count: usize,
    },
    /// The digest algorithm is not SHA-256.
    #[error("digest algorithm {oid} is not SHA-256")]
    DigestAlgorithm {
        /// The algorithm found.
        oid: ObjectIdentifier,
    },
    /// The signature algorithm is not RSA.
    #[error("signature algorithm {oid} is not RSA")]
    SignatureAlgorithm {
        /// The algorithm found.
        oid: ObjectIdentifier,
    },
    /// The content is embedded and detached data was given as well.
    #[error("content is embedded, and detached data was also given")]
    ContentTwice,
    /// A detached signature was checked without the data.
    #[error("detached signature, but no data given to check it against")]
    NoContent,
    /// The signed attributes carry no `messageDigest`.
    #[error("signed attributes carry no messageDigest")]
    NoMessageDigest,
    /// A signed attribute does not decode as its type.
    #[error("the {attribute} attribute is not {expected} ({der})")]
    Attribute {
        /// The attribute (`messageDigest`, `contentType`).
        attribute: &'static str,
        /// The type it must have.
        expected: &'static str,
        /// The DER error.
        der: der::Error,
    },
    /// The signer is named by subject key identifier, not issuer and serial number.
    #[error("signer identified by key id; stela expects issuer and serial")]
    SignerKeyId,
    /// A text field holding the DER signature is not base64.
    #[error("{field} field is not base64 ({error})")]
    Base64 {
        /// The field.
        field: &'static str,
        /// What the decoder said.
        error: base64::DecodeError,
    },
}

/// How a checked signature failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureFailure {
    /// The RSA signature does not match the signed bytes.
    #[error("the RSA signature by {signer} does not match the signed data")]
    Rsa {
        /// The signer's subject.
        signer: String,
    },
    /// The signer is neither the trusted certificate nor issued by it.
    #[error(
        "the signer {signer} is not the trusted certificate {trusted} and was not issued by it"
    )]
    Untrusted {
        /// The signer's subject.
        signer: String,
        /// The trusted certificate's subject.
        trusted: String,
    },
    /// No certificate matches the signer's issuer and serial number.
    #[error("the signer (serial {serial}) is neither the trusted certificate {trusted} nor carried in the message")]
    SignerNotFound {
        /// The signer's serial number, hex.
        serial: String,
        /// The trusted certificate's subject.
        trusted: String,
    },
    /// The signed `messageDigest` is not the digest of the content.
    #[error("messageDigest {signed} does not match the content's SHA-256 {computed}")]
    MessageDigest {
        /// The signed digest, hex.
        signed: String,
        /// The content's digest, hex.
        computed: String,
    },
    /// The signed `contentType` is not the type of the content.
    #[error("signed contentType {signed} differs from the content's type {content}")]
    ContentType {
        /// The signed type.
        signed: ObjectIdentifier,
        /// The content's type.
        content: ObjectIdentifier,
    },
    /// A verity signature document names another certificate than the signer's.
    #[error("certificateFingerprint {document} does not name the signing certificate {signer}")]
    Fingerprint {
        /// The document's fingerprint.
        document: String,
        /// The signer's fingerprint, hex.
        signer: String,
    },
}

impl KeyError {
    pub(crate) fn crypto(
        operation: &'static str,
    ) -> impl FnOnce(openssl::error::ErrorStack) -> Self {
        move |source| KeyError::Crypto { operation, source }
    }

    pub(crate) fn der(what: &'static str) -> impl FnOnce(der::Error) -> Self {
        move |source| KeyError::Der { what, source }
    }

    pub(crate) fn pkcs7(problem: Pkcs7Problem) -> Self {
        KeyError::Pkcs7(Box::new(problem))
    }

    pub(crate) fn bad_signature(failure: SignatureFailure) -> Self {
        KeyError::BadSignature(Box::new(failure))
    }

    /// True if this error means "checked, and the signature is not good" rather than
    /// "could not check".
    pub fn is_bad_signature(&self) -> bool {
        matches!(self, KeyError::BadSignature(_))
    }

    /// The problem of a message stela cannot check ([`KeyError::Pkcs7`]).
    pub fn pkcs7_problem(&self) -> Option<&Pkcs7Problem> {
        match self {
            KeyError::Pkcs7(p) => Some(p),
            _ => None,
        }
    }

    /// How a checked signature failed ([`KeyError::BadSignature`]).
    pub fn signature_failure(&self) -> Option<&SignatureFailure> {
        match self {
            KeyError::BadSignature(f) => Some(f),
            _ => None,
        }
    }
}

impl From<openssl::error::ErrorStack> for CertificateParseError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        CertificateParseError::OpenSsl(e)
    }
}

/// OpenSSL's reasons for an error, without repeats, joined with "; ".
pub(crate) fn openssl_reasons(stack: &openssl::error::ErrorStack) -> String {
    let mut reasons: Vec<&str> = Vec::new();
    for e in stack.errors() {
        let r = e.reason().unwrap_or("unknown error");
        if !reasons.contains(&r) {
            reasons.push(r);
        }
    }
    if reasons.is_empty() {
        "OpenSSL gave no reason".to_owned()
    } else {
        reasons.join("; ")
    }
}
