//! `/api/v1/gpu-models` and `/api/v1/layouts/validate`: the `mig` rules, read-only.

use axum::Json;
use axum::extract::Path;
use mig::wire::{CombinationInfo, ModelInfo};
use mig::{GpuModel, InstanceSpec, Layout, LayoutIssue};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson};

fn model(id: &str) -> Result<GpuModel, ApiError> {
    id.parse()
        .map_err(|e: mig::model::UnknownModel| ApiError::NotFound {
            message: e.to_string(),
            hint: "GET /api/v1/gpu-models lists the models".into(),
        })
}

/// `GET /api/v1/gpu-models`.
pub async fn list() -> Json<Vec<ModelInfo>> {
    Json(mig::model::MODELS.iter().map(ModelInfo::from).collect())
}

/// `GET /api/v1/gpu-models/{model}`.
pub async fn one(Path(id): Path<String>) -> Result<Json<ModelInfo>, ApiError> {
    Ok(Json(ModelInfo::from(model(&id)?.spec())))
}

/// `GET /api/v1/gpu-models/{model}/combinations`.
pub async fn combinations(Path(id): Path<String>) -> Result<Json<Vec<CombinationInfo>>, ApiError> {
    let m = model(&id)?;
    Ok(Json(
        mig::combinations(m)
            .iter()
            .map(CombinationInfo::from)
            .collect(),
    ))
}

/// Body of `POST /api/v1/layouts/validate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateLayout {
    model: String,
    instances: Vec<InstanceSpec>,
}

/// Answer of `POST /api/v1/layouts/validate`.
#[derive(Debug, Serialize)]
pub struct LayoutVerdict {
    valid: bool,
    issues: Vec<IssueBody>,
}

#[derive(Debug, Serialize)]
struct IssueBody {
    /// JSON pointer into the request.
    path: String,
    message: String,
    #[serde(flatten)]
    detail: LayoutIssue,
}

/// At most this many instances: a GPU holds 7; more is a client bug, not a layout.
const MAX_INSTANCES: usize = 64;

/// `POST /api/v1/layouts/validate`.
pub async fn validate_layout(
    ApiJson(body): ApiJson<ValidateLayout>,
) -> Result<Json<LayoutVerdict>, ApiError> {
    let m = body
        .model
        .parse::<GpuModel>()
        .map_err(|e| ApiError::Unprocessable {
            message: format!("/model: {e}"),
            hint: "GET /api/v1/gpu-models lists the models".into(),
        })?;
    if body.instances.len() > MAX_INSTANCES {
        return Err(ApiError::Unprocessable {
            message: format!(
                "/instances: {} instances sent; a GPU holds at most 7 and this endpoint takes at most {MAX_INSTANCES}",
                body.instances.len()
            ),
            hint: "send the instances of one GPU".into(),
        });
    }
    let issues = match Layout::new(m, &body.instances) {
        Ok(_) => Vec::new(),
        Err(issues) => issues
            .into_iter()
            .map(|issue| {
                let path = match &issue {
                    LayoutIssue::UnknownProfile { index, .. } => {
                        format!("/instances/{index}/profile")
                    }
                    LayoutIssue::StartNotAllowed { index, .. } => {
                        format!("/instances/{index}/start")
                    }
                    LayoutIssue::Overlap { second, .. } => format!("/instances/{second}/start"),
                    LayoutIssue::CountAboveMax { .. } | LayoutIssue::ComputeExceeded { .. } => {
                        "/instances".to_owned()
                    }
                };
                IssueBody {
                    path,
                    message: issue.to_string(),
                    detail: issue,
                }
            })
            .collect(),
    };
    Ok(Json(LayoutVerdict {
        valid: issues.is_empty(),
        issues,
    }))
}
