//! Every committed fuzz input, replayed through its target's body: the corpora
//! (`fuzz/corpus/TARGET/`, seeds and what fuzzing found worth keeping) and the inputs
//! that once crashed or hung a target (`fuzz/regressions/TARGET/`). A panic fails the
//! test and names the file.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("reading a corpus directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_input_and_regression_replays_without_a_panic() {
    for (name, body) in stela_fuzz::TARGETS {
        let corpus = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name} is empty or missing: each target keeps its seeds"
        );
        let regressions = inputs(&fuzz_dir().join("regressions").join(name));
        for file in corpus.iter().chain(&regressions) {
            let data = std::fs::read(file).expect("reading a corpus input");
            let outcome = std::panic::catch_unwind(|| body(&data));
            assert!(outcome.is_ok(), "{name}: {} panicked", file.display());
        }
    }
}

#[test]
fn every_target_has_a_harness_file() {
    for (name, _) in stela_fuzz::TARGETS {
        let file = fuzz_dir().join("fuzz_targets").join(format!("{name}.rs"));
        let text =
            std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            text.contains(&format!("stela_fuzz::{name}(data)")),
            "{} does not call stela_fuzz::{name}",
            file.display()
        );
    }
}

/// The seeds are real inputs the parsers accept: a corpus of rejected inputs would
/// fuzz only the first check.
#[test]
fn the_seeds_parse() {
    let corpus = fuzz_dir().join("corpus");
    let disk = std::fs::read(corpus.join("gpt/two-partitions.img")).expect("gpt seed");
    let gpt = stela_gpt::GptDisk::read(&mut std::io::Cursor::new(&disk)).expect("sgdisk's GPT");
    assert_eq!(gpt.partitions.len(), 2);
    let uki = std::fs::read(corpus.join("pe/uki-signed.efi")).expect("uki seed");
    stela_pe::uki::inspect("uki-signed.efi", &uki).expect("a UKI");
    let auth = std::fs::read(corpus.join("efivars/db.auth")).expect("auth seed");
    stela_efivars::AuthenticatedVariable::parse(&auth).expect("an .auth file");
    let opt = std::fs::read(corpus.join("efivars/boot0001")).expect("load option seed");
    stela_efivars::loadopt::LoadOption::parse(&opt).expect("a load option");
    let p7 = std::fs::read(corpus.join("pkcs7/roothash.p7s")).expect("pkcs7 seed");
    stela_keys::pkcs7::SignedMessage::from_der(&p7).expect("a PKCS#7 message");
    let sb = std::fs::read(corpus.join("verity_superblock/usr.verity.sb")).expect("sb seed");
    let sb: &[u8; 512] = sb.first_chunk().expect("512 bytes");
    stela_verity::Superblock::parse(sb).expect("a verity superblock");
    let esp = std::fs::read(corpus.join("esp/esp.img")).expect("esp seed");
    let len = esp.len() as u64;
    let reader = stela_esp::EspReader::open(std::io::Cursor::new(esp), 0, len).expect("FAT");
    let files = reader.files().expect("listing the ESP");
    assert!(
        files.iter().any(|f| f.path.ends_with("loader.conf")),
        "{files:?}"
    );
}
