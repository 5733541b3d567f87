//! The plan written out for other tools: an OCI `shared_node_pool` blueprint, or a mig-parted file.

use serde::Serialize;

use super::NodePlan;
use crate::parted::NamedConfig;

/// The `shared_node_pool` recipe a plan exports, members in the order OCI's samples use.
/// Shared with the fleet planner's export (`crate::capacity::export`).
#[derive(Serialize)]
pub(crate) struct PoolBlueprint<'a> {
    pub deployment_name: &'a str,
    pub recipe_mode: &'static str,
    pub shared_node_pool_size: u32,
    pub shared_node_pool_shape: &'a str,
    pub shared_node_pool_boot_volume_size_in_gbs: u32,
    pub shared_node_pool_mig_config: &'a str,
}

/// What an `update` blueprint exported from a plan changes: a node pool or one node of the fleet
/// (the planner was opened from it). In a link: `update=pool:<name>` or `update=node:<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateTarget {
    /// `recipe_node_pool_name`.
    Pool(String),
    /// `recipe_node_name`.
    Node(String),
}

impl UpdateTarget {
    /// Reads `pool:<name>` or `node:<name>`; `None` for anything else.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, name) = text.split_once(':')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        match kind {
            "pool" => Some(Self::Pool(name.to_owned())),
            "node" => Some(Self::Node(name.to_owned())),
            _ => None,
        }
    }

    /// The link spelling, [`parse`](Self::parse)'s inverse.
    #[must_use]
    pub fn to_param(&self) -> String {
        match self {
            Self::Pool(n) => format!("pool:{n}"),
            Self::Node(n) => format!("node:{n}"),
        }
    }

    /// `pool h100migpool`, `node 10.0.10.11`.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::Pool(n) => format!("pool {n}"),
            Self::Node(n) => format!("node {n}"),
        }
    }
}

/// The `update` recipe a plan exports, members in the order OCI's samples use.
#[derive(Serialize)]
struct UpdateBlueprint<'a> {
    recipe_mode: &'static str,
    deployment_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipe_node_pool_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recipe_node_name: Option<&'a str>,
    shared_node_pool_mig_config: &'a str,
}

impl NodePlan {
    /// An `update` blueprint (OCI AI Blueprints JSON) giving `target` this plan's config, when every
    /// GPU has the same named config (NVIDIA's, or a custom config saved in migboard).
    ///
    /// # Errors
    /// Why the plan cannot be written as such a blueprint, and what to do instead.
    pub fn to_update_blueprint(
        &self,
        configs: &[NamedConfig],
        deployment_name: &str,
        target: &UpdateTarget,
    ) -> Result<String, String> {
        let name = self.matching_config(configs).ok_or_else(|| {
            format!(
                "an update's shared_node_pool_mig_config names one config for every GPU of {}; this plan is custom. \
                 Save it as a custom config (\"Apply to a node\" below) and export again, or apply a named config to all GPUs",
                target.describe()
            )
        })?;
        let (pool, node) = match target {
            UpdateTarget::Pool(p) => (Some(p.as_str()), None),
            UpdateTarget::Node(n) => (None, Some(n.as_str())),
        };
        let blueprint = UpdateBlueprint {
            recipe_mode: "update",
            deployment_name,
            recipe_node_pool_name: pool,
            recipe_node_name: node,
            shared_node_pool_mig_config: name,
        };
        serde_json::to_string_pretty(&blueprint)
            .map(|json| json + "\n")
            .map_err(|e| format!("writing the blueprint: {e}"))
    }

    /// A `shared_node_pool` blueprint (OCI AI Blueprints JSON) creating a pool of this plan, when the
    /// plan is a shape with one named config on every GPU.
    ///
    /// # Errors
    /// Why the plan cannot be written as such a blueprint, and what to use instead.
    pub fn to_blueprint(
        &self,
        configs: &[NamedConfig],
        deployment_name: &str,
    ) -> Result<String, String> {
        let shape = self.shape.ok_or_else(|| {
            format!(
                "a shared node pool needs an OCI shape; this plan is a custom node of {} GPUs. Pick a shape, or export mig-parted YAML",
                self.gpus.len()
            )
        })?;
        let name = self.matching_config(configs).ok_or_else(|| {
            "a blueprint's shared_node_pool_mig_config names one config for every GPU of every node; this plan is custom. \
             Apply a named config to all GPUs, or export the mig-parted YAML and apply it with the agent"
                .to_owned()
        })?;
        let blueprint = PoolBlueprint {
            deployment_name,
            recipe_mode: "shared_node_pool",
            shared_node_pool_size: self.nodes,
            shared_node_pool_shape: shape.name,
            shared_node_pool_boot_volume_size_in_gbs: 1000,
            shared_node_pool_mig_config: name,
        };
        serde_json::to_string_pretty(&blueprint)
            .map(|json| json + "\n")
            .map_err(|e| format!("writing the blueprint: {e}"))
    }

    /// The plan as a one-config mig-parted file named `name`.
    pub fn to_mig_parted(&self, name: &str) -> String {
        crate::parted::MigPartedConfig::from_layouts(name, self.model, &self.gpus).to_yaml()
    }
}
