//! `POST /api/v1/sizing`: memory estimate → profiles that fit → capacity per GPU, node and pool.

use axum::Json;
use mig::GpuModel;
use mig::sizing::{
    Capacity, Estimate, Precision, ProfileFit, SizingInput, capacity, catalogue_model, estimate,
    fits, smallest_fitting,
};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson};

/// Body of `POST /api/v1/sizing`: a catalogue model by name, or explicit parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizingRequest {
    /// GPU model id (default `h100-80gb`).
    #[serde(default)]
    gpu_model: Option<String>,
    /// A catalogue model name (`Llama-3.1-8B`); its shape fills `params_billion` and the KV fields.
    #[serde(default)]
    catalogue_model: Option<String>,
    /// Weight precision (default fp16).
    #[serde(default)]
    precision: Option<Precision>,
    #[serde(default)]
    params_billion: Option<f64>,
    #[serde(default)]
    layers: u32,
    #[serde(default)]
    kv_heads: u32,
    #[serde(default)]
    head_dim: u32,
    #[serde(default)]
    context_tokens: Option<u32>,
    #[serde(default)]
    concurrent_sequences: Option<u32>,
    #[serde(default)]
    kv_precision: Option<Precision>,
    /// GPUs per node (default 8, as BM.GPU.H100.8).
    #[serde(default)]
    gpus_per_node: Option<u32>,
    /// Nodes in the pool (default 1).
    #[serde(default)]
    nodes: Option<u32>,
}

/// Answer of `POST /api/v1/sizing`.
#[derive(Debug, Serialize)]
pub struct SizingAnswer {
    gpu_model: GpuModel,
    estimate: Estimate,
    /// The smallest profile that holds the estimate, or null when even the whole GPU is too small.
    smallest_profile: Option<&'static str>,
    capacity: Option<Capacity>,
    profiles: Vec<ProfileFit>,
}

/// `POST /api/v1/sizing`.
pub async fn size(ApiJson(req): ApiJson<SizingRequest>) -> Result<Json<SizingAnswer>, ApiError> {
    let unprocessable = |message: String, hint: &str| ApiError::Unprocessable {
        message,
        hint: hint.to_owned(),
    };
    let gpu_model = match &req.gpu_model {
        None => GpuModel::H100_80GB,
        Some(id) => id.parse().map_err(|e: mig::model::UnknownModel| {
            unprocessable(
                format!("/gpu_model: {e}"),
                "GET /api/v1/gpu-models lists them",
            )
        })?,
    };
    let precision = req.precision.unwrap_or(Precision::Fp16);
    let input = match &req.catalogue_model {
        Some(name) => {
            let shape = catalogue_model(name).ok_or_else(|| {
                let names: Vec<&str> = mig::sizing::CATALOGUE.iter().map(|m| m.name).collect();
                let suggestion = mig::suggest::closest(name, names.iter().copied())
                    .map(|s| format!(" Did you mean `{s}`?"))
                    .unwrap_or_default();
                unprocessable(
                    format!("/catalogue_model: `{name}` is not in the catalogue.{suggestion}"),
                    &format!("known models: {}; or give params_billion", names.join(", ")),
                )
            })?;
            let mut input = SizingInput::for_model(
                shape,
                precision,
                req.context_tokens.unwrap_or(4096),
                req.concurrent_sequences.unwrap_or(1),
            );
            input.kv_precision = req.kv_precision;
            input
        }
        None => SizingInput {
            params_billion: req.params_billion.ok_or_else(|| {
                unprocessable(
                    "/params_billion: missing".into(),
                    "give params_billion (e.g. 8 for an 8B model) or catalogue_model",
                )
            })?,
            precision,
            layers: req.layers,
            kv_heads: req.kv_heads,
            head_dim: req.head_dim,
            context_tokens: req.context_tokens.unwrap_or(0),
            concurrent_sequences: req.concurrent_sequences.unwrap_or(1),
            kv_precision: req.kv_precision,
        },
    };
    let gpus_per_node = req.gpus_per_node.unwrap_or(8);
    let nodes = req.nodes.unwrap_or(1);
    if !(1..=64).contains(&gpus_per_node) || !(1..=10_000).contains(&nodes) {
        return Err(unprocessable(
            "/gpus_per_node or /nodes out of range".into(),
            "gpus_per_node is 1..=64, nodes is 1..=10000",
        ));
    }
    let estimate = estimate(&input)
        .map_err(|e| unprocessable(e.to_string(), "fix the field named in the message"))?;
    let smallest = smallest_fitting(gpu_model, estimate.total_bytes);
    Ok(Json(SizingAnswer {
        gpu_model,
        smallest_profile: smallest.map(|p| p.name),
        capacity: smallest.map(|p| capacity(p, gpus_per_node, nodes)),
        profiles: fits(gpu_model, estimate.total_bytes),
        estimate,
    }))
}
