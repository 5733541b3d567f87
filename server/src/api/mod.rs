//! The REST API under `/api/v1`: JSON in, JSON out, every client error a 4xx with a body that says
//! what is wrong, where, and how to fix it. Handlers are thin: parse, call `mig`, shape the answer.

mod accounts;
mod blueprints;
mod deployments;
mod fleet;
mod models;
pub mod openapi;

pub use deployments::rfc3339;
mod sizing;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use crate::AppState;

/// Routes of `/api/v1`, relative to it (the caller nests them).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/gpu-models", get(models::list))
        .route("/gpu-models/{model}", get(models::one))
        .route(
            "/gpu-models/{model}/combinations",
            get(models::combinations),
        )
        .route("/layouts/validate", post(models::validate_layout))
        .route("/sizing", post(sizing::size))
        .route("/fleet", get(fleet::fleet))
        .route("/blueprints/schema", get(blueprints::schema))
        .route(
            "/blueprints/validate",
            post(blueprints::validate).layer(DefaultBodyLimit::max(mig::blueprint::MAX_BYTES)),
        )
        .route(
            "/deployments",
            get(deployments::list)
                .post(deployments::create)
                .layer(DefaultBodyLimit::max(mig::blueprint::MAX_BYTES)),
        )
        .route("/deployments/{id}", get(deployments::one))
        .route("/deployments/{id}/undeploy", post(deployments::undeploy))
        .route("/deployments/{id}/logs", get(deployments::logs))
        .route("/deployments/{id}/events", get(deployments::events))
        .route(
            "/deployments/{id}/shares",
            get(deployments::shares).post(deployments::create_share),
        )
        .route("/shares/{share}/revoke", post(deployments::revoke_share))
        .route("/share/{token}", get(deployments::shared))
        .route("/share/{token}/events", get(deployments::shared_events))
        .route("/events", get(deployments::all_events))
        .route("/nodes/{node}", get(deployments::node))
        .route("/nodes/{node}/charts/{chart}", get(deployments::chart))
        .route("/openapi.json", get(openapi::document))
        .route("/login", post(accounts::login))
        .route("/me", get(accounts::me))
        .route(
            "/tokens",
            get(accounts::tokens).post(accounts::create_token),
        )
        .route("/tokens/{id}/revoke", post(accounts::revoke_token))
        .route("/users", get(accounts::users).post(accounts::create_user))
        .route("/users/{id}", axum::routing::patch(accounts::update_user))
        .route("/audit", get(accounts::audit))
        .fallback(not_found)
}

/// The signed-in caller the authentication middleware attached (every route that changes something
/// takes it, for the audit log). Missing only if the policy let an anonymous request through to a
/// route that needs a user: then the request is refused, not served anonymously.
#[derive(Debug, Clone)]
pub struct Signed(pub mig::wire::Caller);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Signed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<mig::wire::Caller>()
            .cloned()
            .map(Self)
            .ok_or_else(|| ApiError::Unauthorized {
                message: "sign in first".into(),
                hint: "send `Authorization: Bearer <token>` (POST /api/v1/login gives one)".into(),
            })
    }
}

/// An API error: status, stable code, message and hint.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON (syntax) or not sent as JSON.
    #[error("{message}")]
    BadRequest {
        /// What is wrong.
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// JSON of the wrong shape, or values the domain rejects.
    #[error("{message}")]
    Unprocessable {
        /// What is wrong, and where.
        message: String,
        /// How to fix it.
        hint: String,
    },
    /// The body is larger than the route accepts.
    #[error("{message}")]
    TooLarge {
        /// How large is too large.
        message: String,
        /// What to send instead.
        hint: String,
    },
    /// The request conflicts with the resource's state.
    #[error("{message}")]
    Conflict {
        /// What is in the way.
        message: String,
        /// What to do.
        hint: String,
    },
    /// A dependency (the database) failed.
    #[error("{message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// What to do.
        hint: String,
    },
    /// The resource existed and is gone for good (an expired or revoked share link).
    #[error("{message}")]
    Gone {
        /// Why.
        message: String,
        /// What to do.
        hint: String,
    },
    /// Nobody is signed in.
    #[error("{message}")]
    Unauthorized {
        /// What is missing.
        message: String,
        /// How to sign in.
        hint: String,
    },
    /// The caller may not do this.
    #[error("{message}")]
    Forbidden {
        /// Why not.
        message: String,
        /// Who may.
        hint: String,
    },
    /// Too many attempts.
    #[error("{message}")]
    TooMany {
        /// What.
        message: String,
        /// When to try again.
        hint: String,
    },
    /// No such resource.
    #[error("{message}")]
    NotFound {
        /// What was not found.
        message: String,
        /// Where to look instead.
        hint: String,
    },
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
    hint: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message, hint) = match &self {
            Self::BadRequest { message, hint } => {
                (StatusCode::BAD_REQUEST, "bad_request", message, hint)
            }
            Self::Unprocessable { message, hint } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unprocessable",
                message,
                hint,
            ),
            Self::NotFound { message, hint } => (StatusCode::NOT_FOUND, "not_found", message, hint),
            Self::Conflict { message, hint } => (StatusCode::CONFLICT, "conflict", message, hint),
            Self::Unauthorized { message, hint } => {
                (StatusCode::UNAUTHORIZED, "unauthorized", message, hint)
            }
            Self::Forbidden { message, hint } => {
                (StatusCode::FORBIDDEN, "forbidden", message, hint)
            }
            Self::TooMany { message, hint } => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                message,
                hint,
            ),
            Self::Gone { message, hint } => (StatusCode::GONE, "gone", message, hint),
            Self::Unavailable { message, hint } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                message,
                hint,
            ),
            Self::TooLarge { message, hint } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large", message, hint)
            }
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                hint,
            },
        };
        (status, axum::Json(body)).into_response()
    }
}

async fn not_found(axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> ApiError {
    ApiError::NotFound {
        message: format!("no API route at {}", uri.path()),
        hint: "the API lives under /api/v1; GET /api/v1/openapi.json lists every route".into(),
    }
}

/// `axum::Json`, but its rejections become [`ApiError`]s with a JSON body.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::Unprocessable {
                message: e.body_text().replace(
                    "Failed to deserialize the JSON body into the target type: ",
                    "",
                ),
                hint: "check the field named in the message against the API description".into(),
            }),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::BadRequest {
                message: e.body_text().replace(
                    "Failed to parse the request body as JSON: ",
                    "the body is not valid JSON: ",
                ),
                hint: "send a JSON document; the position above points at the first error".into(),
            }),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::BadRequest {
                message: "the request has no `Content-Type: application/json` header".into(),
                hint: "send the body as JSON with that header".into(),
            }),
            Err(other) => Err(ApiError::BadRequest {
                message: other.body_text(),
                hint: "send a JSON body".into(),
            }),
        }
    }
}
