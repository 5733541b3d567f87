//! Node shapes: how many GPUs of which model a machine carries, named as OCI names its bare-metal
//! GPU shapes (`BM.GPU.H100.8` = 8 × H100 80GB). Data only.

use serde::Serialize;

use crate::model::GpuModel;

/// The most GPUs a custom node may have in a plan (the largest shapes carry 8; HGX-style 16-GPU
/// systems exist, more do not).
pub const MAX_GPUS_PER_NODE: u32 = 16;

/// The most nodes a pool may have in a plan.
pub const MAX_POOL_NODES: u32 = 1000;

/// A machine shape: a name, its GPU model and how many GPUs it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NodeShape {
    /// OCI's shape name, such as `BM.GPU.H100.8`.
    pub name: &'static str,
    /// The GPU model on it.
    pub model: GpuModel,
    /// GPUs per node.
    pub gpus: u32,
}

/// OCI's bare-metal shapes with MIG-capable GPUs, H100 first.
pub static SHAPES: &[NodeShape] = &[
    NodeShape {
        name: "BM.GPU.H100.8",
        model: GpuModel::H100_80GB,
        gpus: 8,
    },
    NodeShape {
        name: "BM.GPU.H200.8",
        model: GpuModel::H200_141GB,
        gpus: 8,
    },
    NodeShape {
        name: "BM.GPU.B200.8",
        model: GpuModel::B200_180GB,
        gpus: 8,
    },
    NodeShape {
        name: "BM.GPU.A100-v2.8",
        model: GpuModel::A100_80GB,
        gpus: 8,
    },
    NodeShape {
        name: "BM.GPU4.8",
        model: GpuModel::A100_40GB,
        gpus: 8,
    },
];

/// The shape called `name`, ignoring case.
pub fn shape(name: &str) -> Option<&'static NodeShape> {
    SHAPES
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
}

/// The shapes that carry `model`.
pub fn shapes_for(model: GpuModel) -> impl Iterator<Item = &'static NodeShape> {
    SHAPES.iter().filter(move |s| s.model == model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_is_findable_and_sane() {
        for s in SHAPES {
            assert_eq!(shape(&s.name.to_lowercase()), Some(s));
            assert!((1..=MAX_GPUS_PER_NODE).contains(&s.gpus), "{}", s.name);
        }
        assert_eq!(
            shape("BM.GPU.H100.8").map(|s| (s.model, s.gpus)),
            Some((GpuModel::H100_80GB, 8))
        );
        assert_eq!(
            shapes_for(GpuModel::H100Nvl94GB).count(),
            0,
            "no OCI shape carries H100 NVL"
        );
        assert!(shape("BM.GPU.H100.9").is_none());
    }
}
