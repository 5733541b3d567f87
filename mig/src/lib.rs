//! `mig`: the pure domain core of migboard, shared by the browser, the server and the node agent.
//!
//! It knows NVIDIA Multi-Instance GPU rules and nothing about the world: GPU models and their profile
//! tables ([`model`]), layouts and their validation ([`layout`]), placement search and enumeration
//! ([`place`]), mig-parted named configs ([`parted`]), sizing ([`sizing`]), the apply diff ([`diff`]: the fewest steps from what a GPU has to what it should have), node shapes ([`shape`]) and
//! the slice planner's model ([`planner`]), and OCI AI Blueprints with their validation ([`blueprint`]).
//! The agent protocol is [`agent_api`] (routes and bodies) and [`agent_auth`] (signed requests).
//!
//! It deliberately has no I/O, no async, no Kubernetes and no NVML, and compiles to
//! `wasm32-unknown-unknown`, so the browser enforces exactly the rules the server and agent enforce.

pub mod agent_api;
pub mod agent_auth;
pub mod blueprint;
pub mod capacity;
pub mod custom;
pub mod diff;
pub mod layout;
pub mod model;
pub mod parted;
pub mod place;
pub mod planner;
pub mod profile;
pub mod shape;
pub mod sizing;
pub mod suggest;
pub mod time;
pub mod wire;

pub use diff::{MigMode, ObservedGpu, ProfileLabel, Step, plan};
pub use layout::{InstanceSpec, Layout, LayoutIssue, Placed, ProfileCounts};
pub use model::{GpuModel, ModelSpec, ProfileKind, ProfileSpec};
pub use custom::{CustomConfig, RawCustomConfig};
pub use parted::{DesiredMig, GpuWant, MigPartedConfig, NamedConfig};
pub use place::{Combination, PlacementError, combinations, place, place_near};
pub use planner::{NodePlan, PlanSummary, Refusal};
pub use profile::{ProfileAttribute, ProfileName, ProfileNameError};
pub use shape::{NodeShape, SHAPES};
