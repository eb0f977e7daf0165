//! The recipe as TOML spells it, before validation. Every table refuses unknown fields;
//! leaves keep their place in the file (`Spanned`) so that problems can point at it.
//! Almost everything is optional here: defaults and required fields are decided by the
//! validator, which reports every problem at once.

use serde::Deserialize;
use toml::Spanned;

pub(crate) type Text = Spanned<String>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRecipe {
    pub name: Option<Text>,
    pub version: Option<Text>,
    pub hostname: Option<Text>,
    pub keys: Option<Text>,
    pub packages: Option<Vec<Text>>,
    pub overlay: Option<Vec<Text>>,
    pub files: Option<Vec<Spanned<RawFile>>>,
    pub debian: Option<RawDebian>,
    pub systemd: Option<RawSystemd>,
    pub kernel: Option<RawKernel>,
    pub partitions: Option<RawPartitions>,
    pub firstboot: Option<RawFirstboot>,
    pub content: Option<RawContent>,
    pub update: Option<RawUpdate>,
    pub health: Option<RawHealth>,
    pub boot: Option<RawBoot>,
    pub ipe: Option<RawIpe>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDebian {
    pub suite: Option<Text>,
    pub mirror: Option<Text>,
    pub components: Option<Vec<Text>>,
    pub architecture: Option<Text>,
    pub security: Option<Spanned<bool>>,
    pub security_mirror: Option<Text>,
    pub updates: Option<Spanned<bool>>,
    pub snapshot: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub dest: Option<Text>,
    pub src: Option<Text>,
    pub content: Option<Text>,
    pub mode: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSystemd {
    pub enable: Option<Vec<Text>>,
    pub disable: Option<Vec<Text>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBoot {
    pub loader: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKernel {
    pub cmdline_extra: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPartitions {
    pub usr_size: Option<Text>,
    pub esp_size: Option<Text>,
    pub root: Option<RawRoot>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoot {
    pub min_size: Option<Text>,
    pub grow: Option<bool>,
    pub encrypt: Option<Text>,
    pub filesystem: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawContent {
    pub docs: Option<bool>,
    pub translations: Option<Vec<Text>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFirstboot {
    pub locale: Option<Text>,
    pub keymap: Option<Text>,
    pub timezone: Option<Text>,
    pub root_password_hashed: Option<Text>,
    pub root_ssh_keys: Option<Vec<Text>>,
    pub ssh_host_keys: Option<Spanned<Vec<Text>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawUpdate {
    pub repository: Option<Text>,
    pub root: Option<Text>,
    pub channel: Option<Text>,
    pub tries: Option<Spanned<i64>>,
    pub window: Option<Text>,
    pub wave: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHealth {
    pub units: Option<Vec<Text>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIpe {
    pub mode: Option<Text>,
    pub extra_rules: Option<Vec<Text>>,
}
