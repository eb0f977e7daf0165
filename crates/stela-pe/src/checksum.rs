//! The PE `CheckSum`: the one's-complement-style 16-bit sum of the file plus its length.
//!
//! The PE format leaves the algorithm to `imagehlp!CheckSumMappedFile`; this is its
//! known behaviour: add the file as little-endian 16-bit words (an odd last byte padded
//! with zero) with the `CheckSum` field itself counted as zero, folding the carry back
//! into the low 16 bits after each addition, then add the file length.

/// The checksum of `data`, whose `CheckSum` field is at `checksum_offset`.
pub fn pe_checksum(data: &[u8], checksum_offset: usize) -> u32 {
    let field = checksum_offset..checksum_offset.saturating_add(4);
    let byte = |i: usize| match data.get(i) {
        Some(b) if !field.contains(&i) => u32::from(*b),
        _ => 0,
    };
    let mut sum: u32 = 0;
    for at in (0..data.len()).step_by(2) {
        sum += byte(at) | (byte(at + 1) << 8);
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum.wrapping_add(data.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_folds_carries_and_skips_its_own_field() {
        // The 4-byte field at 2 is skipped; 0xffff + 0x0002 = 0x1_0001 folds to 0x0002;
        // plus the length 8.
        let data = [0xff, 0xff, 0xaa, 0xbb, 0xcc, 0xdd, 0x02, 0x00];
        assert_eq!(pe_checksum(&data, 2), 0x0002 + 8);
        // An odd trailing byte counts as a low byte.
        assert_eq!(pe_checksum(&[0x01, 0x00, 0x05], 100), 1 + 5 + 3);
    }
}
