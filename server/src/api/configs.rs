//! `/api/v1/mig-configs`: NVIDIA's built-in MIG configs and the custom ones operators make, with
//! exact placements, versions and mig-parted export and import.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use mig::GpuModel;
use mig::custom::RawCustomConfig;
use serde::Deserialize;

use super::{ApiError, ApiJson, Signed};
use crate::AppState;
use crate::audit::Actor;
use crate::configs::ConfigError;

/// Query of the list and of a built-in's read: `?model=h100-80gb`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelQuery {
    model: Option<String>,
}

fn model(q: Option<&str>) -> Result<Option<GpuModel>, ApiError> {
    q.map(|m| {
        m.parse::<GpuModel>().map_err(|e| ApiError::Unprocessable {
            message: format!("?model: {e}"),
            hint: "GET /api/v1/gpu-models lists the model ids".into(),
        })
    })
    .transpose()
}

fn error(e: ConfigError) -> Response {
    let hint = |s: &str| s.to_owned();
    match e {
        ConfigError::Invalid(issues) => {
            let first = issues.first();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({
                    "error": {
                        "code": "invalid_mig_config",
                        "message": format!("the MIG config has {} error(s){}", issues.len(), first.map(|i| format!("; first at {}: {}", i.path, i.message)).unwrap_or_default()),
                        "hint": first.map_or_else(|| "fix the issues listed".to_owned(), |i| i.hint.clone()),
                    },
                    "issues": issues,
                })),
            )
                .into_response()
        }
        ConfigError::NotFound(_) => ApiError::NotFound {
            message: e.to_string(),
            hint: hint("GET /api/v1/mig-configs lists them"),
        }
        .into_response(),
        ConfigError::Exists(ref name) => ApiError::Conflict {
            message: e.to_string(),
            hint: format!("change it with PUT /api/v1/mig-configs/{name}, or choose another name"),
        }
        .into_response(),
        ConfigError::Builtin(_) => ApiError::Conflict {
            message: e.to_string(),
            hint: hint("make a custom config with another name (POST /api/v1/mig-configs)"),
        }
        .into_response(),
        ConfigError::InUse { .. } => ApiError::Conflict {
            message: e.to_string(),
            hint: hint("apply another config to those nodes, or wait for those deployments to finish, then delete it"),
        }
        .into_response(),
        ConfigError::BadRequest(message) => ApiError::Unprocessable {
            message,
            hint: hint("see GET /api/v1/openapi.json for the request's shape"),
        }
        .into_response(),
        ConfigError::Store(e) => {
            tracing::error!(error = %e, "MIG configs API");
            ApiError::Unavailable {
                message: format!("the database failed: {e}"),
                hint: "try again; if it persists, check the server's log and its DATABASE_URL"
                    .into(),
            }
            .into_response()
        }
    }
}

/// `GET /api/v1/mig-configs[?model=]`: built-in and custom configs, each with its `source`.
pub async fn list(State(state): State<AppState>, Query(q): Query<ModelQuery>) -> Response {
    let model = match model(q.model.as_deref()) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    match state.configs().list(model).await {
        Ok(all) => Json(all).into_response(),
        Err(e) => error(e),
    }
}

/// `POST /api/v1/mig-configs`: 201 with the stored config (version 1); 422 with the issues at
/// their pointers; 409 when the name exists.
pub async fn create(
    State(state): State<AppState>,
    Signed(caller): Signed,
    ApiJson(raw): ApiJson<RawCustomConfig>,
) -> Response {
    match state.configs().create(raw, &Actor::of(&caller)).await {
        Ok(c) => (
            StatusCode::CREATED,
            [(header::LOCATION, format!("/api/v1/mig-configs/{}", c.name))],
            Json(c),
        )
            .into_response(),
        Err(e) => error(e),
    }
}

/// `GET /api/v1/mig-configs/{name}[?model=]` (a built-in needs the model).
pub async fn one(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<ModelQuery>,
) -> Response {
    let model = match model(q.model.as_deref()) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    match state.configs().get(&name, model).await {
        Ok(c) => Json(c).into_response(),
        Err(e) => error(e),
    }
}

/// `PUT /api/v1/mig-configs/{name}`: a new version.
pub async fn update(
    State(state): State<AppState>,
    Signed(caller): Signed,
    Path(name): Path<String>,
    ApiJson(raw): ApiJson<RawCustomConfig>,
) -> Response {
    match state
        .configs()
        .update(&name, raw, &Actor::of(&caller))
        .await
    {
        Ok(c) => Json(c).into_response(),
        Err(e) => error(e),
    }
}

/// `DELETE /api/v1/mig-configs/{name}`: 204; 409 naming the nodes and deployments using it.
pub async fn delete(
    State(state): State<AppState>,
    Signed(caller): Signed,
    Path(name): Path<String>,
) -> Response {
    match state.configs().delete(&name, &Actor::of(&caller)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}

/// `GET /api/v1/mig-configs/{name}/versions`: every version, newest first.
pub async fn versions(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.configs().versions(&name).await {
        Ok(all) => Json(all).into_response(),
        Err(e) => error(e),
    }
}

/// `GET /api/v1/mig-configs/{name}/mig-parted`: a mig-parted `version: v1` YAML file.
pub async fn mig_parted(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match state.configs().mig_parted(&name).await {
        Ok(yaml) => (
            [
                (
                    header::CONTENT_TYPE,
                    "application/yaml; charset=utf-8".to_owned(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.yaml\""),
                ),
            ],
            yaml,
        )
            .into_response(),
        Err(e) => error(e),
    }
}

/// Body of `POST /api/v1/mig-configs/import`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Import {
    /// The GPU model the configs are for.
    model: String,
    /// The mig-parted file's text.
    yaml: String,
}

/// `POST /api/v1/mig-configs/import` (`{"model", "yaml"}`): 201 with `created` and `skipped`.
pub async fn import(
    State(state): State<AppState>,
    Signed(caller): Signed,
    ApiJson(body): ApiJson<Import>,
) -> Response {
    let model = match body.model.parse::<GpuModel>() {
        Ok(m) => m,
        Err(e) => {
            return ApiError::Unprocessable {
                message: format!("/model: {e}"),
                hint: "GET /api/v1/gpu-models lists the model ids".into(),
            }
            .into_response();
        }
    };
    match state
        .configs()
        .import(&body.yaml, model, &Actor::of(&caller))
        .await
    {
        Ok((created, skipped)) => (
            StatusCode::CREATED,
            Json(serde_json::json!({
                "created": created,
                "skipped": skipped.into_iter().map(|(name, reason)| serde_json::json!({"name": name, "reason": reason})).collect::<Vec<_>>(),
            })),
        )
            .into_response(),
        Err(e) => error(e),
    }
}
