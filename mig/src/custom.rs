//! Custom MIG configs: a name, a GPU model and per-GPU layouts with **exact placements**, as users
//! draw them in the planner (`{"profile": "3g.40gb", "start": 4}`), where mig-parted's named configs
//! give only counts per profile.
//!
//! A config has device entries, each a set of GPU indices (`"all"` or a list) and what those GPUs
//! get. As in mig-parted, the first entry naming a GPU decides it and GPUs no entry names are left
//! as they are. [`RawCustomConfig`] is the wire form; [`RawCustomConfig::validate`] builds the
//! checked [`CustomConfig`] or returns every problem with its JSON pointer, using the planner's
//! own layout rules. Export to and import from mig-parted files live here too.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::blueprint::{Issue, Severity};
use crate::layout::{InstanceSpec, Layout, LayoutIssue};
use crate::model::GpuModel;
use crate::parted::{AllDevices, ConfigEntry, Devices, MigPartedConfig, PartedError};
use crate::place::place;

/// Longest config name: a Kubernetes label value (`nvidia.com/mig.config`) holds 63 characters.
pub const MAX_NAME: usize = 63;

/// GPU indices a config may name: 0..16 (the largest nodes have 8 GPUs; 16 leaves room).
pub const MAX_GPUS: u32 = 16;

/// A custom config as the API and the database spell it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomConfig {
    /// Its name, unique among built-in and custom configs.
    pub name: String,
    /// The GPU model id, such as `h100-80gb`.
    pub model: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Device entries; the first naming a GPU decides it.
    pub devices: Vec<RawDevice>,
}

/// One device entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    /// `"all"` or GPU indices.
    pub gpus: Devices,
    /// MIG mode for these GPUs (default on). Off: `instances` must be empty.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub mig_enabled: bool,
    /// Their GPU instances at exact starts (empty with MIG on: no instances).
    #[serde(default)]
    pub instances: Vec<InstanceSpec>,
}

fn yes() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_true(b: &bool) -> bool {
    *b
}

/// A validated custom config: every entry's layout is valid on the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomConfig {
    raw: RawCustomConfig,
    model: GpuModel,
    /// Per entry: `None` = MIG off, else the layout.
    layouts: Vec<Option<Layout>>,
}

/// What a config asks of one GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GpuTarget<'a> {
    /// No entry names it: left as it is.
    Untouched,
    /// MIG mode off.
    Disabled,
    /// MIG on with exactly this layout.
    Layout(&'a Layout),
}

fn issue(code: &str, path: String, message: String, hint: &str) -> Issue {
    Issue::new(Severity::Error, code, path, message, hint.to_owned())
}

/// Whether `name` can name a config: a Kubernetes label value (the GPU Operator's
/// `nvidia.com/mig.config` label carries it): 1–63 of `A-Z a-z 0-9 - _ .`, starting and ending
/// alphanumeric.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

impl RawCustomConfig {
    /// Checks the config, reporting **every** problem with its JSON pointer: the name (format, and
    /// not a built-in's: `is_builtin`), the model, each entry's GPUs (no GPU named twice, nothing
    /// after `"all"`) and each entry's layout by the planner's rules (unknown profile, start not
    /// allowed, overlap, too many of a profile, compute exceeded).
    ///
    /// # Errors
    /// Every [`Issue`] found, in document order.
    pub fn validate(self, is_builtin: impl Fn(&str) -> bool) -> Result<CustomConfig, Vec<Issue>> {
        let mut issues = Vec::new();
        if self.name == "import" {
            issues.push(issue(
                "config_name_invalid",
                "/name".into(),
                "`import` is reserved: POST /api/v1/mig-configs/import imports mig-parted files".into(),
                "choose another name",
            ));
        } else if !valid_name(&self.name) {
            issues.push(issue(
                "config_name_invalid",
                "/name".into(),
                format!("`{}` cannot name a MIG config: it becomes the value of the nvidia.com/mig.config label", self.name),
                "use 1 to 63 letters, digits, `-`, `_` or `.`, starting and ending with a letter or digit, e.g. \"inference-mix\"",
            ));
        } else if is_builtin(&self.name) {
            issues.push(Issue::new(
                Severity::Error,
                "config_shadows_builtin",
                "/name".into(),
                format!("`{}` is one of NVIDIA's built-in configs", self.name),
                format!(
                    "choose another name, e.g. \"custom-{}\"; a built-in config cannot be redefined",
                    self.name
                ),
            ));
        }
        let model = match self.model.parse::<GpuModel>() {
            Ok(m) if m.id() == self.model.trim().to_ascii_lowercase() => Some(m),
            Ok(m) => {
                issues.push(issue(
                    "config_model_unknown",
                    "/model".into(),
                    format!("give the model's id, not its product name `{}`", self.model),
                    &format!("write \"model\": \"{}\"", m.id()),
                ));
                None
            }
            Err(e) => {
                issues.push(issue(
                    "config_model_unknown",
                    "/model".into(),
                    e.to_string(),
                    "use a model id from GET /api/v1/models",
                ));
                None
            }
        };
        if self.description.chars().count() > 1000 {
            issues.push(issue(
                "config_description_long",
                "/description".into(),
                "the description is longer than 1000 characters".into(),
                "shorten it; link to a longer document instead",
            ));
        }
        if self.devices.is_empty() {
            issues.push(issue(
                "config_no_devices",
                "/devices".into(),
                "the config names no GPUs".into(),
                "add an entry such as {\"gpus\": \"all\", \"instances\": [{\"profile\": \"3g.40gb\", \"start\": 0}]}",
            ));
        }
        let mut layouts = Vec::with_capacity(self.devices.len());
        let mut named_by: BTreeMap<u32, usize> = BTreeMap::new();
        let mut all_at: Option<usize> = None;
        for (i, d) in self.devices.iter().enumerate() {
            let at = format!("/devices/{i}");
            if let Some(first) = all_at {
                issues.push(issue(
                    "config_entry_unreachable",
                    format!("{at}/gpus"),
                    format!("entry {first} already names every GPU (\"all\"), so entry {i} never applies"),
                    "move the \"all\" entry last, or list its GPUs",
                ));
            }
            match &d.gpus {
                Devices::All(_) => all_at = all_at.or(Some(i)),
                Devices::List(list) => {
                    if list.is_empty() {
                        issues.push(issue(
                            "config_gpus_empty",
                            format!("{at}/gpus"),
                            "the entry names no GPU".into(),
                            "list GPU indices such as [0, 1], or write \"all\"",
                        ));
                    }
                    for (j, &g) in list.iter().enumerate() {
                        if g >= MAX_GPUS {
                            issues.push(issue(
                                "config_gpu_index",
                                format!("{at}/gpus/{j}"),
                                format!("GPU {g} is out of range"),
                                &format!("GPU indices run from 0 to {}", MAX_GPUS - 1),
                            ));
                        } else if let Some(&first) = named_by.get(&g) {
                            issues.push(issue(
                                "config_gpu_twice",
                                format!("{at}/gpus/{j}"),
                                if first == i {
                                    format!("GPU {g} is listed twice in this entry")
                                } else {
                                    format!("GPU {g} is already given its layout by entry {first}")
                                },
                                "name each GPU in one entry only",
                            ));
                        } else {
                            named_by.insert(g, i);
                        }
                    }
                }
            }
            let Some(model) = model else {
                layouts.push(None);
                continue;
            };
            if !d.mig_enabled {
                if !d.instances.is_empty() {
                    issues.push(issue(
                        "config_instances_without_mig",
                        format!("{at}/instances"),
                        "instances are listed but mig_enabled is false".into(),
                        "set mig_enabled to true, or remove the instances",
                    ));
                }
                layouts.push(None);
                continue;
            }
            match Layout::new(model, &d.instances) {
                Ok(l) => layouts.push(Some(l)),
                Err(found) => {
                    layouts.push(None);
                    issues.extend(found.into_iter().map(|f| layout_issue(&at, &f)));
                }
            }
        }
        match model {
            Some(model) if issues.is_empty() => Ok(CustomConfig {
                raw: self,
                model,
                layouts,
            }),
            _ => Err(issues),
        }
    }
}

/// A layout rule broken by entry `at`'s instances, at the instance's pointer.
fn layout_issue(at: &str, f: &LayoutIssue) -> Issue {
    let (code, path, hint) = match f {
        LayoutIssue::UnknownProfile { index, .. } => (
            "config_profile_unknown",
            format!("{at}/instances/{index}/profile"),
            "use one of the model's profiles (GET /api/v1/models)".to_owned(),
        ),
        LayoutIssue::StartNotAllowed { index, .. } => (
            "config_start_not_allowed",
            format!("{at}/instances/{index}/start"),
            "move it to an allowed start; the planner shows them as you drag".to_owned(),
        ),
        LayoutIssue::Overlap { second, .. } => (
            "config_overlap",
            format!("{at}/instances/{second}"),
            "move one of them to free memory slices, or remove it".to_owned(),
        ),
        LayoutIssue::CountAboveMax { .. } => (
            "config_profile_limit",
            format!("{at}/instances"),
            "remove instances of that profile".to_owned(),
        ),
        LayoutIssue::ComputeExceeded { .. } => (
            "config_compute_exceeded",
            format!("{at}/instances"),
            "use smaller profiles or fewer instances".to_owned(),
        ),
    };
    Issue::new(Severity::Error, code, path, f.to_string(), hint)
}

impl CustomConfig {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.raw.name
    }

    /// Its GPU model.
    pub fn model(&self) -> GpuModel {
        self.model
    }

    /// Its description.
    pub fn description(&self) -> &str {
        &self.raw.description
    }

    /// The wire form.
    pub fn raw(&self) -> &RawCustomConfig {
        &self.raw
    }

    /// What GPU `index` gets: the first entry naming it decides.
    pub fn target(&self, index: u32) -> GpuTarget<'_> {
        self.raw
            .devices
            .iter()
            .zip(&self.layouts)
            .find(|(d, _)| d.gpus.includes(index))
            .map_or(GpuTarget::Untouched, |(_, l)| match l {
                None => GpuTarget::Disabled,
                Some(l) => GpuTarget::Layout(l),
            })
    }

    /// A mig-parted `version: v1` file with this config: counts per profile (mig-parted has no
    /// placements), limited to the model's PCI device ids.
    pub fn to_parted(&self) -> MigPartedConfig {
        let entries = self
            .raw
            .devices
            .iter()
            .zip(&self.layouts)
            .map(|(d, l)| ConfigEntry {
                device_filter: Some(self.model.spec().pci_device_ids.to_vec()),
                devices: d.gpus.clone(),
                mig_enabled: d.mig_enabled,
                mig_devices: l.as_ref().map(|l| l.counts().0).unwrap_or_default(),
            })
            .collect();
        MigPartedConfig {
            configs: BTreeMap::from([(self.raw.name.clone(), entries)]),
        }
    }

    /// [`CustomConfig::to_parted`] as YAML, opening with comments that say what mig-parted loses:
    /// the exact placements, listed per entry.
    pub fn to_mig_parted_yaml(&self, version: Option<u32>) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# migboard custom MIG config `{}`{} for {}",
            self.raw.name,
            version.map(|v| format!(" (version {v})")).unwrap_or_default(),
            self.model.spec().display_name
        );
        if !self.raw.description.is_empty() {
            for line in self.raw.description.lines() {
                let _ = writeln!(out, "# {line}");
            }
        }
        out.push_str(
            "# mig-parted files give counts per profile, not placements: mig-parted places them itself.\n\
             # migboard applies these exact placements (profile@start memory slice):\n",
        );
        for (i, (d, l)) in self.raw.devices.iter().zip(&self.layouts).enumerate() {
            let gpus = match &d.gpus {
                Devices::All(_) => "all".to_owned(),
                Devices::List(l) => format!("{l:?}"),
            };
            let what = match l {
                None => "MIG disabled".to_owned(),
                Some(l) if l.instances().is_empty() => "MIG enabled, no instances".to_owned(),
                Some(l) => l
                    .instances()
                    .iter()
                    .map(|p| format!("{}@{}", p.profile.name, p.start))
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            let _ = writeln!(out, "#   entry {i}, GPUs {gpus}: {what}");
        }
        out.push_str(&self.to_parted().to_yaml());
        out
    }
}

/// What [`import_mig_parted`] read: the configs for the model, and those it left out with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    /// Configs that apply to the model, with the placements migboard chose.
    pub configs: Vec<RawCustomConfig>,
    /// (config name, why it was left out): no entry for the model, a profile it lacks, counts
    /// that do not place.
    pub skipped: Vec<(String, String)>,
}

/// Reads every config of a mig-parted file as custom configs for `model`, with the placements
/// migboard would choose (mig-parted gives counts only). Entries whose device filter excludes the
/// model are dropped; a config left with no entry, or that does not fit the model, is skipped
/// with the reason (a file like NVIDIA's holds configs for many models).
///
/// # Errors
/// [`PartedError`] when the file is not a mig-parted `v1` file.
pub fn import_mig_parted(yaml: &str, model: GpuModel) -> Result<Imported, PartedError> {
    let file = MigPartedConfig::parse(yaml)?;
    let ids = model.spec().pci_device_ids;
    let mut out = Imported {
        configs: Vec::with_capacity(file.configs.len()),
        skipped: Vec::new(),
    };
    'configs: for (name, entries) in file.configs {
        let mut devices = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if let Some(filter) = &e.device_filter
                && !filter.iter().any(|id| ids.contains(id))
            {
                continue;
            }
            let instances = if e.mig_enabled {
                let mut counts = crate::layout::ProfileCounts::default();
                for (p, &n) in &e.mig_devices {
                    if model.profile(p).is_none() {
                        let why = format!(
                            "entry {i}: {p} is not a profile of {model}; its profiles are {}",
                            model.profile_names().join(", ")
                        );
                        out.skipped.push((name, why));
                        continue 'configs;
                    }
                    counts.add(p, n);
                }
                match place(model, &counts) {
                    Ok(l) => l.to_specs(),
                    Err(e) => {
                        out.skipped
                            .push((name, format!("entry {i}: does not place on {model}: {e}")));
                        continue 'configs;
                    }
                }
            } else {
                Vec::new()
            };
            devices.push(RawDevice {
                gpus: e.devices.clone(),
                mig_enabled: e.mig_enabled,
                instances,
            });
        }
        if devices.is_empty() {
            let why = format!("no entry applies to {model} (its device-filter names other GPUs)");
            out.skipped.push((name, why));
            continue;
        }
        out.configs.push(RawCustomConfig {
            name,
            model: model.id().to_owned(),
            description: "imported from a mig-parted file".to_owned(),
            devices,
        });
    }
    Ok(out)
}

impl RawDevice {
    /// An entry giving `gpus` the instances of `layout` (`None`: MIG off).
    pub fn of(gpus: Devices, layout: Option<&Layout>) -> Self {
        Self {
            gpus,
            mig_enabled: layout.is_some(),
            instances: layout.map(Layout::to_specs).unwrap_or_default(),
        }
    }
}

impl RawCustomConfig {
    /// A config giving GPU `i` the layout `layouts[i]` (`None`: MIG off), as the planner draws a
    /// node: GPUs with the same layout share an entry, and one layout for all is `"all"`.
    pub fn from_layouts(
        name: &str,
        model: GpuModel,
        description: &str,
        layouts: &[Option<Layout>],
    ) -> Self {
        let mut groups: Vec<(Option<&Layout>, Vec<u32>)> = Vec::new();
        for (i, l) in layouts.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            match groups.iter_mut().find(|(g, _)| *g == l.as_ref()) {
                Some((_, gpus)) => gpus.push(i),
                None => groups.push((l.as_ref(), vec![i])),
            }
        }
        let uniform = groups.len() == 1;
        Self {
            name: name.to_owned(),
            model: model.id().to_owned(),
            description: description.to_owned(),
            devices: groups
                .into_iter()
                .map(|(l, gpus)| {
                    RawDevice::of(
                        if uniform {
                            Devices::All(AllDevices::All)
                        } else {
                            Devices::List(gpus)
                        },
                        l,
                    )
                })
                .collect(),
        }
    }
}

/// Where a config comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigSource {
    /// NVIDIA's mig-parted defaults.
    Builtin,
    /// Made in migboard (the database).
    Custom,
}

/// A MIG config as `GET /api/v1/mig-configs` lists it: built-in or custom, with what migboard
/// applies to each GPU (a built-in's counts placed as migboard places them; a custom config's
/// exact placements).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigConfigInfo {
    /// Its name.
    pub name: String,
    /// The GPU model id.
    pub model: String,
    /// `builtin` or `custom`.
    pub source: ConfigSource,
    /// A custom config's current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Device entries with exact placements.
    pub devices: Vec<RawDevice>,
    /// When this version was made (custom), Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_ms: Option<i64>,
    /// Who made it (custom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

impl MigConfigInfo {
    /// A catalogue entry of `model` as listed: a custom config's entries as stored, a built-in's
    /// one `"all"` entry placed as migboard places it (`None` when it does not place).
    pub fn of(model: GpuModel, config: &crate::NamedConfig) -> Option<Self> {
        let (source, version, description, devices) = match &config.custom {
            Some(c) => (
                ConfigSource::Custom,
                Some(c.version),
                c.description.clone(),
                c.devices.clone(),
            ),
            None => {
                let layout = config.layout(model).ok()?;
                (
                    ConfigSource::Builtin,
                    None,
                    "NVIDIA mig-parted default config".to_owned(),
                    vec![RawDevice::of(Devices::All(AllDevices::All), layout.as_ref())],
                )
            }
        };
        Some(Self {
            name: config.name.clone(),
            model: model.id().to_owned(),
            source,
            version,
            description,
            devices,
            created_ms: None,
            created_by: None,
        })
    }
}
