//! Server status shown on the home page.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What the server reports about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    /// migboard version (`CARGO_PKG_VERSION` of the server).
    pub version: String,
    /// Which cluster backend serves the fleet (e.g. `embedded`).
    pub backend: String,
    /// Seconds since the server process started.
    pub uptime_secs: u64,
    /// Wall-clock time of this answer, milliseconds since the Unix epoch.
    pub now_unix_ms: u64,
    /// How many status answers this server process has given, this one included.
    pub sequence: u64,
}

/// Returns the server's status.
///
/// # Errors
/// [`AppError::Unavailable`] when the server did not provide a backend (a wiring bug, reported
/// instead of panicking); [`AppError::Transport`] when the request fails on the way.
#[server(endpoint = "status")]
pub async fn get_status() -> Result<ServerStatus, AppError> {
    let backend = crate::backend::from_context()?;
    Ok(backend.status())
}
