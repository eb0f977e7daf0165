//! [`RawRecipe`] to [`Recipe`]: every field checked, every problem collected.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::cmdline::KernelCmdline;
use crate::content::{Content, Language};
use crate::debian::{Architecture, Component, Mirror, Snapshot, Suite};
use crate::error::{InvalidValue, Location, Problem, ProblemKind};
use crate::firstboot::{Firstboot, Keymap, Locale, PasswordHash, SshHostKeyType, SshKey, Timezone};
use crate::ipe::{parse_rule as parse_ipe_rule, Ipe, IpeMode};
use crate::model::{
    Boot, Debian, Encryption, FileEntry, FileSource, Filesystem, Kernel, Partitions, Recipe,
    RootPartition, Units, MIN_ESP_SIZE, MIN_USR_SIZE,
};
use crate::names::{Hostname, ImageName, PackageName, UnitName, Version, GPT_LABEL_MAX};
use crate::parse::Parsed;
use crate::paths::{FileMode, HostPath, ImagePath, IMAGE_TOP_DIRS};
use crate::raw::{
    RawDebian, RawFile, RawFirstboot, RawHealth, RawIpe, RawPartitions, RawSystemd, RawUpdate, Text,
};
use crate::size::{Size, MIB};
use crate::update::{BootTries, Channel, Health, RepositoryUrl, Update};
use crate::window::MaintenanceWindow;

/// Checks a parsed recipe; collects problems instead of stopping at the first.
pub(crate) struct Validator<'a> {
    pub text: &'a str,
    /// The recipe file's directory: host paths are relative to it.
    pub base: &'a Path,
    /// Whether to look at the host paths (they must exist); off for pure parsing.
    pub check_host: bool,
    pub problems: Vec<Problem>,
}

impl Validator<'_> {
    fn at(&self, offset: usize) -> Option<Location> {
        Some(Location::of_offset(self.text, offset))
    }

    fn report(
        &mut self,
        kind: ProblemKind,
        field: impl Into<String>,
        location: Option<Location>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            kind,
            field: field.into(),
            location,
            message: message.into(),
        });
    }

    /// Parses one string field with `parse`, reporting a refusal at the value.
    fn value<T>(
        &mut self,
        field: &str,
        text: &Text,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Option<T> {
        match parse(text.get_ref()) {
            Ok(v) => Some(v),
            Err(e) => {
                let loc = self.at(text.span().start);
                self.report(ProblemKind::Value, field, loc, e.0);
                None
            }
        }
    }

    fn optional<T>(
        &mut self,
        field: &str,
        text: Option<&Text>,
        parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
    ) -> Option<Option<T>> {
        match text {
            None => Some(None),
            Some(t) => self.value(field, t, parse).map(Some),
        }
    }

    fn list<T>(
        &mut self,
        field: &str,
        items: Option<&Vec<Text>>,
        parse: impl Fn(&str) -> Result<T, InvalidValue>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for (i, item) in items.into_iter().flatten().enumerate() {
            if let Some(v) = self.value(&format!("{field}[{i}]"), item, &parse) {
                out.push(v);
            }
        }
        out
    }

    fn host_path(&mut self, field: &str, text: &Text) -> Option<HostPath> {
        let base = self.base;
        self.value(field, text, |s| HostPath::parse(s, base))
    }

    /// Checks that a host path exists and is a file (`dir == false`) or a directory.
    fn check_exists(&mut self, field: &str, text: &Text, path: &HostPath, dir: bool) {
        if !self.check_host {
            return;
        }
        let loc = self.at(text.span().start);
        let shown = path.resolved().display();
        match std::fs::metadata(path.resolved()) {
            Err(e) => self.report(ProblemKind::HostPath, field, loc, format!("{shown}: {e}")),
            Ok(m) if dir && !m.is_dir() => self.report(
                ProblemKind::HostPath,
                field,
                loc,
                format!("{shown} is not a directory"),
            ),
            Ok(m) if !dir && !m.is_file() => self.report(
                ProblemKind::HostPath,
                field,
                loc,
                format!("{shown} is not a file"),
            ),
            Ok(_) => {}
        }
    }

    /// Checks that an overlay directory holds only what the image carries.
    fn check_overlay(&mut self, field: &str, text: &Text, path: &HostPath) {
        if !self.check_host {
            return;
        }
        let Ok(entries) = std::fs::read_dir(path.resolved()) else {
            return; // check_exists reported it
        };
        let loc = self.at(text.span().start);
        let mut outside: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !IMAGE_TOP_DIRS.contains(&n.as_str()))
            .collect();
        outside.sort();
        if !outside.is_empty() {
            self.report(
                ProblemKind::HostPath,
                field,
                loc,
                format!(
                    "{} holds {}: an overlay may only hold usr/ and etc/ (the root partition is created empty at first boot)",
                    path.resolved().display(),
                    outside.join(", ")
                ),
            );
        }
    }

    fn size(&mut self, field: &str, text: Option<&Text>, default: Size, min: Size) -> Size {
        let Some(text) = text else {
            return default;
        };
        let Some(size) = self.value(field, text, Size::parse) else {
            return default;
        };
        let loc = self.at(text.span().start);
        if size < min {
            self.report(
                ProblemKind::Value,
                field,
                loc,
                format!("{size} is too small, at least {min} is needed"),
            );
        } else if size.bytes() % MIB != 0 {
            self.report(
                ProblemKind::Value,
                field,
                loc,
                format!(
                    "{:?} is not a whole number of MiB (partitions are aligned to 1 MiB)",
                    text.get_ref()
                ),
            );
        }
        size
    }
}

/// Checks `parsed`; `None` when any problem was found (they are in `v.problems`).
pub(crate) fn validate(parsed: Parsed, v: &mut Validator<'_>) -> Option<Recipe> {
    let raw = parsed.raw;
    let required = |v: &mut Validator<'_>, field: &str| {
        if !parsed.removed.contains(field) {
            v.report(
                ProblemKind::Shape,
                field,
                None,
                format!("missing field `{field}`"),
            );
        }
    };
    let name = match &raw.name {
        Some(t) => v.value("name", t, ImageName::parse),
        None => {
            required(v, "name");
            None
        }
    };
    let version = match &raw.version {
        Some(t) => v.value("version", t, Version::parse),
        None => {
            required(v, "version");
            None
        }
    };
    if let (Some(name), Some(version), Some(t)) = (&name, &version, &raw.version) {
        let label = format!("{name}_{version}");
        // ASCII only, so bytes are UTF-16 code units.
        if label.len() > GPT_LABEL_MAX {
            let loc = v.at(t.span().start);
            v.report(
                ProblemKind::Value,
                "version",
                loc,
                format!(
                    "the partition label {label:?} is {} characters; GPT labels hold {GPT_LABEL_MAX} \
                     (name, '_' and version together)",
                    label.len()
                ),
            );
        }
    }

    let debian = debian(v, raw.debian.unwrap_or_default());
    let packages: BTreeSet<PackageName> = v
        .list("packages", raw.packages.as_ref(), PackageName::parse)
        .into_iter()
        .collect();
    let files = files(v, raw.files.unwrap_or_default());
    let mut overlay = Vec::new();
    for (i, t) in raw.overlay.iter().flatten().enumerate() {
        let field = format!("overlay[{i}]");
        if let Some(p) = v.host_path(&field, t) {
            v.check_exists(&field, t, &p, true);
            v.check_overlay(&field, t, &p);
            overlay.push(p);
        }
    }
    let systemd = units(v, raw.systemd.unwrap_or_default());
    let hostname = v
        .optional("hostname", raw.hostname.as_ref(), Hostname::parse)
        .flatten();
    let kernel = kernel(v, raw.kernel.and_then(|k| k.cmdline_extra));
    let partitions = partitions(v, raw.partitions.unwrap_or_default());
    let keys = match &raw.keys {
        Some(t) => v
            .host_path("keys", t)
            .inspect(|p| v.check_exists("keys", t, p, true)),
        None => None,
    };
    let firstboot = firstboot(v, raw.firstboot.unwrap_or_default());
    let boot = Boot {
        loader: match raw.boot.as_ref().and_then(|b| b.loader.as_ref()) {
            Some(t) => v
                .host_path("boot.loader", t)
                .inspect(|p| v.check_exists("boot.loader", t, p, false)),
            None => None,
        },
    };
    let content = raw.content.unwrap_or_default();
    let mut translations = Vec::new();
    for lang in v.list(
        "content.translations",
        content.translations.as_ref(),
        Language::parse,
    ) {
        if !translations.contains(&lang) {
            translations.push(lang);
        }
    }
    translations.sort();
    let content = Content {
        docs: content.docs.unwrap_or(false),
        translations,
    };
    let update = raw.update.and_then(|u| update(v, u));
    let health = health(v, raw.health.unwrap_or_default());
    let ipe = ipe(v, raw.ipe.unwrap_or_default());

    if !v.problems.is_empty() {
        return None;
    }
    Some(Recipe {
        name: name?,
        version: version?,
        debian,
        packages,
        files,
        overlay,
        systemd,
        hostname,
        kernel,
        partitions,
        keys,
        firstboot,
        content,
        update,
        health,
        boot,
        ipe,
    })
}

fn debian(v: &mut Validator<'_>, raw: RawDebian) -> Debian {
    let mut d = Debian::default();
    if let Some(s) = raw
        .suite
        .as_ref()
        .and_then(|t| v.value("debian.suite", t, Suite::parse))
    {
        d.suite = s;
    }
    if let Some(m) = raw
        .mirror
        .as_ref()
        .and_then(|t| v.value("debian.mirror", t, Mirror::parse))
    {
        d.mirror = m;
    }
    if let Some(a) = raw
        .architecture
        .as_ref()
        .and_then(|t| v.value("debian.architecture", t, Architecture::parse))
    {
        d.architecture = a;
    }
    if let Some(list) = &raw.components {
        let mut components: Vec<Component> = Vec::new();
        for c in v.list("debian.components", Some(list), Component::parse) {
            if !components.contains(&c) {
                components.push(c);
            }
        }
        if !components.contains(&Component::main()) {
            let loc = list.first().and_then(|t| v.at(t.span().start));
            v.report(
                ProblemKind::Value,
                "debian.components",
                loc,
                "must include \"main\" (the image's base packages are there)",
            );
        }
        d.components = components;
    }
    // A snapshot moves the default mirrors to that moment of snapshot.debian.org; mirrors
    // the recipe names are taken as copies of that moment (a local snapshot mirror).
    if let Some(at) = raw
        .snapshot
        .as_ref()
        .and_then(|t| v.value("debian.snapshot", t, Snapshot::parse))
    {
        if raw.mirror.is_none() {
            d.mirror = at.mirror("debian");
        }
        if raw.security_mirror.is_none() {
            d.security_mirror = at.mirror("debian-security");
        }
        d.snapshot = Some(at);
    }
    if let Some(m) = raw
        .security_mirror
        .as_ref()
        .and_then(|t| v.value("debian.security_mirror", t, Mirror::parse))
    {
        d.security_mirror = m;
    }
    d.security = d.suite.has_security();
    d.updates = d.suite.has_updates();
    for (field, raw, available, slot) in [
        (
            "debian.security",
            raw.security,
            d.suite.has_security(),
            &mut d.security,
        ),
        (
            "debian.updates",
            raw.updates,
            d.suite.has_updates(),
            &mut d.updates,
        ),
    ] {
        let Some(value) = raw else { continue };
        if *value.get_ref() && !available {
            let loc = v.at(value.span().start);
            v.report(
                ProblemKind::Value,
                field,
                loc,
                format!("Debian publishes no such suite for {}", d.suite),
            );
        }
        *slot = *value.get_ref() && available;
    }
    d
}

fn files(v: &mut Validator<'_>, raw: Vec<toml::Spanned<RawFile>>) -> Vec<FileEntry> {
    let mut out = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, entry) in raw.iter().enumerate() {
        let field = format!("files[{i}]");
        let entry_loc = v.at(entry.span().start);
        let f = entry.get_ref();
        let dest = match &f.dest {
            Some(t) => v.value(&format!("{field}.dest"), t, ImagePath::parse),
            None => {
                v.report(
                    ProblemKind::Shape,
                    &field,
                    entry_loc,
                    "missing field `dest`",
                );
                None
            }
        };
        if let (Some(d), Some(t)) = (&dest, &f.dest) {
            if let Some(first) = seen.insert(d.as_str().to_owned(), i) {
                let loc = v.at(t.span().start);
                v.report(
                    ProblemKind::Value,
                    format!("{field}.dest"),
                    loc,
                    format!("{d} is also written by files[{first}]"),
                );
            }
        }
        let source = match (&f.src, &f.content) {
            (Some(t), None) => {
                let sfield = format!("{field}.src");
                v.host_path(&sfield, t).map(|p| {
                    v.check_exists(&sfield, t, &p, false);
                    FileSource::Host(p)
                })
            }
            (None, Some(t)) => Some(FileSource::Inline(t.get_ref().clone())),
            (Some(_), Some(_)) | (None, None) => {
                v.report(
                    ProblemKind::Shape,
                    &field,
                    entry_loc,
                    "give exactly one of `src` (a host file) and `content` (the text)",
                );
                None
            }
        };
        let mode = match &f.mode {
            None => Some(FileMode::DEFAULT),
            Some(m) => match FileMode::new(*m.get_ref()) {
                Ok(mode) => Some(mode),
                Err(e) => {
                    let loc = v.at(m.span().start);
                    v.report(ProblemKind::Value, format!("{field}.mode"), loc, e.0);
                    None
                }
            },
        };
        if let (Some(dest), Some(source), Some(mode)) = (dest, source, mode) {
            out.push(FileEntry { dest, source, mode });
        }
    }
    out
}

fn units(v: &mut Validator<'_>, raw: RawSystemd) -> Units {
    let enable: BTreeSet<UnitName> = v
        .list("systemd.enable", raw.enable.as_ref(), UnitName::parse)
        .into_iter()
        .collect();
    let mut disable = BTreeSet::new();
    for (i, t) in raw.disable.iter().flatten().enumerate() {
        let field = format!("systemd.disable[{i}]");
        if let Some(u) = v.value(&field, t, UnitName::parse) {
            if enable.contains(&u) {
                let loc = v.at(t.span().start);
                v.report(
                    ProblemKind::Value,
                    field,
                    loc,
                    format!("{u} is also in systemd.enable"),
                );
            }
            disable.insert(u);
        }
    }
    Units { enable, disable }
}

fn kernel(v: &mut Validator<'_>, cmdline_extra: Option<Text>) -> Kernel {
    let Some(t) = cmdline_extra else {
        return Kernel::default();
    };
    match KernelCmdline::parse(t.get_ref()) {
        Ok(cmdline_extra) => Kernel { cmdline_extra },
        Err(problems) => {
            let loc = v.at(t.span().start);
            for p in problems {
                v.report(ProblemKind::Value, "kernel.cmdline_extra", loc, p.0);
            }
            Kernel::default()
        }
    }
}

fn partitions(v: &mut Validator<'_>, raw: RawPartitions) -> Partitions {
    let d = Partitions::default();
    let usr_size = v.size(
        "partitions.usr_size",
        raw.usr_size.as_ref(),
        d.usr_size,
        MIN_USR_SIZE,
    );
    let esp_size = v.size(
        "partitions.esp_size",
        raw.esp_size.as_ref(),
        d.esp_size,
        MIN_ESP_SIZE,
    );
    let r = raw.root.unwrap_or_default();
    let mut root = RootPartition::default();
    if let Some(enc) = r.encrypt.as_ref().and_then(|t| {
        v.value("partitions.root.encrypt", t, |s| match s {
            "tpm2" => Ok(Encryption::Tpm2),
            "none" => Ok(Encryption::None),
            _ => Err(InvalidValue(format!(
                "{s:?} is not one of \"tpm2\", \"none\""
            ))),
        })
    }) {
        root.encrypt = enc;
    }
    if let Some(fs) = r.filesystem.as_ref().and_then(|t| {
        v.value("partitions.root.filesystem", t, |s| match s {
            "ext4" => Ok(Filesystem::Ext4),
            "btrfs" => Ok(Filesystem::Btrfs),
            "xfs" => Ok(Filesystem::Xfs),
            _ => Err(InvalidValue(format!(
                "{s:?} is not one of \"ext4\", \"btrfs\", \"xfs\""
            ))),
        })
    }) {
        root.filesystem = fs;
    }
    root.min_size = v.size(
        "partitions.root.min_size",
        r.min_size.as_ref(),
        root.min_size,
        root.filesystem.min_size(),
    );
    if let Some(grow) = r.grow {
        root.grow = grow;
    }
    Partitions {
        usr_size,
        esp_size,
        root,
    }
}

fn firstboot(v: &mut Validator<'_>, raw: RawFirstboot) -> Firstboot {
    let mut f = Firstboot::default();
    if let Some(l) = raw
        .locale
        .as_ref()
        .and_then(|t| v.value("firstboot.locale", t, Locale::parse))
    {
        f.locale = l;
    }
    f.keymap = v
        .optional("firstboot.keymap", raw.keymap.as_ref(), Keymap::parse)
        .flatten();
    if let Some(tz) = raw
        .timezone
        .as_ref()
        .and_then(|t| v.value("firstboot.timezone", t, Timezone::parse))
    {
        f.timezone = tz;
    }
    f.root_password_hashed = v
        .optional(
            "firstboot.root_password_hashed",
            raw.root_password_hashed.as_ref(),
            PasswordHash::parse,
        )
        .flatten();
    f.root_ssh_keys = v.list(
        "firstboot.root_ssh_keys",
        raw.root_ssh_keys.as_ref(),
        SshKey::parse,
    );
    if let Some(types) = &raw.ssh_host_keys {
        let parsed = v.list(
            "firstboot.ssh_host_keys",
            Some(types.get_ref()),
            SshHostKeyType::parse,
        );
        if types.get_ref().is_empty() {
            let loc = v.at(types.span().start);
            v.report(
                ProblemKind::Value,
                "firstboot.ssh_host_keys",
                loc,
                "is empty: sshd would have no host key; name at least one type (ed25519, ecdsa, rsa)",
            );
        } else if parsed.len() == types.get_ref().len() {
            f.ssh_host_keys = parsed.into_iter().collect();
        }
    }
    f
}

/// `[update]`: `repository` and `root` are required once the table is there.
fn update(v: &mut Validator<'_>, raw: RawUpdate) -> Option<Update> {
    let missing = |v: &mut Validator<'_>, field: &str| {
        v.report(
            ProblemKind::Shape,
            field,
            None,
            format!("missing field `{field}`: [update] needs the repository and its root"),
        );
    };
    let repository = match &raw.repository {
        Some(t) => v.value("update.repository", t, RepositoryUrl::parse),
        None => {
            missing(v, "update.repository");
            None
        }
    };
    let root = match &raw.root {
        Some(t) => v
            .host_path("update.root", t)
            .inspect(|p| v.check_exists("update.root", t, p, false)),
        None => {
            missing(v, "update.root");
            None
        }
    };
    let channel = v
        .optional("update.channel", raw.channel.as_ref(), Channel::parse)
        .map(|c| c.unwrap_or_else(Channel::default_channel));
    let tries = match &raw.tries {
        None => Some(BootTries::DEFAULT),
        Some(t) => match BootTries::new(*t.get_ref()) {
            Ok(n) => Some(n),
            Err(e) => {
                let loc = v.at(t.span().start);
                v.report(ProblemKind::Value, "update.tries", loc, e.0);
                None
            }
        },
    };
    let window = v.optional(
        "update.window",
        raw.window.as_ref(),
        MaintenanceWindow::parse,
    );
    let wave = match &raw.wave {
        None => Some(None),
        Some(t) => match u8::try_from(*t.get_ref()) {
            Ok(n) if n <= Update::WAVE_MAX => Some(Some(n)),
            _ => {
                let loc = v.at(t.span().start);
                let msg = format!(
                    "{}: a wave is 0 to {} (the repository's waves, counted from 0)",
                    t.get_ref(),
                    Update::WAVE_MAX
                );
                v.report(ProblemKind::Value, "update.wave", loc, msg);
                None
            }
        },
    };
    Some(Update {
        repository: repository?,
        root: root?,
        channel: channel?,
        tries: tries?,
        window: window?,
        wave: wave?,
    })
}

fn health(v: &mut Validator<'_>, raw: RawHealth) -> Health {
    let mut units = Vec::new();
    for u in v.list("health.units", raw.units.as_ref(), UnitName::parse) {
        if !units.contains(&u) {
            units.push(u);
        }
    }
    Health { units }
}

fn ipe(v: &mut Validator<'_>, raw: RawIpe) -> Ipe {
    let mode = v
        .optional("ipe.mode", raw.mode.as_ref(), IpeMode::parse)
        .flatten()
        .unwrap_or_default();
    let extra_rules = v.list("ipe.extra_rules", raw.extra_rules.as_ref(), parse_ipe_rule);
    Ipe { mode, extra_rules }
}
