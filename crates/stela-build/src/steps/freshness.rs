//! Whether a cached package tree is still what the archive would give.
//!
//! The tree is cached by its inputs (suites, packages), but the archive moves: a
//! security fix published after the tree was made must reach the next build. Before a
//! cached tree is used, each suite's signed `InRelease` is fetched again (a few KB, with
//! apt's own downloader, so apt's proxy settings apply) and compared with the one the
//! tree was made from. Any change makes the tree stale and it is made anew (from the
//! package cache: only new packages are downloaded). When the archive cannot be reached
//! the cached tree is used and a warning says since when it is.

use std::path::Path;

use sha2::{Digest, Sha256};
use stela_recipe::Source;

use super::sources::Sources;
use crate::run;

/// apt's downloader (package apt, which mmdebstrap needs anyway).
const APT_HELPER: &str = "/usr/lib/apt/apt-helper";

/// What the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// Every suite's InRelease is the one the tree was made from.
    Current,
    /// A suite changed since: the tree must be made anew.
    Stale {
        /// The suite that changed.
        suite: String,
    },
    /// The archive could not be asked; the cached tree is used.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// Compare the archive's InRelease files now with those recorded for a cached tree.
pub fn check(sources: &[Source], recorded: &Sources, work: &Path) -> Freshness {
    for (i, source) in sources.iter().enumerate() {
        let Some(old) = recorded
            .suites
            .iter()
            .find(|s| s.codename == source.suite || s.suite == source.suite)
        else {
            return Freshness::Stale {
                suite: source.suite.clone(),
            };
        };
        let url = format!("{}/dists/{}/InRelease", source.url, source.suite);
        let file = work.join(format!("InRelease-{i}"));
        let mut cmd = run::command(APT_HELPER);
        cmd.args([
            "-o",
            "Acquire::Retries=0",
            "-o",
            "Acquire::http::Timeout=10",
        ])
        .arg("download-file")
        .arg(&url)
        .arg(&file);
        if let Err(e) = run::run(&mut cmd, &format!("fetching {url}")) {
            return Freshness::Unknown {
                reason: format!("{e:#}"),
            };
        }
        let now = match std::fs::read(&file) {
            Ok(b) => hex::encode(Sha256::digest(&b)),
            Err(e) => {
                return Freshness::Unknown {
                    reason: format!("reading {}: {e}", file.display()),
                }
            }
        };
        if now != old.inrelease_sha256 {
            return Freshness::Stale {
                suite: source.suite.clone(),
            };
        }
    }
    Freshness::Current
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::*;
    use crate::steps::sources::SuiteRelease;

    /// Serve `body` to `n` requests on 127.0.0.1, then stop.
    fn serve(body: &'static [u8], n: usize) -> (u16, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let handle = std::thread::spawn(move || {
            for stream in listener.incoming().take(n) {
                let Ok(mut s) = stream else { continue };
                let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(body);
            }
        });
        (port, handle)
    }

    fn recorded(sha: String) -> Sources {
        Sources {
            suites: vec![SuiteRelease {
                suite: "stable-security".into(),
                codename: "trixie-security".into(),
                date: "Mon, 30 Nov 2026 10:00:00 UTC".into(),
                inrelease_sha256: sha,
                list: "x_InRelease".into(),
            }],
            offered: Default::default(),
            debs: Default::default(),
        }
    }

    fn source(port: u16) -> Source {
        let recipe = stela_recipe::Recipe::parse(
            &format!(
                "name = \"x\"\nversion = \"1\"\n[debian]\nupdates = false\nsecurity_mirror = \"http://127.0.0.1:{port}/debian-security\"\n"
            ),
            "r.toml",
            Path::new("."),
        )
        .expect("recipe");
        recipe.debian().sources()[1].clone()
    }

    #[test]
    fn a_changed_release_file_makes_the_tree_stale() {
        if !Path::new(APT_HELPER).exists() {
            panic!("{APT_HELPER} is missing: install apt");
        }
        let body: &'static [u8] = b"Origin: Debian\nSuite: stable-security\n";
        let work = tempfile::tempdir().expect("tempdir");
        let (port, server) = serve(body, 2);
        let same = hex::encode(Sha256::digest(body));
        assert_eq!(
            check(&[source(port)], &recorded(same), work.path()),
            Freshness::Current
        );
        assert_eq!(
            check(&[source(port)], &recorded("00".repeat(32)), work.path()),
            Freshness::Stale {
                suite: "trixie-security".into()
            }
        );
        server.join().expect("server");
        // Nobody listens any more: the cached tree is used, with the reason.
        assert!(matches!(
            check(&[source(port)], &recorded("00".repeat(32)), work.path()),
            Freshness::Unknown { .. }
        ));
    }
}
