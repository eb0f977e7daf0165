//! UEFI Secure Boot variables: signature lists and time-based authenticated updates.
//!
//! - [`siglist`]: `EFI_SIGNATURE_LIST` / `EFI_SIGNATURE_DATA`, the contents of `PK`,
//!   `KEK`, `db` and `dbx` (what efitools calls an `.esl` file), X.509 and SHA-256
//!   entries, written and parsed with every size field checked.
//! - [`auth`]: `EFI_VARIABLE_AUTHENTICATION_2`, the signed `.auth` files that firmware
//!   (or systemd-boot, enrolling from `loader/keys/<name>/`) passes to `SetVariable`,
//!   signed with [`stela_keys`] and checked against a certificate.
//! - [`loadopt`]: `EFI_LOAD_OPTION` boot entries (`Boot####`) for a file on a GPT
//!   partition, `BootOrder` and `BootNext`.
//!
//! References are to the UEFI Specification 2.10: 8.2 "Variable Services" and 32.4
//! "Firmware/OS Key Exchange". Pure formats: no file I/O, the caller reads and writes.
//!
//! ```
//! use stela_efivars::{encode_lists, parse_lists, Guid, SignatureList};
//! let owner: Guid = "11111111-2222-3333-4444-555555555555".parse()?;
//! let dbx = SignatureList::sha256(owner, &[[0xab; 32]])?;
//! let bytes = encode_lists(&[dbx]);
//! assert_eq!(bytes.len(), 28 + 48);
//! assert_eq!(parse_lists(&bytes)?[0].entries()[0].owner, owner);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod auth;
mod error;
mod guid;
pub mod loadopt;
pub mod siglist;
mod time;

pub use auth::{AuthenticatedVariable, SecureBootVariable, VariableAttributes};
pub use error::EfiVarsError;
pub use guid::{known, Guid};
pub use siglist::{encode_lists, parse_lists, SignatureData, SignatureList};
pub use time::EfiTime;
