//! Licences from a package's `/usr/share/doc/<package>/copyright`, where it is in Debian's
//! machine-readable format (copyright-format 1.0, "DEP-5"); other copyright files are
//! free text, from which no licence is guessed.

/// The distinct `License:` short names of the `Files:` paragraphs, in order of first
/// appearance; `None` when the file is not machine-readable or names none.
pub fn licenses(text: &str) -> Option<Vec<String>> {
    let mut paragraphs = text.split("\n\n").map(str::trim).filter(|p| !p.is_empty());
    let header = paragraphs.next()?;
    let format = field(header, "Format")?;
    if !format.contains("copyright-format/1.0") {
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for p in paragraphs {
        if field(p, "Files").is_none() {
            continue;
        }
        let Some(license) = field(p, "License").filter(|l| !l.is_empty()) else {
            continue;
        };
        if !out.iter().any(|l| l == license) {
            out.push(license.to_owned());
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The first line of field `name` in a paragraph.
fn field<'a>(paragraph: &'a str, name: &str) -> Option<&'a str> {
    paragraph.lines().find_map(|l| {
        if l.starts_with([' ', '\t']) {
            return None;
        }
        let (f, v) = l.split_once(':')?;
        f.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_readable_files_give_their_licenses() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: less\n\nFiles: *\nCopyright: 1984-2023 Mark Nudelman\nLicense: GPL-3+ or BSD-2-clause\n\nFiles: debian/*\nCopyright: someone\nLicense: GPL-2+\n\nLicense: GPL-2+\n This program is free software.\n\nFiles: lesskey.c\nCopyright: x\nLicense: GPL-2+\n";
        assert_eq!(
            licenses(text),
            Some(vec![
                "GPL-3+ or BSD-2-clause".to_owned(),
                "GPL-2+".to_owned()
            ])
        );
        assert_eq!(
            licenses("This is Debian's prepackaged version of dash.\n"),
            None
        );
        assert_eq!(
            licenses(
                "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
            ),
            None
        );
    }
}
