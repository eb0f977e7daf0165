//! Version ordering as systemd-boot applies it to boot entries.
//!
//! The UAPI Version Format Specification (uapi-group/specifications,
//! `specs/version_format_specification.md`, version 1) defines the order; systemd
//! implements it as `strverscmp_improved()` in `src/fundamental/`, the code systemd-boot
//! sorts its entries with. The steps below carry the specification's numbers.
//!
//! Off-spec, in two places where the text and systemd disagree; stela follows systemd,
//! because systemd-boot is what picks the version that boots:
//! - the specification checks for the end of a string (step 2) before `~` (step 3) and
//!   lists `'' < '~'` and `0 < ~` among its examples, while its own introduction says a
//!   `~` suffix "always sorts lower"; systemd checks `~` first
//!   (`systemd-analyze compare-versions 0 '~'` prints `0 > ~`);
//! - step 6 says the string with `^` "compares higher"; in systemd the side with `^`
//!   compares lower when the other side goes on with `.` or a letter or digit
//!   (`1.0^post1 < 1.0.1`), and higher only than the end of the string and `-`
//!   (`1.0^ > 1.0`, `1.0^1 > 1.0-1`).

use std::cmp::Ordering;

/// Compares two version strings the way systemd-boot orders boot entries.
///
/// ```
/// use std::cmp::Ordering;
/// use stela_recipe::compare_versions;
/// assert_eq!(compare_versions("1.0~rc1", "1.0"), Ordering::Less);
/// assert_eq!(compare_versions("1.0^post1", "1.0"), Ordering::Greater);
/// assert_eq!(compare_versions("1.0^post1", "1.0.1"), Ordering::Less);
/// assert_eq!(compare_versions("1.10", "1.9"), Ordering::Greater);
/// ```
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        // Step 1: characters outside the version alphabet only separate components.
        a = skip_separators(a);
        b = skip_separators(b);

        // Step 3 (systemd checks it before the end of the string, see the module docs):
        // a pre-release suffix sorts below anything else, the end of the string included.
        if let Some(order) = prefix(&mut a, &mut b, b'~', Ordering::Less) {
            return order;
        }
        // Steps 2 and 4: the string with characters left is the newer one.
        match (a.is_empty(), b.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            (false, false) => {}
        }
        // Step 5: `-` separates version and release; the side that has it is older.
        if let Some(order) = prefix(&mut a, &mut b, b'-', Ordering::Less) {
            return order;
        }
        // Step 6: `^` marks a patched release. It sorts above the end of the string and
        // `-` (handled above) but, as in systemd, below `.` and alphanumerics (off-spec,
        // see the module docs).
        if let Some(order) = prefix(&mut a, &mut b, b'^', Ordering::Less) {
            return order;
        }
        // Step 6 (again numbered 6 in the text): `.` separates point releases.
        if let Some(order) = prefix(&mut a, &mut b, b'.', Ordering::Less) {
            return order;
        }

        let order = if starts_with_digit(a) || starts_with_digit(b) {
            // Step 7: numbers compare by value; an empty number sorts lower.
            let (na, nb) = (
                leading(a, u8::is_ascii_digit),
                leading(b, u8::is_ascii_digit),
            );
            let order = (na > 0).cmp(&(nb > 0)).then_with(|| {
                let (da, db) = (strip_zeros(&a[..na]), strip_zeros(&b[..nb]));
                da.len().cmp(&db.len()).then_with(|| da.cmp(db))
            });
            a = &a[na..];
            b = &b[nb..];
            order
        } else {
            // Step 8: letters compare byte by byte (so `A` < `a`), then the longer wins.
            let (na, nb) = (
                leading(a, u8::is_ascii_alphabetic),
                leading(b, u8::is_ascii_alphabetic),
            );
            let common = na.min(nb);
            let order = a[..common].cmp(&b[..common]).then(na.cmp(&nb));
            a = &a[na..];
            b = &b[nb..];
            order
        };
        if order != Ordering::Equal {
            return order;
        }
    }
}

/// Whether `c` has a meaning in a version string (everything else is a separator).
pub(crate) fn is_version_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'~' | b'-' | b'^' | b'.')
}

fn skip_separators(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| !is_version_char(c)).count();
    &s[n..]
}

/// Handles a one-character prefix `c`: `when_only_a` is the answer when only `a` has it;
/// when both have it, both skip it.
fn prefix(a: &mut &[u8], b: &mut &[u8], c: u8, when_only_a: Ordering) -> Option<Ordering> {
    match (a.first() == Some(&c), b.first() == Some(&c)) {
        (false, false) => None,
        (true, true) => {
            *a = &a[1..];
            *b = &b[1..];
            None
        }
        (true, false) => Some(when_only_a),
        (false, true) => Some(when_only_a.reverse()),
    }
}

fn starts_with_digit(s: &[u8]) -> bool {
    s.first().is_some_and(u8::is_ascii_digit)
}

fn leading(s: &[u8], class: fn(&u8) -> bool) -> usize {
    s.iter().take_while(|c| class(c)).count()
}

fn strip_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b'0').count();
    &s[n..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn spec_examples_and_brief_vectors() {
        // (a, b, a compared with b); from the specification's examples (except the two
        // `~` cases it gets wrong, see the module docs) and systemd-boot's behaviour.
        let table = [
            ("11", "11", Equal),
            ("systemd-123", "systemd-123", Equal),
            ("bar-123", "foo-123", Less),
            ("123a", "123", Greater),
            ("123.a", "123", Greater),
            ("123.a", "123.b", Less),
            ("123a", "123.a", Greater),
            ("11α", "11β", Equal),
            ("A", "a", Less),
            ("", "0", Less),
            ("0.", "0", Greater),
            ("0.0", "0", Greater),
            ("0", "~", Greater),
            ("", "~", Greater),
            ("1_", "1", Equal),
            ("_1", "1", Equal),
            ("1_", "1.2", Less),
            ("1_2_3", "1.3.3", Greater),
            ("1+", "1", Equal),
            ("+1", "1", Equal),
            ("1+", "1.2", Less),
            ("1+2+3", "1.3.3", Greater),
            ("1.0", "1.0.1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^post1", "1.0.1", Less),
            ("a", "1", Less),
            ("1.9", "1.10", Less),
            ("007", "7", Equal),
            ("123-1", "123", Greater),
            ("123-1", "123.1", Less),
            ("123^1", "123-1", Greater),
            ("abc", "abcd", Less),
        ];
        for (a, b, want) in table {
            assert_eq!(compare_versions(a, b), want, "{a:?} vs {b:?}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b:?} vs {a:?}");
        }
    }

    #[test]
    fn systemd_documented_order() {
        // The order systemd documents in strverscmp_improved()'s comment, oldest first.
        let order = [
            "122.1",
            "123~rc1-1",
            "123",
            "123-a",
            "123-a.1",
            "123-1",
            "123-1.1",
            "123^post1",
            "123.a-1",
            "123.1-1",
            "123a-1",
            "124-1",
        ];
        for pair in order.windows(2) {
            assert_eq!(compare_versions(pair[0], pair[1]), Less, "{pair:?}");
        }
    }
}
