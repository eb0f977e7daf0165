//! `stela keys`: UEFI Secure Boot keys (PK, KEK, db) and their enrolment files.
//!
//! `init` makes a key directory (documented in docs/keys.md); `show` lists what an
//! `.esl` or `.auth` file (or a whole key directory) holds and checks the signatures.
//! The directory itself is [`stela_keydir::KeyDir`]'s: this module parses arguments and
//! prints.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde::Serialize;
use stela_efivars::{parse_lists, AuthenticatedVariable, SecureBootVariable, SignatureList};
use stela_keydir::{GenerateOptions, Generated, KeyDir, KeyFile};
use stela_keys::Certificate;

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
    /// A key directory is also checked as a whole: each key matches its certificate,
    /// the certificates are valid now, each .esl holds its certificate, each .auth
    /// writes its .esl and the loader/keys copies are the same files.
    ///
    /// Exit status: 0 if every signature verifies (and the directory is valid), 1 if
    /// one does not (or the directory is not), 2 if a file cannot be read or is
    /// malformed.
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
    fn default_for(dir: PathBuf) -> Self {
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

impl From<&Generated> for InitJson {
    fn from(g: &Generated) -> Self {
        Self {
            directory: g.dir.display().to_string(),
            owner_guid: g.owner.to_string(),
            timestamp: g.timestamp.to_string(),
            systemd_boot_keys: g.enrolment_dir.display().to_string(),
            keys: g
                .keys
                .iter()
                .map(|k| KeyJson {
                    name: k.role.name(),
                    subject: k.subject.clone(),
                    sha256: hex::encode(k.sha256),
                    auth_signed_by: k.role.signed_by().name(),
                    files: k.files.clone(),
                })
                .collect(),
        }
    }
}

fn generate(args: &InitArgs) -> anyhow::Result<Generated> {
    let opts = GenerateOptions {
        common_name: args.common_name.clone(),
        validity_days: args.validity_days,
        timestamp: stela_keydir::timestamp_from_env()?,
    };
    Ok(KeyDir::new(&args.dir).generate(&opts)?)
}

/// Make the default key set in `dir` (for `stela build` without keys) and write the
/// summary `stela keys init` prints to `out`.
pub fn init_default(dir: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let generated = generate(&InitArgs::default_for(dir.to_owned()))?;
    write_init_summary(&InitJson::from(&generated), out)
}

fn init(args: InitArgs) -> anyhow::Result<Outcome> {
    let summary = InitJson::from(&generate(&args)?);
    if args.json {
        crate::output::print_json(&summary)?;
    } else {
        write_init_summary(&summary, &mut std::io::stdout().lock())?;
    }
    Ok(Outcome::Success)
}

fn write_init_summary(summary: &InitJson, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "created {} (signature owner {}, time stamp {} UTC)",
        summary.directory, summary.owner_guid, summary.timestamp
    )?;
    for k in &summary.keys {
        writeln!(
            out,
            "  {:<3}  {}  sha256 {}  ({}.auth signed by {})",
            k.name, k.subject, k.sha256, k.name, k.auth_signed_by
        )?;
    }
    writeln!(
        out,
        "  systemd-boot enrolment files in {}/{}: copy {}/loader onto the ESP",
        summary.directory, summary.systemd_boot_keys, summary.directory
    )?;
    writeln!(
        out,
        "keep PK.key and KEK.key offline; db.key signs the boot chain"
    )?;
    Ok(())
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
    /// For a key directory: the check of the set as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    directory: Option<DirectoryJson>,
}

/// The whole-set check of a key directory ([`KeyDir::validate`]), for `show`.
#[derive(Debug, Serialize)]
struct DirectoryJson {
    /// True if the set is complete and consistent, and its certificates are valid now.
    valid: bool,
    /// The first problem found.
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
}

fn check_directory(dir: &KeyDir) -> DirectoryJson {
    match dir.validate(std::time::SystemTime::now()) {
        Ok(_) => DirectoryJson {
            valid: true,
            problem: None,
        },
        // Reported, not returned: `show` lists what it can and exits 1.
        Err(e) => DirectoryJson {
            valid: false,
            problem: Some(format!("{:#}", anyhow::Error::from(e))),
        },
    }
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
    stela_limits::read(path, stela_limits::EFI_VARIABLE)
        .with_context(|| format!("reading {}", path.display()))
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

fn show(args: ShowArgs) -> anyhow::Result<Outcome> {
    let mut files = Vec::new();
    let mut directory = None;
    if args.path.is_dir() {
        let dir = KeyDir::new(&args.path);
        let found = dir.variable_files()?;
        if found.is_empty() {
            bail!(
                "{} holds no PK, KEK, db or dbx .esl/.auth files",
                args.path.display()
            );
        }
        for (path, var) in found {
            if path.extension().is_some_and(|e| e == "esl") {
                files.push(show_esl(&path)?);
                continue;
            }
            let signer_cert = dir.file(var.signed_by(), KeyFile::Crt);
            let trust = match &args.signer {
                Some(c) => Trust::File(c.clone()),
                None if signer_cert.is_file() => Trust::File(signer_cert),
                None => Trust::Carried,
            };
            files.push(show_auth(&path, var, &trust)?);
        }
        directory = Some(check_directory(&dir));
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
    let valid = directory.as_ref().is_none_or(|d| d.valid);
    if args.json {
        crate::output::print_json(&ShowJson {
            files,
            verified,
            directory,
        })?;
    } else {
        for f in &files {
            print_file(f);
        }
        if let Some(d) = &directory {
            match &d.problem {
                None => println!("key directory: complete and valid"),
                Some(p) => println!("key directory: NOT VALID: {p}"),
            }
        }
    }
    Ok(if verified && valid {
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
