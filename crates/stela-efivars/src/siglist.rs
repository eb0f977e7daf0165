//! `EFI_SIGNATURE_LIST` and `EFI_SIGNATURE_DATA` (UEFI 2.10, 32.4.1 "Signature Database").
//!
//! A signature database (the contents of `PK`, `KEK`, `db`, `dbx`, or an `.esl` file) is
//! a sequence of lists, each of one signature type and one entry size:
//!
//! ```text
//! EFI_SIGNATURE_LIST, all integers little-endian
//!   0x00 SignatureType        EFI_GUID
//!   0x10 SignatureListSize    u32   whole list, this header included
//!   0x14 SignatureHeaderSize  u32   type-specific header after this one (0 for X.509, SHA-256)
//!   0x18 SignatureSize        u32   one EFI_SIGNATURE_DATA
//!   0x1c SignatureHeader      [SignatureHeaderSize]
//!        Signatures           [EFI_SIGNATURE_DATA; n], n = (ListSize - 28 - HeaderSize) / SignatureSize
//! EFI_SIGNATURE_DATA
//!   0x00 SignatureOwner       EFI_GUID
//!   0x10 SignatureData        [SignatureSize - 16]
//! ```

use crate::guid::known;
use crate::{EfiVarsError, Guid};

/// Size of the fixed part of `EFI_SIGNATURE_LIST`.
pub const LIST_HEADER_SIZE: usize = 28;
/// Size of `EFI_SIGNATURE_DATA.SignatureOwner`.
pub const OWNER_SIZE: usize = 16;
/// Size of a SHA-256 digest, the data of an `EFI_CERT_SHA256_GUID` entry.
pub const SHA256_SIZE: usize = 32;

/// One `EFI_SIGNATURE_DATA`: an owner GUID and the signature data (a certificate, a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureData {
    /// `SignatureOwner`: who added the entry (an agent's GUID, chosen by the key owner).
    pub owner: Guid,
    /// `SignatureData`.
    pub data: Vec<u8>,
}

/// One `EFI_SIGNATURE_LIST`, validated: every entry has the same size, every size fits
/// the `u32` fields, and known types have their required shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureList {
    signature_type: Guid,
    header: Vec<u8>,
    signature_size: u32,
    entries: Vec<SignatureData>,
}

fn to_u32(n: usize, field: &str) -> Result<u32, EfiVarsError> {
    u32::try_from(n).map_err(|_| EfiVarsError::BuildList(format!("{field} {n} exceeds u32")))
}

impl SignatureList {
    /// A list of `entries` of type `signature_type`, after a type-specific `header`.
    pub fn new(
        signature_type: Guid,
        header: Vec<u8>,
        entries: Vec<SignatureData>,
    ) -> Result<Self, EfiVarsError> {
        let Some(first) = entries.first() else {
            return Err(EfiVarsError::BuildList("no entries".into()));
        };
        let data_len = first.data.len();
        if let Some((i, e)) = entries
            .iter()
            .enumerate()
            .find(|(_, e)| e.data.len() != data_len)
        {
            return Err(EfiVarsError::BuildList(format!(
                "entry {} has {} bytes of data, entry 1 has {data_len}; one list holds one size",
                i + 1,
                e.data.len()
            )));
        }
        let signature_size = to_u32(OWNER_SIZE + data_len, "SignatureSize")?;
        let total = entries
            .len()
            .checked_mul(OWNER_SIZE + data_len)
            .and_then(|n| n.checked_add(LIST_HEADER_SIZE + header.len()))
            .unwrap_or(usize::MAX);
        to_u32(total, "SignatureListSize")?;
        check_type_shape(signature_type, header.len(), signature_size)
            .map_err(EfiVarsError::BuildList)?;
        Ok(Self {
            signature_type,
            header,
            signature_size,
            entries,
        })
    }

    /// An `EFI_CERT_X509_GUID` list holding one DER certificate (how efitools and
    /// firmware setup screens write them: certificates differ in size).
    pub fn x509(owner: Guid, cert_der: &[u8]) -> Result<Self, EfiVarsError> {
        Self::new(
            known::EFI_CERT_X509,
            Vec::new(),
            vec![SignatureData {
                owner,
                data: cert_der.to_vec(),
            }],
        )
    }

    /// An `EFI_CERT_SHA256_GUID` list of digests (for `dbx`: hashes of forbidden images).
    pub fn sha256(owner: Guid, digests: &[[u8; SHA256_SIZE]]) -> Result<Self, EfiVarsError> {
        let entries = digests
            .iter()
            .map(|d| SignatureData {
                owner,
                data: d.to_vec(),
            })
            .collect();
        Self::new(known::EFI_CERT_SHA256, Vec::new(), entries)
    }

    /// `SignatureType`.
    pub fn signature_type(&self) -> Guid {
        self.signature_type
    }

    /// `SignatureHeader` (empty for the types stela writes).
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// `SignatureSize`: the size of one entry, owner included.
    pub fn signature_size(&self) -> u32 {
        self.signature_size
    }

    /// The entries.
    pub fn entries(&self) -> &[SignatureData] {
        &self.entries
    }

    /// `SignatureListSize`: the encoded size of the whole list.
    pub fn encoded_len(&self) -> usize {
        LIST_HEADER_SIZE + self.header.len() + self.entries.len() * self.signature_size as usize
    }

    /// Append the encoded list to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        // Sizes were checked against u32 in `new` / `parse_lists`.
        let as_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        out.extend_from_slice(&self.signature_type.to_mixed_endian());
        out.extend_from_slice(&as_u32(self.encoded_len()).to_le_bytes());
        out.extend_from_slice(&as_u32(self.header.len()).to_le_bytes());
        out.extend_from_slice(&self.signature_size.to_le_bytes());
        out.extend_from_slice(&self.header);
        for e in &self.entries {
            out.extend_from_slice(&e.owner.to_mixed_endian());
            out.extend_from_slice(&e.data);
        }
    }

    /// A short name of the signature type for people (`x509`, `sha256`, or the GUID).
    pub fn type_name(&self) -> String {
        match self.signature_type {
            t if t == known::EFI_CERT_X509 => "x509".into(),
            t if t == known::EFI_CERT_SHA256 => "sha256".into(),
            t => t.to_string(),
        }
    }
}

/// The rules UEFI 2.10, 32.4.1 sets for the types stela knows; other types pass.
fn check_type_shape(
    signature_type: Guid,
    header_size: usize,
    signature_size: u32,
) -> Result<(), String> {
    if signature_type == known::EFI_CERT_SHA256 {
        let want = (OWNER_SIZE + SHA256_SIZE) as u32;
        if signature_size != want {
            return Err(format!(
                "SignatureSize {signature_size} is not {want} (16-byte owner + SHA-256) for an EFI_CERT_SHA256_GUID list"
            ));
        }
    }
    if (signature_type == known::EFI_CERT_SHA256 || signature_type == known::EFI_CERT_X509)
        && header_size != 0
    {
        return Err(format!(
            "SignatureHeaderSize {header_size} is not 0, as type {signature_type} requires"
        ));
    }
    Ok(())
}

/// Encode a signature database: the lists one after the other.
pub fn encode_lists(lists: &[SignatureList]) -> Vec<u8> {
    let mut out = Vec::with_capacity(lists.iter().map(SignatureList::encoded_len).sum());
    for l in lists {
        l.encode_into(&mut out);
    }
    out
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn guid_at(bytes: &[u8], at: usize) -> Guid {
    let mut b = [0u8; 16];
    b.copy_from_slice(&bytes[at..at + 16]);
    Guid::from_mixed_endian(b)
}

/// Parse a signature database (zero or more lists filling `bytes` exactly).
///
/// Every size field is checked against the buffer and against the others before it is
/// used; the error names the list, its offset and the field.
pub fn parse_lists(bytes: &[u8]) -> Result<Vec<SignatureList>, EfiVarsError> {
    let mut lists = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let index = lists.len() + 1;
        let err = |detail: String| EfiVarsError::SignatureList {
            index,
            offset,
            detail,
        };
        let left = bytes.len() - offset;
        if left < LIST_HEADER_SIZE {
            return Err(err(format!(
                "truncated: the list header needs {LIST_HEADER_SIZE} bytes, only {left} left"
            )));
        }
        let signature_type = guid_at(bytes, offset);
        let list_size = u32_at(bytes, offset + 16) as usize;
        let header_size = u32_at(bytes, offset + 20) as usize;
        let signature_size = u32_at(bytes, offset + 24);
        if list_size < LIST_HEADER_SIZE {
            return Err(err(format!(
                "SignatureListSize {list_size} is smaller than the {LIST_HEADER_SIZE}-byte list header"
            )));
        }
        if list_size > left {
            return Err(err(format!(
                "truncated: SignatureListSize {list_size} runs past the end of the data ({left} bytes left)"
            )));
        }
        if (signature_size as usize) < OWNER_SIZE {
            return Err(err(format!(
                "SignatureSize {signature_size} is smaller than the {OWNER_SIZE}-byte SignatureOwner"
            )));
        }
        let body = list_size - LIST_HEADER_SIZE;
        if header_size > body {
            return Err(err(format!(
                "SignatureHeaderSize {header_size} does not fit in SignatureListSize {list_size}"
            )));
        }
        let sigs_len = body - header_size;
        if sigs_len % signature_size as usize != 0 {
            return Err(err(format!(
                "SignatureListSize {list_size} leaves {sigs_len} bytes for signatures, not a multiple of SignatureSize {signature_size}"
            )));
        }
        check_type_shape(signature_type, header_size, signature_size).map_err(err)?;
        let start = offset + LIST_HEADER_SIZE;
        let header = bytes[start..start + header_size].to_vec();
        let entries = bytes[start + header_size..offset + list_size]
            .chunks_exact(signature_size as usize)
            .map(|c| SignatureData {
                owner: guid_at(c, 0),
                data: c[OWNER_SIZE..].to_vec(),
            })
            .collect();
        lists.push(SignatureList {
            signature_type,
            header,
            signature_size,
            entries,
        });
        offset += list_size;
    }
    Ok(lists)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Guid {
        Guid::from_fields(0x1111_1111, 0x2222, 0x3333, [0x44, 0x44, 1, 2, 3, 4, 5, 6])
    }

    fn sample() -> Vec<u8> {
        let a = SignatureList::x509(owner(), b"0123456789").expect("list");
        let b = SignatureList::sha256(owner(), &[[7u8; 32], [9u8; 32]]).expect("list");
        encode_lists(&[a, b])
    }

    #[test]
    fn lists_round_trip_with_exact_sizes() {
        let bytes = sample();
        assert_eq!(bytes.len(), (28 + 16 + 10) + (28 + 2 * 48));
        // SignatureListSize, SignatureHeaderSize, SignatureSize of the first list.
        assert_eq!(&bytes[16..28], &[54, 0, 0, 0, 0, 0, 0, 0, 26, 0, 0, 0]);
        let lists = parse_lists(&bytes).expect("parse");
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[0].entries()[0].data, b"0123456789");
        assert_eq!(lists[1].entries().len(), 2);
        assert_eq!(lists[1].entries()[1].owner, owner());
        assert_eq!(lists[1].type_name(), "sha256");
        assert_eq!(encode_lists(&lists), bytes);
        assert!(parse_lists(&[]).expect("empty").is_empty());
    }

    fn error_of(bytes: &[u8]) -> String {
        parse_lists(bytes).unwrap_err().to_string()
    }

    #[test]
    fn every_bad_size_field_is_named_with_list_and_offset() {
        let good = sample();
        let second = 54;
        let set = |at: usize, v: u32| {
            let mut b = good.clone();
            b[at..at + 4].copy_from_slice(&v.to_le_bytes());
            b
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                set(second + 24, 0),
                "signature list 2 at offset 54: SignatureSize 0 is smaller than the 16-byte SignatureOwner",
            ),
            (
                set(16, 20),
                "signature list 1 at offset 0: SignatureListSize 20 is smaller",
            ),
            (
                set(second + 16, 1000),
                "signature list 2 at offset 54: truncated: SignatureListSize 1000 runs past the end",
            ),
            (
                good[..good.len() - 1].to_vec(),
                "signature list 2 at offset 54: truncated: SignatureListSize 124 runs past",
            ),
            (
                good[..60].to_vec(),
                "signature list 2 at offset 54: truncated: the list header needs 28 bytes, only 6 left",
            ),
            (set(20, 100), "signature list 1 at offset 0: SignatureHeaderSize 100 does not fit"),
            (set(24, 17), "not a multiple of SignatureSize 17"),
            (set(second + 24, 32), "SignatureSize 32 is not 48"),
        ];
        for (bytes, want) in cases {
            let got = error_of(&bytes);
            assert!(got.contains(want), "want {want:?}, got {got:?}");
        }
    }

    #[test]
    fn builder_rejects_mixed_sizes_and_empty_lists() {
        let e = SignatureList::new(
            known::EFI_CERT_X509,
            vec![],
            vec![
                SignatureData {
                    owner: owner(),
                    data: vec![1; 3],
                },
                SignatureData {
                    owner: owner(),
                    data: vec![1; 4],
                },
            ],
        )
        .unwrap_err();
        assert!(e.to_string().contains("entry 2 has 4 bytes"), "{e}");
        let e = SignatureList::sha256(owner(), &[]).unwrap_err();
        assert!(
            matches!(&e, EfiVarsError::BuildList(m) if m == "no entries"),
            "{e}"
        );
    }
}
