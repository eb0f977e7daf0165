//! Unified Kernel Images (UAPI "Unified Kernel Image" specification, systemd-stub(7)):
//! systemd's EFI stub with the kernel, initrd, command line and os-release appended as
//! PE sections, which the stub finds by name at boot.
//!
//! The layout follows trixie's `ukify build` (systemd 257), so that a UKI built by stela
//! has the same sections in the same order at the same addresses as one built by ukify
//! from the same inputs:
//!
//! - new sections in the order `.osrel`, `.cmdline`, `.uname`, `.linux`, `.initrd`;
//! - the `.sbat` text (stub's and kernel's lines, then the caller's) replaces the stub's
//!   own `.sbat` contents in place, or is appended last if the stub has none;
//! - each new section starts at the next `SectionAlignment` boundary after the previous
//!   one in memory and at the next `FileAlignment` boundary in the file; `VirtualSize` is
//!   the contents' size, `SizeOfRawData` that rounded up to `FileAlignment`;
//! - `.linux` is `CNT_CODE | MEM_READ`, the others `CNT_INITIALIZED_DATA | MEM_READ`;
//! - `SizeOfImage`, `SizeOfInitializedData` (grown by every new section's size, as ukify
//!   does), `SizeOfHeaders` (rounded up to `FileAlignment`) and `NumberOfSections` are
//!   updated; `NX_COMPAT` is cleared if the kernel does not have it (the stub and the
//!   kernel must agree); `CheckSum` is recomputed.

mod inspect;
mod layout;
pub mod sbat;

pub use inspect::{inspect, SectionInfo, UkiInfo};
pub use layout::{plan, Placement, PlannedSection, UkiPlan};

use crate::PeError;

/// One input file: its contents and the name errors use for it.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The path or other name of the input, for messages.
    pub name: &'a str,
    /// The contents.
    pub data: &'a [u8],
}

/// Everything a UKI is built from.
#[derive(Debug, Clone, Copy)]
pub struct UkiInputs<'a> {
    /// systemd's EFI stub (`linuxx64.efi.stub`), unsigned.
    pub stub: Input<'a>,
    /// The kernel, an EFI-stub PE image (`vmlinuz`).
    pub linux: Input<'a>,
    /// The initrd (a cpio archive, possibly compressed; stela does not look inside).
    pub initrd: Input<'a>,
    /// The kernel command line.
    pub cmdline: &'a str,
    /// The os-release file of the image.
    pub os_release: Input<'a>,
    /// The kernel release (`uname -r`); read from the kernel's x86 boot header if `None`.
    pub uname: Option<&'a str>,
    /// SBAT lines of the caller, with the `sbat,` header line; `None` adds the UKI line.
    pub sbat: Option<Input<'a>>,
}

/// Build the UKI: plan the layout, then render it.
pub fn build(inputs: &UkiInputs<'_>) -> Result<Vec<u8>, PeError> {
    Ok(plan(inputs)?.render())
}

/// The kernel release string from an x86 bzImage's setup header, as `uname -r` prints
/// it, or `None` if `kernel` has no such header.
///
/// Linux `Documentation/arch/x86/boot.rst`: the header magic "HdrS" is at 0x202 and the
/// 16-bit `kernel_version` field at 0x20e points at a NUL-terminated string 0x200 bytes
/// further; the release is its first word.
pub fn kernel_release(kernel: &[u8]) -> Option<String> {
    const SETUP_START: usize = 0x200;
    const HEADER_MAGIC_OFFSET: usize = 0x202;
    const KERNEL_VERSION_OFFSET: usize = 0x20e;
    if kernel.get(HEADER_MAGIC_OFFSET..HEADER_MAGIC_OFFSET + 4) != Some(b"HdrS") {
        return None;
    }
    let ptr = crate::format::u16_at(kernel, KERNEL_VERSION_OFFSET)? as usize;
    let text = kernel.get(SETUP_START + ptr..)?;
    let end = text.iter().position(|&b| b == 0)?;
    let version = std::str::from_utf8(&text[..end]).ok()?;
    let release = version.split_whitespace().next()?;
    (!release.is_empty()).then(|| release.to_owned())
}
