//! PE images for the boot chain: Authenticode signatures and Unified Kernel Images.
//!
//! - [`PeImage`] reads and validates the headers of a PE32 or PE32+ image; every error
//!   names the file and what is wrong.
//! - [`authenticode`] computes the Authenticode image hash, signs an image (one
//!   `WIN_CERTIFICATE` with a PKCS#7 `SignedData`, made by a [`stela_keys::Signer`]) and
//!   verifies the signatures against a trusted certificate.
//! - [`uki`] assembles a Unified Kernel Image on systemd's EFI stub the way `ukify build`
//!   lays it out, and lists what a UKI holds.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use stela_pe::uki::{build, Input, UkiInputs};
//! let stub = std::fs::read("linuxx64.efi.stub")?;
//! let linux = std::fs::read("vmlinuz")?;
//! let initrd = std::fs::read("initrd.img")?;
//! let osrel = std::fs::read("os-release")?;
//! let uki = build(&UkiInputs {
//!     stub: Input { name: "linuxx64.efi.stub", data: &stub },
//!     linux: Input { name: "vmlinuz", data: &linux },
//!     initrd: Input { name: "initrd.img", data: &initrd },
//!     cmdline: "console=ttyS0",
//!     os_release: Input { name: "os-release", data: &osrel },
//!     uname: None,
//!     sbat: None,
//! })?;
//! let signer = stela_keys::FileSigner::load("db.key".as_ref(), "db.crt".as_ref())?;
//! let signed = stela_pe::authenticode::sign("uki.efi", &uki, &signer)?;
//! std::fs::write("uki.efi", &signed.bytes)?;
//! # Ok(())
//! # }
//! ```

pub mod authenticode;
mod checksum;
mod error;
pub mod format;
mod image;
#[cfg(test)]
mod testpe;
pub mod uki;

pub use checksum::pe_checksum;
pub use error::PeError;
pub use image::{CertificateTable, PeImage, PeKind, Section, WinCertificate};
