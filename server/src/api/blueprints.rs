//! `/api/v1/blueprints`: the blueprint JSON Schema and validation against the current fleet.

use std::sync::LazyLock;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use mig::blueprint::MAX_BYTES;

use super::ApiError;
use crate::AppState;

/// `GET /api/v1/blueprints/schema`: JSON Schema (2020-12) of a recipe, generated from `mig`'s types.
pub async fn schema() -> Json<serde_json::Value> {
    static SCHEMA: LazyLock<serde_json::Value> = LazyLock::new(mig::blueprint::schema::json_schema);
    Json(SCHEMA.clone())
}

/// `POST /api/v1/blueprints/validate`: the body is blueprint JSON (any content type). 200 with every
/// issue for any JSON document; 400 (same body shape) when the body is not JSON at all; 413 over
/// 1 MiB.
pub async fn validate(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let text = blueprint_text(body)?;
    let validation = state.orchestrator().validate(&text).await.map_err(|e| {
        tracing::error!(error = %e, "validating a blueprint");
        ApiError::Unavailable {
            message: format!("the database failed: {e}"),
            hint: "try again; if it persists, check the server's log and its DATABASE_URL".into(),
        }
    })?;
    let unparsable = validation
        .issues
        .iter()
        .any(|i| matches!(i.code.as_str(), "syntax" | "too_deep" | "too_large"));
    let status = if unparsable {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok((status, Json(validation)).into_response())
}

/// A request body holding a blueprint, as text: 413 over [`MAX_BYTES`], 400 when unreadable or not
/// UTF-8.
///
/// # Errors
/// The [`ApiError`] to answer with.
pub fn blueprint_text(body: Result<Bytes, BytesRejection>) -> Result<String, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::BadRequest {
                message: format!("the request body could not be read: {}", e.body_text()),
                hint: "send the blueprint JSON as the request body".into(),
            }
        }
    })?;
    String::from_utf8(body.to_vec()).map_err(|e| ApiError::BadRequest {
        message: format!(
            "the body is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
        hint: "send the blueprint as UTF-8 JSON".into(),
    })
}

/// The answer for a body over [`MAX_BYTES`].
pub fn too_large() -> ApiError {
    ApiError::TooLarge {
        message: format!("the body is over {MAX_BYTES} bytes (1 MiB)"),
        hint: "a blueprint is a few kilobytes; send one recipe, not a bundle".into(),
    }
}
