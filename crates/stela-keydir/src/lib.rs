//! The Secure Boot key directory that `stela keys init` makes and `stela build` reads.
//!
//! One type, [`KeyDir`], knows every file of the directory (docs/keys.md):
//!
//! ```text
//! DIR/{PK,KEK,db}.key    private keys, PKCS#8 PEM, mode 0600
//! DIR/{PK,KEK,db}.crt    certificates, PEM          .cer  the same, DER
//! DIR/{PK,KEK,db}.esl    EFI_SIGNATURE_LIST with the certificate
//! DIR/{PK,KEK,db}.auth   signed updates: PK and KEK by PK, db by KEK
//! DIR/loader/keys/<name>/{PK,KEK,db}.auth   the same, where systemd-boot enrols from
//! ```
//!
//! - [`KeyDir::generate`] makes a new set (in a hidden directory beside DIR, renamed into
//!   place, so DIR appears complete or not at all);
//! - [`KeyDir::load_for_build`] reads what a build needs: the db signer and the three
//!   enrolment `.auth` files ([`BuildKeys`]);
//! - [`KeyDir::validate`] checks the whole set: key and certificate pairs, validity
//!   dates, the `.esl` contents, the `.auth` signatures and their systemd-boot copies.
//!
//! Every error is a [`KeyDirError`] variant naming the file.
//!
//! This is a crate of its own, not a module of `stela-keys` or `stela-efivars`:
//! `stela-efivars` depends on `stela-keys` (it signs with it), so the directory, which
//! needs both, cannot live in `stela-keys`; and `stela-efivars` is pure formats with no
//! file I/O, which the directory is all about (docs/decisions/0005-secure-boot-keys.md).

mod error;
mod generate;
mod layout;
mod load;
mod validate;

pub use error::KeyDirError;
pub use generate::{
    timestamp_from_env, GenerateOptions, Generated, GeneratedKey, KeySet, RenderedFile,
};
pub use layout::{slugify, KeyDir, KeyFile, ENROLMENT_ROOT, ROLES};
pub use load::BuildKeys;
pub use validate::{Validated, ValidatedKey};
