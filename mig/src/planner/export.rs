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

impl NodePlan {
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
