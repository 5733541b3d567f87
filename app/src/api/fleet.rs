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
