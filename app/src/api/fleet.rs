//! The fleet for the fleet page: every node and GPU with its live MIG layout.

use leptos::prelude::*;

use crate::error::AppError;

/// The fleet as the server last read it (at most a couple of seconds old).
///
/// # Errors
/// [`AppError::Unavailable`] without a backend.
#[server(endpoint = "fleet")]
pub async fn get_fleet() -> Result<mig::wire::Fleet, AppError> {
    Ok(crate::backend::from_context()?.fleet_layout())
}

/// The fleet in counts: per pool, instances per profile, nodes drifted and busy; no nodes.
///
/// # Errors
/// [`AppError::Unavailable`] without a backend.
#[server(endpoint = "fleet_summary")]
pub async fn get_fleet_summary() -> Result<mig::wire::FleetSummary, AppError> {
    Ok(crate::backend::from_context()?.fleet_layout().summary())
}

/// One page of the nodes `query` picks.
///
/// # Errors
/// [`AppError::Unavailable`] without a backend.
#[server(endpoint = "fleet_nodes")]
pub async fn get_fleet_nodes(
    // An empty query (every node, page 1) is sent as no fields at all.
    #[server(default)] query: mig::wire::NodeQuery,
) -> Result<mig::wire::NodePage, AppError> {
    let mut page = crate::backend::from_context()?.fleet_layout().page(&query);
    // What the page does not draw stays on the server: MIG device UUIDs and node labels are three
    // quarters of a node's JSON (the node's own page and the REST API have them).
    for node in &mut page.nodes {
        node.labels.clear();
        node.gpus.iter_mut().for_each(|g| g.mig_devices.clear());
    }
    Ok(page)
}
