//! The error type of the crate.

use stela_keys::KeyError;

/// What went wrong reading or writing a signature list or an authenticated variable.
///
/// Parse errors name the structure, its position and the field, e.g.
/// `signature list 2 at offset 1234: SignatureSize 0 is smaller than the 16-byte
/// SignatureOwner`. Lists are numbered from 1; offsets are in bytes from the start of the
/// buffer that was parsed. The caller adds the file name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EfiVarsError {
    /// An `EFI_SIGNATURE_LIST` in a buffer is malformed or truncated.
    #[error("signature list {index} at offset {offset}: {detail}")]
    SignatureList {
        /// Position of the list, from 1.
        index: usize,
        /// Byte offset of the list in the buffer.
        offset: usize,
        /// What is wrong, naming the field.
        detail: String,
    },
    /// A signature list to be written is not well formed.
    #[error("building a signature list: {0}")]
    BuildList(String),
    /// The `EFI_VARIABLE_AUTHENTICATION_2` header of an authenticated variable is
    /// malformed or truncated.
    #[error("authentication header: {0}")]
    AuthHeader(String),
    /// An `EFI_LOAD_OPTION` (a `Boot####` variable) or `BootOrder` is malformed, or
    /// one to be written is not well formed.
    #[error("load option: {0}")]
    LoadOption(String),
    /// A time stamp is not a valid `EFI_TIME` for an authenticated variable.
    #[error("time stamp: {0}")]
    Time(String),
    /// A certificate inside a signature list could not be parsed.
    #[error("signature list {index}, entry {entry}: certificate")]
    Certificate {
        /// Position of the list, from 1.
        index: usize,
        /// Position of the entry in the list, from 1.
        entry: usize,
        /// What the X.509 parser said.
        #[source]
        source: KeyError,
    },
    /// Signing the variable failed.
    #[error("signing {variable}")]
    Sign {
        /// The variable name.
        variable: String,
        /// What the signer said.
        #[source]
        source: KeyError,
    },
    /// The PKCS#7 signature of an authenticated variable could not be checked, or was
    /// checked and is wrong ([`EfiVarsError::is_bad_signature`] tells which).
    #[error("signature of the {variable} update")]
    Verify {
        /// The variable name.
        variable: String,
        /// What the verifier said.
        #[source]
        source: KeyError,
    },
}

impl EfiVarsError {
    /// True if a signature was checked and does not verify (rather than "could not check").
    pub fn is_bad_signature(&self) -> bool {
        match self {
            EfiVarsError::Verify { source, .. } => source.is_bad_signature(),
            _ => false,
        }
    }
}
