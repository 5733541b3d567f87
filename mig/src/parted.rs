//! NVIDIA mig-parted configuration files (`version: v1`, `mig-configs`): parse, resolve a named config
//! for a GPU, export layouts.
//!
//! The names users know (`all-1g.10gb`, `all-balanced`, …) come from mig-parted's
//! `config-default.yaml`, embedded here as [`DEFAULT_CONFIG_YAML`]. mig-parted files give *counts* per
//! profile, not placements; migboard places them with [`crate::place`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::ProfileName;
use crate::layout::{Layout, ProfileCounts};
use crate::model::GpuModel;
use crate::place::{PlacementError, place};

/// NVIDIA mig-parted's `config-default.yaml` (Apache-2.0), verbatim.
pub const DEFAULT_CONFIG_YAML: &str = include_str!("../data/mig-parted-config-default.yaml");

/// Which GPUs of a node an entry applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Devices {
    /// `devices: all`.
    All(AllDevices),
    /// `devices: [0, 1, 2]`: GPU indices.
    List(Vec<u32>),
}

/// The literal `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllDevices {
    /// Every GPU.
    All,
}

impl Devices {
    /// Whether GPU `index` is included.
    pub fn includes(&self, index: u32) -> bool {
        match self {
            Self::All(_) => true,
            Self::List(list) => list.contains(&index),
        }
    }
}

/// `device-filter`: one PCI device id or a list of them, as strings like `0x233010DE`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
enum RawFilter {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[serde(rename = "device-filter")]
    device_filter: Option<RawFilter>,
    devices: Devices,
    #[serde(rename = "mig-enabled")]
    mig_enabled: bool,
    #[serde(rename = "mig-devices", default)]
    mig_devices: Option<BTreeMap<String, u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: String,
    #[serde(rename = "mig-configs")]
    mig_configs: BTreeMap<String, Vec<RawEntry>>,
}

/// One entry of a named config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigEntry {
    /// PCI device ids the entry is limited to (`None`: any GPU).
    pub device_filter: Option<Vec<u32>>,
    /// GPU indices it applies to.
    pub devices: Devices,
    /// MIG mode.
    pub mig_enabled: bool,
    /// Profile name → instance count (empty when MIG is disabled, or enabled with no instances).
    pub mig_devices: BTreeMap<String, u32>,
}

impl ConfigEntry {
    /// Whether the entry applies to GPU `index` with PCI device id `pci_id`.
    pub fn applies_to(&self, index: u32, pci_id: u32) -> bool {
        self.devices.includes(index)
            && self
                .device_filter
                .as_ref()
                .is_none_or(|ids| ids.contains(&pci_id))
    }
}

/// A parsed mig-parted file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigPartedConfig {
    /// Named configs, by name.
    pub configs: BTreeMap<String, Vec<ConfigEntry>>,
}

/// A mig-parted file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartedError {
    /// Not YAML of the expected shape; the message carries the line and column.
    #[error("not a mig-parted config: {0}")]
    Syntax(String),
    /// `version` is not `v1`.
    #[error("unsupported mig-parted config version `{0}`: only `v1` is understood")]
    Version(String),
    /// A value inside a config is wrong.
    #[error("config `{config}`, entry {entry}: {message}")]
    Entry {
        /// Config name.
        config: String,
        /// Entry position (0-based).
        entry: usize,
        /// What is wrong and how to fix it.
        message: String,
    },
}

fn parse_pci_id(s: &str) -> Option<u32> {
    let hex = s
        .trim()
        .strip_prefix("0x")
        .or_else(|| s.trim().strip_prefix("0X"))?;
    u32::from_str_radix(hex, 16).ok()
}

impl MigPartedConfig {
    /// mig-parted's default configs (the names users know).
    ///
    /// # Errors
    /// Never for the embedded file (a test proves it); the `Result` keeps callers panic-free.
    pub fn default_configs() -> Result<Self, PartedError> {
        Self::parse(DEFAULT_CONFIG_YAML)
    }

    /// Parses a mig-parted YAML file.
    ///
    /// # Errors
    /// [`PartedError`] with the line/column, or the config and entry, and what to fix.
    pub fn parse(yaml: &str) -> Result<Self, PartedError> {
        let raw: RawFile =
            serde_yaml_ng::from_str(yaml).map_err(|e| PartedError::Syntax(e.to_string()))?;
        if raw.version != "v1" {
            return Err(PartedError::Version(raw.version));
        }
        let mut configs = BTreeMap::new();
        for (name, entries) in raw.mig_configs {
            let mut parsed = Vec::with_capacity(entries.len());
            for (i, e) in entries.into_iter().enumerate() {
                let err = |message: String| PartedError::Entry {
                    config: name.clone(),
                    entry: i,
                    message,
                };
                let device_filter = match e.device_filter {
                    None => None,
                    Some(f) => {
                        let ids = match f {
                            RawFilter::One(s) => vec![s],
                            RawFilter::Many(v) => v,
                        };
                        let mut out = Vec::with_capacity(ids.len());
                        for id in ids {
                            out.push(parse_pci_id(&id).ok_or_else(|| {
                                err(format!("device-filter `{id}` is not a PCI device id; write it as hex, like \"0x233010DE\""))
                            })?);
                        }
                        Some(out)
                    }
                };
                let mig_devices = e.mig_devices.unwrap_or_default();
                for profile in mig_devices.keys() {
                    profile
                        .parse::<ProfileName>()
                        .map_err(|e| err(e.to_string()))?;
                }
                if !e.mig_enabled && mig_devices.values().any(|&n| n > 0) {
                    return Err(err("mig-devices are listed but mig-enabled is false; set mig-enabled: true or remove them".into()));
                }
                parsed.push(ConfigEntry {
                    device_filter,
                    devices: e.devices,
                    mig_enabled: e.mig_enabled,
                    mig_devices,
                });
            }
            configs.insert(name, parsed);
        }
        Ok(Self { configs })
    }

    /// Writes the file in mig-parted's own style.
    pub fn to_yaml(&self) -> String {
        let mut out = String::from("version: v1\nmig-configs:\n");
        for (name, entries) in &self.configs {
            let _ = writeln!(out, "  {}:", yaml_key(name));
            for e in entries {
                let mut first = true;
                let mut field = |out: &mut String, text: String| {
                    let _ = writeln!(out, "    {} {text}", if first { "-" } else { " " });
                    first = false;
                };
                if let Some(ids) = &e.device_filter {
                    let ids: Vec<String> = ids.iter().map(|id| format!("\"0x{id:08X}\"")).collect();
                    field(&mut out, format!("device-filter: [{}]", ids.join(", ")));
                }
                field(
                    &mut out,
                    match &e.devices {
                        Devices::All(_) => "devices: all".to_owned(),
                        Devices::List(l) => format!(
                            "devices: [{}]",
                            l.iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    },
                );
                field(&mut out, format!("mig-enabled: {}", e.mig_enabled));
                if e.mig_enabled {
                    if e.mig_devices.is_empty() {
                        field(&mut out, "mig-devices: {}".to_owned());
                    } else {
                        field(&mut out, "mig-devices:".to_owned());
                        for (profile, count) in &e.mig_devices {
                            let _ = writeln!(out, "        \"{profile}\": {count}");
                        }
                    }
                }
            }
            out.push('\n');
        }
        out
    }

    /// What config `name` asks of GPU `index` of `model`: the first entry that applies to it.
    ///
    /// # Errors
    /// [`ResolveError`] when the name is unknown, no entry applies, or the entry names profiles the
    /// model does not have.
    pub fn resolve(
        &self,
        name: &str,
        model: GpuModel,
        index: u32,
    ) -> Result<DesiredMig, ResolveError> {
        let entries = self
            .configs
            .get(name)
            .ok_or_else(|| ResolveError::UnknownConfig {
                name: name.to_owned(),
                suggestion: crate::suggest::closest(name, self.configs.keys().map(String::as_str))
                    .map(str::to_owned),
            })?;
        let spec = model.spec();
        let entry = entries
            .iter()
            .find(|e| {
                spec.pci_device_ids
                    .iter()
                    .any(|&id| e.applies_to(index, id))
            })
            .ok_or_else(|| ResolveError::NoEntryForGpu {
                name: name.to_owned(),
                model: model.id().to_owned(),
                index,
            })?;
        if !entry.mig_enabled {
            return Ok(DesiredMig::Disabled);
        }
        let mut counts = ProfileCounts::default();
        for (profile, &n) in &entry.mig_devices {
            if model.profile(profile).is_none() {
                return Err(ResolveError::ProfileNotOnModel {
                    name: name.to_owned(),
                    profile: profile.clone(),
                    model: model.id().to_owned(),
                    available: model.profile_names().join(", "),
                });
            }
            counts.add(profile, n);
        }
        Ok(DesiredMig::Enabled(counts))
    }

    /// Resolves and places config `name` on GPU `index` of `model`.
    ///
    /// # Errors
    /// [`ResolveError`], including placement failures.
    pub fn resolve_layout(
        &self,
        name: &str,
        model: GpuModel,
        index: u32,
    ) -> Result<Option<Layout>, ResolveError> {
        match self.resolve(name, model, index)? {
            DesiredMig::Disabled => Ok(None),
            DesiredMig::Enabled(counts) => {
                place(model, &counts)
                    .map(Some)
                    .map_err(|source| ResolveError::DoesNotPlace {
                        name: name.to_owned(),
                        source,
                    })
            }
        }
    }

    /// Names of configs that resolve on `model` (GPU 0) to exactly this desired state, in name order.
    pub fn names_matching(&self, model: GpuModel, desired: &DesiredMig) -> Vec<&str> {
        self.configs
            .keys()
            .filter(|name| self.resolve(name, model, 0).as_ref() == Ok(desired))
            .map(String::as_str)
            .collect()
    }

    /// A one-config file describing a node's GPUs, `layouts[i]` for GPU `i` (`None`: MIG disabled).
    /// GPUs with the same counts share an entry; if all agree the entry says `devices: all`. The
    /// entries carry the model's device filter so the file cannot be applied to another model.
    pub fn from_layouts(name: &str, model: GpuModel, layouts: &[Option<Layout>]) -> Self {
        let mut groups: Vec<(DesiredMig, Vec<u32>)> = Vec::new();
        for (i, layout) in layouts.iter().enumerate() {
            let desired = layout
                .as_ref()
                .map_or(DesiredMig::Disabled, |l| DesiredMig::Enabled(l.counts()));
            match groups.iter_mut().find(|(d, _)| *d == desired) {
                Some((_, gpus)) => gpus.push(i as u32),
                None => groups.push((desired, vec![i as u32])),
            }
        }
        let uniform = groups.len() == 1;
        let entries = groups
            .into_iter()
            .map(|(desired, gpus)| ConfigEntry {
                device_filter: Some(model.spec().pci_device_ids.to_vec()),
                devices: if uniform {
                    Devices::All(AllDevices::All)
                } else {
                    Devices::List(gpus)
                },
                mig_enabled: desired != DesiredMig::Disabled,
                mig_devices: match desired {
                    DesiredMig::Disabled => BTreeMap::new(),
                    DesiredMig::Enabled(c) => c.0,
                },
            })
            .collect();
        Self {
            configs: BTreeMap::from([(name.to_owned(), entries)]),
        }
    }
}

/// What a named config asks of one GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mig", content = "devices", rename_all = "snake_case")]
pub enum DesiredMig {
    /// MIG mode off.
    Disabled,
    /// MIG mode on with these instances (possibly none).
    Enabled(ProfileCounts),
}

/// A config name that cannot be turned into a layout for a GPU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No config of that name.
    #[error("no MIG config named `{name}`{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownConfig {
        /// The name asked for.
        name: String,
        /// The closest known name.
        suggestion: Option<String>,
    },
    /// The config has no entry for this GPU.
    #[error("MIG config `{name}` has no entry for GPU {index} of model {model}")]
    NoEntryForGpu {
        /// Config name.
        name: String,
        /// Model id.
        model: String,
        /// GPU index.
        index: u32,
    },
    /// The config's entry names a profile this model lacks.
    #[error(
        "MIG config `{name}` asks for {profile}, which {model} does not have (its profiles: {available})"
    )]
    ProfileNotOnModel {
        /// Config name.
        name: String,
        /// The profile.
        profile: String,
        /// Model id.
        model: String,
        /// The model's profiles.
        available: String,
    },
    /// The counts cannot be placed.
    #[error("MIG config `{name}` cannot be placed: {source}")]
    DoesNotPlace {
        /// Config name.
        name: String,
        /// Why.
        source: PlacementError,
    },
}

/// Quotes a mapping key only when YAML needs it.
fn yaml_key(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
        && !s.starts_with(['-', '.'])
    {
        s.to_owned()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// A named MIG config as the planner offers it: a name and what it asks of one GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedConfig {
    /// mig-parted's name, such as `all-balanced`, or a custom config's.
    pub name: String,
    /// What it asks of GPU 0 of the planned model (a custom config: of the first GPU it names).
    pub desired: DesiredMig,
    /// A custom config's version and exact per-GPU placements; `None` for NVIDIA's built-ins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomInfo>,
}

/// What a custom config adds to a [`NamedConfig`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomInfo {
    /// Its version (from 1; every change makes a new one).
    pub version: u32,
    /// What it is for.
    pub description: String,
    /// Its device entries, with exact placements.
    pub devices: Vec<crate::custom::RawDevice>,
}

/// What a config asks of one GPU, placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuWant {
    /// Nothing: the config names no entry for it (custom configs only), so it is left as it is.
    Untouched,
    /// MIG mode off.
    Disabled,
    /// MIG on with exactly this layout.
    Layout(Layout),
}

impl NamedConfig {
    /// A custom config as the catalogue offers it, at `version`.
    pub fn from_custom(config: &crate::custom::CustomConfig, version: u32) -> Self {
        let desired = (0..crate::custom::MAX_GPUS)
            .find_map(|i| match config.target(i) {
                crate::custom::GpuTarget::Untouched => None,
                crate::custom::GpuTarget::Disabled => Some(DesiredMig::Disabled),
                crate::custom::GpuTarget::Layout(l) => Some(DesiredMig::Enabled(l.counts())),
            })
            .unwrap_or(DesiredMig::Disabled);
        Self {
            name: config.name().to_owned(),
            desired,
            custom: Some(CustomInfo {
                version,
                description: config.description().to_owned(),
                devices: config.raw().devices.clone(),
            }),
        }
    }

    /// `builtin` or `custom`.
    pub fn source(&self) -> &'static str {
        if self.custom.is_some() { "custom" } else { "builtin" }
    }

    /// The layout this config gives one GPU of `model` (`None`: MIG disabled): GPU 0's for a
    /// built-in (they give every GPU the same), the first named GPU's for a custom one. Use
    /// [`NamedConfig::gpu_want`] where GPUs may differ.
    ///
    /// # Errors
    /// [`PlacementError`] when its instances do not place on the model.
    pub fn layout(&self, model: GpuModel) -> Result<Option<Layout>, PlacementError> {
        match &self.desired {
            DesiredMig::Disabled => Ok(None),
            DesiredMig::Enabled(counts) => place(model, counts).map(Some),
        }
    }

    /// What the config asks of GPU `index` of `model`, placed: a built-in's counts placed as
    /// migboard places them, a custom config's exact placements.
    ///
    /// # Errors
    /// A message when the layout is not valid on `model` (a custom config made for another model,
    /// or counts that do not place).
    pub fn gpu_want(&self, model: GpuModel, index: u32) -> Result<GpuWant, String> {
        let Some(custom) = &self.custom else {
            return match self.layout(model) {
                Ok(Some(l)) => Ok(GpuWant::Layout(l)),
                Ok(None) => Ok(GpuWant::Disabled),
                Err(e) => Err(format!("{} does not place on {model}: {e}", self.name)),
            };
        };
        let Some(entry) = custom.devices.iter().find(|d| d.gpus.includes(index)) else {
            return Ok(GpuWant::Untouched);
        };
        if !entry.mig_enabled {
            return Ok(GpuWant::Disabled);
        }
        Layout::new(model, &entry.instances)
            .map(GpuWant::Layout)
            .map_err(|issues| {
                let why: Vec<String> = issues.iter().map(ToString::to_string).collect();
                format!(
                    "custom config {} v{} is not valid on {model}: {}",
                    self.name,
                    custom.version,
                    why.join("; ")
                )
            })
    }
}

/// The eight config names of OCI's MIG guide, in its order: offered first.
pub const GUIDE_CONFIGS: [&str; 8] = [
    "all-1g.10gb",
    "all-1g.20gb",
    "all-2g.20gb",
    "all-3g.40gb",
    "all-4g.40gb",
    "all-7g.80gb",
    "all-balanced",
    "all-disabled",
];

/// The configs of `file` that apply to GPU 0 of `model` and place on it: the guide's names first (in
/// its order), then the rest by name.
pub fn named_configs(file: &crate::parted::MigPartedConfig, model: GpuModel) -> Vec<NamedConfig> {
    let mut out: Vec<NamedConfig> = file
        .configs
        .keys()
        .filter_map(|name| {
            let desired = file.resolve(name, model, 0).ok()?;
            let config = NamedConfig {
                name: name.clone(),
                desired,
                custom: None,
            };
            config.layout(model).ok().map(|_| config)
        })
        .collect();
    out.sort_by_key(|c| {
        (
            GUIDE_CONFIGS
                .iter()
                .position(|g| *g == c.name)
                .unwrap_or(GUIDE_CONFIGS.len()),
            c.name.clone(),
        )
    });
    out
}
