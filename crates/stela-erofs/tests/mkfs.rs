//! Files read back from images that mkfs.erofs (erofs-utils, the independent writer)
//! made: with and without inline tails, in nested and large directories.

use std::path::Path;
use std::process::Command;

use stela_erofs::{Erofs, ErofsError};

fn mkfs(dir: &Path, image: &Path, extra: &[&str]) -> bool {
    let Ok(status) = Command::new("mkfs.erofs")
        .args(extra)
        .arg("--quiet")
        .arg(image)
        .arg(dir)
        .status()
    else {
        // erofs-utils is installed by scripts/setup; say so rather than pass silently.
        panic!("mkfs.erofs is not installed (scripts/setup installs erofs-utils)");
    };
    status.success()
}

fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut add = |rel: &str, data: Vec<u8>| {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &data).unwrap();
        files.push((format!("/{rel}"), data));
    };
    add(
        "lib/ipe/stela_host.p7b",
        b"policy_name=x policy_version=1.0.0\n".to_vec(),
    );
    add("empty", Vec::new());
    add(
        "a/b/c/d/deep.bin",
        (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect(),
    );
    add("exact", vec![7u8; 8192]);
    // A directory of many entries spans several directory blocks.
    for i in 0..600 {
        add(
            &format!("many/file-with-a-longish-name-{i:04}"),
            format!("{i}").into_bytes(),
        );
    }
    files
}

#[test]
fn every_file_reads_back_as_written_with_and_without_inline_tails() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("src");
    let files = tree(&dir);
    for (name, extra) in [("plain", &["-Enoinline_data"][..]), ("inline", &[][..])] {
        let image = tmp.path().join(format!("{name}.erofs"));
        assert!(mkfs(&dir, &image, extra), "mkfs.erofs {extra:?}");
        let len = std::fs::metadata(&image).unwrap().len();
        let mut fs = Erofs::open(std::fs::File::open(&image).unwrap(), 0, len).unwrap();
        for (path, data) in &files {
            let got = fs
                .read_file(path, 1 << 20)
                .unwrap_or_else(|e| panic!("{name} {path}: {e}"));
            assert_eq!(&got, data, "{name} {path}");
        }
        assert!(
            matches!(fs.read_file("/lib/ipe/missing", 1 << 20), Err(ErofsError::NotFound { path }) if path == "/lib/ipe/missing")
        );
        assert!(matches!(
            fs.read_file("/exact/x", 1 << 20),
            Err(ErofsError::WrongType { .. })
        ));
        assert!(matches!(
            fs.read_file("/a/b", 1 << 20),
            Err(ErofsError::WrongType { .. })
        ));
        assert!(matches!(
            fs.read_file("/exact", 100),
            Err(ErofsError::TooLarge { size: 8192, .. })
        ));
    }
}

#[test]
fn an_image_inside_a_disk_is_read_at_its_offset_and_a_cut_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("src");
    let files = tree(&dir);
    let image = tmp.path().join("img.erofs");
    assert!(mkfs(&dir, &image, &["-Enoinline_data"]));
    let bytes = std::fs::read(&image).unwrap();
    let mut disk = vec![0xAAu8; 4096];
    disk.extend_from_slice(&bytes);
    disk.extend_from_slice(&[0x55; 4096]);
    let mut fs = Erofs::open(std::io::Cursor::new(&disk), 4096, bytes.len() as u64).unwrap();
    assert_eq!(
        fs.read_file("/a/b/c/d/deep.bin", 1 << 20).unwrap(),
        files[2].1
    );
    // Cut to half: reads beyond the end are refused, not taken from what follows.
    let half = bytes.len() as u64 / 2;
    let mut cut = Erofs::open(std::io::Cursor::new(&disk), 4096, half).unwrap();
    let results: Vec<_> = files
        .iter()
        .map(|(p, _)| cut.read_file(p, 1 << 20))
        .collect();
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(ErofsError::Corrupt(_)))),
        "nothing refused"
    );
    // Not erofs at all.
    let err = Erofs::open(std::io::Cursor::new(&disk), 0, disk.len() as u64)
        .err()
        .unwrap();
    assert!(matches!(err, ErofsError::NotErofs { .. }), "{err}");
}
