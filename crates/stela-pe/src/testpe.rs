//! A tiny PE image for unit tests, built field by field.

use crate::format::{self as f, put_u16, put_u32};
use crate::image::PeKind;

/// One `.text` section of 0x1f0 bytes (raw 0x200 at 0x200); 0x400 bytes in all.
pub(crate) fn minimal_pe(kind: PeKind) -> Vec<u8> {
    pe_with_headers(kind, 0x200)
}

/// Like [`minimal_pe`], with `headers` bytes of headers (a multiple of 0x200) before
/// `.text`.
pub(crate) fn pe_with_headers(kind: PeKind, headers: usize) -> Vec<u8> {
    let mut d = vec![0u8; headers + 0x200];
    d[..2].copy_from_slice(f::DOS_MAGIC);
    let pe = 0x40;
    put_u32(&mut d, f::DOS_E_LFANEW, pe as u32);
    d[pe..pe + 4].copy_from_slice(f::PE_SIGNATURE);
    let coff = pe + 4;
    put_u16(&mut d, coff, 0x8664);
    put_u16(&mut d, coff + f::COFF_NUMBER_OF_SECTIONS, 1);
    let (magic, opt_size, rva_off) = match kind {
        PeKind::Pe32 => (f::PE32_MAGIC, 224, f::PE32_NUMBER_OF_RVA_AND_SIZES),
        PeKind::Pe32Plus => (
            f::PE32_PLUS_MAGIC,
            240,
            f::PE32_PLUS_NUMBER_OF_RVA_AND_SIZES,
        ),
    };
    put_u16(&mut d, coff + f::COFF_SIZE_OF_OPTIONAL_HEADER, opt_size);
    let opt = coff + f::COFF_HEADER_SIZE;
    put_u16(&mut d, opt + f::OPT_MAGIC, magic);
    put_u32(&mut d, opt + f::OPT_SECTION_ALIGNMENT, 0x1000);
    put_u32(&mut d, opt + f::OPT_FILE_ALIGNMENT, 0x200);
    put_u32(&mut d, opt + f::OPT_SIZE_OF_IMAGE, 0x2000);
    put_u32(&mut d, opt + f::OPT_SIZE_OF_HEADERS, headers as u32);
    put_u32(&mut d, opt + rva_off, 16);
    let s = opt + opt_size as usize;
    d[s..s + 5].copy_from_slice(b".text");
    put_u32(&mut d, s + f::SECTION_VIRTUAL_SIZE, 0x1f0);
    put_u32(&mut d, s + f::SECTION_VIRTUAL_ADDRESS, 0x1000);
    put_u32(&mut d, s + f::SECTION_SIZE_OF_RAW_DATA, 0x200);
    put_u32(&mut d, s + f::SECTION_POINTER_TO_RAW_DATA, headers as u32);
    put_u32(
        &mut d,
        s + f::SECTION_CHARACTERISTICS,
        f::SCN_CNT_CODE | f::SCN_MEM_READ,
    );
    for (i, b) in d[headers..headers + 0x1f0].iter_mut().enumerate() {
        *b = i as u8;
    }
    d
}
