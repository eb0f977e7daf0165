//! The recipe a stela image is built from: its TOML format, its validation, and the
//! digests the build caches its steps by.
//!
//! A recipe names the image and its version, the Debian archive and packages, files and
//! units to add, kernel arguments, partition sizes, the signing keys and first-boot
//! answers. `docs/recipe.md` describes every field; [`DEFAULT_RECIPE`] is a complete
//! example and what `stela build` builds without a recipe.
//!
//! Loading is two-phase, like the rest of stela: the TOML is read into raw structures
//! (serde, unknown fields refused everywhere), then every field is checked into the types
//! of a [`Recipe`] ([`ImageName`], [`Version`], [`Size`], [`PackageName`],
//! [`ImagePath`], ...) that the build uses without checking again. All problems are
//! collected before any work, each naming the file, line, field path and what is wrong:
//!
//! ```text
//! recipe.toml line 7: unknown field `pakages`, expected one of `name`, `version`, ...
//! recipe.toml line 12: partitions.usr_size: "12X" is not a size (use K, M, G or T)
//! ```
//!
//! ```
//! use std::path::Path;
//! use stela_recipe::Recipe;
//!
//! let recipe = Recipe::parse("name = \"web\"\nversion = \"2.1\"\n", "web.toml", Path::new("."))?;
//! assert_eq!(recipe.uki_path(), "EFI/Linux/web_2.1+3.efi");
//! assert!(recipe.package_set().iter().any(|p| p.as_str() == "systemd-boot"));
//! # Ok::<(), stela_recipe::RecipeError>(())
//! ```

mod build_args;
mod cmdline;
mod content;
mod debian;
mod digest;
mod error;
mod firstboot;
mod ipe;
mod model;
mod names;
mod packages;
mod parse;
mod paths;
mod raw;
mod size;
mod update;
mod validate;
mod version;
mod window;

use std::path::Path;

pub use build_args::{BuildArg, BuildValue, BUILD_ARGS};
pub use cmdline::{KernelCmdline, BUILD_CMDLINE_RESERVE, CMDLINE_EXTRA_MAX, CMDLINE_MAX};
pub use content::{Content, Language};
pub use debian::{
    Architecture, Component, Mirror, Snapshot, Suite, COMPONENTS, SNAPSHOT_SERVICE, SUITES,
};
pub use digest::{Digest, RootfsInputs};
pub use error::{InvalidValue, Location, Problem, ProblemKind, RecipeError};
pub use firstboot::{Firstboot, Keymap, Locale, PasswordHash, SshHostKeyType, SshKey, Timezone};
pub use ipe::{Ipe, IpeMode};
pub use model::{
    Boot, Debian, Encryption, FileEntry, FileSource, Filesystem, Kernel, Partitions, Recipe,
    RootPartition, Source, Units, DEFAULT_ESP_SIZE, DEFAULT_ROOT_MIN_SIZE, DEFAULT_USR_SIZE,
    MIN_ESP_SIZE, MIN_USR_SIZE,
};
pub use names::{
    Hostname, ImageName, PackageName, UnitName, Version, GPT_LABEL_MAX, IMAGE_NAME_MAX,
};
pub use packages::{parse_package_index, BASE_PACKAGES, BUILD_PACKAGES, TPM2_PACKAGES};
pub use paths::{FileMode, HostPath, ImagePath, IMAGE_TOP_DIRS};
pub use size::Size;
pub use update::{BootTries, Channel, Health, RepositoryUrl, Update};
pub use version::compare_versions;
pub use window::MaintenanceWindow;

/// The text of the built-in recipe (`default-recipe.toml` in this crate): a minimal
/// appliance that `stela build` builds when given no recipe.
pub const DEFAULT_RECIPE: &str = include_str!("../default-recipe.toml");

/// The name the built-in recipe is reported under.
pub const DEFAULT_RECIPE_NAME: &str = "<built-in recipe>";

impl Recipe {
    /// Parses and checks recipe `text` without touching the file system. `file` names the
    /// recipe in problems; host paths are resolved against `base_dir` but not looked at
    /// (use [`Recipe::load`] for that).
    pub fn parse(text: &str, file: &str, base_dir: &Path) -> Result<Recipe, RecipeError> {
        check(text, file, base_dir, false)
    }

    /// Reads and checks the recipe file at `path`, including that the host files,
    /// overlay directories and key directory it names exist.
    pub fn load(path: &Path) -> Result<Recipe, RecipeError> {
        let text =
            stela_limits::read_to_string(path, stela_limits::SETTINGS).map_err(|source| {
                RecipeError::Read {
                    path: path.to_owned(),
                    source,
                }
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        check(&text, &path.display().to_string(), base, true)
    }

    /// The built-in recipe ([`DEFAULT_RECIPE`]).
    pub fn default_recipe() -> Recipe {
        match Recipe::parse(DEFAULT_RECIPE, DEFAULT_RECIPE_NAME, Path::new(".")) {
            Ok(recipe) => recipe,
            // A test parses it; this cannot happen in a released build.
            Err(e) => panic!("the built-in recipe is invalid: {e}"),
        }
    }
}

fn check(text: &str, file: &str, base: &Path, check_host: bool) -> Result<Recipe, RecipeError> {
    let mut problems = Vec::new();
    let recipe = parse::parse_raw(text, &mut problems).and_then(|parsed| {
        let mut v = validate::Validator {
            text,
            base,
            check_host,
            problems: std::mem::take(&mut problems),
        };
        let recipe = validate::validate(parsed, &mut v);
        problems = v.problems;
        recipe
    });
    match recipe {
        Some(r) if problems.is_empty() => Ok(r),
        _ => {
            // In file order; problems without a place (missing fields) last.
            problems.sort_by_key(|p| p.location.map_or((usize::MAX, 0), |l| (l.line, l.column)));
            Err(RecipeError::Invalid {
                file: file.to_owned(),
                problems,
            })
        }
    }
}
