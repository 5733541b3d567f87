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

/// An OCI GPU shape whose GPUs have no MIG (or are not NVIDIA's): known so a blueprint's GPU count
/// can be checked against it and a MIG request on it refused with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OtherGpuShape {
    /// OCI's shape name.
    pub name: &'static str,
    /// The GPU, as people name it (`A10`).
    pub gpu: &'static str,
    /// GPUs per node.
    pub gpus: u32,
    /// `true` for AMD GPUs (requested with `recipe_amd_gpu_count`).
    pub amd: bool,
}

/// OCI GPU shapes without MIG: A10, L40S, V100, P100 (NVIDIA) and MI300X (AMD).
pub static OTHER_GPU_SHAPES: &[OtherGpuShape] = &[
    OtherGpuShape {
        name: "VM.GPU.A10.1",
        gpu: "A10",
        gpus: 1,
        amd: false,
    },
    OtherGpuShape {
        name: "VM.GPU.A10.2",
        gpu: "A10",
        gpus: 2,
        amd: false,
    },
    OtherGpuShape {
        name: "BM.GPU.A10.4",
        gpu: "A10",
        gpus: 4,
        amd: false,
    },
    OtherGpuShape {
        name: "BM.GPU.L40S.4",
        gpu: "L40S",
        gpus: 4,
        amd: false,
    },
    OtherGpuShape {
        name: "BM.GPU.L40S-NC.4",
        gpu: "L40S",
        gpus: 4,
        amd: false,
    },
    OtherGpuShape {
        name: "VM.GPU2.1",
        gpu: "P100",
        gpus: 1,
        amd: false,
    },
    OtherGpuShape {
        name: "BM.GPU2.2",
        gpu: "P100",
        gpus: 2,
        amd: false,
    },
    OtherGpuShape {
        name: "VM.GPU3.1",
        gpu: "V100",
        gpus: 1,
        amd: false,
    },
    OtherGpuShape {
        name: "VM.GPU3.2",
        gpu: "V100",
        gpus: 2,
        amd: false,
    },
    OtherGpuShape {
        name: "VM.GPU3.4",
        gpu: "V100",
        gpus: 4,
        amd: false,
    },
    OtherGpuShape {
        name: "BM.GPU3.8",
        gpu: "V100",
        gpus: 8,
        amd: false,
    },
    OtherGpuShape {
        name: "BM.GPU.MI300X.8",
        gpu: "MI300X",
        gpus: 8,
        amd: true,
    },
];

/// What a blueprint needs to know of any GPU shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuShape {
    /// NVIDIA GPUs with MIG.
    Mig(&'static NodeShape),
    /// GPUs without MIG.
    Other(&'static OtherGpuShape),
}

impl GpuShape {
    /// The shape called `name` (ignoring case), MIG-capable or not.
    pub fn find(name: &str) -> Option<Self> {
        shape(name).map(Self::Mig).or_else(|| {
            OTHER_GPU_SHAPES
                .iter()
                .find(|s| s.name.eq_ignore_ascii_case(name.trim()))
                .map(Self::Other)
        })
    }

    /// GPUs per node.
    pub fn gpus(self) -> u32 {
        match self {
            Self::Mig(s) => s.gpus,
            Self::Other(s) => s.gpus,
        }
    }

    /// OCI's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mig(s) => s.name,
            Self::Other(s) => s.name,
        }
    }

    /// The MIG model, if its GPUs have MIG.
    pub fn mig_model(self) -> Option<GpuModel> {
        match self {
            Self::Mig(s) => Some(s.model),
            Self::Other(_) => None,
        }
    }

    /// Whether its GPUs are AMD's.
    pub fn is_amd(self) -> bool {
        matches!(self, Self::Other(s) if s.amd)
    }

    /// The GPU's name for messages (`H100 80GB`, `A10`).
    pub fn gpu_name(self) -> &'static str {
        match self {
            Self::Mig(s) => s.model.spec().display_name,
            Self::Other(s) => s.gpu,
        }
    }

    /// Every known shape name, for suggestions.
    pub fn names() -> impl Iterator<Item = &'static str> {
        SHAPES
            .iter()
            .map(|s| s.name)
            .chain(OTHER_GPU_SHAPES.iter().map(|s| s.name))
    }
}

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
