//! `stela keys`: UEFI Secure Boot keys (PK, KEK, db) and their enrolment files.
//!
//! `init` makes a key directory (documented in docs/keys.md); `show` lists what an
//! `.esl` or `.auth` file (or a whole key directory) holds and checks the signatures.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde::Serialize;
use stela_efivars::{
    parse_lists, AuthenticatedVariable, EfiTime, Guid, SecureBootVariable, SignatureList,
};
use stela_keys::{issue_certificate, Certificate, CertificateProfile, FileSigner, PrivateKey};

use crate::Outcome;

/// Subcommands of `stela keys`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a Secure Boot key set (PK, KEK, db) and its signed enrolment files.
    ///
    /// Writes DIR/{PK,KEK,db}.{key,crt,cer,esl,auth} and DIR/loader/keys/<name>/*.auth,
    /// the layout systemd-boot enrols from (copy DIR/loader onto the ESP). DIR must not
    /// exist or be empty; it appears complete or not at all. The time stamp of the
    /// .auth files is now, or SOURCE_DATE_EPOCH when set.
    Init(InitArgs),
    /// List the signature lists of an .esl or .auth file, or of a key directory, and
    /// check the .auth signatures.
    ///
    /// Exit status: 0 if every signature verifies, 1 if one does not, 2 if a file
    /// cannot be read or is malformed.
    Show(ShowArgs),
}

/// Arguments of `stela keys init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The key directory to create.
    dir: PathBuf,
    /// Name in the certificates ("<NAME> PK", "<NAME> KEK", "<NAME> db"); slugified,
    /// also the systemd-boot key directory loader/keys/<name>.
    #[arg(long, default_value = "stela", value_name = "NAME")]
    common_name: String,
    /// How long the certificates are valid, in days (firmware does not check it; the
    /// kernel and sbverify may).
    #[arg(long, default_value_t = 3650, value_name = "DAYS")]
    validity_days: u32,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

impl InitArgs {
    /// Arguments for a default key set in `dir` (used by `stela build` without keys).
    pub fn default_for(dir: PathBuf) -> Self {
        Self {
            dir,
            common_name: "stela".into(),
            validity_days: 3650,
            json: false,
        }
    }
}

/// Arguments of `stela keys show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A key directory, an .esl file or an .auth file.
    path: PathBuf,
    /// Check .auth signatures against this certificate (PEM or DER) instead of the key
    /// directory's, or the certificate the .auth file carries.
    #[arg(long, value_name = "CERT")]
    signer: Option<PathBuf>,
    /// The variable an .auth file updates (PK, KEK, db, dbx), when its file name does
    /// not say it.
    #[arg(long, value_name = "NAME")]
    variable: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Run a `stela keys` subcommand.
pub fn run(cmd: KeysCommand) -> anyhow::Result<Outcome> {
    match cmd {
        KeysCommand::Init(args) => init(args),
        KeysCommand::Show(args) => show(args),
    }
}

/// The three keys `init` makes, in order of authority.
const ROLES: [SecureBootVariable; 3] = [
    SecureBootVariable::Pk,
    SecureBootVariable::Kek,
    SecureBootVariable::Db,
];

/// Lowercase ASCII letters and digits, runs of anything else as one `-`.
fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

/// The time stamp for new .auth files: SOURCE_DATE_EPOCH (reproducible builds) or now.
fn auth_timestamp() -> anyhow::Result<EfiTime> {
    let secs = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse::<i64>()
            .with_context(|| format!("SOURCE_DATE_EPOCH {v:?} is not a number of seconds"))?,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .context("the system clock is before 1970")?
            .as_secs()
            .try_into()
            .context("the system clock is out of range")?,
    };
    EfiTime::from_unix(secs).context("making the .auth time stamp")
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    f.sync_all()
        .with_context(|| format!("syncing {}", path.display()))
}

fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("syncing the directory {}", dir.display()))
}

/// A key made by `init`, for the summary.
#[derive(Debug, Serialize)]
struct KeyJson {
    /// PK, KEK or db.
    name: &'static str,
    subject: String,
    /// SHA-256 of the DER certificate, hex.
    sha256: String,
    /// The variable whose key signed the .auth file.
    auth_signed_by: &'static str,
    files: Vec<String>,
}

/// `stela keys init --json` output.
#[derive(Debug, Serialize)]
struct InitJson {
    directory: String,
    owner_guid: String,
    /// The .auth time stamp, UTC.
    timestamp: String,
    /// The systemd-boot enrolment directory, relative to `directory`.
    systemd_boot_keys: String,
    keys: Vec<KeyJson>,
}

fn check_target(dir: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("looking at {}", dir.display())),
        Ok(m) if !m.is_dir() => bail!("{} exists and is not a directory", dir.display()),
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir)
                .with_context(|| format!("reading the directory {}", dir.display()))?;
            if entries.next().is_some() {
                bail!(
                    "{} already exists and is not empty; stela keys init never overwrites keys",
                    dir.display()
                );
            }
            Ok(())
        }
    }
}

fn init(args: InitArgs) -> anyhow::Result<Outcome> {
    let name = args.common_name.trim();
    let slug = slugify(name);
    if slug.is_empty() {
        bail!(
            "--common-name {:?} has no letters or digits to name loader/keys/<name>",
            args.common_name
        );
    }
    check_target(&args.dir)?;
    let parent = match args.dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let timestamp = auth_timestamp()?;
    let owner = Guid::random();

    let mut signers = Vec::new();
    for role in ROLES {
        let key = PrivateKey::generate_rsa(2048)
            .with_context(|| format!("generating the {} key", role.name()))?;
        let profile = CertificateProfile {
            common_name: format!("{name} {}", role.name()),
            validity_days: args.validity_days,
            ca: role != SecureBootVariable::Db,
        };
        let cert = issue_certificate(&key, &profile, None)
            .with_context(|| format!("issuing the {} certificate", role.name()))?;
        signers.push((role, FileSigner::new(key, cert)?));
    }
    let signer_of = |role: SecureBootVariable| {
        signers
            .iter()
            .find(|(r, _)| *r == role.signed_by())
            .map(|(_, s)| s)
            .context("internal: no signer for the role")
    };

    // Build everything in a hidden directory beside DIR, then rename it into place: a
    // failure leaves nothing behind (TempDir removes itself when dropped).
    let tmp = tempfile::Builder::new()
        .prefix(".stela-keys-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", tmp.path().display()))?;
    let enrol_rel = Path::new("loader").join("keys").join(&slug);
    let enrol = tmp.path().join(&enrol_rel);
    std::fs::create_dir_all(&enrol).with_context(|| format!("creating {}", enrol.display()))?;

    let mut keys = Vec::new();
    for (role, signer) in &signers {
        let n = role.name();
        let cert = stela_keys::Signer::certificate(signer);
        let esl = stela_efivars::encode_lists(&[SignatureList::x509(owner, cert.to_der())
            .with_context(|| format!("building {n}.esl"))?]);
        let auth = AuthenticatedVariable::sign(
            signer_of(*role)?,
            n,
            role.vendor(),
            stela_efivars::VariableAttributes::secure_boot(),
            timestamp,
            &esl,
        )
        .with_context(|| format!("signing {n}.auth"))?
        .to_bytes();
        let pem = signer.key().to_pkcs8_pem()?;
        let files: [(String, &[u8], u32); 5] = [
            (format!("{n}.key"), &pem, 0o600),
            (format!("{n}.crt"), &cert.to_pem()?, 0o644),
            (format!("{n}.cer"), cert.to_der(), 0o644),
            (format!("{n}.esl"), &esl, 0o644),
            (format!("{n}.auth"), &auth, 0o644),
        ];
        for (file, bytes, mode) in &files {
            write_new(&tmp.path().join(file), bytes, *mode)?;
        }
        write_new(&enrol.join(format!("{n}.auth")), &auth, 0o644)?;
        keys.push(KeyJson {
            name: n,
            subject: cert.subject(),
            sha256: hex::encode(cert.sha256_fingerprint()),
            auth_signed_by: role.signed_by().name(),
            files: files.iter().map(|(f, _, _)| f.clone()).collect(),
        });
    }
    for d in [enrol.as_path(), enrol.parent().unwrap_or(&enrol)] {
        sync_dir(d)?;
    }
    sync_dir(&tmp.path().join("loader"))?;
    sync_dir(tmp.path())?;
    let tmp_path = tmp.keep();
    if let Err(e) = std::fs::rename(&tmp_path, &args.dir) {
        // Best effort: the error below is the one that matters.
        if let Err(cleanup) = std::fs::remove_dir_all(&tmp_path) {
            tracing::warn!("removing {}: {cleanup}", tmp_path.display());
        }
        return Err(e).with_context(|| {
            format!(
                "moving the new keys into {} (it must not exist or be empty)",
                args.dir.display()
            )
        });
    }
    sync_dir(&parent)?;

    let summary = InitJson {
        directory: args.dir.display().to_string(),
        owner_guid: owner.to_string(),
        timestamp: timestamp.to_string(),
        systemd_boot_keys: enrol_rel.display().to_string(),
        keys,
    };
    if args.json {
        crate::output::print_json(&summary)?;
    } else {
        println!(
            "created {} (signature owner {}, time stamp {} UTC)",
            summary.directory, summary.owner_guid, summary.timestamp
        );
        for k in &summary.keys {
            println!(
                "  {:<3}  {}  sha256 {}  ({}.auth signed by {})",
                k.name, k.subject, k.sha256, k.name, k.auth_signed_by
            );
        }
        println!(
            "  systemd-boot enrolment files in {}/{}: copy {}/loader onto the ESP",
            summary.directory, summary.systemd_boot_keys, summary.directory
        );
        println!("keep PK.key and KEK.key offline; db.key signs the boot chain");
    }
    Ok(Outcome::Success)
}

/// One entry of a signature list, for `show`.
#[derive(Debug, Serialize)]
struct EntryJson {
    owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    /// SHA-256 of the certificate, or the hash itself for a sha256 list.
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    /// Size of the signature data, bytes.
    size: usize,
}

/// One signature list, for `show`.
#[derive(Debug, Serialize)]
struct ListJson {
    /// "x509", "sha256" or the type GUID.
    r#type: String,
    entries: Vec<EntryJson>,
}

/// The signature check of an .auth file, for `show`.
#[derive(Debug, Serialize)]
struct AuthJson {
    variable: String,
    timestamp: String,
    /// The signing certificate's subject, as the PKCS#7 message carries it.
    signer: Option<String>,
    /// What the signature was checked against.
    checked_against: String,
    /// True if the signature verifies.
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// One file, for `show`.
#[derive(Debug, Serialize)]
struct FileJson {
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<AuthJson>,
    lists: Vec<ListJson>,
}

/// `stela keys show --json` output.
#[derive(Debug, Serialize)]
struct ShowJson {
    files: Vec<FileJson>,
    /// True if every .auth signature verifies.
    verified: bool,
}

fn describe_lists(lists: &[SignatureList]) -> anyhow::Result<Vec<ListJson>> {
    let mut out = Vec::new();
    for (li, list) in lists.iter().enumerate() {
        let mut entries = Vec::new();
        for (ei, e) in list.entries().iter().enumerate() {
            let (subject, sha256) =
                if list.signature_type() == stela_efivars::known::EFI_CERT_X509 {
                    let cert = Certificate::from_der(&e.data, "an EFI_CERT_X509 entry").map_err(
                        |source| stela_efivars::EfiVarsError::Certificate {
                            index: li + 1,
                            entry: ei + 1,
                            source,
                        },
                    )?;
                    (
                        Some(cert.subject()),
                        Some(hex::encode(cert.sha256_fingerprint())),
                    )
                } else if list.signature_type() == stela_efivars::known::EFI_CERT_SHA256 {
                    (None, Some(hex::encode(&e.data)))
                } else {
                    (None, None)
                };
            entries.push(EntryJson {
                owner: e.owner.to_string(),
                subject,
                sha256,
                size: e.data.len(),
            });
        }
        out.push(ListJson {
            r#type: list.type_name(),
            entries,
        });
    }
    Ok(out)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn show_esl(path: &Path) -> anyhow::Result<FileJson> {
    let bytes = read(path)?;
    let lists = parse_lists(&bytes).with_context(|| format!("{}", path.display()))?;
    Ok(FileJson {
        path: path.display().to_string(),
        auth: None,
        lists: describe_lists(&lists).with_context(|| format!("{}", path.display()))?,
    })
}

/// Where the trusted certificate for an .auth file comes from.
enum Trust {
    /// A certificate file.
    File(PathBuf),
    /// The certificate the PKCS#7 message carries: proves integrity, not who signed.
    Carried,
}

fn show_auth(path: &Path, variable: SecureBootVariable, trust: &Trust) -> anyhow::Result<FileJson> {
    let ctx = || format!("{}", path.display());
    let bytes = read(path)?;
    let auth = AuthenticatedVariable::parse(&bytes).with_context(ctx)?;
    let lists = auth
        .signature_lists()
        .with_context(|| format!("the variable data at offset {}", auth.data_offset()))
        .with_context(ctx)?;
    let carried = auth
        .message()
        .and_then(|m| {
            m.certificates().map_err(|source| {
                stela_efivars::EfiVarsError::AuthHeader(format!(
                    "AuthInfo.CertData certificates: {source}"
                ))
            })
        })
        .with_context(ctx)?;
    let (trusted, checked_against) = match trust {
        Trust::File(cert) => (
            Certificate::from_file(cert).context("loading the signer's certificate")?,
            cert.display().to_string(),
        ),
        Trust::Carried => match carried.first() {
            Some(c) => (
                c.clone(),
                "the certificate the file carries (identity not checked)".to_owned(),
            ),
            None => bail!(
                "{}: the PKCS#7 signature carries no certificate; pass --signer",
                path.display()
            ),
        },
    };
    let (verified, attributes, reason) = match auth.verify_secure_boot(variable, &trusted) {
        Ok((_, attrs)) => (true, Some(format!("{:#04x}", attrs.bits())), None),
        Err(e) if e.is_bad_signature() => {
            (false, None, Some(format!("{:#}", anyhow::Error::from(e))))
        }
        Err(e) => return Err(e).with_context(ctx),
    };
    Ok(FileJson {
        path: path.display().to_string(),
        auth: Some(AuthJson {
            variable: variable.name().to_owned(),
            timestamp: auth.timestamp().to_string(),
            signer: carried.first().map(Certificate::subject),
            checked_against,
            verified,
            attributes,
            reason,
        }),
        lists: describe_lists(&lists).with_context(ctx)?,
    })
}

fn variable_of(path: &Path, given: Option<&str>) -> anyhow::Result<SecureBootVariable> {
    let name = match given {
        Some(n) => n.to_owned(),
        None => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    SecureBootVariable::from_name(&name).with_context(|| {
        format!(
            "{}: cannot tell which variable {name:?} is (PK, KEK, db or dbx); pass --variable",
            path.display()
        )
    })
}

/// The files of a key directory that `show` reads, with their variable.
fn directory_files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, SecureBootVariable)>> {
    let mut files = Vec::new();
    for var in SecureBootVariable::ALL {
        for ext in ["esl", "auth"] {
            let p = dir.join(format!("{}.{ext}", var.name()));
            if p.is_file() {
                files.push((p, var));
            }
        }
    }
    let keys = dir.join("loader").join("keys");
    if keys.is_dir() {
        let mut subdirs: Vec<PathBuf> = std::fs::read_dir(&keys)
            .with_context(|| format!("reading {}", keys.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("reading {}", keys.display()))?;
        subdirs.sort();
        for sub in subdirs {
            for var in SecureBootVariable::ALL {
                let p = sub.join(format!("{}.auth", var.name()));
                if p.is_file() {
                    files.push((p, var));
                }
            }
        }
    }
    if files.is_empty() {
        bail!(
            "{} holds no PK, KEK, db or dbx .esl/.auth files",
            dir.display()
        );
    }
    Ok(files)
}

fn show(args: ShowArgs) -> anyhow::Result<Outcome> {
    let mut files = Vec::new();
    if args.path.is_dir() {
        for (path, var) in directory_files(&args.path)? {
            if path.extension().is_some_and(|e| e == "esl") {
                files.push(show_esl(&path)?);
                continue;
            }
            let signer_cert = args.path.join(format!("{}.crt", var.signed_by().name()));
            let trust = match &args.signer {
                Some(c) => Trust::File(c.clone()),
                None if signer_cert.is_file() => Trust::File(signer_cert),
                None => Trust::Carried,
            };
            files.push(show_auth(&path, var, &trust)?);
        }
    } else if args.path.extension().is_some_and(|e| e == "auth") {
        let var = variable_of(&args.path, args.variable.as_deref())?;
        let trust = args.signer.clone().map_or(Trust::Carried, Trust::File);
        files.push(show_auth(&args.path, var, &trust)?);
    } else {
        files.push(show_esl(&args.path)?);
    }
    let verified = files
        .iter()
        .all(|f| f.auth.as_ref().is_none_or(|a| a.verified));
    if args.json {
        crate::output::print_json(&ShowJson { files, verified })?;
    } else {
        for f in &files {
            print_file(f);
        }
    }
    Ok(if verified {
        Outcome::Success
    } else {
        Outcome::CheckFailed
    })
}

fn print_file(f: &FileJson) {
    println!("{}", f.path);
    if let Some(a) = &f.auth {
        println!(
            "  {} update, time stamp {} UTC, signed by {}",
            a.variable,
            a.timestamp,
            a.signer.as_deref().unwrap_or("(no certificate carried)")
        );
        match (&a.reason, &a.attributes) {
            (None, Some(attrs)) => println!(
                "  signature: verified against {} (attributes {attrs})",
                a.checked_against
            ),
            (reason, _) => println!(
                "  signature: DOES NOT VERIFY against {}: {}",
                a.checked_against,
                reason.as_deref().unwrap_or("")
            ),
        }
    }
    for (i, l) in f.lists.iter().enumerate() {
        let n = l.entries.len();
        let plural = if n == 1 { "entry" } else { "entries" };
        println!("  list {}: {}, {n} {plural}", i + 1, l.r#type);
        for e in &l.entries {
            let what = match (&e.subject, &e.sha256) {
                (Some(s), Some(h)) => format!("{s}  sha256 {h}"),
                (None, Some(h)) => format!("sha256 {h}"),
                _ => format!("{} bytes", e.size),
            };
            println!("    owner {}  {what}", e.owner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        for (name, slug) in [
            ("stela", "stela"),
            ("Example Corp.", "example-corp"),
            ("  --ACME  fleet 2 ", "acme-fleet-2"),
            ("ÄÖ", ""),
        ] {
            assert_eq!(slugify(name), slug, "{name:?}");
        }
    }
}
