//! Helpers shared by the CLI integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `stela` binary under test.
pub fn stela() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stela"))
}

/// Run a command and return its output, panicking with the command line if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}; run scripts/setup --test"))
}

/// Run a command that must succeed; print its output if it does not.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Fail clearly when an independent tool the test relies on is missing.
pub fn require_tool(name: &str) -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("the test needs `{name}`, which is not installed: run scripts/setup --test");
}

/// The unpacked trixie packages (systemd-boot-efi, systemd-ukify, the kernel).
pub fn trixie_root() -> PathBuf {
    let cache =
        std::env::var("STELA_TEST_CACHE").unwrap_or_else(|_| "/var/cache/stela/trixie".into());
    let root = Path::new(&cache).join("root");
    assert!(
        root.join("usr/lib/systemd/boot/efi/linuxx64.efi.stub")
            .is_file(),
        "trixie's boot packages are not unpacked in {}: run scripts/setup --test",
        root.display()
    );
    root
}

/// Make a self-signed RSA key and certificate with openssl, as a user would.
pub fn openssl_key(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    require_tool("openssl");
    let key = dir.join(format!("{name}.key"));
    let cert = dir.join(format!("{name}.crt"));
    run_ok(
        Command::new("openssl")
            .args([
                "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30",
                "-subj",
            ])
            .arg(format!("/CN=stela test {name}/"))
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    (key, cert)
}

/// The release of the one kernel unpacked from trixie (`6.12.N+deb13-amd64`), derived
/// from what was fetched: the archive moves to newer kernels at every point release and
/// security update, so no test may name one.
pub fn trixie_kernel_release() -> String {
    let boot = trixie_root().join("boot");
    let mut releases: Vec<String> = std::fs::read_dir(&boot)
        .unwrap_or_else(|e| panic!("listing {}: {e}", boot.display()))
        .filter_map(Result::ok)
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("vmlinuz-"))
                .map(str::to_owned)
        })
        .collect();
    releases.sort();
    assert_eq!(
        releases.len(),
        1,
        "expected one kernel in {}, found {releases:?}: run scripts/fetch-trixie-debs",
        boot.display()
    );
    releases.remove(0)
}

/// The path of that kernel, relative to [`trixie_root`].
pub fn trixie_kernel_path() -> String {
    format!("boot/vmlinuz-{}", trixie_kernel_release())
}

/// Boot to multi-user under software emulation took 90 to 150 s on a 2-core host
/// (OVMF, key enrolment and its reset, the initrd making the root partition, first
/// boot); the limit leaves room for a loaded host.
pub const BOOT_TIMEOUT_SECS: &str = "900";

/// Boot `image` (a stela image of the test recipe `tests/data/e2e/recipe.toml`) as the
/// machine `uuid` until its test unit's report ends; the report, `key -> value`. The
/// serial log is `dir/<name>.log`.
pub fn boot_and_report(
    image: &Path,
    uuid: &str,
    dir: &Path,
    name: &str,
) -> std::collections::BTreeMap<String, String> {
    let log = dir.join(format!("{name}.log"));
    let out = run(stela()
        .arg("qemu")
        .arg(image)
        .args([
            "--uuid",
            uuid,
            "--until",
            "STELA-E2E end=done",
            "--fail",
            "Kernel panic|emergency mode|Security Violation|Access denied",
            "--timeout",
            BOOT_TIMEOUT_SECS,
            "--log",
        ])
        .arg(&log)
        .arg("--run-dir")
        .arg(dir.join(format!("run-{name}"))));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        out.status.success(),
        "boot {name} did not finish: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        &text[text.len().saturating_sub(4000)..]
    );
    let r = report(&text);
    eprintln!("machine report ({name}): {r:#?}");
    r
}

/// The `STELA-E2E key=value` lines of a serial log (the last of each key wins).
pub fn report(log: &str) -> std::collections::BTreeMap<String, String> {
    log.lines()
        .filter_map(|l| l.split_once("STELA-E2E ").map(|(_, r)| r))
        .filter_map(|r| r.split_once('='))
        .map(|(k, v)| {
            let v = v.trim_end_matches('\r');
            (k.trim().to_owned(), without_kernel_message(v).to_owned())
        })
        .collect()
}

/// `value` without a kernel message that the console put between it and its line's end
/// (`...}[   75.983446] powernow_k8: ...`): the kernel writes to the console as soon as
/// it logs, between two writes of a program, and the drivers udev loads late in a boot
/// log while the test units report.
fn without_kernel_message(value: &str) -> &str {
    let mut end = value.len();
    while let Some(start) = value[..end].rfind('[') {
        let rest = &value[start + 1..];
        let stamp = rest.split_once("] ").map(|(s, _)| s.trim_start());
        let is_stamp = stamp.is_some_and(|s| {
            s.split_once('.').is_some_and(|(secs, micros)| {
                !secs.is_empty()
                    && secs.bytes().all(|b| b.is_ascii_digit())
                    && micros.len() == 6
                    && micros.bytes().all(|b| b.is_ascii_digit())
            })
        });
        if is_stamp {
            return &value[..start];
        }
        end = start;
    }
    value
}

/// The JSON a machine reported under `key` (see [`report`]); panics naming the key.
pub fn report_json(r: &std::collections::BTreeMap<String, String>, key: &str) -> serde_json::Value {
    let text = r
        .get(key)
        .unwrap_or_else(|| panic!("the machine reported no {key}: {r:#?}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{key}: {e}: {text}"))
}

/// A test's work directory `target/tmp/e2e/<name>`, made fresh (the previous run's files
/// are removed: hard links and plain files only, nothing stays mounted there after a
/// build). When the test passes, its files go with it: the end-to-end tests run two at
/// a time, and each leaves gigabytes of disks and images that a failed run's reader
/// needs but a passed one does not. `STELA_E2E_KEEP=1` keeps them anyway.
pub struct WorkDir(PathBuf);

impl std::ops::Deref for WorkDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for WorkDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !std::thread::panicking() && std::env::var_os("STELA_E2E_KEEP").is_none() {
            if let Err(e) = std::fs::remove_dir_all(&self.0) {
                eprintln!("leaving {}: {e}", self.0.display());
            }
        }
    }
}

/// The work directory of the end-to-end test `name`: see [`WorkDir`].
pub fn e2e_work_dir(name: &str) -> WorkDir {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e")
        .join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("removing the previous run's files");
    }
    std::fs::create_dir_all(&dir).expect("creating the work directory");
    WorkDir(dir)
}

/// A copy of the disk image `from` at `to` that keeps its holes (`cp --sparse=always`):
/// `std::fs::copy` writes every zero, and a 3.6 GiB image holds about 300 MiB of data.
pub fn sparse_copy(from: &Path, to: &Path) {
    run_ok(Command::new("cp").arg("--sparse=always").arg(from).arg(to));
}

/// The end-to-end test recipe, `tests/data/e2e/recipe.toml`.
pub fn e2e_recipe() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/e2e/recipe.toml")
}

/// Secure Boot keys made by `stela keys init` in `dir/keys`.
pub fn e2e_keys(dir: &Path, common_name: &str) -> PathBuf {
    let keys = dir.join("keys");
    run_ok(
        stela()
            .args(["keys", "init", "--common-name", common_name])
            .arg(&keys),
    );
    keys
}

/// A static file server on 127.0.0.1 for the tests: it serves `root` (GET of a path
/// under it, no `..`), counts the bytes it sent, and stops accepting after `life`.
pub struct FileServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Bytes of response bodies sent so far.
    pub bytes: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// Start a [`FileServer`] for `root`.
pub fn serve_dir(root: PathBuf, life: std::time::Duration) -> FileServer {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1");
    let port = listener.local_addr().expect("local address").port();
    listener.set_nonblocking(true).expect("non-blocking");
    let end = std::time::Instant::now() + life;
    let bytes = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = bytes.clone();
    std::thread::spawn(move || {
        while std::time::Instant::now() < end {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(std::time::Duration::from_millis(20));
                continue;
            };
            let (root, counter) = (root.clone(), counter.clone());
            std::thread::spawn(move || {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(60)));
                let _ = stream.set_write_timeout(Some(std::time::Duration::from_secs(60)));
                let Ok(read_half) = stream.try_clone() else {
                    return;
                };
                let mut reader = BufReader::new(read_half);
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/");
                let file = root.join(path.trim_start_matches('/'));
                let mut out = stream;
                match std::fs::read(&file) {
                    Ok(body) if file.is_file() && !path.contains("..") => {
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        if out
                            .write_all(head.as_bytes())
                            .and_then(|()| out.write_all(&body))
                            .is_ok()
                        {
                            counter.fetch_add(body.len() as u64, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        let _ = out.write_all(
                            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        );
                    }
                }
            });
        }
    });
    FileServer { port, bytes }
}

/// `stela build RECIPE --keys KEYS --out OUT`; the build's manifest.
pub fn build(recipe: &Path, keys: &Path, out: &Path) -> serde_json::Value {
    run_ok(
        stela()
            .arg("build")
            .arg(recipe)
            .arg("--keys")
            .arg(keys)
            .arg("--out")
            .arg(out)
            .arg("--json"),
    );
    let manifest = std::fs::read(out.join("manifest.json")).expect("the build's manifest.json");
    serde_json::from_slice(&manifest).expect("manifest.json is JSON")
}

/// `sgdisk -p`: (number, first sector, last sector, name) of each partition.
pub fn partitions(disk: &Path) -> Vec<(u32, u64, u64, String)> {
    let out = run_ok(Command::new("sgdisk").arg("-p").arg(disk));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n: u32 = f.first()?.parse().ok()?;
            let first: u64 = f.get(1)?.parse().ok()?;
            let last: u64 = f.get(2)?.parse().ok()?;
            Some((n, first, last, f.last()?.to_string()))
        })
        .collect()
}

/// Copy sectors `first..=last` of `disk` into `to` with dd, leaving holes where the
/// sectors are zero.
pub fn extract(disk: &Path, first: u64, last: u64, to: &Path) {
    run_ok(
        Command::new("dd")
            .arg(format!("if={}", disk.display()))
            .arg(format!("of={}", to.display()))
            .args(["bs=512", "status=none", "conv=sparse"])
            .arg(format!("skip={first}"))
            .arg(format!("count={}", last - first + 1)),
    );
}

/// A hostile server on 127.0.0.1: it answers every request with `200 OK` and then zeros
/// without end (no length), until the client goes or `life` is over. Its port.
pub fn serve_endless(life: std::time::Duration) -> u16 {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1");
    let port = listener.local_addr().expect("local address").port();
    listener.set_nonblocking(true).expect("non-blocking");
    let end = std::time::Instant::now() + life;
    std::thread::spawn(move || {
        while std::time::Instant::now() < end {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(std::time::Duration::from_millis(20));
                continue;
            };
            std::thread::spawn(move || {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_write_timeout(Some(std::time::Duration::from_secs(30)));
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
                let zeros = [0u8; 65536];
                while std::time::Instant::now() < end && stream.write_all(&zeros).is_ok() {}
            });
        }
    });
    port
}

/// `cp -al FROM TO`: a copy of a repository sharing its files (stela writes every
/// repository file anew and renames it into place, so the copies stay apart).
pub fn link_copy(from: &Path, to: &Path) {
    run_ok(Command::new("cp").arg("-al").arg(from).arg(to));
}

/// `stela repo init DIR/repo --keys DIR/tuf-keys`: the repository and its role keys.
pub fn repo_init(dir: &Path) -> (PathBuf, PathBuf) {
    let (repo, keys) = (dir.join("repo"), dir.join("tuf-keys"));
    run_ok(
        stela()
            .args(["repo", "init"])
            .arg(&repo)
            .arg("--keys")
            .arg(&keys),
    );
    (repo, keys)
}

/// `stela publish OUT --repo REPO --keys KEYS --channel CHANNEL`.
pub fn publish(out: &Path, repo: &Path, keys: &Path, channel: &str) {
    run_ok(
        stela()
            .arg("publish")
            .arg(out)
            .arg("--repo")
            .arg(repo)
            .arg("--keys")
            .arg(keys)
            .args(["--channel", channel]),
    );
}

/// The file offset of a PE image's entry point, and of its COFF `TimeDateStamp`.
pub fn pe_offsets(pe: &[u8]) -> (usize, usize) {
    let u16_at = |o: usize| u16::from_le_bytes([pe[o], pe[o + 1]]) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(pe[o..o + 4].try_into().expect("4 bytes")) as usize;
    let coff = u32_at(0x3c) + 4;
    assert_eq!(&pe[coff - 4..coff], b"PE\0\0");
    let sections = u16_at(coff + 2);
    let optional = coff + 20;
    let entry_rva = u32_at(optional + 16);
    let table = optional + u16_at(coff + 16);
    for i in 0..sections {
        let s = table + 40 * i;
        let (vsize, va, raw_size, raw) = (
            u32_at(s + 8),
            u32_at(s + 12),
            u32_at(s + 16),
            u32_at(s + 20),
        );
        if (va..va + vsize.max(raw_size)).contains(&entry_rva) {
            return (raw + entry_rva - va, coff + 4);
        }
    }
    panic!("the entry point {entry_rva:#x} is in no section");
}

/// The slot labelled `label` on `disk` (usr, usr-verity, signature: three partitions),
/// its usr data and tree copied into `work` and checked by `veritysetup verify` against
/// `root_hash`; the copies are removed afterwards.
pub fn verify_slot(disk: &Path, label: &str, root_hash: &str, work: &Path) {
    let parts = partitions(disk);
    let slot: Vec<_> = parts.iter().filter(|p| p.3 == label).collect();
    assert_eq!(slot.len(), 3, "{label}: {parts:?}");
    let (usr, tree) = (
        work.join(format!("{label}.usr")),
        work.join(format!("{label}.verity")),
    );
    extract(disk, slot[0].1, slot[0].2, &usr);
    extract(disk, slot[1].1, slot[1].2, &tree);
    run_ok(
        Command::new("veritysetup")
            .arg("verify")
            .arg(&usr)
            .arg(&tree)
            .arg(root_hash),
    );
    for copy in [usr, tree] {
        std::fs::remove_file(&copy).expect("removing a slot's copy");
    }
}

/// `sgdisk -v`: the partition tables (both copies) are sound.
pub fn gpt_sound(disk: &Path, when: &str) {
    let v = run_ok(Command::new("sgdisk").arg("-v").arg(disk));
    assert!(
        String::from_utf8_lossy(&v.stdout).contains("No problems found"),
        "{when}: {}",
        String::from_utf8_lossy(&v.stdout)
    );
}

/// The recipe's `[boot]` table naming `loader` (a file in `dir`, where the recipe goes),
/// or nothing.
pub fn boot_loader_table(dir: &Path, loader: Option<&Path>) -> String {
    loader
        .map(|p| {
            let name = p
                .strip_prefix(dir)
                .expect("the loader is in the work directory");
            format!("\n[boot]\nloader = \"{}\"\n", name.display())
        })
        .unwrap_or_default()
}

/// `stela sign efi` with the db key of the key directory `keys`.
pub fn sign_efi(keys: &Path, input: &Path, output: &Path) {
    run_ok(
        stela()
            .args(["sign", "efi", "--key"])
            .arg(keys.join("db.key"))
            .arg("--cert")
            .arg(keys.join("db.crt"))
            .arg(input)
            .arg("-o")
            .arg(output),
    );
}
