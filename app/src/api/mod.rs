//! Server functions, one file per resource. Each is thin: parse with `mig`, call the backend, map the error.

pub mod accounts;
pub mod blueprints;
pub mod capacity;
pub mod configs;
pub mod deployments;
pub mod embeds;
pub mod fleet;
pub mod plan;
pub mod status;
