use std::path::Path;

use openssl::pkey::{Id, PKey, Private};

use crate::KeyError;

/// An RSA private key held in memory (from a file, or freshly generated).
pub struct PrivateKey {
    pkey: PKey<Private>,
    origin: String,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("PrivateKey")
            .field("origin", &self.origin)
            .field("bits", &self.pkey.bits())
            .finish()
    }
}

impl PrivateKey {
    /// Read a private key from a PEM (PKCS#8 or PKCS#1 "RSA PRIVATE KEY") or DER file.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let bytes = stela_limits::read(path, stela_limits::CERTIFICATE).map_err(|source| {
            KeyError::Read {
                path: path.to_owned(),
                source,
            }
        })?;
        let pkey = if bytes.starts_with(b"-----") || bytes.windows(5).any(|w| w == b"-----") {
            PKey::private_key_from_pem(&bytes)
        } else {
            PKey::private_key_from_der(&bytes)
        }
        .map_err(|source| KeyError::BadPrivateKey {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pkey(pkey, path.display().to_string())
    }

    /// Generate a new RSA key of `bits` bits.
    pub fn generate_rsa(bits: u32) -> Result<Self, KeyError> {
        let rsa =
            openssl::rsa::Rsa::generate(bits).map_err(KeyError::crypto("generating an RSA key"))?;
        let pkey = PKey::from_rsa(rsa).map_err(KeyError::crypto("wrapping an RSA key"))?;
        Self::from_pkey(pkey, format!("a new {bits}-bit RSA key"))
    }

    fn from_pkey(pkey: PKey<Private>, origin: String) -> Result<Self, KeyError> {
        if pkey.id() != Id::RSA {
            return Err(KeyError::NotRsa {
                what: origin,
                algorithm: pkey.id(),
            });
        }
        if !(2048..=4096).contains(&pkey.bits()) {
            return Err(KeyError::RsaKeySize {
                what: origin,
                bits: pkey.bits(),
            });
        }
        Ok(Self { pkey, origin })
    }

    /// Where the key came from, for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The key as PKCS#8 PEM, to store it in a file.
    pub fn to_pkcs8_pem(&self) -> Result<Vec<u8>, KeyError> {
        self.pkey
            .private_key_to_pem_pkcs8()
            .map_err(KeyError::crypto("encoding a private key as PKCS#8"))
    }

    pub(crate) fn pkey(&self) -> &PKey<Private> {
        &self.pkey
    }
}
