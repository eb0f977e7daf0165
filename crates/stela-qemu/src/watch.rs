//! Matching patterns against a serial console as it streams.
//!
//! The console is a terminal: OVMF and systemd-boot draw with ANSI escape sequences and
//! move the cursor instead of writing newlines. Patterns are matched against the text a
//! person would read: escape sequences are removed, a cursor move or screen clear ends a
//! line like a newline does, and carriage returns are dropped. The raw bytes still go to
//! the log unchanged.

use regex::Regex;

/// Which pattern a line matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hit {
    /// The success pattern (`--until`).
    Until(String),
    /// The failure pattern (`--fail`).
    Fail(String),
}

/// Splits a byte stream into display lines and matches them.
#[derive(Debug)]
pub(crate) struct LineMatcher {
    until: Option<Regex>,
    fail: Option<Regex>,
    line: Vec<u8>,
    state: Escape,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// Inside a CSI sequence (ESC `[` parameters, final byte 0x40..=0x7e).
    Csi,
}

/// Longest partial line kept; a console that never writes a newline must not grow memory.
const MAX_LINE: usize = 64 * 1024;

impl LineMatcher {
    pub(crate) fn new(until: Option<Regex>, fail: Option<Regex>) -> LineMatcher {
        LineMatcher {
            until,
            fail,
            line: Vec::new(),
            state: Escape::None,
        }
    }

    /// Replaces the patterns; a partial line already received is kept.
    pub(crate) fn set_patterns(&mut self, until: Option<Regex>, fail: Option<Regex>) {
        self.until = until;
        self.fail = fail;
    }

    /// Feeds the next chunk; returns the first hit on a complete line in it and how many
    /// bytes of the chunk were used up to it (the rest belongs to the next wait). A
    /// failure pattern wins over a success pattern on the same line.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Option<(Hit, usize)> {
        for (i, &b) in chunk.iter().enumerate() {
            if let Some(hit) = self.push(b) {
                return Some((hit, i + 1));
            }
        }
        None
    }

    /// Matches the unfinished last line. Called when the console has gone quiet, so a
    /// prompt without a newline (`login: `) is seen, while a line still arriving is
    /// matched (and reported) whole. After a hit its continuation starts a new line.
    pub(crate) fn match_partial(&mut self) -> Option<Hit> {
        let hit = self.check_line()?;
        self.line.clear();
        Some(hit)
    }

    fn push(&mut self, b: u8) -> Option<Hit> {
        match self.state {
            Escape::Start => {
                self.state = if b == b'[' { Escape::Csi } else { Escape::None };
                None
            }
            Escape::Csi => {
                if (0x40..=0x7e).contains(&b) {
                    self.state = Escape::None;
                    // Cursor position and erase: the firmware's way of starting a new line.
                    if matches!(b, b'H' | b'f' | b'J') {
                        return self.end_line();
                    }
                }
                None
            }
            Escape::None => match b {
                0x1b => {
                    self.state = Escape::Start;
                    None
                }
                b'\n' => self.end_line(),
                b'\r' | 0 => None,
                _ => {
                    if self.line.len() >= MAX_LINE {
                        return self.end_line_then(b);
                    }
                    self.line.push(b);
                    None
                }
            },
        }
    }

    fn end_line_then(&mut self, b: u8) -> Option<Hit> {
        let hit = self.end_line();
        self.line.push(b);
        hit
    }

    fn end_line(&mut self) -> Option<Hit> {
        let hit = self.check_line();
        self.line.clear();
        hit
    }

    fn check_line(&self) -> Option<Hit> {
        if self.line.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(&self.line);
        if self.fail.as_ref().is_some_and(|re| re.is_match(&text)) {
            return Some(Hit::Fail(text.trim().to_owned()));
        }
        if self.until.as_ref().is_some_and(|re| re.is_match(&text)) {
            return Some(Hit::Until(text.trim().to_owned()));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(until: &str, fail: &str) -> LineMatcher {
        LineMatcher::new(
            Some(Regex::new(until).expect("pattern")),
            Some(Regex::new(fail).expect("pattern")),
        )
    }

    #[test]
    fn table() {
        // (chunks fed in order, expected hit after the last chunk)
        let cases: &[(&[&[u8]], Option<Hit>)] = &[
            (
                &[b"[    1.2] secureboot: Secure boot enabled\n"],
                Some(Hit::Until(
                    "[    1.2] secureboot: Secure boot enabled".into(),
                )),
            ),
            // split across chunks, even inside a word
            (
                &[b"secureboot: Secure bo", b"ot enabled\r\n"],
                Some(Hit::Until("secureboot: Secure boot enabled".into())),
            ),
            // colour codes inside the text are not seen by the pattern
            (
                &[b"\x1b[1m\x1b[33mSecure\x1b[0m boot enabled"],
                Some(Hit::Until("Secure boot enabled".into())),
            ),
            // an escape sequence split across chunks
            (
                &[b"Secure\x1b[", b"0m boot enabled"],
                Some(Hit::Until("Secure boot enabled".into())),
            ),
            // a cursor move ends a line: no match across it
            (&[b"Secure boot\x1b[05;01Henabled"], None),
            // failure wins on the same line
            (
                &[b"Kernel panic, Secure boot enabled\n"],
                Some(Hit::Fail("Kernel panic, Secure boot enabled".into())),
            ),
            (&[b"nothing here\n"], None),
        ];
        for (chunks, want) in cases {
            let mut m = matcher("Secure boot enabled", "Kernel panic");
            let mut got = None;
            for c in *chunks {
                got = got.or(m.feed(c).map(|(hit, _)| hit));
            }
            got = got.or_else(|| m.match_partial());
            assert_eq!(&got, want, "chunks {chunks:?}");
        }
    }

    #[test]
    fn first_hit_in_a_chunk_wins() {
        let mut m = matcher("ready", "panic");
        let chunk = b"ready\npanic\n";
        assert_eq!(m.feed(chunk), Some((Hit::Until("ready".into()), 6)));
        // the rest is matched by the next call
        assert_eq!(m.feed(&chunk[6..]), Some((Hit::Fail("panic".into()), 6)));
    }

    #[test]
    fn partial_lines_match_only_when_asked() {
        let mut m = matcher("login:", "panic");
        assert_eq!(m.feed(b"debian login: "), None);
        assert_eq!(m.match_partial(), Some(Hit::Until("debian login:".into())));
        // the rest of that line is a new line
        assert_eq!(m.feed(b"x\n"), None);
    }

    #[test]
    fn long_lines_are_bounded() {
        let mut m = matcher("x{10}y", "never");
        let junk = vec![b'x'; MAX_LINE * 2];
        assert_eq!(m.feed(&junk), None);
        assert!(m.line.len() <= MAX_LINE);
    }
}
