//! The REST API under `/api/v1`: JSON in, JSON out, every client error a 4xx with a body that says
//! what is wrong, where, and how to fix it. Handlers are thin: parse, call `mig`, shape the answer.

mod accounts;
mod blueprints;
mod configs;
mod deployments;
mod embeds;
mod fleet;
mod models;
pub mod openapi;
pub mod plans;

mod sizing;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::routing::{get, post};

use crate::AppState;
pub use crate::error::ApiError;

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
        .route("/fleet/summary", get(fleet::summary))
        .route("/fleet/nodes", get(fleet::nodes))
        .route("/fleet-plans", post(plans::create))
        .route("/fleet-plans/apply", post(plans::apply))
        .route("/mig-configs", get(configs::list).post(configs::create))
        .route("/mig-configs/import", post(configs::import))
        .route(
            "/mig-configs/{name}",
            get(configs::one)
                .put(configs::update)
                .delete(configs::delete),
        )
        .route("/mig-configs/{name}/versions", get(configs::versions))
        .route("/mig-configs/{name}/mig-parted", get(configs::mig_parted))
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
        .route("/deployments/{id}/resume", post(deployments::resume))
        .route("/deployments/{id}/previous", get(deployments::previous))
        .route("/deployments/{id}/revert", post(deployments::revert))
        .route("/deployments/{id}/logs", get(deployments::logs))
        .route("/deployments/{id}/events", get(deployments::events))
        .route(
            "/deployments/{id}/shares",
            get(deployments::shares).post(deployments::create_share),
        )
        .route("/shares/{share}/revoke", post(deployments::revoke_share))
        .route("/share/{token}", get(deployments::shared))
        .route("/share/{token}/events", get(deployments::shared_events))
        .route("/embeds", get(embeds::list).post(embeds::create))
        .route("/embeds/{id}/revoke", post(embeds::revoke))
        .route("/embed/{token}", get(embeds::view))
        .route("/embed/{token}/events", get(embeds::events))
        .route("/events", get(deployments::all_events))
        .route("/nodes/{node}", get(deployments::node))
        .route("/nodes/{node}/charts/{chart}", get(deployments::chart))
        .route("/openapi.json", get(openapi::document))
        .route("/login", post(accounts::login))
        .route("/me", get(accounts::me))
        .route("/me/password", post(accounts::change_password))
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
