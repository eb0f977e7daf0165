//! `[ipe]`: how the image's IPE policy (only code from signed dm-verity runs) is applied.

use serde::Serialize;

use crate::error::InvalidValue;

/// `ipe.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum IpeMode {
    /// The policies are loaded and enforced: code from anywhere but the signed /usr (and,
    /// in the initrd, the initramfs) does not run.
    #[default]
    Enforce,
    /// The policies are loaded, and what they would deny is logged (audit records) but
    /// allowed: `ipe.enforce=0` on the command line compiled into the UKI.
    Audit,
    /// No policy: any code runs. For images that need a JIT or run code from the
    /// read-write partition; `stela inspect` and the manifest say so.
    Off,
}

impl IpeMode {
    /// Checks `s`.
    pub fn parse(s: &str) -> Result<IpeMode, InvalidValue> {
        match s {
            "enforce" => Ok(IpeMode::Enforce),
            "audit" => Ok(IpeMode::Audit),
            "off" => Ok(IpeMode::Off),
            _ => Err(InvalidValue(format!(
                "{s:?} is not a mode: \"enforce\", \"audit\" or \"off\""
            ))),
        }
    }

    /// The word the recipe uses.
    pub fn as_str(self) -> &'static str {
        match self {
            IpeMode::Enforce => "enforce",
            IpeMode::Audit => "audit",
            IpeMode::Off => "off",
        }
    }
}

/// The validated `[ipe]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Ipe {
    /// `ipe.mode` (default `enforce`).
    pub mode: IpeMode,
    /// `ipe.extra_rules`: rules placed before stela's own in both policies (first match
    /// wins), for example `op=EXECUTE dmverity_roothash=sha256:HEX action=DENY` for a
    /// withdrawn image, or an allow rule for an extension image's root hash.
    pub extra_rules: Vec<stela_ipe::Rule>,
}

/// Parse one `ipe.extra_rules` entry.
pub fn parse_rule(s: &str) -> Result<stela_ipe::Rule, InvalidValue> {
    stela_ipe::Rule::parse(s).map_err(|e| {
        let msg = e.to_string();
        InvalidValue(
            msg.strip_prefix("line 1: ")
                .map(str::to_owned)
                .unwrap_or(msg),
        )
    })
}
