//! Sizing: how much GPU memory a model needs, which MIG profiles hold it, and what throughput to expect.
//!
//! Every estimate says what it assumes ([`Estimate::assumptions`]). Two formulas are offered:
//! the OCI MIG guide's rule of thumb (`params × 4 / (32 / bits) × 1.2`), and a better one that adds the
//! KV cache for the context length and concurrency actually served.

use serde::{Deserialize, Serialize};

use crate::layout::ProfileCounts;
use crate::model::{GpuModel, MEMORY_SLICES, ProfileSpec};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// Numeric precision of weights or KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit float.
    Fp32,
    /// 16-bit float.
    Fp16,
    /// bfloat16.
    Bf16,
    /// 8-bit float.
    Fp8,
    /// 8-bit integer.
    Int8,
    /// 4-bit integer (GPTQ/AWQ style).
    Int4,
}

impl Precision {
    /// Bits per value.
    pub fn bits(self) -> u32 {
        match self {
            Self::Fp32 => 32,
            Self::Fp16 | Self::Bf16 => 16,
            Self::Fp8 | Self::Int8 => 8,
            Self::Int4 => 4,
        }
    }
    /// Bytes per value.
    pub fn bytes(self) -> f64 {
        f64::from(self.bits()) / 8.0
    }
}

/// "1 byte", "2 bytes", "0.5 bytes": a size per value, in words.
fn bytes_each(bytes: f64) -> String {
    if (bytes - 1.0).abs() < f64::EPSILON {
        "1 byte".to_owned()
    } else {
        format!("{bytes} bytes")
    }
}

/// The shape of a transformer model, enough to size its weights and KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ModelShape {
    /// Hugging Face style name.
    pub name: &'static str,
    /// Parameters, billions.
    pub params_billion: f64,
    /// Transformer layers.
    pub layers: u32,
    /// Key/value heads (fewer than attention heads with GQA/MQA).
    pub kv_heads: u32,
    /// Dimension per head.
    pub head_dim: u32,
    /// Longest context the model supports, tokens.
    pub max_context: u32,
}

/// Common models with their published shapes (from each model's `config.json`).
pub static CATALOGUE: &[ModelShape] = &[
    ModelShape {
        name: "Llama-3.2-1B",
        params_billion: 1.24,
        layers: 16,
        kv_heads: 8,
        head_dim: 64,
        max_context: 131_072,
    },
    ModelShape {
        name: "Gemma-2B",
        params_billion: 2.51,
        layers: 18,
        kv_heads: 1,
        head_dim: 256,
        max_context: 8_192,
    },
    ModelShape {
        name: "Llama-3.2-3B",
        params_billion: 3.21,
        layers: 28,
        kv_heads: 8,
        head_dim: 128,
        max_context: 131_072,
    },
    ModelShape {
        name: "Phi-3-mini-4k",
        params_billion: 3.82,
        layers: 32,
        kv_heads: 32,
        head_dim: 96,
        max_context: 4_096,
    },
    ModelShape {
        name: "Mistral-7B-v0.3",
        params_billion: 7.25,
        layers: 32,
        kv_heads: 8,
        head_dim: 128,
        max_context: 32_768,
    },
    ModelShape {
        name: "Qwen2.5-7B",
        params_billion: 7.62,
        layers: 28,
        kv_heads: 4,
        head_dim: 128,
        max_context: 131_072,
    },
    ModelShape {
        name: "Llama-3.1-8B",
        params_billion: 8.03,
        layers: 32,
        kv_heads: 8,
        head_dim: 128,
        max_context: 131_072,
    },
    ModelShape {
        name: "Gemma-2-9B",
        params_billion: 9.24,
        layers: 42,
        kv_heads: 8,
        head_dim: 256,
        max_context: 8_192,
    },
    ModelShape {
        name: "Llama-3.1-70B",
        params_billion: 70.6,
        layers: 80,
        kv_heads: 8,
        head_dim: 128,
        max_context: 131_072,
    },
];

/// Looks a catalogue model up by name, ignoring case.
pub fn catalogue_model(name: &str) -> Option<&'static ModelShape> {
    CATALOGUE
        .iter()
        .find(|m| m.name.eq_ignore_ascii_case(name.trim()))
}

/// What to size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizingInput {
    /// Parameters, billions.
    pub params_billion: f64,
    /// Weight precision.
    pub precision: Precision,
    /// Transformer layers (0: KV cache not estimated).
    #[serde(default)]
    pub layers: u32,
    /// KV heads.
    #[serde(default)]
    pub kv_heads: u32,
    /// Head dimension.
    #[serde(default)]
    pub head_dim: u32,
    /// Context length per sequence, tokens.
    #[serde(default)]
    pub context_tokens: u32,
    /// Sequences served at once.
    #[serde(default = "one")]
    pub concurrent_sequences: u32,
    /// KV cache precision (default: the weight precision, at least 8 bits).
    #[serde(default)]
    pub kv_precision: Option<Precision>,
}

fn one() -> u32 {
    1
}

impl SizingInput {
    /// Input for a catalogue model.
    pub fn for_model(
        m: &ModelShape,
        precision: Precision,
        context_tokens: u32,
        concurrent_sequences: u32,
    ) -> Self {
        Self {
            params_billion: m.params_billion,
            precision,
            layers: m.layers,
            kv_heads: m.kv_heads,
            head_dim: m.head_dim,
            context_tokens,
            concurrent_sequences,
            kv_precision: None,
        }
    }
}

/// Input that cannot be sized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "field", content = "message", rename_all = "snake_case")]
pub enum SizingError {
    /// Parameter count not a positive finite number up to 10 000 billion.
    #[error(
        "params_billion must be a number above 0 and at most 10000 (billions of parameters), e.g. 8 for an 8B model"
    )]
    Params,
    /// KV shape partially given.
    #[error(
        "to estimate the KV cache give layers, kv_heads, head_dim and context_tokens (all above 0), or none of them"
    )]
    KvShape,
    /// Absurd sizes.
    #[error(
        "layers, kv_heads, head_dim, context_tokens or concurrent_sequences is too large to be a real model (max 1024 layers, 1024 heads, 4096 head_dim, 10M tokens, 100000 sequences)"
    )]
    TooLarge,
    /// No sequences.
    #[error("concurrent_sequences must be at least 1")]
    NoSequences,
}

/// A memory estimate with its parts and assumptions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Weights, bytes.
    pub weights_bytes: u64,
    /// KV cache for the context and concurrency, bytes (0 when no shape was given).
    pub kv_cache_bytes: u64,
    /// CUDA context, runtime buffers and activations, bytes.
    pub overhead_bytes: u64,
    /// The sum: what to compare with a slice's memory.
    pub total_bytes: u64,
    /// The OCI guide's rule of thumb, bytes, for comparison.
    pub guide_formula_bytes: u64,
    /// What the numbers assume, in words.
    pub assumptions: Vec<String>,
}

impl Estimate {
    /// Total, GiB.
    pub fn total_gib(&self) -> f64 {
        self.total_bytes as f64 / GIB
    }
}

/// The OCI MIG guide's formula: `params × 4 bytes / (32 / bits) × 1.2`, in GB (10⁹ bytes).
pub fn guide_formula_gb(params_billion: f64, precision: Precision) -> f64 {
    params_billion * 4.0 / (32.0 / f64::from(precision.bits())) * 1.2
}

/// Fixed runtime overhead assumed per process (CUDA context, allocator, framework buffers).
pub const RUNTIME_OVERHEAD_BYTES: u64 = 1024 * 1024 * 1024;
/// Activation and temporary buffers, as a fraction of the weights.
pub const ACTIVATION_FRACTION: f64 = 0.10;

/// Estimates the memory a model needs when serving.
///
/// # Errors
/// [`SizingError`] naming the field to fix.
pub fn estimate(input: &SizingInput) -> Result<Estimate, SizingError> {
    if !(input.params_billion.is_finite()
        && input.params_billion > 0.0
        && input.params_billion <= 10_000.0)
    {
        return Err(SizingError::Params);
    }
    if input.concurrent_sequences == 0 {
        return Err(SizingError::NoSequences);
    }
    let shape = [
        input.layers,
        input.kv_heads,
        input.head_dim,
        input.context_tokens,
    ];
    let with_kv = shape.iter().all(|&v| v > 0);
    if !with_kv && shape.iter().any(|&v| v > 0) {
        return Err(SizingError::KvShape);
    }
    if input.layers > 1024
        || input.kv_heads > 1024
        || input.head_dim > 4096
        || input.context_tokens > 10_000_000
        || input.concurrent_sequences > 100_000
    {
        return Err(SizingError::TooLarge);
    }
    let weights = input.params_billion * 1e9 * input.precision.bytes();
    let kv_precision = input.kv_precision.unwrap_or(if input.precision.bits() < 8 {
        Precision::Fp8
    } else {
        input.precision
    });
    let kv = if with_kv {
        2.0 * f64::from(input.layers)
            * f64::from(input.kv_heads)
            * f64::from(input.head_dim)
            * kv_precision.bytes()
            * f64::from(input.context_tokens)
            * f64::from(input.concurrent_sequences)
    } else {
        0.0
    };
    let overhead = RUNTIME_OVERHEAD_BYTES as f64 + ACTIVATION_FRACTION * weights;
    let mut assumptions = vec![
        format!(
            "weights: {} B parameters × {} ({:?})",
            input.params_billion,
            bytes_each(input.precision.bytes()),
            input.precision
        ),
        format!(
            "overhead: {} GiB for the CUDA context and runtime plus {:.0}% of the weights for activations; measure your server to refine it",
            RUNTIME_OVERHEAD_BYTES as f64 / GIB,
            ACTIVATION_FRACTION * 100.0
        ),
    ];
    if with_kv {
        assumptions.push(format!(
            "KV cache: 2 × {} layers × {} KV heads × {} head dim × {} ({:?}) × {} tokens × {} sequences, all resident at once",
            input.layers,
            input.kv_heads,
            input.head_dim,
            bytes_each(kv_precision.bytes()),
            kv_precision,
            input.context_tokens,
            input.concurrent_sequences
        ));
    } else {
        assumptions.push("KV cache not estimated: give layers, kv_heads, head_dim and context_tokens to include it".to_owned());
    }
    let total = weights + kv + overhead;
    Ok(Estimate {
        weights_bytes: weights as u64,
        kv_cache_bytes: kv as u64,
        overhead_bytes: overhead as u64,
        total_bytes: total as u64,
        guide_formula_bytes: (guide_formula_gb(input.params_billion, input.precision) * 1e9).round()
            as u64,
        assumptions,
    })
}

/// What one profile offers a workload, with honest throughput fractions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileFit {
    /// Profile name.
    pub profile: &'static str,
    /// Its memory, MiB.
    pub memory_mib: u32,
    /// Whether the estimate fits in it.
    pub fits: bool,
    /// Most instances of this profile on one GPU.
    pub per_gpu: u32,
    /// Share of the full GPU's compute (SMs) this instance gets.
    pub compute_fraction: f64,
    /// Share of the full GPU's memory bandwidth this instance gets (memory slices / 8). LLM decoding
    /// is usually bandwidth-bound, so this, not compute, bounds tokens per second.
    pub bandwidth_fraction: f64,
}

/// Every profile of `model` with whether `need_bytes` fits, smallest first (by memory, then compute).
pub fn fits(model: GpuModel, need_bytes: u64) -> Vec<ProfileFit> {
    let spec = model.spec();
    let mut out: Vec<ProfileFit> = spec
        .profiles
        .iter()
        .map(|p| ProfileFit {
            profile: p.name,
            memory_mib: p.memory_mib,
            fits: f64::from(p.memory_mib) * MIB >= need_bytes as f64,
            per_gpu: u32::from(p.max_count()),
            compute_fraction: f64::from(p.sm_count) / f64::from(spec.sm_count),
            bandwidth_fraction: f64::from(p.memory_slices()) / f64::from(MEMORY_SLICES),
        })
        .collect();
    out.sort_by_key(|f| (f.memory_mib, (f.compute_fraction * 1000.0) as u32));
    out
}

/// The smallest profile of `model` that holds `need_bytes`, preferring one a GPU can hold many of
/// (so `1g.10gb`, not `1g.10gb+me`). `None` when even the whole GPU is too small.
pub fn smallest_fitting(model: GpuModel, need_bytes: u64) -> Option<&'static ProfileSpec> {
    model
        .spec()
        .profiles
        .iter()
        .filter(|p| f64::from(p.memory_mib) * MIB >= need_bytes as f64)
        .min_by_key(|p| {
            (
                p.memory_mib,
                p.compute_slices(),
                std::cmp::Reverse(p.max_count()),
            )
        })
}

/// Replica capacity of one profile: per GPU, per node, per pool, for a uniform layout of that profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capacity {
    /// Per GPU.
    pub per_gpu: u32,
    /// Per node.
    pub per_node: u32,
    /// Per pool.
    pub per_pool: u32,
}

/// How many instances of `profile` fit when every GPU is cut into as many of it as possible.
pub fn capacity(profile: &ProfileSpec, gpus_per_node: u32, nodes: u32) -> Capacity {
    let per_gpu = u32::from(profile.max_count());
    Capacity {
        per_gpu,
        per_node: per_gpu * gpus_per_node,
        per_pool: per_gpu * gpus_per_node * nodes,
    }
}

/// Aggregate throughput of a set of instances relative to one whole GPU, by the two ceilings that
/// matter: compute (SM share) and memory bandwidth (memory-slice share). The honest answer to "how
/// much more do N slices give" is the *lower* of the two for the workload's bound: for LLM decode,
/// bandwidth. Four `1g.20gb` on H100 have 4 × 2/8 = 100% of the bandwidth, not ~300%.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Aggregate {
    /// Σ SMs / GPU SMs.
    pub compute_fraction: f64,
    /// Σ memory slices / 8.
    pub bandwidth_fraction: f64,
}

/// See [`Aggregate`].
pub fn aggregate(model: GpuModel, counts: &ProfileCounts) -> Aggregate {
    let spec = model.spec();
    let (mut sms, mut slices) = (0.0, 0.0);
    for (name, &n) in &counts.0 {
        if let Some(p) = model.profile(name) {
            sms += f64::from(n) * f64::from(p.sm_count);
            slices += f64::from(n) * f64::from(p.memory_slices());
        }
    }
    Aggregate {
        compute_fraction: sms / f64::from(spec.sm_count),
        bandwidth_fraction: slices / f64::from(MEMORY_SLICES),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guides_worked_example() {
        // "((3GB * 4) / (32 / 16)) * 1.2 ~= 7.2GB" for Llama-3.2-3B at FP16.
        assert!((guide_formula_gb(3.0, Precision::Fp16) - 7.2).abs() < 1e-9);
        let e = estimate(&SizingInput {
            params_billion: 3.0,
            precision: Precision::Fp16,
            layers: 0,
            kv_heads: 0,
            head_dim: 0,
            context_tokens: 0,
            concurrent_sequences: 1,
            kv_precision: None,
        })
        .expect("valid");
        assert_eq!(e.guide_formula_bytes, 7_200_000_000);
        let p = smallest_fitting(GpuModel::H100_80GB, e.total_bytes).expect("fits");
        assert_eq!(
            p.name, "1g.10gb",
            "the guide picks all-1g.10gb for this model"
        );
        assert_eq!(
            capacity(p, 8, 1).per_node,
            56,
            "7 slices per GPU × 8 GPUs = 56"
        );
    }

    #[test]
    fn kv_cache_moves_llama_8b_to_a_bigger_slice() {
        let llama = catalogue_model("llama-3.1-8b").expect("in catalogue");
        let short =
            estimate(&SizingInput::for_model(llama, Precision::Bf16, 4096, 1)).expect("valid");
        // 2 × 32 × 8 × 128 × 2 bytes = 128 KiB per token; × 4096 tokens = 512 MiB.
        assert_eq!(short.kv_cache_bytes, 512 * 1024 * 1024);
        assert_eq!(
            smallest_fitting(GpuModel::H100_80GB, short.total_bytes)
                .expect("fits")
                .name,
            "1g.20gb"
        );
        let busy =
            estimate(&SizingInput::for_model(llama, Precision::Bf16, 8192, 16)).expect("valid");
        assert_eq!(busy.kv_cache_bytes, 16 * 1024 * 1024 * 1024);
        assert_eq!(
            smallest_fitting(GpuModel::H100_80GB, busy.total_bytes)
                .expect("fits")
                .name,
            "3g.40gb"
        );
        assert!(busy.assumptions.iter().any(|a| a.contains("16 sequences")));
        let huge = estimate(&SizingInput::for_model(
            catalogue_model("Llama-3.1-70B").expect("70B"),
            Precision::Bf16,
            8192,
            1,
        ))
        .expect("valid");
        assert_eq!(
            smallest_fitting(GpuModel::H100_80GB, huge.total_bytes),
            None
        );
    }

    #[test]
    fn bad_input_names_the_field() {
        let mut input = SizingInput::for_model(&CATALOGUE[0], Precision::Fp16, 1024, 1);
        input.params_billion = f64::NAN;
        assert_eq!(estimate(&input), Err(SizingError::Params));
        input.params_billion = 1.0;
        input.head_dim = 0;
        assert_eq!(estimate(&input), Err(SizingError::KvShape));
        input.head_dim = 64;
        input.concurrent_sequences = 0;
        assert_eq!(estimate(&input), Err(SizingError::NoSequences));
        input.concurrent_sequences = u32::MAX;
        assert_eq!(estimate(&input), Err(SizingError::TooLarge));
    }

    #[test]
    fn four_1g20gb_are_one_gpu_of_bandwidth_not_three() {
        let mut c = ProfileCounts::default();
        c.add("1g.20gb", 4);
        let a = aggregate(GpuModel::H100_80GB, &c);
        assert!((a.bandwidth_fraction - 1.0).abs() < 1e-9);
        assert!(
            a.compute_fraction < 0.8,
            "4 × 26 SMs of 132: {}",
            a.compute_fraction
        );
        let fits = fits(GpuModel::H100_80GB, 15 * 1024 * 1024 * 1024);
        assert_eq!(
            fits.iter().find(|f| f.fits).expect("one fits").profile,
            "1g.20gb"
        );
        assert!(fits.windows(2).all(|w| w[0].memory_mib <= w[1].memory_mib));
    }
}
