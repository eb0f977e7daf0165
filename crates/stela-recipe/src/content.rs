//! What of the packages' files goes into the image: documentation and message
//! translations are left out unless the recipe asks for them (an appliance has no one
//! reading man pages on it, and every byte of /usr is downloaded by every full update).

use serde::Serialize;

use crate::error::InvalidValue;
use crate::names::string_newtype;

string_newtype! {
    /// A language whose message catalogues are kept: the name of a directory under
    /// `/usr/share/locale` (`de`, `pt_BR`, `sr@latin`).
    Language
}

impl Language {
    /// Checks `s`: two or three lowercase letters, an optional `_` and two uppercase
    /// letters, an optional `@` and a lowercase word.
    pub fn parse(s: &str) -> Result<Language, InvalidValue> {
        let (main, modifier) = s.split_once('@').unwrap_or((s, ""));
        let (lang, territory) = main.split_once('_').unwrap_or((main, ""));
        let lang_ok = (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_lowercase());
        let territory_ok = !main.contains('_')
            || (territory.len() == 2 && territory.chars().all(|c| c.is_ascii_uppercase()));
        let modifier_ok = !s.contains('@')
            || (!modifier.is_empty() && modifier.chars().all(|c| c.is_ascii_lowercase()));
        if lang_ok && territory_ok && modifier_ok {
            Ok(Language(s.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "{s:?} is not a language directory of /usr/share/locale (like \"de\", \"pt_BR\" or \"sr@latin\")"
            )))
        }
    }
}

/// The `[content]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Content {
    /// Keep /usr/share/doc, /usr/share/man and /usr/share/info (default no; the packages'
    /// copyright files are always kept).
    pub docs: bool,
    /// The languages whose message catalogues (`/usr/share/locale/<lang>/LC_*/`) are kept; none
    /// by default.
    pub translations: Vec<Language>,
}

impl Content {
    /// dpkg's `path-exclude` / `path-include` filters for this table, in order (dpkg
    /// applies the last that matches), so that excluded files are never unpacked.
    pub fn dpkg_filters(&self) -> Vec<String> {
        let mut filters = Vec::new();
        if !self.docs {
            filters.extend(
                [
                    "path-exclude=/usr/share/doc/*",
                    "path-include=/usr/share/doc/*/copyright",
                    "path-exclude=/usr/share/man/*",
                    "path-exclude=/usr/share/info/*",
                ]
                .map(String::from),
            );
        }
        filters.push("path-exclude=/usr/share/locale/*/LC_*/*".to_owned());
        for lang in &self.translations {
            filters.push(format!("path-include=/usr/share/locale/{lang}/*"));
        }
        filters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_locale_directory_names() {
        for ok in ["de", "pt_BR", "sr@latin", "ast"] {
            assert!(Language::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "D", "de_", "de_br", "de/..", "*", "de@", "german"] {
            let err = Language::parse(bad).expect_err(bad);
            assert!(err.0.contains("/usr/share/locale"), "{bad}: {}", err.0);
        }
    }

    #[test]
    fn filters_keep_copyright_and_chosen_languages_last() {
        let none = Content::default().dpkg_filters();
        assert_eq!(none[0], "path-exclude=/usr/share/doc/*");
        assert!(none.contains(&"path-include=/usr/share/doc/*/copyright".to_owned()));
        let c = Content {
            docs: true,
            translations: vec![Language::parse("de").expect("de")],
        };
        assert_eq!(
            c.dpkg_filters(),
            [
                "path-exclude=/usr/share/locale/*/LC_*/*",
                "path-include=/usr/share/locale/de/*"
            ]
        );
    }
}
