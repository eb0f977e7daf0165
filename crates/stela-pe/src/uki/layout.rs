//! Planning a UKI: every section's place in memory and in the file, decided and checked
//! before a byte is written; [`UkiPlan::render`] then only copies.

use std::borrow::Cow;

use super::sbat::{self, SbatSource};
use super::{kernel_release, Input, UkiInputs};
use crate::checksum::pe_checksum;
use crate::format::{self as f, align_up, put_u16, put_u32, u32_at};
use crate::{PeError, PeImage};

/// Whether a planned section is added or fills one the stub already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// A new section header and new data at the end of the file.
    Appended,
    /// New contents in the stub's own section of that name (`.sbat`), within its raw size.
    InStub,
}

/// One section of the UKI as planned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSection {
    /// The section name.
    pub name: &'static str,
    /// `VirtualAddress`.
    pub virtual_address: u32,
    /// `VirtualSize`: the contents' size.
    pub virtual_size: u32,
    /// `PointerToRawData`.
    pub file_offset: u32,
    /// `SizeOfRawData`.
    pub raw_size: u32,
    /// `Characteristics`.
    pub characteristics: u32,
    /// New, or in the stub's section.
    pub placement: Placement,
}

/// The complete layout of a UKI and the contents to put there.
#[derive(Debug, Clone)]
pub struct UkiPlan<'a> {
    stub: PeImage<'a>,
    sections: Vec<PlannedSection>,
    contents: Vec<Cow<'a, [u8]>>,
    file_size: usize,
    size_of_image: u32,
    size_of_headers: u32,
    size_of_initialized_data: u32,
    dll_characteristics: u16,
    number_of_sections: u16,
}

/// Sections the stub must not have already: it would be a UKI, and systemd-stub would
/// use the first of two sections with one name.
const UKI_SECTIONS: [&str; 5] = [".osrel", ".cmdline", ".uname", ".linux", ".initrd"];

const DATA_FLAGS: u32 = f::SCN_CNT_INITIALIZED_DATA | f::SCN_MEM_READ;
/// ukify marks `.linux` as code: kernels booted through the EFI handover protocol run
/// in place.
const LINUX_FLAGS: u32 = f::SCN_CNT_CODE | f::SCN_MEM_READ;

fn input_err(file: &str, problem: impl Into<String>) -> PeError {
    PeError::UkiInput {
        file: file.to_owned(),
        problem: problem.into(),
    }
}

fn to_u32(file: &str, what: &str, value: u64) -> Result<u32, PeError> {
    u32::try_from(value).map_err(|_| PeError::TooLarge {
        file: file.to_owned(),
        what: what.to_owned(),
        size: value,
    })
}

/// The stub, checked for what a UKI needs from it.
fn check_stub<'a>(stub: &Input<'a>) -> Result<PeImage<'a>, PeError> {
    let image = PeImage::parse(stub.name, stub.data)?;
    if image.certificate_table().is_some() {
        return Err(input_err(
            stub.name,
            "the stub is signed; build from the unsigned stub and sign the UKI",
        ));
    }
    if let Some(s) = image
        .sections()
        .iter()
        .find(|s| UKI_SECTIONS.contains(&s.name.as_str()))
    {
        return Err(input_err(
            stub.name,
            format!(
                "the stub already has a {} section (is it a UKI already?)",
                s.name
            ),
        ));
    }
    let fa = image.file_alignment();
    if let Some(s) = image
        .sections()
        .iter()
        .find(|s| s.pointer_to_raw_data % fa != 0 || s.size_of_raw_data % fa != 0)
    {
        return Err(input_err(
            stub.name,
            format!(
                "section {} is not aligned to FileAlignment {fa:#x} (raw data {:#x}, {:#x} bytes)",
                s.name, s.pointer_to_raw_data, s.size_of_raw_data
            ),
        ));
    }
    Ok(image)
}

/// The kernel's `DllCharacteristics`, checked to be a PE image with contents.
fn check_linux<'a>(linux: &Input<'a>) -> Result<PeImage<'a>, PeError> {
    if linux.data.is_empty() {
        return Err(input_err(linux.name, "the kernel is empty"));
    }
    PeImage::parse(linux.name, linux.data).map_err(|e| {
        input_err(
            linux.name,
            format!("the kernel is not an EFI PE image (compressed?): {e}"),
        )
    })
}

fn section_text<'a>(image: &PeImage<'a>, name: &str) -> Option<&'a str> {
    let data = image.section_data(image.section(name)?);
    let trimmed = &data[..data.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1)];
    std::str::from_utf8(trimmed).ok()
}

/// Plan the UKI for `inputs`, refusing inputs that would make a broken image.
pub fn plan<'a>(inputs: &UkiInputs<'a>) -> Result<UkiPlan<'a>, PeError> {
    let stub = check_stub(&inputs.stub)?;
    let linux = check_linux(&inputs.linux)?;
    if inputs.initrd.data.is_empty() {
        return Err(input_err(inputs.initrd.name, "the initrd is empty"));
    }
    if inputs.cmdline.contains('\0') {
        return Err(input_err(
            "--cmdline",
            "the command line contains a NUL byte",
        ));
    }
    let uname = match inputs.uname {
        Some(u) => Cow::Borrowed(u),
        None => Cow::Owned(kernel_release(inputs.linux.data).ok_or_else(|| {
            input_err(
                inputs.linux.name,
                "no kernel release in the x86 boot header; give --uname",
            )
        })?),
    };
    if uname.is_empty() || uname.contains('\0') {
        return Err(input_err(
            "--uname",
            "the kernel release is empty or has a NUL byte",
        ));
    }

    let mut sbat_sources = Vec::new();
    for (image, name) in [(&stub, inputs.stub.name), (&linux, inputs.linux.name)] {
        if let Some(text) = section_text(image, ".sbat") {
            sbat_sources.push(SbatSource { name, text });
        }
    }
    let user_sbat = match inputs.sbat {
        Some(i) => Some(SbatSource {
            name: i.name,
            text: std::str::from_utf8(i.data)
                .map_err(|_| input_err(i.name, "SBAT text is not UTF-8"))?,
        }),
        None => None,
    };
    let sbat = sbat::merge(&sbat_sources, user_sbat)?;

    let mut new: Vec<(&'static str, Cow<'a, [u8]>, u32)> = vec![
        (".osrel", Cow::Borrowed(inputs.os_release.data), DATA_FLAGS),
        (
            ".cmdline",
            Cow::Borrowed(inputs.cmdline.as_bytes()),
            DATA_FLAGS,
        ),
        (".uname", Cow::Owned(uname.as_bytes().to_vec()), DATA_FLAGS),
        (".linux", Cow::Borrowed(inputs.linux.data), LINUX_FLAGS),
        (".initrd", Cow::Borrowed(inputs.initrd.data), DATA_FLAGS),
    ];
    let mut sections = Vec::new();
    let mut contents = Vec::new();
    let stub_name = inputs.stub.name;

    // The merged SBAT goes into the stub's .sbat if there is one (systemd-stub and shim
    // read the first .sbat), else it becomes a new section after the others.
    match stub.section(".sbat") {
        Some(s) => {
            let next_va = stub
                .sections()
                .iter()
                .map(|o| o.virtual_address)
                .filter(|&va| va > s.virtual_address)
                .min()
                .unwrap_or(u32::MAX);
            let room = u64::from(s.size_of_raw_data)
                .min(u64::from(next_va) - u64::from(s.virtual_address));
            if sbat.len() as u64 > room {
                return Err(input_err(
                    stub_name,
                    format!(
                        "the merged SBAT text ({} bytes) does not fit in the stub's .sbat \
                         section ({room} bytes)",
                        sbat.len()
                    ),
                ));
            }
            sections.push(PlannedSection {
                name: ".sbat",
                virtual_address: s.virtual_address,
                virtual_size: sbat.len() as u32,
                file_offset: s.pointer_to_raw_data,
                raw_size: s.size_of_raw_data,
                characteristics: s.characteristics,
                placement: Placement::InStub,
            });
            contents.push(Cow::Owned(sbat));
        }
        None => new.push((".sbat", Cow::Owned(sbat), DATA_FLAGS)),
    }

    // Header room: the new section headers must end before SizeOfHeaders (rounded up to
    // FileAlignment, the space before the first section's data is unused) and before any
    // section's data.
    let fa = u64::from(stub.file_alignment());
    let sa = u64::from(stub.section_alignment());
    let n_old = stub.sections().len();
    let table_end =
        (stub.section_table_offset() + (n_old + new.len()) * f::SECTION_HEADER_SIZE) as u64;
    let size_of_headers = align_up(u64::from(stub.size_of_headers()), fa);
    let first_data = stub
        .sections()
        .iter()
        .filter(|s| s.size_of_raw_data != 0)
        .map(|s| u64::from(s.pointer_to_raw_data))
        .min()
        .unwrap_or(u64::MAX);
    let available = size_of_headers.min(first_data);
    if table_end > available {
        return Err(PeError::NoHeaderRoom {
            file: stub_name.to_owned(),
            new: new.len(),
            needed: table_end,
            available,
        });
    }

    let mut file_pos = align_up(stub.data().len() as u64, fa);
    let mut va_end = stub
        .sections()
        .iter()
        .map(|s| u64::from(s.virtual_address) + u64::from(s.virtual_size))
        .max()
        .unwrap_or(u64::from(stub.size_of_headers()));
    let mut initialized = u64::from(
        u32_at(
            stub.data(),
            stub.optional_header_offset() + f::OPT_SIZE_OF_INITIALIZED_DATA,
        )
        .unwrap_or(0),
    );
    for (name, data, characteristics) in new {
        let size = data.len() as u64;
        let va = align_up(va_end, sa);
        let raw = align_up(size, fa);
        // Both ends must be addressable with 32 bits, in memory and in the file.
        let what = format!("the end of section {name}");
        to_u32(stub_name, &what, va + size)?;
        to_u32(stub_name, &what, file_pos + raw)?;
        sections.push(PlannedSection {
            name,
            virtual_address: va as u32,
            virtual_size: size as u32,
            file_offset: file_pos as u32,
            raw_size: raw as u32,
            characteristics,
            placement: Placement::Appended,
        });
        contents.push(data);
        // ukify counts every new section here, .linux included.
        initialized += size;
        file_pos += raw;
        va_end = va + size;
    }
    let size_of_image = to_u32(stub_name, "SizeOfImage", align_up(va_end, sa))?;
    let file_size = to_u32(stub_name, "the UKI", file_pos)? as usize;
    let appended = sections
        .iter()
        .filter(|s| s.placement == Placement::Appended)
        .count();

    let mut dll_characteristics = stub.dll_characteristics();
    if linux.dll_characteristics() & f::DLL_CHARACTERISTICS_NX_COMPAT == 0 {
        dll_characteristics &= !f::DLL_CHARACTERISTICS_NX_COMPAT;
    }
    Ok(UkiPlan {
        sections,
        contents,
        file_size,
        size_of_image,
        size_of_headers: size_of_headers as u32,
        size_of_initialized_data: to_u32(stub_name, "SizeOfInitializedData", initialized)?,
        dll_characteristics,
        number_of_sections: u16::try_from(n_old + appended)
            .map_err(|_| input_err(stub_name, "more than 65535 sections"))?,
        stub,
    })
}

impl UkiPlan<'_> {
    /// The planned sections: the stub's `.sbat` (if filled in place), then the new ones
    /// in file order.
    pub fn sections(&self) -> &[PlannedSection] {
        &self.sections
    }

    /// The size of the UKI file.
    pub fn file_size(&self) -> usize {
        self.file_size
    }

    /// `SizeOfImage` of the UKI.
    pub fn size_of_image(&self) -> u32 {
        self.size_of_image
    }

    /// Write the UKI.
    pub fn render(&self) -> Vec<u8> {
        let stub = &self.stub;
        let mut out = stub.data().to_vec();
        out.resize(self.file_size, 0);
        let opt = stub.optional_header_offset();
        let coff = opt - f::COFF_HEADER_SIZE;
        let mut next_header =
            stub.section_table_offset() + stub.sections().len() * f::SECTION_HEADER_SIZE;
        for (s, data) in self.sections.iter().zip(&self.contents) {
            let start = s.file_offset as usize;
            let raw = &mut out[start..start + s.raw_size as usize];
            raw.fill(0);
            raw[..data.len()].copy_from_slice(data);
            let header = match s.placement {
                Placement::InStub => stub
                    .section(s.name)
                    .map(|old| old.header_offset)
                    .unwrap_or(next_header),
                Placement::Appended => {
                    next_header += f::SECTION_HEADER_SIZE;
                    next_header - f::SECTION_HEADER_SIZE
                }
            };
            let h = &mut out[header..header + f::SECTION_HEADER_SIZE];
            h.fill(0);
            h[..s.name.len()].copy_from_slice(s.name.as_bytes());
            put_u32(h, f::SECTION_VIRTUAL_SIZE, s.virtual_size);
            put_u32(h, f::SECTION_VIRTUAL_ADDRESS, s.virtual_address);
            put_u32(h, f::SECTION_SIZE_OF_RAW_DATA, s.raw_size);
            put_u32(h, f::SECTION_POINTER_TO_RAW_DATA, s.file_offset);
            put_u32(h, f::SECTION_CHARACTERISTICS, s.characteristics);
        }
        put_u16(
            &mut out,
            coff + f::COFF_NUMBER_OF_SECTIONS,
            self.number_of_sections,
        );
        put_u32(
            &mut out,
            opt + f::OPT_SIZE_OF_INITIALIZED_DATA,
            self.size_of_initialized_data,
        );
        put_u32(&mut out, opt + f::OPT_SIZE_OF_IMAGE, self.size_of_image);
        put_u32(&mut out, opt + f::OPT_SIZE_OF_HEADERS, self.size_of_headers);
        put_u16(
            &mut out,
            opt + f::OPT_DLL_CHARACTERISTICS,
            self.dll_characteristics,
        );
        let checksum = pe_checksum(&out, stub.checksum_offset());
        put_u32(&mut out, stub.checksum_offset(), checksum);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::PeKind;
    use crate::testpe::{minimal_pe, pe_with_headers};
    use crate::uki::{build, inspect};

    struct Files {
        stub: Vec<u8>,
        linux: Vec<u8>,
    }

    fn files() -> Files {
        Files {
            stub: pe_with_headers(PeKind::Pe32Plus, 0x400),
            linux: minimal_pe(PeKind::Pe32Plus),
        }
    }

    fn inputs<'a>(f: &'a Files, cmdline: &'a str) -> UkiInputs<'a> {
        UkiInputs {
            stub: Input {
                name: "stub.efi",
                data: &f.stub,
            },
            linux: Input {
                name: "vmlinuz",
                data: &f.linux,
            },
            initrd: Input {
                name: "initrd",
                data: b"0707010000",
            },
            cmdline,
            os_release: Input {
                name: "os-release",
                data: b"ID=test\n",
            },
            uname: Some("6.1-test"),
            sbat: None,
        }
    }

    #[test]
    fn sections_follow_each_other_aligned() {
        let f = files();
        let plan = plan(&inputs(&f, "quiet")).expect("plan");
        let names: Vec<_> = plan.sections().iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            [".osrel", ".cmdline", ".uname", ".linux", ".initrd", ".sbat"]
        );
        let mut va_end = 0x1000 + 0x1f0;
        let mut file_end = f.stub.len() as u32;
        for s in plan.sections() {
            assert_eq!(s.virtual_address % 0x1000, 0, "{s:?}");
            assert!(s.virtual_address >= va_end, "{s:?}");
            assert_eq!(s.file_offset, file_end, "{s:?}");
            assert_eq!(s.raw_size % 0x200, 0, "{s:?}");
            va_end = s.virtual_address + s.virtual_size;
            file_end = s.file_offset + s.raw_size;
        }
        assert_eq!(plan.size_of_image(), 0x7000 + 0x1000);
        let uki = plan.render();
        assert_eq!(uki.len(), plan.file_size());
        let info = inspect("uki.efi", &uki).expect("inspect");
        assert_eq!(info.cmdline.as_deref(), Some("quiet"));
        assert_eq!(info.os_release.as_deref(), Some("ID=test\n"));
        assert_eq!(info.uname.as_deref(), Some("6.1-test"));
        let image = PeImage::parse("uki.efi", &uki).expect("parse");
        assert_eq!(
            image.section_data(image.section(".linux").expect("linux")),
            &f.linux[..]
        );
        assert_eq!(
            image.stored_checksum(),
            pe_checksum(&uki, image.checksum_offset())
        );
    }

    #[test]
    fn bad_inputs_are_refused_with_the_reason() {
        let f = files();
        let mut cases: Vec<(UkiInputs<'_>, &str)> = Vec::new();
        cases.push((
            inputs(&f, "a\0b"),
            "--cmdline: the command line contains a NUL byte",
        ));
        let mut i = inputs(&f, "");
        i.linux.data = b"";
        cases.push((i, "vmlinuz: the kernel is empty"));
        let mut i = inputs(&f, "");
        i.linux.data = b"\x1f\x8b\x08gzip";
        cases.push((i, "vmlinuz: the kernel is not an EFI PE image"));
        let small_stub = minimal_pe(PeKind::Pe32Plus);
        let mut i = inputs(&f, "");
        i.stub.data = &small_stub;
        cases.push((i, "stub.efi: no room for 6 more section headers"));
        let uki = build(&inputs(&f, "")).expect("build");
        let mut i = inputs(&f, "");
        i.stub.data = &uki;
        cases.push((i, "stub.efi: the stub already has a .osrel section"));
        for (i, want) in cases {
            let e = plan(&i).expect_err(want).to_string();
            assert!(e.starts_with(want), "{e} does not start with {want}");
        }
    }
}
