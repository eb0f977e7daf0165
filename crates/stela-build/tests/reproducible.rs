//! `differing_usr_files` on two real erofs images made by mkfs.erofs, mounted read-only:
//! the mode difference a umask of 077 made in the image once, and a changed file.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn mkfs(tree: &Path, image: &Path) {
    let status = Command::new("mkfs.erofs")
        .args(["--quiet", "-T0", "-Enoinline_data"])
        .arg(image)
        .arg(tree)
        .status()
        .expect("running mkfs.erofs (scripts/setup installs erofs-utils)");
    assert!(status.success(), "mkfs.erofs failed");
}

#[test]
fn two_usr_images_are_compared_path_by_path() {
    let t = tempfile::tempdir().expect("tempdir");
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d.join("lib/repart.d")).expect("mkdir");
        std::fs::set_permissions(
            d.join("lib/repart.d"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
        std::fs::write(d.join("lib/repart.d/50-root.conf"), "[Partition]\n").expect("write");
        std::fs::write(d.join("lib/os-release"), "ID=debian\n").expect("write");
    }
    let (ia, ib, ic) = (
        t.path().join("a.erofs"),
        t.path().join("b.erofs"),
        t.path().join("c.erofs"),
    );
    mkfs(&a, &ia);
    mkfs(&b, &ib);
    let same = stela_build::reproducible::differing_usr_files(&ia, &ib).expect("compare");
    assert_eq!(same, Vec::<String>::new());
    std::fs::set_permissions(
        b.join("lib/repart.d"),
        std::fs::Permissions::from_mode(0o700),
    )
    .expect("chmod");
    std::fs::write(b.join("lib/os-release"), "ID=devuan\n").expect("write");
    mkfs(&b, &ic);
    let found = stela_build::reproducible::differing_usr_files(&ia, &ic).expect("compare");
    assert_eq!(
        found,
        [
            "/usr/lib/os-release: content, link target or extended attributes",
            "/usr/lib/repart.d: directory mode 755 owner 0:0 against mode 700 owner 0:0",
        ],
        "{found:?}"
    );
}
