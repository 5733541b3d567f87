//! The fleet the server validates blueprints against, and the named MIG configs it knows.
//!
//! Until the embedded cluster backend runs real agents (the deployments work), the fleet is the
//! embedded fleet's *starting state*, described here as data: pool `h100-pool` with two
//! BM.GPU.H100.8 nodes on `all-balanced` and pool `a100-pool` with one BM.GPU4.8 (A100 40GB) on
//! `all-1g.5gb`, nothing running. It is what `make run` shows; it does not change yet.

use mig::blueprint::{Catalogue, FleetNode, FleetPool, FleetView};
use mig::shape::shape;

/// How the status card describes this fleet.
pub const DESCRIPTION: &str =
    "embedded fleet (simulated: h100-pool 2 × BM.GPU.H100.8, a100-pool 1 × BM.GPU4.8)";

/// mig-parted's default configs for every model. Empty (every config name then fails validation
/// with the list of what exists, i.e. none) only if the embedded file stops parsing, which a test
/// forbids.
pub fn catalogue() -> Catalogue {
    match mig::MigPartedConfig::default_configs() {
        Ok(file) => Catalogue::from_parted(&file),
        Err(e) => {
            tracing::error!(error = %e, "the embedded mig-parted config does not parse");
            Catalogue::default()
        }
    }
}

/// The embedded fleet's starting state.
pub fn initial_fleet(cat: &Catalogue) -> FleetView {
    let mut view = FleetView::default();
    for (pool, shape_name, nodes, config) in [
        (
            "h100-pool",
            "BM.GPU.H100.8",
            ["10.0.10.11", "10.0.10.12"].as_slice(),
            "all-balanced",
        ),
        (
            "a100-pool",
            "BM.GPU4.8",
            ["10.0.20.11"].as_slice(),
            "all-1g.5gb",
        ),
    ] {
        let Some(s) = shape(shape_name) else { continue };
        view.pools.push(FleetPool {
            name: pool.to_owned(),
            shape: s.name.to_owned(),
            max_pods_per_node: mig::blueprint::DEFAULT_MAX_PODS_PER_NODE,
        });
        for node in nodes {
            view.nodes.push(FleetNode::configured(
                node,
                Some(pool),
                s,
                cat.config(s.model, config),
            ));
        }
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initial_fleet_has_its_configs_applied() {
        let cat = catalogue();
        assert!(!cat.configs(mig::GpuModel::H100_80GB).is_empty());
        let fleet = initial_fleet(&cat);
        assert_eq!(fleet.nodes.len(), 3);
        let h100 = fleet.node("10.0.10.11").expect("node");
        assert_eq!(h100.mig_config.as_deref(), Some("all-balanced"));
        // all-balanced on H100: 2 × 1g.10gb per GPU, 8 GPUs.
        assert_eq!(h100.slices_of("1g.10gb"), (16, 16));
        let a100 = fleet.node("10.0.20.11").expect("node");
        assert_eq!(a100.slices_of("1g.5gb"), (56, 56));
    }
}
