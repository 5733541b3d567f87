//! Named MIG configs for the planner.
//!
//! The configs are data (NVIDIA mig-parted's `config-default.yaml`, embedded in `mig`), parsed once
//! on the server (the backend's catalogue, which blueprint validation uses too) so that the YAML parser
//! stays out of the browser bundle; the rules that use them run in the browser from `mig`.

use leptos::prelude::*;
use mig::NamedConfig;

use crate::error::AppError;

/// The named configs that apply to `model` (an id such as `h100-80gb`), the OCI guide's eight first.
///
/// # Errors
/// [`AppError::BadRequest`] for an unknown model; [`AppError::Unavailable`] if the embedded config
/// file does not parse (a build defect, reported rather than panicking).
#[server(endpoint = "named_configs")]
pub async fn named_configs(model: String) -> Result<Vec<NamedConfig>, AppError> {
    let model: mig::GpuModel = model.parse().map_err(|e: mig::model::UnknownModel| {
        bad_request();
        AppError::BadRequest(e.to_string())
    })?;
    // The server's catalogue: mig-parted's file, parsed and resolved for every model once at start.
    let configs = crate::backend::from_context()?
        .catalogue()
        .configs(model)
        .to_vec();
    if configs.is_empty() {
        return Err(AppError::Unavailable(format!(
            "no named MIG configs for {}: the embedded mig-parted config did not load (see the server log)",
            model.id()
        )));
    }
    Ok(configs)
}

/// Marks the HTTP response 400: the caller sent something to fix, the server is fine.
#[cfg(feature = "ssr")]
fn bad_request() {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::BAD_REQUEST);
    }
}
