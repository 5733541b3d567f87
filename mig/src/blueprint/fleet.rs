//! What validation may know beyond the blueprint: the named MIG configs per GPU model (a
//! [`Catalogue`]) and the current fleet ([`FleetView`]). Both are plain data; the server fills them
//! from mig-parted's file and its cluster backend, the browser gets the catalogue over the wire.

use serde::{Deserialize, Serialize};

use crate::model::GpuModel;
use crate::parted::{DesiredMig, GpuWant, MigPartedConfig};
use crate::parted::{NamedConfig, named_configs};

/// The named MIG configs each GPU model has (those of mig-parted's file that place on it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalogue {
    /// Per model, its configs (the guide's names first).
    pub models: Vec<ModelConfigs>,
}

/// One model's named configs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfigs {
    /// The GPU model.
    pub model: GpuModel,
    /// Its configs.
    pub configs: Vec<NamedConfig>,
}

impl Catalogue {
    /// The configs of `file` for every modelled GPU.
    pub fn from_parted(file: &MigPartedConfig) -> Self {
        Self {
            models: GpuModel::all()
                .map(|model| ModelConfigs {
                    model,
                    configs: named_configs(file, model),
                })
                .collect(),
        }
    }

    /// The configs `model` has (empty when the catalogue does not list the model).
    pub fn configs(&self, model: GpuModel) -> &[NamedConfig] {
        self.models
            .iter()
            .find(|m| m.model == model)
            .map_or(&[], |m| m.configs.as_slice())
    }

    /// The config `name` of `model`.
    pub fn config(&self, model: GpuModel, name: &str) -> Option<&NamedConfig> {
        self.configs(model).iter().find(|c| c.name == name)
    }

    /// Names of `model`'s configs that create at least one instance of `profile` (a custom config:
    /// on any GPU it names).
    pub fn supplying(&self, model: GpuModel, profile: &str) -> Vec<&str> {
        self.configs(model)
            .iter()
            .filter(|c| match &c.custom {
                Some(custom) => custom
                    .devices
                    .iter()
                    .any(|d| d.instances.iter().any(|i| i.profile == profile)),
                None => matches!(&c.desired, DesiredMig::Enabled(counts) if counts.0.get(profile).is_some_and(|n| *n > 0)),
            })
            .map(|c| c.name.as_str())
            .collect()
    }

    /// This catalogue with `custom` configs added, each after its model's built-ins. A custom
    /// config whose name a built-in of its model has is left out (creation refuses such names).
    #[must_use]
    pub fn with_custom(
        mut self,
        custom: impl IntoIterator<Item = (GpuModel, NamedConfig)>,
    ) -> Self {
        for (model, config) in custom {
            let at = match self.models.iter().position(|m| m.model == model) {
                Some(at) => at,
                None => {
                    self.models.push(ModelConfigs {
                        model,
                        configs: Vec::new(),
                    });
                    self.models.len() - 1
                }
            };
            let configs = &mut self.models[at].configs;
            if !configs.iter().any(|c| c.name == config.name) {
                configs.push(config);
            }
        }
        self
    }

    /// The config `gpus` (a node of `model`) are on: a custom config first (exact placements say
    /// more than counts), then a built-in, by name.
    pub fn matching(
        &self,
        model: GpuModel,
        gpus: &[crate::agent_api::InventoryGpu],
    ) -> Option<&NamedConfig> {
        let configs = self.configs(model);
        configs
            .iter()
            .filter(|c| c.custom.is_some())
            .chain(configs.iter().filter(|c| c.custom.is_none()))
            .find(|c| c.matched_by(model, gpus))
    }

    /// Whether `name` is one of NVIDIA's built-in configs (on any model).
    pub fn is_builtin(&self, name: &str) -> bool {
        self.models.iter().any(|m| {
            m.configs
                .iter()
                .any(|c| c.name == name && c.custom.is_none())
        })
    }

    /// Whether any model has a config called `name`.
    pub fn any_has(&self, name: &str) -> bool {
        self.models
            .iter()
            .any(|m| m.configs.iter().any(|c| c.name == name))
    }
}

/// The fleet as validation sees it: nodes with their GPUs' slices, pools, and deployment names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetView {
    /// Every GPU node.
    pub nodes: Vec<FleetNode>,
    /// Every node pool.
    pub pools: Vec<FleetPool>,
    /// Names of existing deployments (a new one must not reuse them).
    pub deployments: Vec<String>,
}

/// A node pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetPool {
    /// Pool name.
    pub name: String,
    /// Shape of its nodes.
    pub shape: String,
    /// Pods per node, fixed when the pool was created.
    pub max_pods_per_node: u32,
    /// The deployment whose own pool it is (`recipe_use_shared_node_pool: false`): nothing else
    /// runs there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedicated_to: Option<String>,
}

/// A GPU node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetNode {
    /// Node name (OKE: its private IP).
    pub name: String,
    /// The pool it belongs to.
    pub pool: Option<String>,
    /// Its GPU model, when MIG-capable.
    pub model: Option<GpuModel>,
    /// The named MIG config applied to it (`nvidia.com/mig.config`), if any.
    pub mig_config: Option<String>,
    /// Its GPUs in index order.
    pub gpus: Vec<FleetGpu>,
    /// Workloads running on it, by name.
    pub workloads: Vec<String>,
}

/// One GPU of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetGpu {
    /// MIG mode on.
    pub mig: bool,
    /// Its MIG instances (empty with MIG off).
    pub slices: Vec<FleetSlice>,
}

/// One MIG instance and whether a workload holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetSlice {
    /// Profile name, such as `1g.10gb`.
    pub profile: String,
    /// Its first memory slice.
    #[serde(default)]
    pub start: u8,
    /// A workload runs on it.
    pub in_use: bool,
}

impl FleetView {
    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&FleetNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The pool called `name`.
    pub fn pool(&self, name: &str) -> Option<&FleetPool> {
        self.pools.iter().find(|p| p.name == name)
    }

    /// How many more pods node `node` may run: its pool's `recipe_max_pods_per_node` (the default
    /// for a node without a known pool) less [`super::SYSTEM_PODS_PER_NODE`] and the workloads it
    /// runs (replicas and pods, by name).
    pub fn pod_room(&self, node: &FleetNode) -> u32 {
        let max = node
            .pool
            .as_deref()
            .and_then(|p| self.pool(p))
            .map_or(super::DEFAULT_MAX_PODS_PER_NODE, |p| p.max_pods_per_node);
        // Pods by name, not slices in use: a slice the device plugin does not advertise is not
        // free, but runs no pod.
        let running = node.workloads.len();
        max.saturating_sub(super::SYSTEM_PODS_PER_NODE)
            .saturating_sub(u32::try_from(running).unwrap_or(u32::MAX))
    }

    /// Replicas of `profile` node `node` can take now: its free slices of it, at most its
    /// [`FleetView::pod_room`].
    pub fn placeable(&self, node: &FleetNode, profile: &str) -> u32 {
        if self.is_dedicated(node) {
            return 0;
        }
        node.slices_of(profile).1.min(self.pod_room(node))
    }

    /// Whether `node` is in a deployment's own pool, where nothing else runs.
    pub fn is_dedicated(&self, node: &FleetNode) -> bool {
        node.pool
            .as_deref()
            .and_then(|p| self.pool(p))
            .is_some_and(|p| p.dedicated_to.is_some())
    }

    /// The nodes of pool `name`.
    pub fn pool_nodes<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a FleetNode> {
        self.nodes
            .iter()
            .filter(move |n| n.pool.as_deref() == Some(name))
    }
}

impl FleetNode {
    /// Instances of `profile` on this node: (configured, free).
    pub fn slices_of(&self, profile: &str) -> (u32, u32) {
        self.gpus
            .iter()
            .flat_map(|g| &g.slices)
            .filter(|s| s.profile == profile)
            .fold((0, 0), |(all, free), s| {
                (all + 1, free + u32::from(!s.in_use))
            })
    }
}

impl FleetNode {
    /// A node of `shape` whose every GPU has `config` applied (`None`: MIG off), all slices free.
    pub fn configured(
        name: &str,
        pool: Option<&str>,
        shape: &crate::shape::NodeShape,
        config: Option<&NamedConfig>,
    ) -> Self {
        let gpu = |index: u32| match config.map(|c| c.gpu_want(shape.model, index)) {
            Some(Ok(GpuWant::Layout(layout))) => FleetGpu {
                mig: true,
                slices: layout
                    .instances()
                    .iter()
                    .map(|p| FleetSlice {
                        profile: p.profile.name.to_owned(),
                        start: p.start,
                        in_use: false,
                    })
                    .collect(),
            },
            _ => FleetGpu::default(),
        };
        Self {
            name: name.to_owned(),
            pool: pool.map(str::to_owned),
            model: Some(shape.model),
            mig_config: config.map(|c| c.name.clone()),
            gpus: (0..shape.gpus).map(gpu).collect(),
            workloads: Vec::new(),
        }
    }
}
