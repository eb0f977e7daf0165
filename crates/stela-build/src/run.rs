//! Running the external programs of the pipeline with a clean environment, logging the
//! command line and putting the end of their stderr into the error.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// The PATH external tools run with.
pub const TOOL_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A command with a clean environment (PATH, C.UTF-8 locale) and stdin from /dev/null.
pub fn command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", TOOL_PATH)
        .env("LC_ALL", "C.UTF-8")
        .env("HOME", "/root")
        .stdin(Stdio::null());
    cmd
}

/// Run and wait; on failure the error holds the command and the last 2 KiB of its
/// stderr (and stdout, which some tools use for errors).
pub fn run(cmd: &mut Command, what: &str) -> anyhow::Result<String> {
    tracing::info!("exec: {cmd:?}");
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("{what}: cannot start {:?}", cmd.get_program()))?;
    if !out.status.success() {
        let tail = |b: &[u8]| {
            let s = String::from_utf8_lossy(b);
            let start = s.len().saturating_sub(2048);
            let start = (start..s.len())
                .find(|i| s.is_char_boundary(*i))
                .unwrap_or(s.len());
            s[start..].trim().to_owned()
        };
        bail!(
            "{what}: {:?} exited with {}\n{}\n{}",
            cmd.get_program(),
            out.status,
            tail(&out.stderr),
            tail(&out.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Run a program inside the image tree with chroot (the tree's own tools, so their
/// versions match the target).
pub fn in_tree(tree: &Path, args: &[&str], what: &str) -> anyhow::Result<String> {
    let mut cmd = command("chroot");
    cmd.arg(tree).args(args);
    run(&mut cmd, what)
}

/// Check that a host program exists, naming the Debian package to install otherwise.
pub fn require(program: &str, package: &str) -> anyhow::Result<()> {
    let found = TOOL_PATH
        .split(':')
        .any(|d| Path::new(d).join(program).is_file());
    if !found {
        bail!("{program} is not installed: run scripts/setup (Debian package {package})");
    }
    Ok(())
}
