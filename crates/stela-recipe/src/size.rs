//! Sizes written as `512M`, `1G`: a whole number and a binary unit.

use std::fmt;

use serde::Serialize;

use crate::error::InvalidValue;

/// 1 MiB: partitions start and end on MiB boundaries.
pub const MIB: u64 = 1 << 20;

const UNITS: [(char, u32); 4] = [('K', 10), ('M', 20), ('G', 30), ('T', 40)];

/// A size in bytes, written in a recipe as a whole number followed by `K`, `M`, `G` or `T`
/// (powers of 1024: `1G` is 1 073 741 824 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Size(u64);

impl Size {
    /// A size of `bytes`.
    pub const fn from_bytes(bytes: u64) -> Size {
        Size(bytes)
    }

    /// `n` MiB.
    pub const fn mib(n: u64) -> Size {
        Size(n * MIB)
    }

    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }

    /// Parses `512M`, `1G`, `64K`, `2T`.
    pub fn parse(s: &str) -> Result<Size, InvalidValue> {
        let not_a_size = || InvalidValue(format!("{s:?} is not a size (use K, M, G or T)"));
        let Some(unit) = s.chars().last() else {
            return Err(not_a_size());
        };
        let Some(&(_, shift)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(not_a_size());
        };
        let number = &s[..s.len() - 1];
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            if number.contains('.') {
                return Err(InvalidValue(format!(
                    "{s:?} is not a size: use a whole number of a smaller unit (e.g. 1536M for 1.5G)"
                )));
            }
            return Err(not_a_size());
        }
        number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(1u64 << shift))
            .map(Size)
            .ok_or_else(|| InvalidValue(format!("{s:?} is too large")))
    }
}

impl fmt::Display for Size {
    /// The largest unit that writes the size exactly (`1536M`, `1G`), or bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &(unit, shift) in UNITS.iter().rev() {
            let scale = 1u64 << shift;
            if self.0 != 0 && self.0 % scale == 0 {
                return write!(f, "{}{unit}", self.0 / scale);
            }
        }
        write!(f, "{} bytes", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let table = [
            ("1K", 1024),
            ("512M", 512 * MIB),
            ("1G", 1 << 30),
            ("1536M", 1536 * MIB),
            ("2T", 2 << 40),
            ("0M", 0),
        ];
        for (text, bytes) in table {
            let size = Size::parse(text).map_err(|e| e.0);
            assert_eq!(size, Ok(Size(bytes)), "{text}");
        }
        assert_eq!(Size(1536 * MIB).to_string(), "1536M");
        assert_eq!(Size(1 << 30).to_string(), "1G");
        assert_eq!(Size(100).to_string(), "100 bytes");
    }

    #[test]
    fn rejects() {
        for (text, says) in [
            ("12X", "is not a size (use K, M, G or T)"),
            ("", "is not a size"),
            ("G", "is not a size"),
            ("1.5G", "whole number"),
            ("1g", "is not a size"),
            ("-1G", "is not a size"),
            ("1024", "is not a size"),
            ("99999999999T", "too large"),
        ] {
            let err = Size::parse(text).err().map(|e| e.0).unwrap_or_default();
            assert!(err.contains(says), "{text:?}: {err}");
        }
    }
}
