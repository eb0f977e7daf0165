//! `stela audit`: an image's packages against the Debian security tracker's data.
//!
//! Exit status: 0 when no CVE affects the image, 1 when some do (fixed in a newer
//! version than the image has, open, or undetermined), 2 when an input cannot be read.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use stela_audit::{audit, read_sbom, read_tracker, State};

use crate::Outcome;

/// Arguments of `stela audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The Debian security tracker's JSON export, downloaded from
    /// https://security-tracker.debian.org/tracker/data/json.
    #[arg(long, value_name = "TRACKER.json")]
    pub cves: PathBuf,
    /// A `stela build` output directory, or the SBOM (`sbom.cdx.json`) of one.
    pub target: PathBuf,
    /// The Debian release whose tracker entries apply (default: the one the SBOM's
    /// package URLs name).
    #[arg(long)]
    pub suite: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run `stela audit`.
pub fn run(args: AuditArgs) -> anyhow::Result<Outcome> {
    let sbom_path = if args.target.is_dir() {
        args.target.join(stela_build::steps::sbom::FILE)
    } else {
        args.target.clone()
    };
    let packages = read_sbom(&sbom_path)?;
    let suite = match &args.suite {
        Some(s) => s.clone(),
        None => {
            let named: BTreeSet<&str> = packages
                .iter()
                .filter_map(|p| p.distro.as_deref())
                .collect();
            match named.iter().next() {
                Some(s) if named.len() == 1 => (*s).to_owned(),
                _ => anyhow::bail!(
                    "{}: the packages name {} releases ({}); say which with --suite",
                    sbom_path.display(),
                    named.len(),
                    named.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            }
        }
    };
    let sources: BTreeSet<String> = packages.iter().map(|p| p.source.clone()).collect();
    let file = std::fs::File::open(&args.cves)
        .with_context(|| format!("opening {}", args.cves.display()))?;
    let tracker = read_tracker(file, &args.cves, &sources)?;
    let report = audit(&packages, &tracker, &suite);
    if args.json {
        crate::output::print_json(&report)?;
    } else {
        for f in &report.findings {
            let state = match &f.state {
                State::FixedInNewer { fixed_version } => format!("fixed in {fixed_version}"),
                State::Open => "open".to_owned(),
                State::Undetermined => "undetermined".to_owned(),
            };
            println!(
                "{}  {} {}  {state}  urgency {}{}  ({})",
                f.cve,
                f.source,
                f.source_version,
                f.urgency.as_deref().unwrap_or("unknown"),
                f.nodsa
                    .as_deref()
                    .map(|n| format!(", no advisory: {n}"))
                    .unwrap_or_default(),
                f.packages.join(" ")
            );
        }
        println!(
            "{} source packages of {} checked against the tracker for {suite}: {} CVEs affect the image, {} do not",
            report.sources,
            sbom_path.display(),
            report.findings.len(),
            report.not_affected
        );
    }
    Ok(if report.findings.is_empty() {
        Outcome::Success
    } else {
        Outcome::CheckFailed
    })
}
