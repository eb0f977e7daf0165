//! The Authenticode image hash (SHA-256).

use sha2::{Digest, Sha256};

use crate::PeImage;

/// The Authenticode SHA-256 digest of `image`, as the specification's "Calculating the PE
/// Image Hash" describes it (and sbsign, pesign and UEFI firmware compute it):
///
/// 1. the headers up to `SizeOfHeaders`, without the `CheckSum` field and without the
///    Certificate Table data directory entry;
/// 2. each section's raw data (`SizeOfRawData` bytes), in order of `PointerToRawData`;
/// 3. the data after the last byte counted so far (`SUM_OF_BYTES_HASHED`: headers plus
///    all raw sizes), up to the attribute certificate table, which ends the file.
///
/// Sections without raw data are skipped. Bytes between sections are not hashed: that is
/// the specification's definition, which every verifier follows.
pub fn image_digest(image: &PeImage<'_>) -> [u8; 32] {
    let data = image.data();
    let mut h = Sha256::new();
    let checksum = image.checksum_offset();
    let headers = image.size_of_headers() as usize;
    // Step 1. PeImage::parse checked that the optional header holds CheckSum and the
    // entry, and that SizeOfHeaders lies inside the file and past both.
    h.update(&data[..checksum]);
    match image.certificate_entry_offset() {
        Some(entry) => {
            h.update(&data[checksum + 4..entry]);
            h.update(&data[entry + 8..headers]);
        }
        None => h.update(&data[checksum + 4..headers]),
    }
    // Step 2.
    let mut sections: Vec<_> = image
        .sections()
        .iter()
        .filter(|s| s.size_of_raw_data != 0)
        .collect();
    sections.sort_by_key(|s| s.pointer_to_raw_data);
    let mut hashed = headers;
    for s in sections {
        h.update(&data[s.raw_range()]);
        hashed += s.size_of_raw_data as usize;
    }
    // Step 3.
    let end = image.without_certificates().len();
    if hashed < end {
        h.update(&data[hashed..end]);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::put_u32;
    use crate::image::PeKind;
    use crate::testpe::minimal_pe;

    #[test]
    fn digest_ignores_checksum_and_certificate_entry_but_not_code() {
        let base = minimal_pe(PeKind::Pe32Plus);
        let digest = |d: &[u8]| image_digest(&PeImage::parse("t", d).expect("parse"));
        let d0 = digest(&base);
        let opt = 0x40 + 24;

        let mut d = base.clone();
        put_u32(&mut d, opt + 64, 0x1234_5678);
        assert_eq!(digest(&d), d0, "CheckSum is not hashed");

        let mut d = base.clone();
        put_u32(&mut d, opt + 144, 0x400);
        put_u32(&mut d, opt + 148, 16);
        d.extend_from_slice(&[0xee; 16]);
        assert_eq!(digest(&d), d0, "the entry and the table are not hashed");

        let mut d = base.clone();
        d[0x250] ^= 1;
        assert_ne!(digest(&d), d0, "section data is hashed");

        let mut d = base.clone();
        d.extend_from_slice(b"trailer!");
        assert_ne!(digest(&d), d0, "trailing data is hashed");
    }
}
