//! Boot entries on the ESP: UKIs in `EFI/Linux/`, with systemd-boot's boot counting.
//!
//! systemd's "Automatic Boot Assessment": a name `<id>+<left>[-<done>].efi` has `left`
//! tries to go and `done` used; systemd-boot counts down on each try, systemd-bless-boot
//! drops the counter once the boot was good; `+0` marks a bad entry, sorted last.

use std::cmp::Ordering;

use stela_verity::RootHash;

use crate::slot::label_version;

/// Where systemd-boot finds UKIs (Boot Loader Specification, type #2 entries).
pub const UKI_DIR: &str = "EFI/Linux/";

/// The tries of a counted entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tries {
    /// Tries left (`+<left>`).
    pub left: u32,
    /// Tries used (`-<done>`, 0 when absent).
    pub done: u32,
}

/// A UKI on the ESP as systemd-boot sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootEntry {
    /// Path from the ESP's root, e.g. `EFI/Linux/demo_1+3.efi`.
    pub path: String,
    /// The entry id: the file name without counter and `.efi` (`demo_1`).
    pub id: String,
    /// Its boot counter, if it has one (none once blessed).
    pub tries: Option<Tries>,
    /// The `usrhash=` of its command line: the root hash of the slot it boots.
    pub usrhash: Option<RootHash>,
}

impl BootEntry {
    /// The entry for a UKI at `path` (a `.efi` file in [`UKI_DIR`]), else `None`.
    pub fn from_path(path: &str, cmdline: Option<&str>) -> Option<BootEntry> {
        let name = path.strip_prefix(UKI_DIR)?;
        if name.contains('/') || name.len() < 4 || !name.is_char_boundary(name.len() - 4) {
            return None;
        }
        let (stem, ext) = name.split_at(name.len() - 4);
        if !ext.eq_ignore_ascii_case(".efi") {
            return None;
        }
        let (id, tries) = match stem
            .rsplit_once('+')
            .and_then(|(id, c)| Some((id, counter(c)?)))
        {
            Some((id, tries)) => (id, Some(tries)),
            None => (stem, None),
        };
        Some(BootEntry {
            path: path.to_owned(),
            id: id.to_owned(),
            tries,
            usrhash: cmdline.and_then(usrhash),
        })
    }

    /// `<version>` of a `<name>_<version>` id.
    pub fn version(&self) -> Option<&str> {
        label_version(&self.id)
    }

    /// Whether its tries are used up (`+0`): systemd-boot boots it only when no other
    /// entry is left.
    pub fn is_bad(&self) -> bool {
        matches!(self.tries, Some(Tries { left: 0, .. }))
    }
}

fn counter(text: &str) -> Option<Tries> {
    let number = |s: &str| -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (left, done) = match text.split_once('-') {
        Some((l, d)) => (number(l)?, number(d)?),
        None => (number(text)?, 0),
    };
    Some(Tries { left, done })
}

/// The root hash a kernel command line's `usrhash=` names.
pub fn usrhash(cmdline: &str) -> Option<RootHash> {
    cmdline
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix("usrhash="))
        .next_back()
        .and_then(|h| h.parse().ok())
}

/// The entry systemd-boot boots by default, with no `default` in loader.conf (stela
/// writes none): entries with tries left before bad ones, then the highest version.
pub fn default_entry(entries: &[BootEntry]) -> Option<&BootEntry> {
    entries.iter().min_by(|a, b| {
        a.is_bad()
            .cmp(&b.is_bad())
            .then_with(|| compare_versions(&b.id, &a.id))
    })
}

/// Orders versions: runs of digits compare as numbers, other runs as text. A subset of
/// systemd's `strverscmp_improved`: its rules for `~`, `-`, `^` and `.` and its skipping
/// of other punctuation (`_`) are not implemented. Entries of one image share the
/// `<name>_` prefix and differ in a version of digits and dots, where both agree.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let (ra, rest_a) = run(a);
        let (rb, rest_b) = run(b);
        let digit = |r: &str| r.as_bytes()[0].is_ascii_digit();
        let order = match (digit(ra), digit(rb)) {
            (true, true) => {
                let (na, nb) = (ra.trim_start_matches('0'), rb.trim_start_matches('0'));
                na.len().cmp(&nb.len()).then_with(|| na.cmp(nb))
            }
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => ra.cmp(rb),
        };
        if order != Ordering::Equal {
            return order;
        }
        (a, b) = (rest_a, rest_b);
    }
}

/// The first run of `s` (non-empty): all digits, or all non-digits.
fn run(s: &str) -> (&str, &str) {
    let digits = s.as_bytes()[0].is_ascii_digit();
    let end = s
        .bytes()
        .position(|b| b.is_ascii_digit() != digits)
        .unwrap_or(s.len());
    s.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str) -> BootEntry {
        BootEntry::from_path(path, None).expect(path)
    }

    #[test]
    fn names_with_and_without_counters() {
        for (path, id, tries) in [
            ("EFI/Linux/demo_1+3.efi", "demo_1", Some((3, 0))),
            ("EFI/Linux/demo_1+2-1.EFI", "demo_1", Some((2, 1))),
            ("EFI/Linux/demo_1+0-3.efi", "demo_1", Some((0, 3))),
            ("EFI/Linux/demo_1.efi", "demo_1", None),
            ("EFI/Linux/demo_1+x.efi", "demo_1+x", None),
        ] {
            let e = entry(path);
            assert_eq!(e.id, id, "{path}");
            assert_eq!(e.tries.map(|t| (t.left, t.done)), tries, "{path}");
            assert_eq!(e.version(), id.strip_prefix("demo_"), "{path}");
        }
        assert!(entry("EFI/Linux/demo_1+0-3.efi").is_bad());
        assert_eq!(BootEntry::from_path("EFI/BOOT/BOOTX64.EFI", None), None);
        assert_eq!(BootEntry::from_path("EFI/Linux/sub/x.efi", None), None);
        assert_eq!(BootEntry::from_path("EFI/Linux/x.conf", None), None);
    }

    #[test]
    fn usrhash_is_read_from_the_command_line() {
        let h = "ab".repeat(32);
        let e = BootEntry::from_path(
            "EFI/Linux/demo_2+3.efi",
            Some(&format!("console=ttyS0 usrhash={h} mount.usrfstype=erofs")),
        )
        .expect("entry");
        assert_eq!(e.usrhash.map(|h| h.to_string()), Some(h));
        assert_eq!(usrhash("usrhash=12ab"), None);
    }

    #[test]
    fn default_is_the_newest_entry_with_tries_left() {
        let entries = [
            entry("EFI/Linux/demo_9+3.efi"),
            entry("EFI/Linux/demo_10+0-3.efi"),
            entry("EFI/Linux/demo_1.10.efi"),
        ];
        assert_eq!(
            default_entry(&entries).map(|e| e.id.as_str()),
            Some("demo_9")
        );
        let entries = [
            entry("EFI/Linux/demo_1.9.efi"),
            entry("EFI/Linux/demo_1.10+1.efi"),
        ];
        assert_eq!(
            default_entry(&entries).map(|e| e.id.as_str()),
            Some("demo_1.10")
        );
        assert_eq!(default_entry(&[]), None);
    }

    #[test]
    fn versions_compare_by_number() {
        use Ordering::*;
        for (a, b, want) in [
            ("1", "2", Less),
            ("10", "9", Greater),
            ("1.10", "1.9", Greater),
            ("1.0", "1.0", Equal),
            ("01", "1", Equal),
            ("1.0", "1.0.1", Less),
            ("1a", "1b", Less),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
        }
    }
}
