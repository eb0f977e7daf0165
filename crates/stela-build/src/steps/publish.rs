//! Moving the staged outputs into place.

use std::path::Path;

use anyhow::Context;

/// Replace `out` with the staged directory: the old outputs stay until the new ones are
/// complete, then the staged directory is renamed over.
pub fn replace_dir(stage: tempfile::TempDir, out: &Path) -> anyhow::Result<()> {
    let staged = stage.keep();
    if out.exists() {
        let old = out.with_file_name(format!(
            ".{}.old-{}",
            out.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        std::fs::rename(out, &old)
            .with_context(|| format!("moving the previous {} aside", out.display()))?;
        std::fs::rename(&staged, out)
            .with_context(|| format!("moving the new outputs to {}", out.display()))?;
        std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
    } else {
        std::fs::rename(&staged, out)
            .with_context(|| format!("moving the new outputs to {}", out.display()))?;
    }
    Ok(())
}
