//! UEFI variables through the kernel's efivarfs (`/sys/firmware/efi/efivars`): each
//! variable is a file `<Name>-<vendor GUID>` holding the 4-byte attributes and the data.
//!
//! A write must be one `write` call of attributes and data (efivarfs passes it to
//! `SetVariable` as it comes); the kernel checks a `Boot####` or `BootOrder` value's
//! structure before the firmware sees it. Variables the kernel does not know are created
//! immutable; the boot variables stela writes are not, but an immutable flag is cleared
//! before a write or removal anyway, and only on the file being changed.

use std::io::Write;
use std::path::{Path, PathBuf};

use stela_efivars::Guid;

/// Where the kernel mounts efivarfs.
pub const EFIVARS: &str = "/sys/firmware/efi/efivars";

/// `EFI_VARIABLE_NON_VOLATILE | BOOTSERVICE_ACCESS | RUNTIME_ACCESS`: the attributes of
/// boot entries and `BootOrder` / `BootNext`.
pub const NV_BS_RT: u32 = 0x7;

/// Why a variable could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("EFI variable {name} ({path}): {what}: {source}")]
pub struct VarError {
    /// The variable's name.
    pub name: String,
    /// Its efivarfs file.
    pub path: PathBuf,
    /// What was being done.
    pub what: &'static str,
    /// The error.
    #[source]
    pub source: std::io::Error,
}

/// The variables of one efivarfs mount (or a directory of the same shape, in tests).
#[derive(Debug, Clone)]
pub struct EfiVars {
    dir: PathBuf,
}

impl EfiVars {
    /// The machine's variables.
    pub fn system() -> EfiVars {
        EfiVars::at(EFIVARS)
    }

    /// Variables under `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> EfiVars {
        EfiVars { dir: dir.into() }
    }

    /// Whether the directory exists (a machine booted by UEFI has efivarfs mounted).
    pub fn available(&self) -> bool {
        self.dir.is_dir()
    }

    fn path(&self, name: &str, vendor: Guid) -> PathBuf {
        self.dir.join(format!("{name}-{vendor}"))
    }

    fn err(
        &self,
        name: &str,
        vendor: Guid,
        what: &'static str,
    ) -> impl FnOnce(std::io::Error) -> VarError {
        let (name, path) = (name.to_owned(), self.path(name, vendor));
        move |source| VarError {
            name,
            path,
            what,
            source,
        }
    }

    /// A variable's data (without the attributes), or `None` if it does not exist.
    pub fn get(&self, name: &str, vendor: Guid) -> Result<Option<Vec<u8>>, VarError> {
        match std::fs::read(self.path(name, vendor)) {
            Ok(bytes) if bytes.len() >= 4 => Ok(Some(bytes[4..].to_vec())),
            Ok(_) => Err(self.err(name, vendor, "reading")(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "shorter than its 4-byte attributes",
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(name, vendor, "reading")(e)),
        }
    }

    /// Set a variable (created if missing) with [`NV_BS_RT`], in one write.
    pub fn set(&self, name: &str, vendor: Guid, data: &[u8]) -> Result<(), VarError> {
        let path = self.path(name, vendor);
        if path.exists() {
            make_mutable(&path).map_err(self.err(name, vendor, "clearing the immutable flag"))?;
        }
        let mut buf = Vec::with_capacity(4 + data.len());
        buf.extend_from_slice(&NV_BS_RT.to_le_bytes());
        buf.extend_from_slice(data);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(self.err(name, vendor, "opening for writing"))?;
        // efivarfs takes the whole value in one call; a short write is an error.
        let n = f.write(&buf).map_err(self.err(name, vendor, "writing"))?;
        if n != buf.len() {
            return Err(self.err(name, vendor, "writing")(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                format!("{n} of {} bytes written", buf.len()),
            )));
        }
        // A plain directory (tests) keeps older, longer content past the new end.
        if !is_efivarfs(&self.dir) {
            f.set_len(buf.len() as u64)
                .map_err(self.err(name, vendor, "truncating"))?;
        }
        Ok(())
    }

    /// Remove a variable; nothing happens if it does not exist.
    pub fn remove(&self, name: &str, vendor: Guid) -> Result<(), VarError> {
        let path = self.path(name, vendor);
        if !path.exists() {
            return Ok(());
        }
        make_mutable(&path).map_err(self.err(name, vendor, "clearing the immutable flag"))?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err(name, vendor, "removing")(e)),
        }
    }

    /// The names of the variables of `vendor` (sorted).
    pub fn names(&self, vendor: Guid) -> Result<Vec<String>, VarError> {
        let suffix = format!("-{vendor}");
        let mut names: Vec<String> = std::fs::read_dir(&self.dir)
            .map_err(|source| VarError {
                name: "*".to_owned(),
                path: self.dir.clone(),
                what: "listing",
                source,
            })?
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter_map(|n| n.strip_suffix(&suffix).map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }
}

fn is_efivarfs(dir: &Path) -> bool {
    // EFIVARFS_MAGIC
    const MAGIC: u64 = 0xde5e_81e4;
    rustix::fs::statfs(dir)
        .map(|s| s.f_type as u64 == MAGIC)
        .unwrap_or(false)
}

/// Clear the immutable attribute efivarfs sets on variables it does not know.
fn make_mutable(path: &Path) -> std::io::Result<()> {
    if !is_efivarfs(path.parent().unwrap_or(Path::new("/"))) {
        return Ok(());
    }
    let f = std::fs::File::open(path)?;
    let flags = rustix::fs::ioctl_getflags(&f)?;
    if flags.contains(rustix::fs::IFlags::IMMUTABLE) {
        rustix::fs::ioctl_setflags(&f, flags - rustix::fs::IFlags::IMMUTABLE)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_remove_in_a_directory_of_the_same_shape() {
        let d = tempfile::tempdir().expect("tmp");
        let vars = EfiVars::at(d.path());
        let g = stela_efivars::known::EFI_GLOBAL_VARIABLE;
        assert_eq!(vars.get("BootOrder", g).expect("get"), None);
        vars.set("BootOrder", g, &[1, 0, 2, 0]).expect("set");
        let file = d
            .path()
            .join("BootOrder-8be4df61-93ca-11d2-aa0d-00e098032b8c");
        assert_eq!(
            std::fs::read(&file).expect("file"),
            [7, 0, 0, 0, 1, 0, 2, 0]
        );
        vars.set("BootOrder", g, &[3, 0]).expect("set");
        assert_eq!(vars.get("BootOrder", g).expect("get"), Some(vec![3, 0]));
        assert_eq!(vars.names(g).expect("names"), ["BootOrder"]);
        vars.remove("BootOrder", g).expect("remove");
        vars.remove("BootOrder", g).expect("remove again");
        assert_eq!(vars.get("BootOrder", g).expect("get"), None);
    }
}
