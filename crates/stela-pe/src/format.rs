//! On-disk layout of a PE image: field offsets and constants.
//!
//! Microsoft "PE Format" (learn.microsoft.com/windows/win32/debug/pe-format), whose names
//! these constants keep. All fields are little-endian. Offsets are relative to the start
//! of the structure they belong to, as the specification lists them.

/// "MZ", the first two bytes of the MS-DOS stub header.
pub const DOS_MAGIC: &[u8; 2] = b"MZ";
/// Offset of `e_lfanew`, the file offset of the PE signature, in the MS-DOS header.
pub const DOS_E_LFANEW: usize = 0x3c;
/// "PE\0\0", which `e_lfanew` points at.
pub const PE_SIGNATURE: &[u8; 4] = b"PE\0\0";

/// Size of the COFF file header that follows the PE signature.
pub const COFF_HEADER_SIZE: usize = 20;
/// COFF header: `NumberOfSections` (u16).
pub const COFF_NUMBER_OF_SECTIONS: usize = 2;
/// COFF header: `SizeOfOptionalHeader` (u16).
pub const COFF_SIZE_OF_OPTIONAL_HEADER: usize = 16;

/// Optional header magic of a PE32 image.
pub const PE32_MAGIC: u16 = 0x10b;
/// Optional header magic of a PE32+ image.
pub const PE32_PLUS_MAGIC: u16 = 0x20b;

// Optional header fields at the same offset in PE32 and PE32+.
/// Optional header: `Magic` (u16).
pub const OPT_MAGIC: usize = 0;
/// Optional header: `SizeOfInitializedData` (u32).
pub const OPT_SIZE_OF_INITIALIZED_DATA: usize = 8;
/// Optional header: `SectionAlignment` (u32).
pub const OPT_SECTION_ALIGNMENT: usize = 32;
/// Optional header: `FileAlignment` (u32).
pub const OPT_FILE_ALIGNMENT: usize = 36;
/// Optional header: `SizeOfImage` (u32).
pub const OPT_SIZE_OF_IMAGE: usize = 56;
/// Optional header: `SizeOfHeaders` (u32).
pub const OPT_SIZE_OF_HEADERS: usize = 60;
/// Optional header: `CheckSum` (u32), left out of the Authenticode hash.
pub const OPT_CHECKSUM: usize = 64;
/// Optional header: `DllCharacteristics` (u16).
pub const OPT_DLL_CHARACTERISTICS: usize = 70;

/// PE32: offset of `NumberOfRvaAndSizes` (u32); the data directories follow it.
pub const PE32_NUMBER_OF_RVA_AND_SIZES: usize = 92;
/// PE32+: offset of `NumberOfRvaAndSizes` (u32); the data directories follow it.
pub const PE32_PLUS_NUMBER_OF_RVA_AND_SIZES: usize = 108;

/// Size of one data directory entry (`VirtualAddress` u32, `Size` u32).
pub const DATA_DIRECTORY_SIZE: usize = 8;
/// Index of the Certificate Table entry ("Attribute Certificate Table"); unlike the
/// other entries its first field is a file offset, not an RVA.
pub const CERTIFICATE_TABLE_INDEX: usize = 4;

/// `IMAGE_DLLCHARACTERISTICS_NX_COMPAT`.
pub const DLL_CHARACTERISTICS_NX_COMPAT: u16 = 0x0100;

/// Size of one section header.
pub const SECTION_HEADER_SIZE: usize = 40;
/// Section header: `Name` (8 bytes, NUL-padded UTF-8).
pub const SECTION_NAME: usize = 0;
/// Section header: `VirtualSize` (u32).
pub const SECTION_VIRTUAL_SIZE: usize = 8;
/// Section header: `VirtualAddress` (u32).
pub const SECTION_VIRTUAL_ADDRESS: usize = 12;
/// Section header: `SizeOfRawData` (u32).
pub const SECTION_SIZE_OF_RAW_DATA: usize = 16;
/// Section header: `PointerToRawData` (u32).
pub const SECTION_POINTER_TO_RAW_DATA: usize = 20;
/// Section header: `Characteristics` (u32).
pub const SECTION_CHARACTERISTICS: usize = 36;

/// `IMAGE_SCN_CNT_CODE`.
pub const SCN_CNT_CODE: u32 = 0x0000_0020;
/// `IMAGE_SCN_CNT_INITIALIZED_DATA`.
pub const SCN_CNT_INITIALIZED_DATA: u32 = 0x0000_0040;
/// `IMAGE_SCN_MEM_READ`.
pub const SCN_MEM_READ: u32 = 0x4000_0000;

/// `WIN_CERTIFICATE` header size: `dwLength` (u32), `wRevision` (u16),
/// `wCertificateType` (u16); `bCertificate` follows.
pub const WIN_CERTIFICATE_HEADER_SIZE: usize = 8;
/// `WIN_CERT_REVISION_2_0`.
pub const WIN_CERT_REVISION_2_0: u16 = 0x0200;
/// `WIN_CERT_TYPE_PKCS_SIGNED_DATA`.
pub const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;
/// Attribute certificate entries start on 8-byte ("quadword") boundaries.
pub const WIN_CERTIFICATE_ALIGNMENT: usize = 8;

/// Read a little-endian u16 at `off`; the caller has checked the bounds.
pub(crate) fn u16_at(data: &[u8], off: usize) -> Option<u16> {
    let b = data.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// Read a little-endian u32 at `off`.
pub(crate) fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    let b = data.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Write a little-endian u16 at `off` (inside a buffer stela built, so in bounds).
pub(crate) fn put_u16(data: &mut [u8], off: usize, value: u16) {
    data[off..off + 2].copy_from_slice(&value.to_le_bytes());
}

/// Write a little-endian u32 at `off` (inside a buffer stela built, so in bounds).
pub(crate) fn put_u32(data: &mut [u8], off: usize, value: u32) {
    data[off..off + 4].copy_from_slice(&value.to_le_bytes());
}

/// Round `value` up to a multiple of `align` (a power of two or any non-zero value).
pub(crate) fn align_up(value: u64, align: u64) -> u64 {
    if align <= 1 {
        return value;
    }
    value.div_ceil(align) * align
}
