//! [`ApiError`]: every error the HTTP surface answers with, as `{"error": {"code", "message",
//! "hint"}}` and the status its kind means. The REST API, the authentication middleware and the
//! sign-in form all answer through it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

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
    /// A dependency (the database) failed. The message is logged, never sent: the client gets the
    /// request id ([`crate::request_id`]).
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
    /// The server failed in a way the client cannot fix. The message is logged, never sent: the
    /// client gets the request id ([`crate::request_id`]).
    #[error("{message}")]
    Internal {
        /// What failed, without internals.
        message: String,
        /// Usually empty: there is nothing the client can do but retry later.
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
        let scrubbed: (String, String);
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
            // What failed inside stays in the log (under the request id the client gets).
            Self::Unavailable { message, .. } | Self::Internal { message, .. } => {
                let (status, code, what) = if matches!(self, Self::Unavailable { .. }) {
                    (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "a dependency failed")
                } else {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server failed")
                };
                scrubbed = (
                    crate::request_id::internal(what, message),
                    crate::request_id::hint(),
                );
                (status, code, &scrubbed.0, &scrubbed.1)
            }
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
