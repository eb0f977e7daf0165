//! Debian's licence short names (copyright-format 1.0, "License specification") as SPDX
//! identifiers, for the common ones. A name not in the table stays a name: a wrong
//! identifier would be worse than none.

/// Debian short name -> SPDX identifier.
const TABLE: &[(&str, &str)] = &[
    ("Apache-2.0", "Apache-2.0"),
    ("Artistic", "Artistic-1.0-Perl"),
    ("BSD-2-clause", "BSD-2-Clause"),
    ("BSD-3-clause", "BSD-3-Clause"),
    ("BSD-4-clause", "BSD-4-Clause"),
    ("BSL-1.0", "BSL-1.0"),
    ("CC0-1.0", "CC0-1.0"),
    ("Expat", "MIT"),
    ("GPL-1", "GPL-1.0-only"),
    ("GPL-1+", "GPL-1.0-or-later"),
    ("GPL-2", "GPL-2.0-only"),
    ("GPL-2+", "GPL-2.0-or-later"),
    ("GPL-3", "GPL-3.0-only"),
    ("GPL-3+", "GPL-3.0-or-later"),
    ("ISC", "ISC"),
    ("LGPL-2", "LGPL-2.0-only"),
    ("LGPL-2+", "LGPL-2.0-or-later"),
    ("LGPL-2.1", "LGPL-2.1-only"),
    ("LGPL-2.1+", "LGPL-2.1-or-later"),
    ("LGPL-3", "LGPL-3.0-only"),
    ("LGPL-3+", "LGPL-3.0-or-later"),
    ("MIT", "MIT"),
    ("MPL-1.1", "MPL-1.1"),
    ("MPL-2.0", "MPL-2.0"),
    ("OpenSSL", "OpenSSL"),
    ("Python-2.0", "Python-2.0"),
    ("X11", "X11"),
    ("Zlib", "Zlib"),
    ("zlib", "Zlib"),
];

/// The SPDX expression for a Debian licence field (`GPL-2+ or Artistic`), when every
/// licence in it has an identifier; `None` otherwise.
pub fn spdx_expression(debian: &str) -> Option<String> {
    let mut out = Vec::new();
    for word in debian.split_whitespace() {
        let op = match word.to_ascii_lowercase().as_str() {
            "or" => Some("OR"),
            "and" => Some("AND"),
            _ => None,
        };
        match op {
            Some(op) => out.push(op.to_owned()),
            None => {
                let id = TABLE
                    .iter()
                    .find(|(d, _)| *d == word.trim_end_matches(','))?
                    .1;
                out.push(id.to_owned());
            }
        }
    }
    // An operator at either end or two in a row is not an expression.
    let ops = |w: &String| w == "OR" || w == "AND";
    let valid = !out.is_empty()
        && !ops(&out[0])
        && !ops(&out[out.len() - 1])
        && out.windows(2).all(|w| ops(&w[0]) != ops(&w[1]));
    valid.then(|| out.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_names_to_spdx() {
        assert_eq!(
            spdx_expression("GPL-2+").as_deref(),
            Some("GPL-2.0-or-later")
        );
        assert_eq!(
            spdx_expression("GPL-3+ or BSD-2-clause").as_deref(),
            Some("GPL-3.0-or-later OR BSD-2-Clause")
        );
        assert_eq!(spdx_expression("Expat").as_deref(), Some("MIT"));
        assert_eq!(spdx_expression("public-domain"), None);
        assert_eq!(spdx_expression("GPL-2+ with OpenSSL exception"), None);
        assert_eq!(spdx_expression("or GPL-2"), None);
    }
}
