//! `mig`: the pure domain core of migboard, shared by the browser, the server and the node agent.
//!
//! It knows NVIDIA Multi-Instance GPU rules (GPU models, instance profiles, placements, named configs)
//! and nothing about the world: no I/O, no async, no Kubernetes, no NVML. It compiles to
//! `wasm32-unknown-unknown` so the browser enforces exactly the rules the server and agent enforce.

pub mod profile;

pub use profile::{ProfileName, ProfileNameError};
