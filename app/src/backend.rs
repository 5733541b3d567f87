//! The seam between server functions and the world: the server provides an [`Backend`] as context.

use std::sync::Arc;

use mig::blueprint::{Catalogue, FleetView};

use crate::api::status::ServerStatus;
use crate::error::AppError;

/// Everything server functions may ask of the server. Implemented in the `server` crate.
pub trait Backend: Send + Sync + 'static {
    /// The server's status; counts as one status request.
    fn status(&self) -> ServerStatus;

    /// The named MIG configs per GPU model that blueprints may name.
    fn catalogue(&self) -> Arc<Catalogue>;

    /// The fleet as it is now, for the fleet-aware blueprint rules.
    fn fleet(&self) -> FleetView;

    /// The fleet with every GPU's layout, for the fleet page.
    fn fleet_layout(&self) -> mig::wire::Fleet;
}

/// The context value server functions look up.
pub type BackendHandle = Arc<dyn Backend>;

/// Fetches the backend from Leptos context.
///
/// # Errors
/// [`AppError::Unavailable`] when the server did not provide one.
pub fn from_context() -> Result<BackendHandle, AppError> {
    leptos::prelude::use_context::<BackendHandle>().ok_or_else(|| {
        AppError::Unavailable("no backend in the server-function context".to_owned())
    })
}
