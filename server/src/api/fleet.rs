//! `GET /api/v1/fleet`: pools, nodes and every GPU's live MIG layout with the slices in use.

use axum::Json;
use axum::extract::State;
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
