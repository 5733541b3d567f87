//! Throughput of one replica on one MIG slice, from two rooflines, with what it assumes in words.
//!
//! A MIG instance owns `memory_slices / 8` of the GPU's memory bandwidth and its own SMs; nothing else is
//! shared. Decoding one step of `c` concurrent sequences reads the weights once and each sequence's KV cache,
//! and makes `c` tokens, so decode is bounded by `c × bandwidth / (weights + c × KV)`; it also needs
//! `2 × parameters` FLOPs per token, so it is bounded by the slice's compute too. Prefill is compute-bound:
//! `slice FLOPs / (2 × parameters)` tokens per second. One efficiency factor scales both (what real
//! servers reach of the peak). The slices of one GPU can never add up to more bandwidth than the GPU has,
//! which is what the OCI guide's "4 × 1g.20gb ≈ 300 %" forgets.

use serde::{Deserialize, Serialize};

use crate::model::{GpuModel, MEMORY_SLICES, ProfileSpec};
use crate::sizing::{Precision, SizingInput};

/// The efficiency factor used unless one is given: the share of the peak real inference servers reach.
pub const DEFAULT_EFFICIENCY: f64 = 0.6;

/// Which ceiling limits decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// Memory bandwidth (the usual case for LLM decode).
    MemoryBandwidth,
    /// Tensor-core compute.
    Compute,
}

/// What one replica of a model does on one slice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceThroughput {
    /// The profile.
    pub profile: String,
    /// The slice's memory bandwidth, GB/s (`memory slices / 8` of the GPU's).
    pub bandwidth_gbps: f64,
    /// The slice's dense tensor throughput at the model's precision, TFLOPS (its SM share of the GPU's).
    pub tflops: f64,
    /// Decode tokens per second across the replica's concurrent sequences.
    pub decode_tokens_per_s: f64,
    /// Prefill (prompt) tokens per second.
    pub prefill_tokens_per_s: f64,
    /// Which ceiling limits decode.
    pub bound: Bound,
}

/// Bytes read per decode step and FLOPs per token, from a sizing input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    /// Weight bytes (read once per step).
    pub weights_bytes: f64,
    /// KV cache bytes per sequence at the served context (read once per step per sequence).
    pub kv_bytes_per_sequence: f64,
    /// Sequences decoded together.
    pub concurrency: u32,
    /// FLOPs per token: 2 × parameters.
    pub flops_per_token: f64,
    /// Weight precision (FP8 runs at twice the 16-bit rate on GPUs that have it).
    pub precision: Precision,
}

impl Work {
    /// The work of serving `input` (its KV shape may be absent: then only the weights are read).
    pub fn of(input: &SizingInput) -> Self {
        let kv_precision = input.kv_precision.unwrap_or(if input.precision.bits() < 8 {
            Precision::Fp8
        } else {
            input.precision
        });
        let kv = 2.0
            * f64::from(input.layers)
            * f64::from(input.kv_heads)
            * f64::from(input.head_dim)
            * kv_precision.bytes()
            * f64::from(input.context_tokens);
        Self {
            weights_bytes: input.params_billion * 1e9 * input.precision.bytes(),
            kv_bytes_per_sequence: kv,
            concurrency: input.concurrent_sequences.max(1),
            flops_per_token: 2.0 * input.params_billion * 1e9,
            precision: input.precision,
        }
    }
}

/// The slice's dense tensor TFLOPS at `precision`.
pub fn slice_tflops(model: GpuModel, profile: &ProfileSpec, precision: Precision) -> f64 {
    let spec = model.spec();
    let rate = if precision.bits() <= 8 && spec.fp8 {
        2.0
    } else {
        1.0
    };
    f64::from(spec.dense_tflops_16bit) * rate * f64::from(profile.sm_count)
        / f64::from(spec.sm_count)
}

/// The slice's memory bandwidth, GB/s.
pub fn slice_bandwidth_gbps(model: GpuModel, profile: &ProfileSpec) -> f64 {
    f64::from(model.spec().memory_bandwidth_gbps) * f64::from(profile.memory_slices())
        / f64::from(MEMORY_SLICES)
}

/// Throughput of one replica doing `work` on one instance of `profile`, at `efficiency` of the peaks.
pub fn on_slice(
    model: GpuModel,
    profile: &ProfileSpec,
    work: &Work,
    efficiency: f64,
) -> SliceThroughput {
    let bandwidth = slice_bandwidth_gbps(model, profile);
    let tflops = slice_tflops(model, profile, work.precision);
    let c = f64::from(work.concurrency);
    let step_bytes = work.weights_bytes + c * work.kv_bytes_per_sequence;
    let by_bandwidth = if step_bytes > 0.0 {
        c * bandwidth * 1e9 / step_bytes
    } else {
        f64::INFINITY
    };
    let by_compute = if work.flops_per_token > 0.0 {
        tflops * 1e12 / work.flops_per_token
    } else {
        f64::INFINITY
    };
    let (decode, bound) = if by_bandwidth <= by_compute {
        (by_bandwidth, Bound::MemoryBandwidth)
    } else {
        (by_compute, Bound::Compute)
    };
    SliceThroughput {
        profile: profile.name.to_owned(),
        bandwidth_gbps: bandwidth,
        tflops,
        decode_tokens_per_s: efficiency * decode,
        prefill_tokens_per_s: efficiency * by_compute,
        bound,
    }
}

/// The formula and its assumptions, in words, for the answer to show.
pub fn assumptions(model: GpuModel, efficiency: f64) -> Vec<String> {
    let spec = model.spec();
    vec![
        format!(
            "decode tokens/s = {efficiency} × min(c × B_slice / (W + c × KV), F_slice / 2P): W weight bytes, KV bytes per sequence at the full context, c concurrent sequences, P parameters"
        ),
        format!(
            "B_slice = memory slices / 8 × {} GB/s ({}'s peak); no slice shares another's bandwidth, so a GPU's slices never add up to more than it has",
            spec.memory_bandwidth_gbps, spec.display_name
        ),
        format!(
            "F_slice = SMs / {} × {} dense 16-bit TFLOPS{}",
            spec.sm_count,
            spec.dense_tflops_16bit,
            if spec.fp8 {
                ", twice that at FP8/INT8"
            } else {
                " (no FP8 on this GPU)"
            }
        ),
        format!("prefill tokens/s = {efficiency} × F_slice / 2P (compute-bound)"),
        format!(
            "one efficiency factor, {efficiency}, for what a real server reaches of both peaks; measure yours and set it"
        ),
    ]
}
