/// What is wrong with a PE image, or why stela refuses to sign it or build a UKI from it.
///
/// Every variant names the file (as the caller named it) and what is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeError {
    /// The file does not start with the MS-DOS "MZ" signature.
    #[error("{file}: not a PE image (no MZ signature at offset 0)")]
    NotMz {
        /// The file.
        file: String,
    },
    /// `e_lfanew` does not point at "PE\0\0".
    #[error("{file}: no PE signature at offset {offset:#x} (e_lfanew)")]
    BadPeSignature {
        /// The file.
        file: String,
        /// Where the signature should be.
        offset: u64,
    },
    /// The file ends inside a header structure.
    #[error("{file}: truncated: {what} needs bytes up to {needed}, the file has {size}")]
    Truncated {
        /// The file.
        file: String,
        /// The structure that does not fit.
        what: String,
        /// The offset it needs to reach.
        needed: u64,
        /// The file size.
        size: u64,
    },
    /// A header field has a value stela cannot accept.
    #[error("{file}: {field} is {value}: {problem}")]
    BadField {
        /// The file.
        file: String,
        /// The field, in the specification's words.
        field: &'static str,
        /// Its value.
        value: String,
        /// Why it is not acceptable.
        problem: &'static str,
    },
    /// A section's raw data lies (partly) past the end of the file.
    #[error(
        "{file}: section {section} has raw data at {start:#x}..{end:#x}, past the end of the \
         file ({size:#x} bytes)"
    )]
    SectionOutsideFile {
        /// The file.
        file: String,
        /// The section name.
        section: String,
        /// PointerToRawData.
        start: u64,
        /// PointerToRawData + SizeOfRawData.
        end: u64,
        /// The file size.
        size: u64,
    },
    /// The certificate table directory entry points outside the file.
    #[error(
        "{file}: certificate table at {offset:#x} ({size} bytes) lies outside the file \
         ({file_size} bytes)"
    )]
    CertificateTableOutsideFile {
        /// The file.
        file: String,
        /// Its file offset.
        offset: u64,
        /// Its size.
        size: u64,
        /// The file size.
        file_size: u64,
    },
    /// The certificate table is not the last thing in the file, or overlaps image data;
    /// Authenticode cannot hash such a file unambiguously.
    #[error("{file}: certificate table at {offset:#x}..{end:#x} {problem}")]
    CertificateTablePlacement {
        /// The file.
        file: String,
        /// Its file offset.
        offset: u64,
        /// Its end.
        end: u64,
        /// What is wrong ("is not at the end of the file (…)", "overlaps …").
        problem: String,
    },
    /// An attribute certificate entry (`WIN_CERTIFICATE`) is malformed.
    #[error("{file}: certificate entry at {offset:#x}: {problem}")]
    BadCertificateEntry {
        /// The file.
        file: String,
        /// The entry's file offset.
        offset: u64,
        /// What is wrong.
        problem: String,
    },
    /// Signing was asked for an image that has no room for a certificate table entry.
    #[error(
        "{file}: the optional header has {count} data directories, so no certificate table entry"
    )]
    NoCertificateDirectory {
        /// The file.
        file: String,
        /// `NumberOfRvaAndSizes`.
        count: u32,
    },
    /// The image (with its signature) would exceed the 4 GiB a PE image can address.
    #[error("{file}: {what} would be {size} bytes, more than a PE image can describe")]
    TooLarge {
        /// The file.
        file: String,
        /// What grew too large.
        what: String,
        /// Its size.
        size: u64,
    },
    /// A UKI input is not acceptable (an empty kernel, a NUL in the command line, a stub
    /// that already is a UKI, ...).
    #[error("{file}: {problem}")]
    UkiInput {
        /// The input file, or the option that gave the text.
        file: String,
        /// What is wrong.
        problem: String,
    },
    /// The stub's header area has no room for the new section headers.
    #[error(
        "{file}: no room for {new} more section headers: they would end at {needed:#x}, \
         the headers end at {available:#x}"
    )]
    NoHeaderRoom {
        /// The stub.
        file: String,
        /// How many section headers are to be added.
        new: usize,
        /// Where the section table would end.
        needed: u64,
        /// Where the header area ends (SizeOfHeaders rounded up, or the first section).
        available: u64,
    },
    /// Making the PKCS#7 signature failed.
    #[error("{file}: signing")]
    Sign {
        /// The image being signed.
        file: String,
        /// What stela-keys said.
        #[source]
        source: stela_keys::KeyError,
    },
    /// Encoding the Authenticode structures failed.
    #[error("{file}: encoding {what}: {detail}")]
    Encode {
        /// The image being signed.
        file: String,
        /// The structure.
        what: &'static str,
        /// The encoder's message.
        detail: String,
    },
}
