//! Custom MIG configs from the planner: save the plan as a config (a new version when the name
//! exists).

use leptos::prelude::*;
use mig::blueprint::Issue;
use mig::custom::MigConfigInfo;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// What saving a config did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Saved {
    /// Stored: version 1 of a new name, or the next version of an existing one.
    Saved(MigConfigInfo),
    /// Not stored: every issue, at its JSON pointer.
    Invalid(Vec<Issue>),
}

/// Saves `config` (a [`mig::RawCustomConfig`] as JSON): created, or a new version of the custom
/// config of that name.
///
/// # Errors
/// [`AppError::BadRequest`] when the JSON is not a config; [`AppError::Unavailable`] when the
/// database fails.
#[server(endpoint = "save_config")]
pub async fn save_config(config: String) -> Result<Saved, AppError> {
    let raw: mig::RawCustomConfig = serde_json::from_str(&config)
        .map_err(|e| AppError::BadRequest(format!("not a MIG config: {e}")))?;
    crate::backend::from_context()?
        .save_config(&crate::backend::caller()?, raw)
        .await
}
