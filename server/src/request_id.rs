//! Request ids: every response carries `X-Request-Id`, and an internal failure answers with that id
//! and nothing of its cause. The cause (a database error's text, a panic's message) goes to the log
//! under the same id, so an administrator finds it and a client learns nothing of the internals.

use std::fmt::Display;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The response header naming the request.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static CURRENT: String;
}

/// A new id: 16 random hex digits.
fn fresh() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: the time still tells requests apart in the log.
        return format!("{:016x}", crate::store::now_ms());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id of the request being served (`-` outside of one, e.g. in a background task).
pub fn current() -> String {
    CURRENT
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_owned())
}

/// Gives every request an id, for the handlers ([`current`]) and the client (`X-Request-Id`).
pub async fn assign(request: Request, next: Next) -> Response {
    let id = fresh();
    let mut response = CURRENT.scope(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// Logs an internal failure (`what` failed because of `cause`) under the current request's id, and
/// returns what the client may read: that it failed, and the id to quote, never the cause.
pub fn internal(what: &str, cause: &dyn Display) -> String {
    let id = current();
    tracing::error!(request_id = %id, error = %cause, "{what}");
    format!("the server could not do this (request {id}); its log says why")
}

/// The hint that goes with [`internal`].
pub fn hint() -> String {
    format!(
        "try again in a moment; if it keeps failing, give your administrator the request id {}",
        current()
    )
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;
    use http_body_util::BodyExt;

    use super::*;
    use crate::error::ApiError;

    #[tokio::test]
    async fn an_internal_failure_answers_with_the_request_id_and_not_its_cause() {
        let cause = "error returned from database: password authentication failed for user \"migboard\" at 10.0.0.5:5432";
        for error in [
            ApiError::Unavailable {
                message: format!("the database failed: {cause}"),
                hint: "check DATABASE_URL".into(),
            },
            ApiError::Internal {
                message: cause.into(),
                hint: String::new(),
            },
        ] {
            let response = CURRENT
                .scope("0123456789abcdef".into(), async move { error.into_response() })
                .await;
            assert!(response.status().is_server_error());
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let text = String::from_utf8_lossy(&body);
            for secret in ["password", "10.0.0.5", "migboard", "DATABASE_URL", "database"] {
                assert!(!text.contains(secret), "{secret} reached the client: {text}");
            }
            assert!(text.contains("request 0123456789abcdef"), "{text}");
        }
        // Outside a request (a background task) there is no id to give.
        assert_eq!(current(), "-");
        assert_eq!(fresh().len(), 16);
        assert_ne!(fresh(), fresh());
    }
}
