//! SBAT ("Secure Boot Advanced Targeting", rhboot/shim SBAT.md): the CSV of component
//! generations that a UKI's `.sbat` section carries, merged the way ukify merges it.

use crate::PeError;

/// The first line of every SBAT section: the version of the SBAT format itself.
pub const SBAT_HEADER: &str =
    "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md";

/// The line for the UKI as a component, used when the caller gives no SBAT text of its
/// own (the generation the UAPI UKI specification starts from).
pub const UKI_SBAT_LINE: &str =
    "uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/";

/// The component lines of an SBAT text (everything after the `sbat,` header line), or
/// `None` if it does not start with that header.
fn component_lines(text: &str) -> Option<Vec<&str>> {
    let mut lines = text.lines();
    let first = lines.next()?;
    first
        .starts_with("sbat,")
        .then(|| lines.filter(|l| !l.is_empty()).collect())
}

/// Where SBAT lines come from, for [`merge`].
#[derive(Debug, Clone, Copy)]
pub struct SbatSource<'a> {
    /// The file (or section) it came from, for messages.
    pub name: &'a str,
    /// The text, trailing NULs already removed.
    pub text: &'a str,
}

/// Merge SBAT texts into one `.sbat` section body: the header line once, then the
/// component lines of the embedded PE sections (stub, kernel), then those of the
/// caller's text (or [`UKI_SBAT_LINE`] if there is none), then a newline and a NUL.
///
/// A section without the header line is skipped with a warning, as ukify does; the
/// caller's own text must have it (an error instead of ukify's silent skip).
pub fn merge(
    sections: &[SbatSource<'_>],
    user: Option<SbatSource<'_>>,
) -> Result<Vec<u8>, PeError> {
    let mut lines: Vec<&str> = Vec::new();
    for s in sections {
        match component_lines(s.text) {
            Some(l) => lines.extend(l),
            None => tracing::warn!(
                "{}: .sbat does not start with an 'sbat,' line; skipped",
                s.name
            ),
        }
    }
    match user {
        Some(u) => {
            lines.extend(
                component_lines(u.text).ok_or_else(|| PeError::UkiInput {
                    file: u.name.to_owned(),
                    problem:
                        "SBAT text does not start with the 'sbat,1,SBAT Version,...' header line"
                            .into(),
                })?,
            )
        }
        None => lines.push(UKI_SBAT_LINE),
    }
    let mut out = String::from(SBAT_HEADER);
    out.push('\n');
    out.push_str(&lines.join("\n"));
    out.push_str("\n\0");
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_keeps_one_header_and_all_components() {
        let stub = format!("{SBAT_HEADER}\nsystemd-stub,1,x,systemd,257,u\n");
        let user = format!("{SBAT_HEADER}\nmyos,2,Me,myos,1,https://example.org\n");
        let out = merge(
            &[SbatSource {
                name: "stub",
                text: &stub,
            }],
            Some(SbatSource {
                name: "sbat.csv",
                text: &user,
            }),
        )
        .expect("merge");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            format!("{SBAT_HEADER}\nsystemd-stub,1,x,systemd,257,u\nmyos,2,Me,myos,1,https://example.org\n\0")
        );
        let out = merge(
            &[SbatSource {
                name: "stub",
                text: &stub,
            }],
            None,
        )
        .expect("merge");
        assert!(String::from_utf8(out)
            .expect("utf8")
            .ends_with(&format!("{UKI_SBAT_LINE}\n\0")));
    }

    #[test]
    fn user_text_without_header_is_refused() {
        let e = merge(
            &[],
            Some(SbatSource {
                name: "sbat.csv",
                text: "myos,1,a,b,c,d\n",
            }),
        )
        .expect_err("no header");
        assert!(
            e.to_string()
                .starts_with("sbat.csv: SBAT text does not start"),
            "{e}"
        );
    }
}
