//! Reading a UKI back: its sections and the text ones' contents.

use sha2::{Digest, Sha256};

use crate::{PeError, PeImage};

/// One section of a PE image, as `stela uki inspect` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionInfo {
    /// The name.
    pub name: String,
    /// `VirtualAddress`.
    pub virtual_address: u32,
    /// `VirtualSize`.
    pub virtual_size: u32,
    /// `PointerToRawData`.
    pub file_offset: u32,
    /// `SizeOfRawData`.
    pub raw_size: u32,
    /// `Characteristics`.
    pub characteristics: u32,
    /// SHA-256 of the contents (the raw data cut to `VirtualSize`), as `ukify inspect`
    /// prints it.
    pub sha256: [u8; 32],
}

/// What a UKI holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UkiInfo {
    /// All sections, in table order.
    pub sections: Vec<SectionInfo>,
    /// `.cmdline`, trailing NULs removed.
    pub cmdline: Option<String>,
    /// `.osrel`.
    pub os_release: Option<String>,
    /// `.uname`.
    pub uname: Option<String>,
    /// `.sbat`.
    pub sbat: Option<String>,
    /// How many attribute certificates (signatures) the file carries.
    pub signatures: usize,
}

/// List the sections of the PE image `data` (named `file` in errors) and the contents of
/// its text sections. Works on any PE image; a UKI is one with `.linux`.
pub fn inspect(file: &str, data: &[u8]) -> Result<UkiInfo, PeError> {
    let image = PeImage::parse(file, data)?;
    let sections = image
        .sections()
        .iter()
        .map(|s| SectionInfo {
            name: s.name.clone(),
            virtual_address: s.virtual_address,
            virtual_size: s.virtual_size,
            file_offset: s.pointer_to_raw_data,
            raw_size: s.size_of_raw_data,
            characteristics: s.characteristics,
            sha256: Sha256::digest(image.section_data(s)).into(),
        })
        .collect();
    let text = |name: &str| {
        image.section(name).map(|s| {
            let data = image.section_data(s);
            let end = data.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            String::from_utf8_lossy(&data[..end]).into_owned()
        })
    };
    Ok(UkiInfo {
        sections,
        cmdline: text(".cmdline"),
        os_release: text(".osrel"),
        uname: text(".uname"),
        sbat: text(".sbat"),
        signatures: image.certificates()?.len(),
    })
}
