//! Whether two builds of the same inputs made the same files, and where they differ.

use std::path::Path;

use anyhow::Context;

use crate::manifest::{self, Manifest};
use crate::steps::layer::diff::read_full;

/// One output that differs between two builds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Difference {
    /// The file's name in the output directories.
    pub file: String,
    /// How: sizes, the first differing byte (and 4 KiB block, the usr image's unit).
    pub detail: String,
}

fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(manifest::FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not a manifest", path.display()))
}

/// The first offset at which `a` and `b` differ, if they do.
fn first_difference(a: &Path, b: &Path) -> anyhow::Result<Option<u64>> {
    let open =
        |p: &Path| std::fs::File::open(p).with_context(|| format!("opening {}", p.display()));
    let (mut fa, mut fb) = (open(a)?, open(b)?);
    let mut ba = vec![0u8; 1 << 20];
    let mut bb = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let na = read_full(&mut fa, &mut ba).with_context(|| format!("reading {}", a.display()))?;
        let nb = read_full(&mut fb, &mut bb).with_context(|| format!("reading {}", b.display()))?;
        if let Some(i) = ba[..na.min(nb)]
            .iter()
            .zip(&bb[..na.min(nb)])
            .position(|(x, y)| x != y)
        {
            return Ok(Some(offset + i as u64));
        }
        if na != nb {
            return Ok(Some(offset + na.min(nb) as u64));
        }
        if na == 0 {
            return Ok(None);
        }
        offset += na as u64;
    }
}

/// Compare two build output directories: every artifact the first manifest lists, the
/// manifests themselves and the provenance. Empty when they are identical.
pub fn compare_outputs(a: &Path, b: &Path) -> anyhow::Result<Vec<Difference>> {
    let (ma, mb) = (read_manifest(a)?, read_manifest(b)?);
    let mut out = Vec::new();
    for art in &ma.artifacts {
        let Some(other) = mb.artifacts.iter().find(|x| x.file == art.file) else {
            out.push(Difference {
                file: art.file.clone(),
                detail: format!("only in {}", a.display()),
            });
            continue;
        };
        if other.sha256 == art.sha256 {
            continue;
        }
        let at = first_difference(&a.join(&art.file), &b.join(&art.file))?;
        out.push(Difference {
            file: art.file.clone(),
            detail: format!(
                "{} and {} bytes; first difference at byte {} (4 KiB block {})",
                art.size,
                other.size,
                at.unwrap_or(0),
                at.unwrap_or(0) / 4096
            ),
        });
    }
    for art in mb
        .artifacts
        .iter()
        .filter(|x| !ma.artifacts.iter().any(|y| y.file == x.file))
    {
        out.push(Difference {
            file: art.file.clone(),
            detail: format!("only in {}", b.display()),
        });
    }
    for file in [manifest::FILE, stela_provenance::FILE] {
        let (pa, pb) = (a.join(file), b.join(file));
        if !pa.exists() && !pb.exists() {
            continue;
        }
        if let Some(at) = first_difference(&pa, &pb)? {
            out.push(Difference {
                file: file.to_owned(),
                detail: format!("first difference at byte {at}"),
            });
        }
    }
    Ok(out)
}

/// The files that differ between two usr images, as `diff -rq` names them (at most 20),
/// with both images mounted read-only (erofs, loop devices: needs root and a kernel with
/// erofs). The mounts are undone before this returns.
pub fn differing_usr_files(a: &Path, b: &Path) -> anyhow::Result<Vec<String>> {
    let dir = tempfile::Builder::new()
        .prefix("stela-usr-compare-")
        .tempdir()
        .context("creating mount points")?;
    let (ma, mb) = (dir.path().join("a"), dir.path().join("b"));
    for m in [&ma, &mb] {
        std::fs::create_dir(m).with_context(|| format!("creating {}", m.display()))?;
    }
    let mount = |image: &Path, at: &Path| -> anyhow::Result<()> {
        let mut cmd = crate::run::command("mount");
        cmd.args(["-t", "erofs", "-o", "ro,loop"])
            .arg(image)
            .arg(at);
        crate::run::run(&mut cmd, "mounting a usr image").map(|_| ())
    };
    let umount = |at: &Path| {
        let _ = std::process::Command::new("umount").arg(at).status();
    };
    mount(a, &ma)?;
    if let Err(e) = mount(b, &mb) {
        umount(&ma);
        return Err(e);
    }
    let out = std::process::Command::new("diff")
        .args(["-rq", "--no-dereference"])
        .arg(&ma)
        .arg(&mb)
        .output();
    umount(&ma);
    umount(&mb);
    let out = out.context("running diff")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let strip = |l: &str| {
        l.replace(&format!("{}/", ma.display()), "/usr/")
            .replace(&format!("{}/", mb.display()), "/usr/")
    };
    Ok(text.lines().take(20).map(strip).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(dir: &Path, content: &[u8]) {
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::write(dir.join("usr.erofs"), content).expect("write");
        let mut m = Manifest::for_tests("usr.erofs");
        let (size, sha256) = manifest::sha256_file(&dir.join("usr.erofs")).expect("hash");
        m.artifacts[0].size = size;
        m.artifacts[0].sha256 = sha256;
        std::fs::write(
            dir.join(manifest::FILE),
            serde_json::to_vec(&m).expect("json"),
        )
        .expect("write");
    }

    #[test]
    fn identical_outputs_compare_equal_and_a_changed_block_is_named() {
        let t = tempfile::tempdir().expect("tempdir");
        let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
        let mut data = vec![7u8; 3 * 4096];
        output(&a, &data);
        output(&b, &data);
        assert_eq!(compare_outputs(&a, &b).expect("compare"), []);
        data[2 * 4096 + 5] = 8;
        output(&c, &data);
        let d = compare_outputs(&a, &c).expect("compare");
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0].file, "usr.erofs");
        assert!(d[0].detail.contains("byte 8197 (4 KiB block 2)"), "{d:?}");
        assert_eq!(d[1].file, "manifest.json");
    }
}
