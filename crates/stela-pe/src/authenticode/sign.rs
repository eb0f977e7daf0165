//! Signing a PE image: Authenticode `SignedData` in a `WIN_CERTIFICATE` at the end.

use der::asn1::{Any, BitString, BmpString, OctetString, SetOfVec};
use der::{Encode, Tag};
use spki::AlgorithmIdentifierOwned;
use stela_keys::{oid, Signer};
use x509_cert::attr::Attribute;

use super::asn1::{
    DigestInfo, SpcAttributeTypeAndOptionalValue, SpcIndirectDataContent, SpcLink, SpcPeImageData,
    SpcString, OBSOLETE_FILE_LINK,
};
use super::image_digest;
use crate::checksum::pe_checksum;
use crate::format::{self as f, align_up, put_u32};
use crate::{PeError, PeImage};

/// A signed image and what signing did.
#[derive(Debug, Clone)]
pub struct SignedImage {
    /// The signed file.
    pub bytes: Vec<u8>,
    /// The Authenticode SHA-256 digest that was signed.
    pub digest: [u8; 32],
    /// How many signatures the input had (they were removed).
    pub replaced: usize,
}

/// Where the pieces of the signed file go, computed before any byte is written.
#[derive(Debug, Clone, Copy)]
struct SignLayout {
    /// The image without its old certificate table, padded to 8 bytes: the table's offset.
    table_offset: usize,
    /// `dwLength` of the one `WIN_CERTIFICATE` (header plus PKCS#7).
    entry_length: usize,
    /// The table size: `dwLength` rounded up to 8.
    table_size: usize,
}

fn encode_err<'a>(file: &'a str, what: &'static str) -> impl FnOnce(der::Error) -> PeError + 'a {
    move |e| PeError::Encode {
        file: file.to_owned(),
        what,
        detail: e.to_string(),
    }
}

/// The DER of the `SpcIndirectDataContent` for an image with `digest`.
fn indirect_data(file: &str, digest: &[u8; 32]) -> Result<Vec<u8>, PeError> {
    let link = BmpString::from_utf8(OBSOLETE_FILE_LINK).map_err(encode_err(file, "SpcString"))?;
    let pe_data = SpcPeImageData {
        flags: BitString::from_bytes(&[]).map_err(encode_err(file, "SpcPeImageFlags"))?,
        file: Some(SpcLink::File(SpcString::Unicode(link))),
    };
    SpcIndirectDataContent {
        data: SpcAttributeTypeAndOptionalValue {
            value_type: oid::SPC_PE_IMAGE_DATA,
            value: Some(Any::encode_from(&pe_data).map_err(encode_err(file, "SpcPeImageData"))?),
        },
        message_digest: DigestInfo {
            digest_algorithm: AlgorithmIdentifierOwned {
                oid: oid::SHA256,
                parameters: Some(Any::null()),
            },
            digest: OctetString::new(digest.to_vec()).map_err(encode_err(file, "DigestInfo"))?,
        },
    }
    .to_der()
    .map_err(encode_err(file, "SpcIndirectDataContent"))
}

/// An `SpcSpOpusInfo` signed attribute without program name or URL (both are optional).
fn opus_info(file: &str) -> Result<Attribute, PeError> {
    let empty =
        Any::new(Tag::Sequence, Vec::<u8>::new()).map_err(encode_err(file, "SpcSpOpusInfo"))?;
    Ok(Attribute {
        oid: oid::SPC_SP_OPUS_INFO,
        values: SetOfVec::try_from(vec![empty]).map_err(encode_err(file, "SpcSpOpusInfo"))?,
    })
}

/// Sign the PE image `data` (named `file` in errors) with Authenticode.
///
/// The result has exactly one signature. Signatures already in the input are removed
/// first, not kept beside the new one: a boot chain signs with one key, and a stale
/// signature by another key (Debian's, on a kernel) would only widen who can vouch for
/// the file. The removal is logged.
///
/// The `WIN_CERTIFICATE` (revision 2.0, `WIN_CERT_TYPE_PKCS_SIGNED_DATA`) starts at the
/// 8-byte-aligned end of the image and is padded to 8 bytes; the Certificate Table entry
/// points at it and `CheckSum` is recomputed over the final file.
pub fn sign(file: &str, data: &[u8], signer: &dyn Signer) -> Result<SignedImage, PeError> {
    let image = PeImage::parse(file, data)?;
    let entry = image
        .certificate_entry_offset()
        .ok_or(PeError::NoCertificateDirectory {
            file: file.to_owned(),
            count: image.data_directories(),
        })?;
    let replaced = match image.certificate_table() {
        None => 0,
        Some(t) => {
            let n = image.certificates().map(|c| c.len()).unwrap_or(1);
            tracing::warn!(
                "{file}: replacing {n} existing signature(s) ({} bytes at {:#x})",
                t.size,
                t.offset
            );
            n
        }
    };

    // The unsigned image, padded so that the table starts on an 8-byte boundary. The
    // padding belongs to the image and is hashed (as sbsign and pesign do).
    let mut unsigned = image.without_certificates().to_vec();
    let table_offset = align_up(unsigned.len() as u64, f::WIN_CERTIFICATE_ALIGNMENT as u64);
    unsigned.resize(table_offset as usize, 0);
    put_u32(&mut unsigned, entry, 0);
    put_u32(&mut unsigned, entry + 4, 0);
    let digest = image_digest(&PeImage::parse(file, &unsigned)?);

    let content = indirect_data(file, &digest)?;
    let pkcs7 = stela_keys::pkcs7::sign_embedded(
        signer,
        oid::SPC_INDIRECT_DATA,
        &content,
        vec![opus_info(file)?],
    )
    .map_err(|source| PeError::Sign {
        file: file.to_owned(),
        source,
    })?;

    let entry_length = f::WIN_CERTIFICATE_HEADER_SIZE + pkcs7.len();
    let layout = SignLayout {
        table_offset: table_offset as usize,
        entry_length,
        table_size: align_up(entry_length as u64, f::WIN_CERTIFICATE_ALIGNMENT as u64) as usize,
    };
    let total = layout.table_offset + layout.table_size;
    if u32::try_from(total).is_err() {
        return Err(PeError::TooLarge {
            file: file.to_owned(),
            what: "the signed image".into(),
            size: total as u64,
        });
    }

    let mut out = unsigned;
    out.reserve_exact(layout.table_size);
    put_u32(&mut out, entry, layout.table_offset as u32);
    put_u32(&mut out, entry + 4, layout.table_size as u32);
    out.extend_from_slice(&(layout.entry_length as u32).to_le_bytes());
    out.extend_from_slice(&f::WIN_CERT_REVISION_2_0.to_le_bytes());
    out.extend_from_slice(&f::WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
    out.extend_from_slice(&pkcs7);
    out.resize(total, 0);
    debug_assert_eq!(out.len(), layout.table_offset + layout.table_size);
    let checksum = pe_checksum(&out, image.checksum_offset());
    put_u32(&mut out, image.checksum_offset(), checksum);
    Ok(SignedImage {
        bytes: out,
        digest,
        replaced,
    })
}
