//! `EFI_TIME` as an authenticated variable's time stamp.

use std::fmt;

use crate::EfiVarsError;

/// The size of `EFI_TIME` on disk.
pub const EFI_TIME_SIZE: usize = 16;

/// A UTC time stamp for a time-based authenticated variable (UEFI 2.10, 8.3 `EFI_TIME`).
///
/// UEFI 2.10, 8.2.2: in `EFI_VARIABLE_AUTHENTICATION_2.TimeStamp`, "Pad1, Nanosecond,
/// TimeZone, Daylight and Pad2 shall be set to 0", so only the date and time are kept.
/// Firmware refuses an update whose time stamp is not later than the stored one
/// (unless it appends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EfiTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

fn days_in_month(year: u16, month: u8) -> u8 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl EfiTime {
    /// A time stamp from its fields; `EFI_TIME` allows years 1900 to 9999.
    pub fn new(
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
    ) -> Result<Self, EfiVarsError> {
        let bad = |what: String| Err(EfiVarsError::Time(what));
        if !(1900..=9999).contains(&year) {
            return bad(format!("Year {year} is outside 1900..=9999"));
        }
        if !(1..=12).contains(&month) {
            return bad(format!("Month {month} is outside 1..=12"));
        }
        if day == 0 || day > days_in_month(year, month) {
            return bad(format!("Day {day} does not exist in {year}-{month:02}"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return bad(format!(
                "time of day {hour:02}:{minute:02}:{second:02} is out of range"
            ));
        }
        Ok(Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// The UTC time `secs` seconds after 1970-01-01 00:00:00 (e.g. `SOURCE_DATE_EPOCH`).
    pub fn from_unix(secs: i64) -> Result<Self, EfiVarsError> {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Civil date from a day count (Howard Hinnant's algorithm, proleptic Gregorian).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let year = u16::try_from(year)
            .map_err(|_| EfiVarsError::Time(format!("Unix time {secs} is out of range")))?;
        // The remaining casts are of values already bounded by the arithmetic above.
        Self::new(
            year,
            month as u8,
            day as u8,
            (rem / 3600) as u8,
            (rem / 60 % 60) as u8,
            (rem % 60) as u8,
        )
    }

    /// The 16 on-disk bytes: `Year` (u16 LE), `Month`, `Day`, `Hour`, `Minute`, `Second`,
    /// then `Pad1`, `Nanosecond`, `TimeZone`, `Daylight`, `Pad2`, all zero.
    pub fn to_bytes(self) -> [u8; EFI_TIME_SIZE] {
        let mut b = [0u8; EFI_TIME_SIZE];
        b[0..2].copy_from_slice(&self.year.to_le_bytes());
        b[2] = self.month;
        b[3] = self.day;
        b[4] = self.hour;
        b[5] = self.minute;
        b[6] = self.second;
        b
    }

    /// Decode the 16 on-disk bytes, requiring the zero fields of UEFI 2.10, 8.2.2.
    pub fn from_bytes(b: &[u8; EFI_TIME_SIZE]) -> Result<Self, EfiVarsError> {
        let zero_fields: [(&str, u64); 5] = [
            ("Pad1", u64::from(b[7])),
            (
                "Nanosecond",
                u64::from(u32::from_le_bytes([b[8], b[9], b[10], b[11]])),
            ),
            ("TimeZone", u64::from(u16::from_le_bytes([b[12], b[13]]))),
            ("Daylight", u64::from(b[14])),
            ("Pad2", u64::from(b[15])),
        ];
        for (field, value) in zero_fields {
            if value != 0 {
                return Err(EfiVarsError::Time(format!(
                    "{field} is {value}; UEFI requires 0 in an authenticated variable"
                )));
            }
        }
        Self::new(
            u16::from_le_bytes([b[0], b[1]]),
            b[2],
            b[3],
            b[4],
            b[5],
            b[6],
        )
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC), the form `sign-efi-sig-list -t` takes.
impl fmt::Display for EfiTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_convert_to_civil_dates() {
        let cases = [
            (0, "1970-01-01 00:00:00"),
            (951_782_400, "2000-02-29 00:00:00"),
            (1_704_164_645, "2024-01-02 03:04:05"),
            (4_107_542_399, "2100-02-28 23:59:59"),
            (-2_208_988_800, "1900-01-01 00:00:00"),
        ];
        for (secs, text) in cases {
            assert_eq!(EfiTime::from_unix(secs).expect("time").to_string(), text);
        }
        let e = EfiTime::from_unix(-2_208_988_801).unwrap_err();
        assert!(
            matches!(&e, EfiVarsError::Time(m) if m.contains("Year 1899")),
            "{e}"
        );
    }

    #[test]
    fn bytes_round_trip_and_nonzero_padding_is_named() {
        let t = EfiTime::from_unix(1_704_164_645).expect("time");
        let b = t.to_bytes();
        assert_eq!(hex::encode(b), "e8070102030405000000000000000000");
        assert_eq!(EfiTime::from_bytes(&b).expect("parse"), t);
        let mut nano = b;
        nano[8] = 5;
        let e = EfiTime::from_bytes(&nano).unwrap_err().to_string();
        assert!(e.contains("Nanosecond is 5"), "{e}");
        let mut month = b;
        month[2] = 13;
        let e = EfiTime::from_bytes(&month).unwrap_err();
        assert!(
            matches!(&e, EfiVarsError::Time(m) if m.contains("Month 13")),
            "{e}"
        );
        let e = EfiTime::new(2023, 2, 29, 0, 0, 0).unwrap_err();
        assert!(
            matches!(&e, EfiVarsError::Time(m) if m.contains("Day 29")),
            "{e}"
        );
    }
}
