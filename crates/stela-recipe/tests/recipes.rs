//! Recipe fixtures, one per scenario: each invalid one must report exactly the expected
//! problems, each naming its field and line; the valid ones must load with the values
//! they spell.

use std::path::{Path, PathBuf};

use stela_recipe::{
    Architecture, Encryption, FileSource, Filesystem, ProblemKind, Recipe, RecipeError, Size,
    Suite, DEFAULT_RECIPE,
};
use ProblemKind::{HostPath, Shape, Syntax, UnknownField, Value};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn load(scenario: &str) -> Result<Recipe, RecipeError> {
    Recipe::load(&data(&format!("{scenario}.toml")))
}

/// (kind, field path, line, a part of the message).
type Expected = (ProblemKind, &'static str, Option<usize>, &'static str);

#[test]
fn invalid_recipes_report_every_problem_with_its_field() {
    let table: &[(&str, &[Expected])] = &[
        (
            "unknown-field",
            &[(
                UnknownField,
                "",
                Some(5),
                "unknown field `pakages`, expected one of `name`, `version`",
            )],
        ),
        (
            "unknown-nested-field",
            &[(
                UnknownField,
                "partitions.root",
                Some(6),
                "unknown field `sise`, expected one of `min_size`, `grow`, `encrypt`, `filesystem`",
            )],
        ),
        ("syntax-error", &[(Syntax, "", Some(2), "invalid TOML")]),
        (
            "wrong-type",
            &[(
                Shape,
                "version",
                Some(2),
                "invalid type: integer `1`, expected a string",
            )],
        ),
        (
            "missing-name",
            &[(Shape, "name", None, "missing field `name`")],
        ),
        (
            "bad-size",
            &[(
                Value,
                "partitions.usr_size",
                Some(5),
                "\"12X\" is not a size (use K, M, G or T)",
            )],
        ),
        (
            "size-too-small",
            &[
                (
                    Value,
                    "partitions.usr_size",
                    Some(5),
                    "32M is too small, at least 64M is needed",
                ),
                (
                    Value,
                    "partitions.esp_size",
                    Some(6),
                    "64M is too small, at least 100M is needed",
                ),
            ],
        ),
        (
            "size-not-whole-mib",
            &[(
                Value,
                "partitions.usr_size",
                Some(5),
                "not a whole number of MiB",
            )],
        ),
        (
            "xfs-too-small",
            &[(
                Value,
                "partitions.root.min_size",
                Some(6),
                "256M is too small, at least 300M is needed",
            )],
        ),
        (
            "bad-root-choices",
            &[
                (
                    Value,
                    "partitions.root.encrypt",
                    Some(5),
                    "\"luks\" is not one of \"tpm2\", \"none\"",
                ),
                (
                    Value,
                    "partitions.root.filesystem",
                    Some(6),
                    "\"zfs\" is not one of \"ext4\", \"btrfs\", \"xfs\"",
                ),
            ],
        ),
        (
            "bad-suite",
            &[(
                Value,
                "debian.suite",
                Some(5),
                "unknown suite \"jessie\", expected one of trixie, forky, sid",
            )],
        ),
        (
            "bookworm",
            &[(
                Value,
                "debian.suite",
                Some(5),
                "stela images need systemd >= 257, i.e. trixie or later",
            )],
        ),
        (
            "bad-mirror",
            &[
                (
                    Value,
                    "debian.mirror",
                    Some(5),
                    "not an http:// or https:// URL",
                ),
                (Value, "debian.components", Some(6), "must include \"main\""),
                (Value, "debian.architecture", Some(7), "use \"amd64\""),
            ],
        ),
        (
            "bad-package-name",
            &[
                (
                    Value,
                    "packages[1]",
                    Some(3),
                    "\"Nginx-Extras\" is not a Debian package name",
                ),
                (
                    Value,
                    "packages[2]",
                    Some(3),
                    "\"libfoo_bar\" is not a Debian package name",
                ),
            ],
        ),
        (
            "bad-name",
            &[(
                Value,
                "name",
                Some(1),
                "\"Web_Server\" does not start with a lowercase letter",
            )],
        ),
        (
            "bad-version",
            &[(Value, "version", Some(2), "'+' starts the boot counter")],
        ),
        (
            "version-underscore",
            &[(Value, "version", Some(2), "'_' separates name and version")],
        ),
        (
            "label-too-long",
            &[(
                Value,
                "version",
                Some(3),
                "\"a-rather-long-image-name-for-x_1.2.34\" is 37 characters; GPT labels hold 36",
            )],
        ),
        (
            "forbidden-cmdline-key",
            &[
                (
                    Value,
                    "kernel.cmdline_extra",
                    Some(5),
                    "`mount.usrflags` is reserved",
                ),
                (
                    Value,
                    "kernel.cmdline_extra",
                    Some(5),
                    "`systemd.verity` is reserved",
                ),
                (
                    Value,
                    "kernel.cmdline_extra",
                    Some(5),
                    "`ipe.enforce` is reserved",
                ),
            ],
        ),
        (
            "cmdline-newline",
            &[(
                Value,
                "kernel.cmdline_extra",
                Some(5),
                "contains a line break",
            )],
        ),
        (
            "file-entry-problems",
            &[
                (
                    Value,
                    "files[0].dest",
                    Some(5),
                    "\"/var/lib/web/state\" is not under /usr or /etc",
                ),
                (
                    Shape,
                    "files[1]",
                    Some(8),
                    "give exactly one of `src` (a host file) and `content` (the text)",
                ),
                (
                    Value,
                    "files[2].dest",
                    Some(14),
                    "/etc/motd is also written by files[1]",
                ),
                (
                    Value,
                    "files[2].mode",
                    Some(16),
                    "0o17777 is not a file mode",
                ),
                (Shape, "files[3]", Some(18), "missing field `dest`"),
            ],
        ),
        (
            "enable-and-disable",
            &[
                (
                    Value,
                    "systemd.enable[1]",
                    Some(5),
                    "\"nginx\" has no unit type suffix",
                ),
                (
                    Value,
                    "systemd.disable[0]",
                    Some(6),
                    "ssh.service is also in systemd.enable",
                ),
            ],
        ),
        (
            "host-paths-missing",
            &[
                (
                    HostPath,
                    "keys",
                    Some(3),
                    "no-such-keys: No such file or directory",
                ),
                (
                    HostPath,
                    "overlay[0]",
                    Some(4),
                    "holds var: an overlay may only hold usr/ and etc/",
                ),
                (
                    HostPath,
                    "overlay[1]",
                    Some(4),
                    "files/motd is not a directory",
                ),
                (
                    HostPath,
                    "files[0].src",
                    Some(8),
                    "files/no-such-file: No such file or directory",
                ),
            ],
        ),
        (
            "firstboot-problems",
            &[
                (Value, "hostname", Some(3), "\"-web-\" is not a host name"),
                (
                    Value,
                    "firstboot.locale",
                    Some(6),
                    "\"english\" is not a locale name",
                ),
                (Value, "firstboot.timezone", Some(7), "not a time zone name"),
                (
                    Value,
                    "firstboot.root_password_hashed",
                    Some(8),
                    "never put a clear-text password in a recipe",
                ),
                (
                    Value,
                    "firstboot.root_ssh_keys[0]",
                    Some(9),
                    "is not an OpenSSH public key line",
                ),
                (
                    Value,
                    "firstboot.ssh_host_keys[1]",
                    Some(10),
                    "\"dsa\" is not an SSH host key type; one of ed25519, ecdsa, rsa",
                ),
            ],
        ),
        (
            "many-problems",
            &[
                (
                    Value,
                    "name",
                    Some(2),
                    "\"Web\" does not start with a lowercase letter",
                ),
                (Value, "version", Some(3), "'_' separates name and version"),
                (UnknownField, "", Some(4), "unknown field `pakages`"),
                (Value, "debian.suite", Some(7), "systemd >= 257"),
                (
                    Value,
                    "partitions.usr_size",
                    Some(10),
                    "use a whole number of a smaller unit (e.g. 1536M for 1.5G)",
                ),
                (
                    Value,
                    "kernel.cmdline_extra",
                    Some(13),
                    "`root` is reserved",
                ),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (scenario, expected) in table {
        let problems = match load(scenario) {
            Ok(_) => {
                failures.push(format!(
                    "{scenario}: loaded, expected {} problems",
                    expected.len()
                ));
                continue;
            }
            Err(e) => e.problems().to_vec(),
        };
        let got: Vec<String> = problems.iter().map(|p| format!("{p:?}")).collect();
        if problems.len() != expected.len() {
            failures.push(format!(
                "{scenario}: {} problems, expected {}: {got:#?}",
                problems.len(),
                expected.len()
            ));
            continue;
        }
        for (p, (kind, field, line, text)) in problems.iter().zip(expected.iter()) {
            let ok = p.kind == *kind
                && p.field == *field
                && p.location.map(|l| l.line) == *line
                && p.message.contains(text);
            if !ok {
                failures.push(format!(
                    "{scenario}: got {p:?}, expected {kind:?} at {field:?} line {line:?} containing {text:?}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_text_names_file_line_and_field() {
    let path = data("bad-size.toml");
    let err = Recipe::load(&path)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        format!(
            "{} line 5: partitions.usr_size: \"12X\" is not a size (use K, M, G or T)",
            path.display()
        )
    );
    let text = std::fs::read_to_string(data("unknown-field.toml")).unwrap_or_default();
    let err = Recipe::parse(&text, "recipe.toml", Path::new("."))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.starts_with("recipe.toml line 5: unknown field `pakages`, expected one of `name`"),
        "{err}"
    );
    // Several problems: one line each, in file order.
    let err = load("many-problems")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 6, "{err}");
    assert!(
        lines[0].ends_with(
            "many-problems.toml line 2: name: \"Web\" does not start with a lowercase letter"
        ),
        "{err}"
    );
}

#[test]
fn parse_does_not_touch_the_file_system() {
    // The same recipe loads with `parse` (no host checks) but not with `load`.
    let text = std::fs::read_to_string(data("host-paths-missing.toml")).unwrap_or_default();
    let text = text.replace("\"files/motd\"]", "\"overlay\"]");
    let recipe = Recipe::parse(&text, "r.toml", Path::new("/nonexistent"));
    assert!(recipe.is_ok(), "{recipe:?}");
}

#[test]
fn minimal_recipe_gets_the_defaults() {
    let r = load("valid-minimal");
    let Ok(r) = r else { panic!("{r:?}") };
    assert_eq!(r.label(), "mini_1");
    assert_eq!(r.uki_path(), "EFI/Linux/mini_1+3.efi");
    let d = r.debian();
    assert_eq!(d.suite, Suite::Trixie);
    assert_eq!(d.mirror.as_str(), "http://deb.debian.org/debian");
    assert_eq!(
        d.components.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
        ["main"]
    );
    assert_eq!(d.architecture, Architecture::Amd64);
    let p = r.partitions();
    assert_eq!((p.usr_size, p.esp_size), (Size::mib(1024), Size::mib(512)));
    assert_eq!((p.root.min_size, p.root.grow), (Size::mib(1024), true));
    assert_eq!(
        (p.root.encrypt, p.root.filesystem),
        (Encryption::None, Filesystem::Ext4)
    );
    assert_eq!(r.firstboot().locale.as_str(), "C.UTF-8");
    assert_eq!(r.firstboot().timezone.as_str(), "UTC");
    assert!(r.packages().is_empty() && r.files().is_empty() && r.keys().is_none());
    let set: Vec<String> = r.package_set().iter().map(|p| p.to_string()).collect();
    assert_eq!(
        set,
        [
            "e2fsprogs",
            "linux-image-amd64",
            "systemd",
            "systemd-boot",
            "systemd-boot-efi",
            "systemd-cryptsetup",
            "systemd-repart",
            "systemd-sysv",
            "udev"
        ]
    );
}

#[test]
fn full_recipe_keeps_every_value() {
    let r = load("valid-full");
    let Ok(r) = r else { panic!("{r:?}") };
    assert_eq!(r.label(), "kiosk_2.4.1~rc2");
    assert_eq!(
        r.hostname().map(|h| h.as_str()),
        Some("kiosk-01.example.org")
    );
    assert_eq!(
        r.keys().map(|k| k.resolved().to_path_buf()),
        Some(data("keys"))
    );
    let pk: Vec<&str> = r.packages().iter().map(|p| p.as_str()).collect();
    assert_eq!(pk, ["cage", "chromium", "systemd-timesyncd"]);
    assert_eq!(r.overlay()[0].as_written(), "overlay");
    let d = r.debian();
    assert_eq!(
        (d.suite, d.architecture),
        (Suite::Forky, Architecture::Arm64)
    );
    assert_eq!(d.mirror.as_str(), "https://deb.example.org/debian");
    let comps: Vec<&str> = d.components.iter().map(|c| c.as_str()).collect();
    assert_eq!(comps, ["main", "non-free-firmware"]);

    let files = r.files();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].dest.as_str(), "/etc/motd");
    assert_eq!(files[0].mode.bits(), 0o644);
    assert!(matches!(&files[0].source, FileSource::Host(p) if p.resolved() == data("files/motd")));
    assert_eq!(files[1].mode.bits(), 0o600);
    assert!(
        matches!(&files[1].source, FileSource::Inline(t) if t.starts_with("[Service]\nExecStart="))
    );

    let units: Vec<&str> = r.systemd().enable().iter().map(|u| u.as_str()).collect();
    assert_eq!(units, ["kiosk.service", "systemd-timesyncd.service"]);
    let units: Vec<&str> = r.systemd().disable().iter().map(|u| u.as_str()).collect();
    assert_eq!(units, ["getty@tty1.service", "ssh.service"]);
    assert_eq!(
        r.kernel().cmdline_extra.as_string(),
        "quiet splash console=ttyAMA0,115200"
    );

    let p = r.partitions();
    assert_eq!((p.usr_size, p.esp_size), (Size::mib(1536), Size::mib(256)));
    assert_eq!((p.root.min_size, p.root.grow), (Size::mib(2048), false));
    assert_eq!(
        (p.root.encrypt, p.root.filesystem),
        (Encryption::Tpm2, Filesystem::Btrfs)
    );

    let f = r.firstboot();
    assert_eq!(f.locale.as_str(), "de_DE.UTF-8");
    assert_eq!(f.keymap.as_ref().map(|k| k.as_str()), Some("de-latin1"));
    assert_eq!(f.timezone.as_str(), "Europe/Berlin");
    assert!(f
        .root_password_hashed
        .as_ref()
        .is_some_and(|h| h.as_str().starts_with("$y$j9T$")));
    assert_eq!(f.root_ssh_keys.len(), 1);
    assert_eq!(
        f.ssh_host_keys.iter().map(|t| t.name()).collect::<Vec<_>>(),
        ["ed25519", "rsa"]
    );
    assert_eq!(
        Recipe::default_recipe()
            .firstboot()
            .ssh_host_keys
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>(),
        ["ed25519"]
    );

    // Choices imply packages: arm64 kernel, btrfs-progs, TPM2 libraries, locales,
    // tzdata, openssh-server.
    let set = r.package_set();
    for implied in [
        "linux-image-arm64",
        "btrfs-progs",
        "libtss2-esys-3.0.2-0t64",
        "locales",
        "tzdata",
        "openssh-server",
        "chromium",
    ] {
        assert!(
            set.iter().any(|p| p.as_str() == implied),
            "{implied} missing from {set:?}"
        );
    }
    assert!(!set.iter().any(|p| p.as_str() == "linux-image-amd64"));
}

#[test]
fn default_recipe_validates() {
    let r = Recipe::default_recipe();
    assert_eq!(r.label(), "stela-appliance_1");
    let pk: Vec<&str> = r.packages().iter().map(|p| p.as_str()).collect();
    for p in [
        "systemd",
        "systemd-sysv",
        "udev",
        "linux-image-amd64",
        "systemd-boot",
        "openssh-server",
        "systemd-resolved",
    ] {
        assert!(pk.contains(&p), "{p} not in {pk:?}");
    }
    let units: Vec<&str> = r.systemd().enable().iter().map(|u| u.as_str()).collect();
    assert!(
        units.contains(&"systemd-networkd.service") && units.contains(&"systemd-resolved.service")
    );
    // Debian's security fixes and stable updates are in by default.
    let lines: Vec<String> = r.debian().sources().iter().map(|s| s.deb_line()).collect();
    assert_eq!(
        lines,
        [
            "deb http://deb.debian.org/debian trixie main",
            "deb http://deb.debian.org/debian-security trixie-security main",
            "deb http://deb.debian.org/debian trixie-updates main",
        ]
    );
}

#[test]
fn security_and_updates_suites_can_be_switched_and_are_checked() {
    let parse = |extra: &str| {
        let text = format!("name = \"x\"\nversion = \"1\"\n[debian]\n{extra}\n");
        Recipe::parse(&text, "r.toml", Path::new(".")).map_err(|e| e.to_string())
    };
    let suites =
        |r: &Recipe| -> Vec<String> { r.debian().sources().into_iter().map(|s| s.suite).collect() };
    let off = parse("security = false\nupdates = false");
    let Ok(off) = off else { panic!("{off:?}") };
    assert_eq!(suites(&off), ["trixie"]);
    let own = parse("security_mirror = \"http://mirror.example/debian-security/\"");
    let Ok(own) = own else { panic!("{own:?}") };
    assert_eq!(
        own.debian().sources()[1].deb_line(),
        "deb http://mirror.example/debian-security trixie-security main"
    );
    // Unstable has neither: by default they are left out, asked for they are refused.
    let sid = parse("suite = \"sid\"");
    let Ok(sid) = sid else { panic!("{sid:?}") };
    assert_eq!(suites(&sid), ["sid"]);
    let err = parse("suite = \"sid\"\nsecurity = true")
        .err()
        .unwrap_or_default();
    assert!(
        err.contains("debian.security") && err.contains("no such suite for sid"),
        "{err}"
    );
    let err = parse("security_mirror = \"ftp://x\"")
        .err()
        .unwrap_or_default();
    assert!(err.contains("debian.security_mirror"), "{err}");
}

#[test]
fn cache_keys_are_stable_and_follow_the_inputs() {
    let a = Recipe::default_recipe();
    // Pinned: the root file system's cache key as the build uses it (stela-build's
    // rootfs step keys its cache by exactly this digest). A change here invalidates
    // every build cache; change it on purpose only (v4: the cached sources carry the
    // archive's .deb checksums, for the SBOM). The whole recipe's key changes with every
    // field added to the model (last: `[ipe]`).
    assert_eq!(
        a.rootfs_inputs().digest().to_string(),
        "80eb77995694c17cbd0de9758d5a26a3fa28501e96a94e321fd90c341b088b20"
    );
    assert!(a
        .rootfs_inputs()
        .packages
        .iter()
        .any(|p| p.as_str() == "dracut"));
    assert_eq!(
        a.cache_key().to_string(),
        "1df137f953850b14c0d74a033a67f8c29884c274a5b4faeb7c096a2024fffa01"
    );

    let with = |from: &str, to: &str| {
        let text = DEFAULT_RECIPE.replace(from, to);
        assert_ne!(text, DEFAULT_RECIPE, "{from}");
        Recipe::parse(&text, "r.toml", Path::new(".")).map_err(|e| e.to_string())
    };
    // A new version changes the recipe key but not the root file system's.
    let b = with("version = \"1\"", "version = \"2\"");
    let Ok(b) = b else { panic!("{b:?}") };
    assert_eq!(a.rootfs_inputs().digest(), b.rootfs_inputs().digest());
    assert_ne!(a.cache_key(), b.cache_key());
    // A package changes both; the order packages are written in changes neither.
    let c = with("\"dbus\",", "\"dbus\", \"curl\",");
    let Ok(c) = c else { panic!("{c:?}") };
    assert_ne!(a.rootfs_inputs().digest(), c.rootfs_inputs().digest());
    let d = with(
        "    \"systemd\",\n    \"systemd-sysv\",",
        "    \"systemd-sysv\",\n    \"systemd\",",
    );
    let Ok(d) = d else { panic!("{d:?}") };
    assert_eq!(a.cache_key(), d.cache_key());
    // So do the mirror and the kernel command line, each for its own step.
    let e = with(
        "http://deb.debian.org/debian",
        "http://mirror.example/debian",
    );
    let Ok(e) = e else { panic!("{e:?}") };
    assert_ne!(a.rootfs_inputs().digest(), e.rootfs_inputs().digest());
    // Switching the security suite off is a different tree.
    let g = with("[debian]\n", "[debian]\nsecurity = false\n");
    let Ok(g) = g else { panic!("{g:?}") };
    assert_ne!(a.rootfs_inputs().digest(), g.rootfs_inputs().digest());
    // Keeping documentation or a language is a different tree (dpkg unpacks them).
    let docs = with("[debian]\n", "[content]\ndocs = true\n\n[debian]\n");
    let Ok(docs) = docs else { panic!("{docs:?}") };
    assert!(docs.content().docs && !a.content().docs);
    assert_ne!(a.rootfs_inputs().digest(), docs.rootfs_inputs().digest());
    let de = with(
        "[debian]\n",
        "[content]\ntranslations = [\"de\"]\n\n[debian]\n",
    );
    let Ok(de) = de else { panic!("{de:?}") };
    assert_ne!(a.rootfs_inputs().digest(), de.rootfs_inputs().digest());
    let bad = with(
        "[debian]\n",
        "[content]\ntranslations = [\"../x\"]\n\n[debian]\n",
    )
    .err()
    .unwrap_or_default();
    assert!(bad.contains("content.translations[0]"), "{bad}");
    let f = with("console=ttyS0,115200", "console=tty0 console=ttyS0,115200");
    let Ok(f) = f else { panic!("{f:?}") };
    assert_eq!(a.rootfs_inputs().digest(), f.rootfs_inputs().digest());
    assert_ne!(a.cache_key(), f.cache_key());
}

#[test]
fn documented_example_validates() {
    // The "Full example" of docs/recipe.md must stay a valid recipe.
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/recipe.md");
    let doc = std::fs::read_to_string(&doc).unwrap_or_else(|e| panic!("{}: {e}", doc.display()));
    let example = doc
        .split("## Full example")
        .nth(1)
        .and_then(|s| s.split("```toml\n").nth(1))
        .and_then(|s| s.split("```").next())
        .unwrap_or_default();
    assert!(example.contains("[partitions.root]"), "example not found");
    let r = Recipe::parse(example, "docs/recipe.md", Path::new("."));
    let Ok(r) = r else {
        panic!("{}", r.err().map(|e| e.to_string()).unwrap_or_default())
    };
    assert_eq!(r.label(), "kiosk_2.4.1~rc2");
}

/// Issue 9: the keys the build sets and those `kernel.cmdline_extra` refuses come from one
/// table, so a key the build adds (as `systemd.import_credentials` once was) can no longer
/// be turned back by the recipe.
#[test]
fn every_key_the_build_sets_is_refused_in_cmdline_extra() {
    for arg in stela_recipe::BUILD_ARGS {
        let text = format!(
            "name = \"web\"\nversion = \"1\"\n[kernel]\ncmdline_extra = \"quiet {}=1\"\n",
            arg.key
        );
        let e = Recipe::parse(&text, "web.toml", Path::new(".")).unwrap_err();
        let problems = e.problems();
        assert_eq!(problems.len(), 1, "{}: {e}", arg.key);
        let p = &problems[0];
        assert_eq!((p.kind, p.field.as_str()), (Value, "kernel.cmdline_extra"));
        let line = p.display_in("web.toml");
        assert!(
            line.starts_with(&format!(
                "web.toml line 4: kernel.cmdline_extra: `{}` is reserved: the build sets `{}",
                arg.key, arg.key
            )) && line.ends_with(arg.why),
            "{line}"
        );
    }
}
