//! A fleet plan turned into what migboard applies: one custom MIG config per layout, and one OCI
//! `shared_node_pool` blueprint per layout creating a pool cut that way.

use super::FleetPlan;
use crate::custom::{RawCustomConfig, RawDevice};
use crate::parted::{AllDevices, Devices};
use crate::planner::export::PoolBlueprint;
use crate::shape::SHAPES;


impl FleetPlan {
    /// The name of the custom config for layout group `i` (from 0): `{prefix}-{i + 1}`.
    pub fn config_name(prefix: &str, i: usize) -> String {
        format!("{prefix}-{}", i + 1)
    }

    /// One custom config per layout group, every GPU cut as the group's layout.
    pub fn custom_configs(&self, prefix: &str) -> Vec<RawCustomConfig> {
        self.layouts
            .iter()
            .enumerate()
            .map(|(i, g)| RawCustomConfig {
                name: Self::config_name(prefix, i),
                model: self.model.id().to_owned(),
                description: format!(
                    "fleet plan layout {} of {}: {} on each of {} GPUs",
                    i + 1,
                    self.layouts.len(),
                    g.counts,
                    g.count
                ),
                devices: vec![RawDevice {
                    gpus: Devices::All(AllDevices::All),
                    mig_enabled: true,
                    instances: g.instances.clone(),
                }],
            })
            .collect()
    }

    /// One `shared_node_pool` blueprint per layout group, on the model's OCI shape, naming the group's
    /// custom config ([`FleetPlan::custom_configs`] with the same `prefix`); pools round GPUs up to
    /// whole nodes.
    ///
    /// # Errors
    /// When OCI has no bare-metal shape with this GPU model.
    pub fn pool_blueprints(&self, prefix: &str) -> Result<Vec<String>, String> {
        let shape = SHAPES.iter().find(|s| s.model == self.model).ok_or_else(|| {
            format!(
                "OCI has no bare-metal shape with {}; save the layouts as custom configs and apply them to your nodes",
                self.model.spec().display_name
            )
        })?;
        self.layouts
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let config = Self::config_name(prefix, i);
                let name = format!("{config}-pool");
                serde_json::to_string_pretty(&PoolBlueprint {
                    deployment_name: &name,
                    recipe_mode: "shared_node_pool",
                    shared_node_pool_size: g.count.div_ceil(shape.gpus),
                    shared_node_pool_shape: shape.name,
                    shared_node_pool_boot_volume_size_in_gbs: 1000,
                    shared_node_pool_mig_config: &config,
                })
                .map_err(|e| format!("writing the blueprint: {e}"))
            })
            .collect()
    }
}
