//! `GET /api/v1/fleet`: pools, nodes and every GPU's live MIG layout with the slices in use; and
//! for big fleets `GET /api/v1/fleet/summary` (counts per pool, no nodes) and
//! `GET /api/v1/fleet/nodes?…` (one page of the nodes a filter picks).

use axum::Json;
use axum::extract::{Query, State};
use serde::Serialize;

use crate::AppState;
use crate::cluster::Fleet;

/// The answer: the backend, and the fleet as last read (at most `FLEET_REFRESH` old).
#[derive(Debug, Serialize)]
pub struct FleetAnswer {
    /// What the cluster backend is.
    pub backend: String,
    /// Pools and nodes.
    #[serde(flatten)]
    pub fleet: Fleet,
}

/// `GET /api/v1/fleet`.
pub async fn fleet(State(state): State<AppState>) -> Json<FleetAnswer> {
    Json(FleetAnswer {
        backend: state.cluster_description(),
        fleet: state.fleet(),
    })
}

/// `GET /api/v1/fleet/summary`: every pool in counts (instances per profile free and in use,
/// stranded memory, nodes drifted, busy, unavailable, per config), and the filters' choices.
pub async fn summary(State(state): State<AppState>) -> Json<mig::wire::FleetSummary> {
    Json(state.fleet().summary())
}

/// `GET /api/v1/fleet/nodes?pool=&model=&config=&drifted=1&busy=1&q=&page=`: one page of the
/// nodes the filters pick, with how many match in all and per pool.
pub async fn nodes(
    State(state): State<AppState>,
    Query(params): Query<std::collections::HashMap<String, String>>,
) -> Json<mig::wire::NodePage> {
    let query = mig::wire::NodeQuery::from_params(|k| params.get(k).cloned());
    Json(state.fleet().page(&query))
}
