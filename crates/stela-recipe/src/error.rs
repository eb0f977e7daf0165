//! Errors: a recipe is checked completely and every problem is reported at once.

use std::fmt;
use std::path::PathBuf;

/// What went wrong while loading a recipe.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecipeError {
    /// The recipe file could not be read.
    #[error("reading {path}")]
    Read {
        /// The recipe file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The recipe has one or more problems; all of them are listed, one per line.
    #[error("{}", render(file, problems))]
    Invalid {
        /// The name the recipe is reported under (its file name).
        file: String,
        /// Every problem found, in the order of the file.
        problems: Vec<Problem>,
    },
    /// Packages of the image's package set that the mirror's index does not have.
    #[error("packages not in {archive}: {}", join(names))]
    UnknownPackages {
        /// Suite, components and architecture that were searched.
        archive: String,
        /// Every unknown name, sorted.
        names: Vec<crate::PackageName>,
    },
}

fn join(names: &[crate::PackageName]) -> String {
    let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    names.join(", ")
}

impl RecipeError {
    /// The problems of an [`RecipeError::Invalid`] recipe (empty for other errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            RecipeError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

fn render(file: &str, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(|p| p.display_in(file)).collect();
    lines.join("\n")
}

/// What kind of problem a [`Problem`] is, for callers (and tests) that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProblemKind {
    /// The text is not TOML.
    Syntax,
    /// A field the recipe format does not have.
    UnknownField,
    /// A required field is absent, or a field has the wrong TOML type.
    Shape,
    /// A field is present with the right type but its value is not acceptable.
    Value,
    /// A host path named by the recipe does not exist or has the wrong kind.
    HostPath,
}

/// A line and column in the recipe text, both counted from 1 (columns in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1, in characters.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` of `text`.
    pub fn of_offset(text: &str, offset: usize) -> Location {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location { line, column }
    }
}

/// One problem in a recipe: where, which field, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The dotted path of the field (`partitions.root.encrypt`, `files[2].dest`); empty
    /// for the top level of the file.
    pub field: String,
    /// Where in the file, when the problem has a place there.
    pub location: Option<Location>,
    /// What is wrong, lowercase, no final period.
    pub message: String,
}

impl Problem {
    /// The problem as one line naming `file`:
    /// `recipe.toml line 12: partitions.usr_size: "12X" is not a size (use K, M, G or T)`.
    pub fn display_in(&self, file: &str) -> String {
        let mut out = file.to_owned();
        if let Some(loc) = self.location {
            out.push_str(&format!(" line {}", loc.line));
        }
        out.push_str(": ");
        if !self.field.is_empty() {
            out.push_str(&self.field);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_in("recipe"))
    }
}

/// Why a single value was refused by one of the recipe's types (`ImageName`, `Size`, ...).
///
/// The message describes the value only; the recipe loader adds the field and the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);
