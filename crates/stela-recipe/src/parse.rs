//! TOML text to [`RawRecipe`], collecting every structural problem.
//!
//! serde stops at the first error, so the document is deserialized again after each one
//! with the offending top-level entry taken out: one problem per broken section, and the
//! sections that are fine still reach the validator.

use std::collections::BTreeSet;
use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::{Location, Problem, ProblemKind};
use crate::raw::RawRecipe;

/// A recipe that deserialized, perhaps after taking out broken top-level entries.
pub(crate) struct Parsed {
    pub raw: RawRecipe,
    /// Dotted paths of keys taken out because of a reported problem; the validator must
    /// not also call them missing.
    pub removed: BTreeSet<String>,
}

/// One step of a path into the document.
enum Seg {
    Key(String),
    Index(usize),
}

fn render(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Parses `text`; `None` (with problems pushed) when nothing can be validated.
pub(crate) fn parse_raw(text: &str, problems: &mut Vec<Problem>) -> Option<Parsed> {
    let (mut doc, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        // A recovered document would make the validator report fields as missing that
        // are only unreadable: report the syntax and stop.
        problems.extend(errors.iter().map(|e| Problem {
            kind: ProblemKind::Syntax,
            field: String::new(),
            location: e.span().map(|s| Location::of_offset(text, s.start)),
            message: format!("invalid TOML: {}", e.message()),
        }));
        return None;
    }
    let mut removed = BTreeSet::new();
    loop {
        let error = match RawRecipe::deserialize(toml::de::Deserializer::from(doc.clone())) {
            Ok(raw) => return Some(Parsed { raw, removed }),
            Err(e) => e,
        };
        let span = error.span();
        let path = span
            .as_ref()
            .and_then(|s| find_path(doc.get_ref(), s))
            .unwrap_or_default();
        // serde names Rust types; say what TOML needs.
        let message = error.message().trim_end_matches('\n').replace(
            "expected i64",
            "expected an integer (a mode is written 0o644)",
        );
        let unknown = message.starts_with("unknown field");
        // An unknown field is reported on the table that holds it.
        let field_path = if unknown {
            &path[..path.len().saturating_sub(1)]
        } else {
            &path[..]
        };
        problems.push(Problem {
            kind: if unknown {
                ProblemKind::UnknownField
            } else {
                ProblemKind::Shape
            },
            field: render(field_path),
            location: span.map(|s| Location::of_offset(text, s.start)),
            message,
        });
        // Take out the offending key (a whole array for a bad element, so that the
        // indices of later problems stay right) and try again.
        let mut path = path;
        while matches!(path.last(), Some(Seg::Index(_))) {
            path.pop();
        }
        if path.is_empty() || !remove_at(doc.get_mut(), &path) {
            // Nothing to take out: the problem cannot be isolated.
            return None;
        }
        removed.insert(render(&path));
    }
}

/// Removes the key at `path` (keys and indices, ending with a key); false if absent.
fn remove_at(table: &mut DeTable<'_>, path: &[Seg]) -> bool {
    let Some((Seg::Key(last), parents)) = path.split_last() else {
        return false;
    };
    let Some(table) = table_at(table, parents) else {
        return false;
    };
    let before = table.len();
    let old = std::mem::take(table);
    *table = old
        .into_iter()
        .filter(|(k, _)| k.get_ref().as_ref() != last.as_str())
        .collect();
    table.len() < before
}

fn table_at<'t, 'i>(table: &'t mut DeTable<'i>, path: &[Seg]) -> Option<&'t mut DeTable<'i>> {
    let Some((Seg::Key(first), rest)) = path.split_first() else {
        return if path.is_empty() { Some(table) } else { None };
    };
    let (_, value) = table
        .iter_mut()
        .find(|(k, _)| k.get_ref().as_ref() == first.as_str())?;
    let mut value = value.get_mut();
    let mut rest = rest;
    while let Some((Seg::Index(i), tail)) = rest.split_first() {
        let DeValue::Array(items) = value else {
            return None;
        };
        value = items.get_mut(*i)?.get_mut();
        rest = tail;
    }
    match value {
        DeValue::Table(t) => table_at(t, rest),
        _ => None,
    }
}

fn contains(range: &Range<usize>, at: usize) -> bool {
    range.start <= at && at < range.end.max(range.start + 1)
}

/// The path of the deepest key or value of `table` whose text contains `span`.
fn find_path(table: &DeTable<'_>, span: &Range<usize>) -> Option<Vec<Seg>> {
    for (key, value) in table.iter() {
        if contains(&key.span(), span.start) {
            return Some(vec![Seg::Key(key.get_ref().to_string())]);
        }
        if let Some(mut inner) = find_in_value(value, span) {
            inner.insert(0, Seg::Key(key.get_ref().to_string()));
            return Some(inner);
        }
    }
    None
}

fn find_in_value(value: &Spanned<DeValue<'_>>, span: &Range<usize>) -> Option<Vec<Seg>> {
    // Tables written with headers do not always span their keys: search inside first.
    match value.get_ref() {
        DeValue::Table(t) => {
            if let Some(path) = find_path(t, span) {
                return Some(path);
            }
        }
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(mut inner) = find_in_value(item, span) {
                    inner.insert(0, Seg::Index(i));
                    return Some(inner);
                }
            }
        }
        _ => {}
    }
    contains(&value.span(), span.start).then(Vec::new)
}
