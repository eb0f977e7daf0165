//! Maintenance windows: when a machine may reboot into a new version by itself.
//!
//! Written `[DAYS] HH:MM-HH:MM`, in UTC (a device's clock zone is not something the agent
//! should guess): `02:00-04:00` every day, `Sat,Sun 01:00-06:00`, `Mon..Fri 22:00-02:00`
//! (a window that ends at or before its start runs past midnight and belongs to the day it
//! starts on). Days are `Mon` to `Sun`, a comma list, ranges with `..`, or `daily`.

use serde::Serialize;

use crate::error::InvalidValue;

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MINUTES_PER_DAY: u16 = 24 * 60;

/// A weekly maintenance window, checked; [`MaintenanceWindow::contains`] answers whether
/// a moment lies in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct MaintenanceWindow {
    text: String,
    /// Bit `d` set: the window opens on weekday `d` (0 = Monday).
    days: u8,
    /// Minutes after midnight UTC.
    start: u16,
    /// Its length in minutes (1 to a whole day).
    length: u16,
}

impl From<MaintenanceWindow> for String {
    fn from(w: MaintenanceWindow) -> String {
        w.text
    }
}

impl std::fmt::Display for MaintenanceWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (UTC)", self.text)
    }
}

fn day(name: &str, whole: &str) -> Result<u8, InvalidValue> {
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(name))
        .map(|p| p as u8)
        .ok_or_else(|| {
            InvalidValue(format!(
                "{whole:?}: {name:?} is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun, or daily)"
            ))
        })
}

fn clock(text: &str, whole: &str) -> Result<u16, InvalidValue> {
    let bad = || {
        InvalidValue(format!(
            "{whole:?}: {text:?} is not a time HH:MM (00:00 to 24:00)"
        ))
    };
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl MaintenanceWindow {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<MaintenanceWindow, InvalidValue> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let (days_text, span) = match words.as_slice() {
            [span] => ("daily", *span),
            [days, span] => (*days, *span),
            _ => {
                return Err(InvalidValue(format!(
                "{s:?} is not a window `[DAYS] HH:MM-HH:MM` (for example \"Sat,Sun 02:00-05:00\")"
            )))
            }
        };
        let mut days = 0u8;
        if days_text.eq_ignore_ascii_case("daily") {
            days = 0x7f;
        } else {
            for part in days_text.split(',') {
                match part.split_once("..") {
                    Some((from, to)) => {
                        let (from, to) = (day(from, s)?, day(to, s)?);
                        if to < from {
                            return Err(InvalidValue(format!(
                                "{s:?}: the day range {part} runs backwards (the week starts on Mon)"
                            )));
                        }
                        for d in from..=to {
                            days |= 1 << d;
                        }
                    }
                    None => days |= 1 << day(part, s)?,
                }
            }
        }
        let (from, to) = span.split_once('-').ok_or_else(|| {
            InvalidValue(format!("{s:?}: {span:?} is not a time span HH:MM-HH:MM"))
        })?;
        let (start, end) = (clock(from, s)?, clock(to, s)?);
        if start == MINUTES_PER_DAY {
            return Err(InvalidValue(format!("{s:?}: a window starts before 24:00")));
        }
        if start == end {
            return Err(InvalidValue(format!(
                "{s:?}: the window starts and ends at {from}; give it a length"
            )));
        }
        let length = (end + MINUTES_PER_DAY - start) % MINUTES_PER_DAY;
        let length = if length == 0 { MINUTES_PER_DAY } else { length };
        Ok(MaintenanceWindow {
            text: s.split_whitespace().collect::<Vec<_>>().join(" "),
            days,
            start,
            length,
        })
    }

    /// Whether the moment `weekday` (0 = Monday) at `minute` minutes after midnight UTC
    /// lies in the window.
    pub fn contains(&self, weekday: u8, minute: u16) -> bool {
        let week = 7 * MINUTES_PER_DAY as u32;
        let now = u32::from(weekday % 7) * MINUTES_PER_DAY as u32 + u32::from(minute);
        (0..7u8).filter(|d| self.days & (1 << d) != 0).any(|d| {
            let open = u32::from(d) * MINUTES_PER_DAY as u32 + u32::from(self.start);
            // Minutes since that opening, across the end of the week.
            (now + week - open) % week < u32::from(self.length)
        })
    }

    /// The window as written (without the time zone).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The window's openings as a systemd calendar event (`OnCalendar=`, see
    /// systemd.time(7)), in UTC: `Sat,Sun *-*-* 01:00:00 UTC`.
    pub fn on_calendar(&self) -> String {
        let days: Vec<&str> = (0..7)
            .filter(|d| self.days & (1 << d) != 0)
            .map(|d| DAYS[d])
            .collect();
        let days = if days.len() == 7 {
            String::new()
        } else {
            format!("{} ", days.join(","))
        };
        format!(
            "{days}*-*-* {:02}:{:02}:00 UTC",
            self.start / 60,
            self.start % 60
        )
    }

    /// Its length in minutes.
    pub fn minutes(&self) -> u16 {
        self.length
    }
}

#[cfg(test)]
mod calendar_tests {
    use super::*;

    #[test]
    fn openings_as_systemd_calendar_events() {
        let w = |s: &str| MaintenanceWindow::parse(s).unwrap();
        assert_eq!(w("02:00-04:00").on_calendar(), "*-*-* 02:00:00 UTC");
        assert_eq!(
            w("Sat,Sun 01:05-06:00").on_calendar(),
            "Sat,Sun *-*-* 01:05:00 UTC"
        );
        assert_eq!(
            w("Mon..Fri 22:00-02:00").on_calendar(),
            "Mon,Tue,Wed,Thu,Fri *-*-* 22:00:00 UTC"
        );
        assert_eq!(w("Mon..Fri 22:00-02:00").minutes(), 240);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: u16, m: u16) -> u16 {
        h * 60 + m
    }

    #[test]
    fn daily_windows_and_their_edges() {
        let w = MaintenanceWindow::parse("02:00-04:00").unwrap();
        assert!(!w.contains(0, at(1, 59)));
        assert!(w.contains(0, at(2, 0)));
        assert!(w.contains(6, at(3, 59)));
        assert!(!w.contains(3, at(4, 0)));
        assert_eq!(w.to_string(), "02:00-04:00 (UTC)");
    }

    #[test]
    fn days_ranges_and_midnight() {
        let w = MaintenanceWindow::parse("Mon..Wed,Sat 22:00-02:00").unwrap();
        assert!(w.contains(0, at(23, 0)), "Monday night");
        assert!(
            w.contains(1, at(1, 0)),
            "the Monday window runs into Tuesday"
        );
        assert!(!w.contains(3, at(23, 0)), "not Thursday");
        assert!(
            w.contains(3, at(1, 0)),
            "Wednesday's window runs into Thursday"
        );
        assert!(!w.contains(4, at(1, 0)));
        // Sunday's early hours belong to Saturday's window; Monday's to Sunday's (none).
        assert!(w.contains(6, at(1, 30)));
        let sun = MaintenanceWindow::parse("sun 23:00-01:00").unwrap();
        assert!(
            sun.contains(0, at(0, 30)),
            "Sunday's window runs into Monday"
        );
        let all = MaintenanceWindow::parse("daily 00:00-24:00").unwrap();
        assert!((0..7).all(|d| all.contains(d, 0) && all.contains(d, at(23, 59))));
    }

    #[test]
    fn bad_windows_say_why() {
        for (bad, why) in [
            ("", "not a window"),
            ("Sat 02:00", "time span"),
            ("Someday 02:00-03:00", "not a day"),
            ("Fri..Mon 02:00-03:00", "backwards"),
            ("02:00-02:00", "length"),
            ("2:00-03:00", "HH:MM"),
            ("02:60-03:00", "HH:MM"),
            ("24:00-01:00", "before 24:00"),
            ("Sat 01:00-02:00 extra", "not a window"),
        ] {
            let e = MaintenanceWindow::parse(bad).unwrap_err().0;
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }
}
