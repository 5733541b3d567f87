//! Blueprint validation for the editor: the catalogue of named configs (so the browser can check
//! config names as the user types) and the server's check against the current fleet.

use leptos::prelude::*;
use mig::blueprint::Catalogue;
use mig::wire::Validation;

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

/// Checks `text` with every rule, the fleet-aware ones included, exactly as deploying it would.
///
/// # Errors
/// [`AppError::BadRequest`] over 1 MiB; [`AppError::Unavailable`] without a backend.
#[server(endpoint = "validate_blueprint")]
pub async fn validate_blueprint(text: String) -> Result<Validation, AppError> {
    if text.len() > mig::blueprint::MAX_BYTES {
        return Err(AppError::BadRequest(format!(
            "the blueprint is {} bytes; the limit is 1 MiB",
            text.len()
        )));
    }
    crate::backend::from_context()?.validate(text).await
}
