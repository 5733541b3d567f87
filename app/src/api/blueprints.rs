//! Blueprint validation for the editor: the catalogue of named configs (so the browser can check
//! config names as the user types) and the server's check against the current fleet.

use leptos::prelude::*;
use mig::blueprint::{Catalogue, Issue};
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The named MIG configs per GPU model, for the browser's own checks.
///
/// # Errors
/// [`AppError::Unavailable`] when the server has no backend.
#[server(endpoint = "blueprint_catalogue")]
pub async fn blueprint_catalogue() -> Result<Catalogue, AppError> {
    let backend = crate::backend::from_context()?;
    Ok((*backend.catalogue()).clone())
}

/// What the server found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCheck {
    /// No errors.
    pub valid: bool,
    /// Every issue, with the fleet-aware rules included.
    pub issues: Vec<Issue>,
    /// Nodes in the fleet it was checked against.
    pub fleet_nodes: usize,
}

/// Checks `text` with every rule, the fleet-aware ones included.
///
/// # Errors
/// [`AppError::BadRequest`] over 1 MiB; [`AppError::Unavailable`] without a backend.
#[server(endpoint = "validate_blueprint")]
pub async fn validate_blueprint(text: String) -> Result<ServerCheck, AppError> {
    if text.len() > mig::blueprint::MAX_BYTES {
        return Err(AppError::BadRequest(format!(
            "the blueprint is {} bytes; the limit is 1 MiB",
            text.len()
        )));
    }
    let backend = crate::backend::from_context()?;
    let (catalogue, fleet) = (backend.catalogue(), backend.fleet());
    let ctx = mig::blueprint::Context {
        catalogue: Some(&catalogue),
        fleet: Some(&fleet),
    };
    let checked = mig::blueprint::check(&text, ctx);
    Ok(ServerCheck {
        valid: checked.is_valid(),
        issues: checked.issues,
        fleet_nodes: fleet.nodes.len(),
    })
}
