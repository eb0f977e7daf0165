//! The host programs a run needs, looked up once in PATH with the Debian package to
//! install when one is missing.

use std::path::{Path, PathBuf};

use crate::error::QemuError;

/// A host program and the Debian package that ships it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tool {
    pub(crate) program: &'static str,
    pub(crate) package: &'static str,
}

pub(crate) const QEMU: Tool = Tool {
    program: "qemu-system-x86_64",
    package: "qemu-system-x86",
};
pub(crate) const QEMU_IMG: Tool = Tool {
    program: "qemu-img",
    package: "qemu-utils",
};
pub(crate) const SWTPM: Tool = Tool {
    program: "swtpm",
    package: "swtpm",
};
/// Sets the parent-death signal before exec, so QEMU and swtpm die with us even when we
/// are killed without a chance to clean up (a test runner's SIGKILL).
pub(crate) const SETPRIV: Tool = Tool {
    program: "setpriv",
    package: "util-linux",
};

impl Tool {
    /// The program's full path, or an error naming the package to install.
    pub(crate) fn find(self) -> Result<PathBuf, QemuError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
            .map(|dir| dir.join(self.program))
            .find(|p| is_executable(p))
            .ok_or(QemuError::MissingTool {
                program: self.program,
                package: self.package,
            })
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_names_its_package() {
        let tool = Tool {
            program: "stela-no-such-program",
            package: "stela-no-such-package",
        };
        let err = tool.find().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("stela-no-such-program not found in PATH: install the Debian package stela-no-such-package")
        );
    }
}
