//! The fleet planner's "Apply to the fleet": the plan carried out on the live fleet by the server
//! (one custom config and one update deployment per node that changes).

use leptos::prelude::*;
use mig::capacity::apply::ApplyOutcome;

use crate::error::AppError;

/// Plans `request` (a [`mig::capacity::apply::ApplyRequest`] as JSON) against the live fleet and carries it out.
///
/// # Errors
/// [`AppError::BadRequest`] when the JSON is not a request or the request has issues (the first is
/// named); [`AppError::Unavailable`] when the database or the planner fails.
#[server(endpoint = "apply_fleet_plan")]
pub async fn apply_fleet_plan(request: String) -> Result<ApplyOutcome, AppError> {
    let req: mig::capacity::apply::ApplyRequest = serde_json::from_str(&request)
        .map_err(|e| AppError::BadRequest(format!("not a fleet plan to apply: {e}")))?;
    crate::backend::from_context()?
        .apply_plan(&crate::backend::caller()?, req)
        .await
}
