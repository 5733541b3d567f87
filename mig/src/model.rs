//! GPU models and their MIG GPU-instance profiles, as data.
//!
//! Source: `shared/reference/mig-profiles/gpu-instance-profiles.json` (nvidia-smi `-lgip`/`-lgipp` output,
//! NVIDIA's MIG user guide, go-nvml's mocks). Every model shares the 8-memory-slice, 7-compute-slice layout of
//! Ampere/Hopper/Blackwell datacenter parts; what differs is names, memory and SMs. Where a fact was not seen on
//! real hardware the table says so ([`Verification`]), and the UI shows it.
//!
//! Two NVML id spaces, never mixed: [`ProfileSpec::nvml_index`] is the `NVML_GPU_INSTANCE_PROFILE_*` value passed to
//! `nvmlDeviceGetGpuInstanceProfileInfo`; [`ProfileSpec::nvml_id`] is the id that call returns, printed by
//! `nvidia-smi mig -lgip` and passed to the create and placement calls.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ProfileName;

/// Compute slices of every modelled GPU.
pub const COMPUTE_SLICES: u8 = 7;
/// Memory slices of every modelled GPU.
pub const MEMORY_SLICES: u8 = 8;

/// A MIG-capable GPU model migboard knows the rules of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GpuModel {
    /// NVIDIA H100 80GB (SXM5 and PCIe). The first-class model: OCI's BM.GPU.H100.8.
    #[serde(rename = "h100-80gb")]
    H100_80GB,
    /// NVIDIA H100 NVL 94GB.
    #[serde(rename = "h100-nvl-94gb")]
    H100Nvl94GB,
    /// NVIDIA A100 40GB (SXM4 and PCIe).
    #[serde(rename = "a100-40gb")]
    A100_40GB,
    /// NVIDIA A100 80GB (SXM4 and PCIe).
    #[serde(rename = "a100-80gb")]
    A100_80GB,
    /// NVIDIA H200 141GB (SXM5 and NVL).
    #[serde(rename = "h200-141gb")]
    H200_141GB,
    /// NVIDIA B200 180GB.
    #[serde(rename = "b200-180gb")]
    B200_180GB,
}

/// How far a table entry was checked against real hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// Seen in real `nvidia-smi mig -lgip`/`-lgipp` output for this model.
    Verified,
    /// Taken from a sibling model whose layout NVIDIA documents as identical.
    SameAsSibling,
    /// Derived from NVIDIA's documented fractions; not seen on real hardware.
    Unverified,
}

/// The kind of a profile: its shape on the 7 × 8 slice grid, common to every model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    /// 1 compute, 1 memory slice (`1g.10gb` on H100).
    OneSlice,
    /// 1 compute, 1 memory slice, with media extensions (`1g.10gb+me`); at most one per GPU.
    OneSliceMe,
    /// 1 compute, 2 memory slices (`1g.20gb` on H100).
    OneSliceDoubleMemory,
    /// 2 compute, 2 memory slices.
    TwoSlice,
    /// 3 compute, 4 memory slices.
    ThreeSlice,
    /// 4 compute, 4 memory slices.
    FourSlice,
    /// The whole GPU as one instance: 7 compute, 8 memory slices.
    SevenSlice,
}

/// The geometry of one [`ProfileKind`]: NVML ids and placement rules, identical on every modelled GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindSpec {
    /// The kind.
    pub kind: ProfileKind,
    /// `NVML_GPU_INSTANCE_PROFILE_*`: the *index* passed to `nvmlDeviceGetGpuInstanceProfileInfo`.
    pub nvml_index: u32,
    /// The profile *id* NVML returns and the create/placement calls take.
    pub nvml_id: u32,
    /// Compute slices.
    pub compute_slices: u8,
    /// Memory slices, which is also the placement size on the memory axis.
    pub memory_slices: u8,
    /// Allowed start slices on the memory axis.
    pub starts: &'static [u8],
    /// Most instances of this profile one GPU can hold.
    pub max_count: u8,
}

/// The shared geometry table (`layout_8_memory_slices` in the reference data).
pub const KINDS: [KindSpec; 7] = [
    KindSpec {
        kind: ProfileKind::OneSlice,
        nvml_index: 0,
        nvml_id: 19,
        compute_slices: 1,
        memory_slices: 1,
        starts: &[0, 1, 2, 3, 4, 5, 6],
        max_count: 7,
    },
    KindSpec {
        kind: ProfileKind::OneSliceMe,
        nvml_index: 7,
        nvml_id: 20,
        compute_slices: 1,
        memory_slices: 1,
        starts: &[0, 1, 2, 3, 4, 5, 6],
        max_count: 1,
    },
    KindSpec {
        kind: ProfileKind::OneSliceDoubleMemory,
        nvml_index: 9,
        nvml_id: 15,
        compute_slices: 1,
        memory_slices: 2,
        starts: &[0, 2, 4, 6],
        max_count: 4,
    },
    KindSpec {
        kind: ProfileKind::TwoSlice,
        nvml_index: 1,
        nvml_id: 14,
        compute_slices: 2,
        memory_slices: 2,
        starts: &[0, 2, 4],
        max_count: 3,
    },
    KindSpec {
        kind: ProfileKind::ThreeSlice,
        nvml_index: 2,
        nvml_id: 9,
        compute_slices: 3,
        memory_slices: 4,
        starts: &[0, 4],
        max_count: 2,
    },
    KindSpec {
        kind: ProfileKind::FourSlice,
        nvml_index: 3,
        nvml_id: 5,
        compute_slices: 4,
        memory_slices: 4,
        starts: &[0],
        max_count: 1,
    },
    KindSpec {
        kind: ProfileKind::SevenSlice,
        nvml_index: 4,
        nvml_id: 0,
        compute_slices: 7,
        memory_slices: 8,
        starts: &[0],
        max_count: 1,
    },
];

impl KindSpec {
    /// `NVML_COMPUTE_INSTANCE_PROFILE_*`: the index of the compute-instance profile that spans a GPU
    /// instance of this kind (1, 2, 3, 4 or 7 compute slices → 0, 1, 2, 3, 4).
    pub fn full_compute_instance_profile_index(&self) -> u32 {
        match self.compute_slices {
            1 => 0,
            2 => 1,
            3 => 2,
            4 => 3,
            _ => 4,
        }
    }
}

impl ProfileKind {
    /// This kind's geometry.
    pub fn spec(self) -> &'static KindSpec {
        // KINDS is ordered as the enum is declared.
        &KINDS[self as usize]
    }
}

/// One profile of one GPU model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProfileSpec {
    /// NVIDIA's name on this model, such as `3g.40gb`.
    pub name: &'static str,
    /// Its shape; NVML ids, slices, starts and max count come from [`ProfileKind::spec`].
    pub kind: ProfileKind,
    /// Streaming multiprocessors the instance gets.
    pub sm_count: u16,
    /// Memory the instance gets, MiB (as `nvidia-smi mig -lgip` reports it).
    pub memory_mib: u32,
}

impl ProfileSpec {
    /// The shared geometry of this profile.
    pub fn geometry(&self) -> &'static KindSpec {
        self.kind.spec()
    }
    /// `NVML_GPU_INSTANCE_PROFILE_*` index (for `nvmlDeviceGetGpuInstanceProfileInfo`).
    pub fn nvml_index(&self) -> u32 {
        self.geometry().nvml_index
    }
    /// NVML profile id (for create and placement calls).
    pub fn nvml_id(&self) -> u32 {
        self.geometry().nvml_id
    }
    /// Compute slices.
    pub fn compute_slices(&self) -> u8 {
        self.geometry().compute_slices
    }
    /// Memory slices (the placement size).
    pub fn memory_slices(&self) -> u8 {
        self.geometry().memory_slices
    }
    /// Allowed start slices.
    pub fn starts(&self) -> &'static [u8] {
        self.geometry().starts
    }
    /// Most instances per GPU.
    pub fn max_count(&self) -> u8 {
        self.geometry().max_count
    }
    /// Whether an instance may start at `start`.
    pub fn allows_start(&self, start: u8) -> bool {
        self.starts().contains(&start)
    }
    /// Bit mask of the memory slices an instance of this profile uses when it starts at `start`.
    pub fn mask_at(&self, start: u8) -> u8 {
        // memory_slices is 1..=8 and start + size <= 8 for allowed starts; wider shifts saturate to 0 bits.
        let ones = u8::MAX >> (8 - self.memory_slices());
        ones.checked_shl(u32::from(start)).unwrap_or(0)
    }
    /// The parsed name.
    pub fn profile_name(&self) -> ProfileName {
        // Table names are checked by a unit test; fall back to a neutral value rather than panic.
        self.name.parse().unwrap_or(ProfileName {
            compute_slices: 1,
            memory_gb: 1,
            attribute: None,
        })
    }
    /// The Kubernetes extended resource the device plugin's mixed strategy advertises:
    /// `nvidia.com/mig-3g.40gb`, `nvidia.com/mig-1g.10gb.me` ([`crate::profile::resource_name`]).
    pub fn resource_name(&self) -> String {
        crate::profile::resource_name(self.name)
    }
}

/// Everything migboard knows about one GPU model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// The model.
    pub model: GpuModel,
    /// Human name.
    pub display_name: &'static str,
    /// PCI device ids (`0x233010DE` = device 0x2330 of vendor 0x10DE), as mig-parted's `device-filter` uses.
    pub pci_device_ids: &'static [u32],
    /// Total memory, MiB.
    pub memory_mib: u32,
    /// Streaming multiprocessors of the whole GPU.
    pub sm_count: u16,
    /// Peak memory bandwidth of the whole GPU, GB/s; a slice gets `memory_slices / 8` of it.
    pub memory_bandwidth_gbps: u32,
    /// Peak dense (no sparsity) 16-bit tensor throughput of the whole GPU, TFLOPS, from NVIDIA's data
    /// sheet; a slice gets its SM share of it.
    pub dense_tflops_16bit: u32,
    /// Whether the tensor cores run FP8 at twice the 16-bit rate (Hopper and later; not Ampere).
    pub fp8: bool,
    /// How far the placement table was checked on real hardware.
    pub placements: Verification,
    /// How far SM counts and memory sizes were checked on real hardware.
    pub sizes: Verification,
    /// Profiles in [`KINDS`] order.
    pub profiles: [ProfileSpec; 7],
}

macro_rules! profiles {
    ($( $kind:ident $name:literal $sm:literal $mib:literal ),* $(,)?) => {
        [ $( ProfileSpec { name: $name, kind: ProfileKind::$kind, sm_count: $sm, memory_mib: $mib } ),* ]
    };
}

/// Every modelled GPU, H100 80GB first.
pub static MODELS: [ModelSpec; 6] = [
    ModelSpec {
        model: GpuModel::H100_80GB,
        display_name: "NVIDIA H100 80GB",
        pci_device_ids: &[0x2330_10DE, 0x2331_10DE, 0x2322_10DE],
        memory_mib: 81_559,
        sm_count: 132,
        memory_bandwidth_gbps: 3_350,
        dense_tflops_16bit: 989,
        fp8: true,
        placements: Verification::Verified,
        sizes: Verification::Verified,
        profiles: profiles![
            OneSlice "1g.10gb" 16 9_984,
            OneSliceMe "1g.10gb+me" 16 9_984,
            OneSliceDoubleMemory "1g.20gb" 26 20_096,
            TwoSlice "2g.20gb" 32 20_096,
            ThreeSlice "3g.40gb" 60 40_448,
            FourSlice "4g.40gb" 64 40_448,
            SevenSlice "7g.80gb" 132 81_152,
        ],
    },
    ModelSpec {
        model: GpuModel::H100Nvl94GB,
        display_name: "NVIDIA H100 NVL 94GB",
        pci_device_ids: &[0x2321_10DE, 0x233A_10DE],
        memory_mib: 95_830,
        sm_count: 132,
        memory_bandwidth_gbps: 3_900,
        dense_tflops_16bit: 835,
        fp8: true,
        placements: Verification::Verified,
        sizes: Verification::Verified,
        profiles: profiles![
            OneSlice "1g.12gb" 16 11_008,
            OneSliceMe "1g.12gb+me" 16 11_008,
            OneSliceDoubleMemory "1g.24gb" 26 22_144,
            TwoSlice "2g.24gb" 32 22_144,
            ThreeSlice "3g.47gb" 60 47_488,
            FourSlice "4g.47gb" 64 47_488,
            SevenSlice "7g.94gb" 132 95_360,
        ],
    },
    ModelSpec {
        model: GpuModel::A100_40GB,
        display_name: "NVIDIA A100 40GB",
        pci_device_ids: &[0x20B0_10DE, 0x20B1_10DE, 0x20F1_10DE, 0x20F6_10DE],
        memory_mib: 40_960,
        sm_count: 108,
        memory_bandwidth_gbps: 1_555,
        dense_tflops_16bit: 312,
        fp8: false,
        placements: Verification::Verified,
        sizes: Verification::Verified,
        profiles: profiles![
            OneSlice "1g.5gb" 14 4_864,
            OneSliceMe "1g.5gb+me" 14 4_864,
            OneSliceDoubleMemory "1g.10gb" 14 9_856,
            TwoSlice "2g.10gb" 28 9_856,
            ThreeSlice "3g.20gb" 42 19_968,
            FourSlice "4g.20gb" 56 19_968,
            SevenSlice "7g.40gb" 98 40_192,
        ],
    },
    ModelSpec {
        model: GpuModel::A100_80GB,
        display_name: "NVIDIA A100 80GB",
        pci_device_ids: &[0x20B2_10DE, 0x20B5_10DE, 0x20F3_10DE, 0x20F5_10DE],
        memory_mib: 81_920,
        sm_count: 108,
        memory_bandwidth_gbps: 2_039,
        dense_tflops_16bit: 312,
        fp8: false,
        placements: Verification::SameAsSibling,
        sizes: Verification::Verified,
        profiles: profiles![
            OneSlice "1g.10gb" 14 9_856,
            OneSliceMe "1g.10gb+me" 14 9_856,
            OneSliceDoubleMemory "1g.20gb" 14 19_968,
            TwoSlice "2g.20gb" 28 19_968,
            ThreeSlice "3g.40gb" 42 40_192,
            FourSlice "4g.40gb" 56 40_192,
            SevenSlice "7g.80gb" 98 80_384,
        ],
    },
    ModelSpec {
        model: GpuModel::H200_141GB,
        display_name: "NVIDIA H200 141GB",
        pci_device_ids: &[0x2335_10DE, 0x233B_10DE],
        memory_mib: 143_771,
        sm_count: 132,
        memory_bandwidth_gbps: 4_800,
        dense_tflops_16bit: 989,
        fp8: true,
        placements: Verification::Unverified,
        // Memory is 1/8 per slice of the usable total; SMs as on H100 SXM (same die).
        sizes: Verification::Unverified,
        profiles: profiles![
            OneSlice "1g.18gb" 16 17_920,
            OneSliceMe "1g.18gb+me" 16 17_920,
            OneSliceDoubleMemory "1g.35gb" 26 35_840,
            TwoSlice "2g.35gb" 32 35_840,
            ThreeSlice "3g.71gb" 60 71_680,
            FourSlice "4g.71gb" 64 71_680,
            SevenSlice "7g.141gb" 132 143_360,
        ],
    },
    ModelSpec {
        model: GpuModel::B200_180GB,
        display_name: "NVIDIA B200 180GB",
        pci_device_ids: &[0x2901_10DE],
        memory_mib: 184_320,
        sm_count: 148,
        memory_bandwidth_gbps: 8_000,
        dense_tflops_16bit: 2250,
        fp8: true,
        placements: Verification::Unverified,
        // Memory from the profile names (1/8 per slice); SMs as compute fractions of 148, rounded down.
        sizes: Verification::Unverified,
        profiles: profiles![
            OneSlice "1g.23gb" 21 23_040,
            OneSliceMe "1g.23gb+me" 21 23_040,
            OneSliceDoubleMemory "1g.45gb" 21 46_080,
            TwoSlice "2g.45gb" 42 46_080,
            ThreeSlice "3g.90gb" 63 92_160,
            FourSlice "4g.90gb" 84 92_160,
            SevenSlice "7g.180gb" 148 184_320,
        ],
    },
];

impl GpuModel {
    /// Every model, H100 80GB first.
    pub fn all() -> impl Iterator<Item = GpuModel> {
        MODELS.iter().map(|m| m.model)
    }

    /// The model's table.
    pub fn spec(self) -> &'static ModelSpec {
        // MODELS is ordered as the enum is declared (checked by a test).
        &MODELS[self as usize]
    }

    /// The id used in URLs and JSON, such as `h100-80gb`.
    pub fn id(self) -> &'static str {
        match self {
            Self::H100_80GB => "h100-80gb",
            Self::H100Nvl94GB => "h100-nvl-94gb",
            Self::A100_40GB => "a100-40gb",
            Self::A100_80GB => "a100-80gb",
            Self::H200_141GB => "h200-141gb",
            Self::B200_180GB => "b200-180gb",
        }
    }

    /// The model a PCI device id (`0x233010DE`) belongs to.
    pub fn from_pci_device_id(id: u32) -> Option<Self> {
        MODELS
            .iter()
            .find(|m| m.pci_device_ids.contains(&id))
            .map(|m| m.model)
    }

    /// The model an NVML/`nvidia.com/gpu.product` name describes, such as `NVIDIA H100 80GB HBM3` or
    /// `NVIDIA-H100-80GB-HBM3`.
    pub fn from_product_name(name: &str) -> Option<Self> {
        let n = name.to_ascii_uppercase().replace(['-', '_'], " ");
        let has = |s: &str| n.contains(s);
        if has("H100") && (has("NVL") || has("94GB")) {
            Some(Self::H100Nvl94GB)
        } else if has("H100") && has("80GB") {
            Some(Self::H100_80GB)
        } else if has("H200") {
            Some(Self::H200_141GB)
        } else if has("B200") {
            Some(Self::B200_180GB)
        } else if has("A100") && has("80GB") {
            Some(Self::A100_80GB)
        } else if has("A100") && has("40GB") {
            Some(Self::A100_40GB)
        } else {
            None
        }
    }

    /// This model's profile called `name` (exact NVIDIA spelling).
    pub fn profile(self, name: &str) -> Option<&'static ProfileSpec> {
        self.spec().profiles.iter().find(|p| p.name == name)
    }

    /// This model's profile of a given kind.
    pub fn profile_of_kind(self, kind: ProfileKind) -> &'static ProfileSpec {
        &self.spec().profiles[kind as usize]
    }

    /// The profile names of this model, for error hints.
    pub fn profile_names(self) -> Vec<&'static str> {
        self.spec().profiles.iter().map(|p| p.name).collect()
    }
}

impl fmt::Display for GpuModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.spec().display_name)
    }
}

/// A string that names no modelled GPU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown GPU model `{0}`: use one of h100-80gb, h100-nvl-94gb, a100-40gb, a100-80gb, h200-141gb, b200-180gb"
)]
pub struct UnknownModel(pub String);

impl FromStr for GpuModel {
    type Err = UnknownModel;

    /// Accepts the id (`h100-80gb`) or a product name (`NVIDIA H100 80GB HBM3`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::all()
            .find(|m| m.id().eq_ignore_ascii_case(s.trim()))
            .or_else(|| Self::from_product_name(s))
            .ok_or_else(|| UnknownModel(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_ordered_as_their_enums() {
        for (i, k) in KINDS.iter().enumerate() {
            assert_eq!(k.kind as usize, i);
        }
        for (i, m) in MODELS.iter().enumerate() {
            assert_eq!(m.model as usize, i, "{}", m.display_name);
            for (j, p) in m.profiles.iter().enumerate() {
                assert_eq!(p.kind as usize, j, "{} {}", m.display_name, p.name);
            }
        }
    }

    #[test]
    fn every_table_keeps_the_geometry_invariants() {
        for k in &KINDS {
            assert!(k.compute_slices >= 1 && k.compute_slices <= COMPUTE_SLICES);
            assert!(k.memory_slices >= 1 && k.memory_slices <= MEMORY_SLICES);
            assert!(!k.starts.is_empty());
            for &s in k.starts {
                assert!(
                    s + k.memory_slices <= MEMORY_SLICES,
                    "{:?} start {s} runs off the GPU",
                    k.kind
                );
                assert_eq!(
                    s % k.memory_slices.min(4),
                    0,
                    "{:?} start {s} is not aligned",
                    k.kind
                );
            }
            assert!(k.max_count as usize <= k.starts.len());
            assert!(
                u32::from(k.max_count) * u32::from(k.compute_slices) <= u32::from(COMPUTE_SLICES)
            );
        }
        // The two id spaces differ for every kind but 7g... and even there index 4 != id 0.
        assert!(KINDS.iter().all(|k| k.nvml_index != k.nvml_id));
    }

    #[test]
    fn every_profile_of_every_model_is_consistent() {
        for m in &MODELS {
            for p in &m.profiles {
                let name = p.profile_name();
                assert_eq!(
                    name.to_string(),
                    p.name,
                    "table name must parse and print back"
                );
                assert_eq!(
                    name.compute_slices,
                    p.compute_slices(),
                    "{} {}",
                    m.display_name,
                    p.name
                );
                assert!(
                    p.memory_mib <= m.memory_mib,
                    "{} {}",
                    m.display_name,
                    p.name
                );
                assert!(p.sm_count <= m.sm_count, "{} {}", m.display_name, p.name);
                // Named GB ~ memory slices × an eighth of the GPU: within 15 %.
                let eighth_gb = f64::from(m.memory_mib) / 8.0 / 1000.0;
                let expected = eighth_gb * f64::from(p.memory_slices());
                let named = f64::from(name.memory_gb);
                assert!(
                    (named - expected).abs() / expected < 0.15,
                    "{} {}: {named} vs {expected:.1}",
                    m.display_name,
                    p.name
                );
                for &start in p.starts() {
                    assert_eq!(p.mask_at(start).count_ones(), u32::from(p.memory_slices()));
                }
            }
            // More slices never means less memory or fewer SMs.
            for w in m.profiles.windows(2) {
                assert!(
                    w[0].memory_mib <= w[1].memory_mib,
                    "{} {}",
                    m.display_name,
                    w[1].name
                );
            }
        }
    }

    #[test]
    fn nvml_ids_match_nvidia_smi_for_h100() {
        let ids: Vec<(&str, u32, u32)> = MODELS[0]
            .profiles
            .iter()
            .map(|p| (p.name, p.nvml_index(), p.nvml_id()))
            .collect();
        assert_eq!(
            ids,
            [
                ("1g.10gb", 0, 19),
                ("1g.10gb+me", 7, 20),
                ("1g.20gb", 9, 15),
                ("2g.20gb", 1, 14),
                ("3g.40gb", 2, 9),
                ("4g.40gb", 3, 5),
                ("7g.80gb", 4, 0)
            ]
        );
    }

    #[test]
    fn models_parse_from_ids_and_product_names() {
        for m in GpuModel::all() {
            assert_eq!(m.id().parse(), Ok(m));
            assert_eq!(
                serde_json::to_string(&m).expect("json"),
                format!("\"{}\"", m.id())
            );
        }
        assert_eq!("NVIDIA-H100-80GB-HBM3".parse(), Ok(GpuModel::H100_80GB));
        assert_eq!("NVIDIA H100 NVL".parse(), Ok(GpuModel::H100Nvl94GB));
        assert_eq!("NVIDIA A100-SXM4-40GB".parse(), Ok(GpuModel::A100_40GB));
        assert_eq!(
            GpuModel::from_pci_device_id(0x2330_10DE),
            Some(GpuModel::H100_80GB)
        );
        let err = "V100".parse::<GpuModel>().expect_err("not modelled");
        assert!(err.to_string().contains("h100-80gb"));
    }
}
