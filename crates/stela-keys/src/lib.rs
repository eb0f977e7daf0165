//! Signing keys, X.509 certificates and the PKCS#7 signatures of stela's boot chain.
//!
//! Every signature in the chain is a PKCS#7 (RFC 2315) `SignedData` made with RSA and
//! SHA-256 by a key whose certificate sits in UEFI `db` (or higher up, PK and KEK):
//!
//! - the dm-verity root hash: a detached signature over the lowercase hex root hash, no
//!   signed attributes, as the kernel's `dm-verity` `root_hash_sig_key_desc` and
//!   `veritysetup --root-hash-signature` expect it ([`pkcs7::sign_detached`]);
//! - UEFI authenticated variables (`PK.auth`, `KEK.auth`, `db.auth`): detached over the
//!   serialized variable, the same shape;
//! - Authenticode: the content is embedded (`SpcIndirectDataContent`) and signed
//!   attributes carry its digest ([`pkcs7::sign_embedded`]).
//!
//! A [`Signer`] hides where the private key lives, so that a hardware security module can
//! stand in for a key file. The message structures are built with the RustCrypto `cms`
//! types; the RSA operations and X.509 generation run on OpenSSL.

mod cert;
mod error;
mod generate;
mod key;
pub mod oid;
pub mod pkcs7;
mod signer;
pub mod verity_sig;

pub use cert::Certificate;
pub use error::{CertificateParseError, KeyError, Pkcs7Problem, SignatureFailure};
pub use generate::{issue_certificate, CertificateProfile};
pub use key::PrivateKey;
pub use signer::{FileSigner, Signer};

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    openssl::sha::sha256(data)
}
