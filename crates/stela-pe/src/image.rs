//! Reading a PE image: the headers, validated once, into a type the hasher and the writers
//! trust (every range it hands out lies inside the file).

use crate::format::{self as f, u16_at, u32_at};
use crate::PeError;

/// PE32 or PE32+ (the optional header's magic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeKind {
    /// 32-bit image (magic 0x10b).
    Pe32,
    /// 64-bit image (magic 0x20b).
    Pe32Plus,
}

/// One section header, with its position in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name, NUL padding removed (e.g. `.linux`).
    pub name: String,
    /// `VirtualSize`: the size in memory, usually the unpadded size of the contents.
    pub virtual_size: u32,
    /// `VirtualAddress`, relative to the image base.
    pub virtual_address: u32,
    /// `SizeOfRawData`: the size in the file, a multiple of `FileAlignment`.
    pub size_of_raw_data: u32,
    /// `PointerToRawData`: the file offset.
    pub pointer_to_raw_data: u32,
    /// `Characteristics` flags (`IMAGE_SCN_*`).
    pub characteristics: u32,
    /// File offset of this section header.
    pub header_offset: usize,
}

impl Section {
    /// The file range of the raw data (`0..0` for a section without data, whose
    /// PointerToRawData means nothing and may lie outside the file).
    pub fn raw_range(&self) -> std::ops::Range<usize> {
        if self.size_of_raw_data == 0 {
            return 0..0;
        }
        let start = self.pointer_to_raw_data as usize;
        start..start + self.size_of_raw_data as usize
    }
}

/// Where the attribute certificate table lies (a file offset, not an RVA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateTable {
    /// File offset.
    pub offset: u32,
    /// Size in bytes.
    pub size: u32,
}

/// One `WIN_CERTIFICATE` entry of the attribute certificate table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinCertificate<'a> {
    /// File offset of the entry.
    pub offset: usize,
    /// `wRevision`.
    pub revision: u16,
    /// `wCertificateType`.
    pub certificate_type: u16,
    /// `bCertificate` (`dwLength` minus the header; may end in padding).
    pub data: &'a [u8],
}

/// A PE image whose headers were checked against the file.
#[derive(Debug, Clone)]
pub struct PeImage<'a> {
    file: String,
    data: &'a [u8],
    kind: PeKind,
    optional_header: usize,
    section_table: usize,
    sections: Vec<Section>,
    size_of_headers: u32,
    file_alignment: u32,
    section_alignment: u32,
    /// File offset of the Certificate Table data directory entry, if the image has one.
    certificate_entry: Option<usize>,
    data_directories: u32,
    certificate_table: Option<CertificateTable>,
}

fn truncated(file: &str, what: impl Into<String>, needed: usize, size: usize) -> PeError {
    PeError::Truncated {
        file: file.to_owned(),
        what: what.into(),
        needed: needed as u64,
        size: size as u64,
    }
}

impl<'a> PeImage<'a> {
    /// Parse and validate the headers of `data`; `file` names it in errors.
    pub fn parse(file: &str, data: &'a [u8]) -> Result<Self, PeError> {
        let len = data.len();
        let name = || file.to_owned();
        if data.get(..2) != Some(&f::DOS_MAGIC[..]) {
            return Err(PeError::NotMz { file: name() });
        }
        let e_lfanew = u32_at(data, f::DOS_E_LFANEW)
            .ok_or_else(|| truncated(file, "the MS-DOS header", f::DOS_E_LFANEW + 4, len))?
            as usize;
        let coff = e_lfanew + f::PE_SIGNATURE.len();
        match data.get(e_lfanew..coff) {
            Some(sig) if sig == f::PE_SIGNATURE => {}
            Some(_) => {
                return Err(PeError::BadPeSignature {
                    file: name(),
                    offset: e_lfanew as u64,
                })
            }
            None => return Err(truncated(file, "the PE signature", coff, len)),
        }
        let optional_header = coff + f::COFF_HEADER_SIZE;
        if optional_header > len {
            return Err(truncated(file, "the COFF header", optional_header, len));
        }
        let n_sections = u16_at(data, coff + f::COFF_NUMBER_OF_SECTIONS).unwrap_or(0) as usize;
        let opt_size = u16_at(data, coff + f::COFF_SIZE_OF_OPTIONAL_HEADER).unwrap_or(0) as usize;
        let section_table = optional_header + opt_size;
        if section_table > len {
            return Err(truncated(file, "the optional header", section_table, len));
        }
        let opt = &data[optional_header..section_table];
        let field = |off: usize, what: &'static str| {
            u32_at(opt, off).ok_or(PeError::BadField {
                file: name(),
                field: "SizeOfOptionalHeader",
                value: opt_size.to_string(),
                problem: what,
            })
        };
        let magic = u16_at(opt, f::OPT_MAGIC).unwrap_or(0);
        let (kind, rva_count_off) = match magic {
            f::PE32_MAGIC => (PeKind::Pe32, f::PE32_NUMBER_OF_RVA_AND_SIZES),
            f::PE32_PLUS_MAGIC => (PeKind::Pe32Plus, f::PE32_PLUS_NUMBER_OF_RVA_AND_SIZES),
            _ => {
                return Err(PeError::BadField {
                    file: name(),
                    field: "optional header Magic",
                    value: format!("{magic:#x}"),
                    problem: "neither PE32 (0x10b) nor PE32+ (0x20b)",
                })
            }
        };
        let too_small = "too small for the fields of a PE32/PE32+ optional header";
        let section_alignment = field(f::OPT_SECTION_ALIGNMENT, too_small)?;
        let file_alignment = field(f::OPT_FILE_ALIGNMENT, too_small)?;
        let size_of_headers = field(f::OPT_SIZE_OF_HEADERS, too_small)?;
        let declared_dirs = field(rva_count_off, too_small)?;
        // Only the directories that fit in the optional header exist, whatever the count says.
        let dirs_start = rva_count_off + 4;
        let fitting = (opt_size.saturating_sub(dirs_start) / f::DATA_DIRECTORY_SIZE) as u32;
        let data_directories = declared_dirs.min(fitting);

        for (field, value) in [
            ("FileAlignment", file_alignment),
            ("SectionAlignment", section_alignment),
        ] {
            if !value.is_power_of_two() {
                return Err(PeError::BadField {
                    file: name(),
                    field,
                    value: format!("{value:#x}"),
                    problem: "not a power of two",
                });
            }
        }

        let table_end = section_table + n_sections * f::SECTION_HEADER_SIZE;
        if table_end > len {
            return Err(truncated(
                file,
                format!("the section table ({n_sections} sections)"),
                table_end,
                len,
            ));
        }
        if (size_of_headers as usize) < table_end {
            return Err(PeError::BadField {
                file: name(),
                field: "SizeOfHeaders",
                value: format!("{size_of_headers:#x}"),
                problem: "smaller than the headers and section table",
            });
        }
        if size_of_headers as usize > len {
            return Err(truncated(
                file,
                "SizeOfHeaders",
                size_of_headers as usize,
                len,
            ));
        }

        let mut sections = Vec::with_capacity(n_sections);
        for i in 0..n_sections {
            let h = section_table + i * f::SECTION_HEADER_SIZE;
            let hdr = &data[h..h + f::SECTION_HEADER_SIZE];
            let raw_name = &hdr[f::SECTION_NAME..f::SECTION_NAME + 8];
            let end = raw_name.iter().position(|&b| b == 0).unwrap_or(8);
            let get = |off| u32_at(hdr, off).unwrap_or(0);
            let s = Section {
                name: String::from_utf8_lossy(&raw_name[..end]).into_owned(),
                virtual_size: get(f::SECTION_VIRTUAL_SIZE),
                virtual_address: get(f::SECTION_VIRTUAL_ADDRESS),
                size_of_raw_data: get(f::SECTION_SIZE_OF_RAW_DATA),
                pointer_to_raw_data: get(f::SECTION_POINTER_TO_RAW_DATA),
                characteristics: get(f::SECTION_CHARACTERISTICS),
                header_offset: h,
            };
            let end = u64::from(s.pointer_to_raw_data) + u64::from(s.size_of_raw_data);
            if s.size_of_raw_data != 0 && end > len as u64 {
                return Err(PeError::SectionOutsideFile {
                    file: name(),
                    section: s.name,
                    start: s.pointer_to_raw_data.into(),
                    end,
                    size: len as u64,
                });
            }
            sections.push(s);
        }

        let certificate_entry =
            (data_directories as usize > f::CERTIFICATE_TABLE_INDEX).then(|| {
                optional_header + dirs_start + f::CERTIFICATE_TABLE_INDEX * f::DATA_DIRECTORY_SIZE
            });
        let mut image = Self {
            file: name(),
            data,
            kind,
            optional_header,
            section_table,
            sections,
            size_of_headers,
            file_alignment,
            section_alignment,
            certificate_entry,
            data_directories,
            certificate_table: None,
        };
        image.certificate_table = image.read_certificate_table()?;
        Ok(image)
    }

    fn read_certificate_table(&self) -> Result<Option<CertificateTable>, PeError> {
        let Some(entry) = self.certificate_entry else {
            return Ok(None);
        };
        let offset = u32_at(self.data, entry).unwrap_or(0);
        let size = u32_at(self.data, entry + 4).unwrap_or(0);
        // An empty entry means unsigned, whatever its offset says.
        if size == 0 {
            return Ok(None);
        }
        let file_size = self.data.len() as u64;
        let end = u64::from(offset) + u64::from(size);
        if end > file_size {
            return Err(PeError::CertificateTableOutsideFile {
                file: self.file.clone(),
                offset: offset.into(),
                size: size.into(),
                file_size,
            });
        }
        let placement = |problem: String| PeError::CertificateTablePlacement {
            file: self.file.clone(),
            offset: offset.into(),
            end,
            problem,
        };
        // The Authenticode hash skips exactly the table, which the specification
        // requires to be the last thing in the file.
        if end != file_size {
            return Err(placement(format!(
                "is not at the end of the file ({file_size:#x} bytes)"
            )));
        }
        if offset < self.size_of_headers {
            return Err(placement("overlaps the headers".into()));
        }
        if let Some(s) = self
            .sections
            .iter()
            .find(|s| s.size_of_raw_data != 0 && s.raw_range().end > offset as usize)
        {
            return Err(placement(format!("overlaps section {}", s.name)));
        }
        Ok(Some(CertificateTable { offset, size }))
    }

    /// The name the caller gave the file.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The whole file.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// PE32 or PE32+.
    pub fn kind(&self) -> PeKind {
        self.kind
    }

    /// The section headers, in table order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The first section called `name`.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// A section's contents: its raw data cut to `VirtualSize` (the padding dropped).
    pub fn section_data(&self, section: &Section) -> &'a [u8] {
        let size = section.virtual_size.min(section.size_of_raw_data) as usize;
        // In bounds: parse() checked every section's raw range against the file (an
        // empty one is 0..0, whatever its PointerToRawData).
        let start = section.raw_range().start;
        &self.data[start..start + size]
    }

    /// `SizeOfHeaders`.
    pub fn size_of_headers(&self) -> u32 {
        self.size_of_headers
    }

    /// `FileAlignment`.
    pub fn file_alignment(&self) -> u32 {
        self.file_alignment
    }

    /// `SectionAlignment`.
    pub fn section_alignment(&self) -> u32 {
        self.section_alignment
    }

    /// The number of data directories present.
    pub fn data_directories(&self) -> u32 {
        self.data_directories
    }

    /// File offset of the optional header.
    pub fn optional_header_offset(&self) -> usize {
        self.optional_header
    }

    /// File offset of the section table.
    pub fn section_table_offset(&self) -> usize {
        self.section_table
    }

    /// File offset of the `CheckSum` field.
    pub fn checksum_offset(&self) -> usize {
        self.optional_header + f::OPT_CHECKSUM
    }

    /// File offset of the Certificate Table data directory entry, if there is one.
    pub fn certificate_entry_offset(&self) -> Option<usize> {
        self.certificate_entry
    }

    /// The attribute certificate table, if the image is signed.
    pub fn certificate_table(&self) -> Option<CertificateTable> {
        self.certificate_table
    }

    /// `CheckSum` as stored.
    pub fn stored_checksum(&self) -> u32 {
        u32_at(self.data, self.checksum_offset()).unwrap_or(0)
    }

    /// `DllCharacteristics`.
    pub fn dll_characteristics(&self) -> u16 {
        u16_at(self.data, self.optional_header + f::OPT_DLL_CHARACTERISTICS).unwrap_or(0)
    }

    /// The entries of the attribute certificate table (none if unsigned).
    pub fn certificates(&self) -> Result<Vec<WinCertificate<'a>>, PeError> {
        let Some(table) = self.certificate_table else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut off = table.offset as usize;
        let end = off + table.size as usize;
        while off < end {
            let bad = |problem: String| PeError::BadCertificateEntry {
                file: self.file.clone(),
                offset: off as u64,
                problem,
            };
            if end - off < f::WIN_CERTIFICATE_HEADER_SIZE {
                return Err(bad(format!(
                    "{} bytes left in the table, less than a WIN_CERTIFICATE header",
                    end - off
                )));
            }
            let length = u32_at(self.data, off).unwrap_or(0) as usize;
            if length < f::WIN_CERTIFICATE_HEADER_SIZE || length > end - off {
                return Err(bad(format!(
                    "dwLength {length} does not fit the {} bytes left in the table",
                    end - off
                )));
            }
            out.push(WinCertificate {
                offset: off,
                revision: u16_at(self.data, off + 4).unwrap_or(0),
                certificate_type: u16_at(self.data, off + 6).unwrap_or(0),
                data: &self.data[off + f::WIN_CERTIFICATE_HEADER_SIZE..off + length],
            });
            off += f::align_up(length as u64, f::WIN_CERTIFICATE_ALIGNMENT as u64) as usize;
        }
        Ok(out)
    }

    /// The file without its certificate table (the whole file if unsigned).
    pub fn without_certificates(&self) -> &'a [u8] {
        match self.certificate_table {
            Some(t) => &self.data[..t.offset as usize],
            None => self.data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testpe::minimal_pe;

    #[test]
    fn a_minimal_image_parses() {
        let data = minimal_pe(PeKind::Pe32Plus);
        let pe = PeImage::parse("t.efi", &data).expect("parse");
        assert_eq!(pe.kind(), PeKind::Pe32Plus);
        assert_eq!(pe.sections().len(), 1);
        assert_eq!(pe.section(".text").map(|s| s.size_of_raw_data), Some(0x200));
        assert!(pe.certificate_table().is_none());
        let data = minimal_pe(PeKind::Pe32);
        assert_eq!(
            PeImage::parse("t.efi", &data).expect("parse").kind(),
            PeKind::Pe32
        );
    }

    #[test]
    fn broken_images_are_named_and_explained() {
        let good = minimal_pe(PeKind::Pe32Plus);
        let e_lfanew = 0x40;
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"ZM".to_vec(), "no MZ signature"),
            (good[..0x30].to_vec(), "truncated: the MS-DOS header"),
            (
                {
                    let mut d = good.clone();
                    d[e_lfanew] = b'X';
                    d
                },
                "no PE signature at offset 0x40",
            ),
            (good[..0x100].to_vec(), "truncated"),
            (
                {
                    let mut d = good.clone();
                    d.truncate(0x300);
                    d
                },
                "section .text has raw data at 0x200..0x400, past the end",
            ),
            (
                {
                    let mut d = good.clone();
                    let opt = e_lfanew + 24;
                    crate::format::put_u32(&mut d, opt + 144, 0x300);
                    crate::format::put_u32(&mut d, opt + 148, 0x1000);
                    d
                },
                "certificate table at 0x300 (4096 bytes) lies outside the file",
            ),
            (
                {
                    let mut d = good.clone();
                    d.extend_from_slice(&[0; 16]);
                    let opt = e_lfanew + 24;
                    crate::format::put_u32(&mut d, opt + 144, 0x400);
                    crate::format::put_u32(&mut d, opt + 148, 8);
                    d
                },
                "is not at the end of the file",
            ),
        ];
        for (data, want) in cases {
            let e = PeImage::parse("bad.efi", &data).expect_err(want);
            let msg = e.to_string();
            assert!(msg.starts_with("bad.efi: "), "{msg}");
            assert!(msg.contains(want), "{msg} lacks {want}");
        }
    }
}
