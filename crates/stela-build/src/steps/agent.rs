//! The update agent and the health target in the image.
//!
//! Every image gets `stela-health.target`, which `boot-complete.target` (and so
//! systemd-bless-boot, which drops a new version's boot counter) requires: a boot counts
//! as good only once the recipe's `[health] units` are active. While a version is on
//! trial, a boot whose health target failed reboots, so that systemd-boot counts the try
//! and, once the tries are used up, boots the previous version.
//!
//! With `[update]`, the image also carries this stela executable (the same build, in the
//! verified /usr), the repository's trusted root, the agent's configuration, and a
//! service and timer that run `stela update apply --reboot`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Context;
use stela_recipe::{MaintenanceWindow, Recipe, Update};

use crate::run;

const UNIT_DIR: &str = "usr/lib/systemd/system";

fn write(tree: &Path, rel: &str, text: &str, mode: u32) -> anyhow::Result<()> {
    let path = tree.join(rel);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting the mode of {}", path.display()))
}

/// The health target with the recipe's units.
pub fn health_target(recipe: &Recipe) -> String {
    let mut t = String::from(
        "[Unit]\nDescription=stela: what a good boot has reached\nDocumentation=file:/usr/share/doc/stela/agent.md\n# boot-complete.target requires this target; a boot is blessed only after it.\n",
    );
    for u in &recipe.health().units {
        t.push_str(&format!("Requires={u}\nAfter={u}\n"));
    }
    t
}

/// The unit that reboots a trial boot whose health target failed.
const HEALTH_CHECK_SERVICE: &str = "[Unit]
Description=stela: reboot a version on trial whose health target failed
# Only a boot that systemd-boot counts (the entry still has tries): a blessed version
# that later loses a unit keeps running.
ConditionPathExists=/sys/firmware/efi/efivars/LoaderBootCountPath-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
Wants=stela-health.target
After=stela-health.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/lib/stela/health-verdict
FailureAction=reboot
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
";

const HEALTH_VERDICT: &str = "#!/bin/sh
# stela: did this boot reach stela-health.target? (stela-health-check.service)
if systemctl is-active --quiet stela-health.target; then
    echo 'stela: health target reached; this boot counts as good'
    exit 0
fi
failed=$(systemctl list-units --failed --plain --no-legend | cut -d' ' -f1 | tr '\\n' ' ')
echo \"stela: health target NOT reached (failed units: ${failed:-none}); rebooting to count this try\"
exit 1
";

const BOOT_COMPLETE_DROPIN: &str =
    "# stela: a boot is complete (and blessed) only after its health target.
[Unit]
Requires=stela-health.target
After=stela-health.target
";

const UPDATE_SERVICE: &str = "[Unit]
Description=stela: install the newest release of this image's channel
Documentation=file:/usr/share/doc/stela/agent.md
Wants=network-online.target
After=network-online.target time-sync.target boot-complete.target
ConditionPathExists=/usr/lib/stela/update.toml

[Service]
Type=oneshot
ExecStart=/usr/bin/stela update apply --reboot
";

const BLESS_LOADER_SERVICE: &str = "[Unit]
Description=stela: make a boot loader on trial the default once a boot through it is good
Documentation=file:/usr/share/doc/stela/agent.md
# Only a boot that reached its health target blesses the boot loader it came through.
Requires=boot-complete.target
After=boot-complete.target
ConditionPathExists=/var/lib/stela/loader-trial.json

[Service]
Type=oneshot
ExecStart=/usr/bin/stela update bless

[Install]
WantedBy=multi-user.target
";

const UPDATE_TIMER: &str = "[Unit]
Description=stela: look for a new release regularly

[Timer]
OnBootSec=15min
OnUnitInactiveSec=6h
RandomizedDelaySec=30min

[Install]
WantedBy=timers.target
";

/// The drop-in that adds the maintenance window's openings to the update timer, so that
/// a machine applies and reboots while the window is open and not only when its
/// six-hourly run happens to fall into it. The random delay stays within the first half
/// of the window.
pub fn window_timer_dropin(window: &MaintenanceWindow) -> String {
    let delay = (u32::from(window.minutes()) / 2).clamp(1, 30);
    format!(
        "# stela: the maintenance window {} (the recipe's update.window)\n[Timer]\nOnCalendar={}\nRandomizedDelaySec={delay}min\n",
        window.as_str(),
        window.on_calendar()
    )
}

/// /usr/lib/stela/update.toml, which the agent reads (`stela_agent::DeviceConfig`).
pub fn config_text(update: &Update) -> String {
    // TOML basic strings; the recipe's checks leave no quote, backslash or control
    // character in any value.
    let mut text = format!(
        "# stela update agent: where this image's releases come from (the recipe's [update]\n# table). Fields set in /etc/stela/update.toml take precedence.\nrepository = \"{}\"\nchannel = \"{}\"\ntries = {}\n",
        update.repository,
        update.channel,
        update.tries.get()
    );
    if let Some(w) = &update.window {
        text.push_str(&format!(
            "# apply --reboot reboots into a new version only in this window (UTC)\nwindow = \"{}\"\n",
            w.as_str()
        ));
    }
    if let Some(n) = update.wave {
        text.push_str(&format!("wave = {n}\n"));
    }
    text
}

/// Put the health target, and with `[update]` the agent, into `tree`.
pub fn install(recipe: &Recipe, tree: &Path) -> anyhow::Result<()> {
    write(
        tree,
        &format!("{UNIT_DIR}/stela-health.target"),
        &health_target(recipe),
        0o644,
    )?;
    write(
        tree,
        &format!("{UNIT_DIR}/stela-health-check.service"),
        HEALTH_CHECK_SERVICE,
        0o644,
    )?;
    write(tree, "usr/lib/stela/health-verdict", HEALTH_VERDICT, 0o755)?;
    write(
        tree,
        &format!("{UNIT_DIR}/boot-complete.target.d/50-stela-health.conf"),
        BOOT_COMPLETE_DROPIN,
        0o644,
    )?;
    run::in_tree(
        tree,
        &["systemctl", "enable", "stela-health-check.service"],
        "enabling stela-health-check.service",
    )?;
    let Some(update) = recipe.update() else {
        return Ok(());
    };
    let exe = std::env::current_exe().context("finding the stela executable")?;
    let dest = tree.join("usr/bin/stela");
    // Without debug information: the agent needs none, and every update downloads it.
    let mut strip = run::command("objcopy");
    strip.arg("--strip-debug").arg(&exe).arg(&dest);
    run::run(&mut strip, "copying the stela executable into /usr/bin")?;
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("setting the mode of {}", dest.display()))?;
    run::in_tree(tree, &["/usr/bin/stela", "--version"], "running stela in the image").context(
        "the stela executable does not run in the image (are its libraries, libssl and the C library, there and new enough?)",
    )?;
    let root = update.root.resolved();
    let root_text = std::fs::read_to_string(root)
        .with_context(|| format!("update.root: reading {}", update.root))?;
    let parsed: serde_json::Value = serde_json::from_str(&root_text)
        .with_context(|| format!("update.root: {} is not JSON", update.root))?;
    if parsed.pointer("/signed/_type").and_then(|t| t.as_str()) != Some("root") {
        anyhow::bail!(
            "update.root: {} is not TUF root metadata (signed._type is not \"root\")",
            update.root
        );
    }
    write(tree, "usr/lib/stela/root.json", &root_text, 0o644)?;
    write(
        tree,
        "usr/lib/stela/update.toml",
        &config_text(update),
        0o644,
    )?;
    write(
        tree,
        &format!("{UNIT_DIR}/stela-update.service"),
        UPDATE_SERVICE,
        0o644,
    )?;
    write(
        tree,
        &format!("{UNIT_DIR}/stela-update.timer"),
        UPDATE_TIMER,
        0o644,
    )?;
    if let Some(w) = &update.window {
        write(
            tree,
            &format!("{UNIT_DIR}/stela-update.timer.d/50-stela-window.conf"),
            &window_timer_dropin(w),
            0o644,
        )?;
    }
    write(
        tree,
        &format!("{UNIT_DIR}/stela-bless-loader.service"),
        BLESS_LOADER_SERVICE,
        0o644,
    )?;
    run::in_tree(
        tree,
        &[
            "systemctl",
            "enable",
            "stela-update.timer",
            "stela-bless-loader.service",
        ],
        "enabling stela-update.timer and stela-bless-loader.service",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// systemd's own parser reads the drop-in's calendar event and finds the window's
    /// openings.
    #[test]
    fn the_window_timer_fires_when_the_window_opens() {
        let w = MaintenanceWindow::parse("Sat,Sun 01:05-01:35").expect("window");
        let dropin = window_timer_dropin(&w);
        assert!(dropin.contains("RandomizedDelaySec=15min"), "{dropin}");
        let event = dropin
            .lines()
            .find_map(|l| l.strip_prefix("OnCalendar="))
            .expect("OnCalendar=");
        let out = std::process::Command::new("systemd-analyze")
            .args(["calendar", "--iterations=4", event])
            .output()
            .expect("systemd-analyze (package systemd) runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        let times: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once(": ").map(|(_, v)| v))
            .filter(|v| v.ends_with(" UTC") && !v.contains('*'))
            .collect();
        assert_eq!(times.len(), 4, "{text}");
        for t in times {
            assert!(
                (t.starts_with("Sat ") || t.starts_with("Sun ")) && t.ends_with(" 01:05:00 UTC"),
                "{t}"
            );
        }
    }
}
