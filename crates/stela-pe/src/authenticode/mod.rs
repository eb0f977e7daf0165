//! Authenticode ("Windows Authenticode Portable Executable Signature Format", Microsoft,
//! version 1.0 of March 2008): the image hash, signing and verification.
//!
//! UEFI Secure Boot checks EFI binaries with it: the firmware hashes the image the way
//! [`image_digest`] does, and accepts the image if a PKCS#7 `SignedData` in its attribute
//! certificate table carries that digest and is signed by a key in `db`.

mod asn1;
mod hash;
mod sign;
mod signer;
mod verify;

pub use asn1::{DigestInfo, SpcAttributeTypeAndOptionalValue, SpcIndirectDataContent};
pub use hash::image_digest;
pub use sign::{sign, SignedImage};
pub use signer::{claimed_signer, ClaimedSigner};
pub use verify::{verify, SignatureReport, SignatureStatus, Verdict, VerifyReport};
