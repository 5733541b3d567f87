//! The error type that crosses the server-function boundary with its variants intact.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

/// An error a server function returns to the browser. Serializable, so the UI can match on the
/// variant instead of parsing a string. Shown, a request's own fault (bad request, not found, gone,
/// conflict) is its message alone, which says what and how to fix it: no "bad request:" in front of
/// what people read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// The server is running but a dependency it needs is not available yet.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The request is wrong; the message says what and how to fix it.
    #[error("{0}")]
    BadRequest(String),
    /// What was asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// It existed and is gone for good (an expired or revoked share link); the message says why.
    #[error("{0}")]
    Gone(String),
    /// The request conflicts with the current state; the message says what is in the way.
    #[error("{0}")]
    Conflict(String),
    /// Nobody is signed in; the message says how to.
    #[error("not signed in: {0}")]
    Unauthorized(String),
    /// The signed-in user's role does not allow this; the message says which role would.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The request could not be carried to or from the server (network, encoding).
    #[error("request failed: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Transport(value.to_string())
    }
}
