//! The seam between the agent and the GPUs: [`GpuDriver`], a synchronous interface shaped after
//! NVML's MIG calls (call it from `spawn_blocking`), and the error codes NVML returns.
//!
//! Implementations: [`crate::sim::SimDriver`] (simulated GPUs with NVIDIA's placement rules and
//! error codes). The NVML driver (nvml-wrapper, the only `unsafe` in the workspace) implements the
//! same trait.

use mig::agent_api::WorkloadRequest;
use mig::{GpuModel, MigMode};
use serde::{Deserialize, Serialize};

/// One GPU of the node, as the driver sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInfo {
    /// NVML device index.
    pub index: u32,
    /// `GPU-…` UUID.
    pub uuid: String,
    /// Product name, such as `NVIDIA H100 80GB HBM3`.
    pub name: String,
    /// The model migboard knows it as, if any.
    pub model: Option<GpuModel>,
    /// Total memory, MiB.
    pub memory_mib: u64,
    /// PCI device id with vendor (`0x233010DE`).
    pub pci_device_id: u32,
}

/// MIG mode now and after the next GPU reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeState {
    /// In effect now.
    pub current: MigMode,
    /// In effect after a reset (equal to `current` when nothing is pending).
    pub pending: MigMode,
}

/// A GPU instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuInstanceInfo {
    /// NVML GPU instance id.
    pub id: u32,
    /// NVML profile *id* (not the profile index).
    pub profile_id: u32,
    /// First memory slice.
    pub start: u8,
    /// Memory slices.
    pub size: u8,
    /// Its compute instances' ids.
    pub compute_instances: Vec<u32>,
}

pub use mig::agent_api::MigDeviceInfo;

/// A process running on a GPU instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Process id.
    pub pid: u32,
    /// Memory it uses, MiB.
    pub used_memory_mib: u64,
}

/// Why a driver call failed; NVML's return codes where there is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum DriverError {
    /// No NVIDIA driver (or library) on this node.
    #[error("no NVIDIA driver on this node: {0}")]
    NoDriver(String),
    /// `NVML_ERROR_INVALID_ARGUMENT` (2).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// `NVML_ERROR_NOT_SUPPORTED` (3).
    #[error("not supported: {0}")]
    NotSupported(String),
    /// `NVML_ERROR_NO_PERMISSION` (4): the agent needs root or CAP_SYS_ADMIN to change MIG.
    #[error("no permission: {0}")]
    NoPermission(String),
    /// `NVML_ERROR_NOT_FOUND` (6).
    #[error("not found: {0}")]
    NotFound(String),
    /// `NVML_ERROR_RESET_REQUIRED` (16).
    #[error("GPU reset required: {0}")]
    ResetRequired(String),
    /// `NVML_ERROR_IN_USE` (19): processes are running on it.
    #[error("in use: {0}")]
    InUse(String),
    /// `NVML_ERROR_INSUFFICIENT_RESOURCES` (23): the placement is taken or the profile's limit is reached.
    #[error("insufficient resources: {0}")]
    InsufficientResources(String),
    /// Any other NVML return code.
    #[error("NVML error {code}: {detail}")]
    Other {
        /// The raw return code.
        code: u32,
        /// Where it happened.
        detail: String,
    },
}

impl DriverError {
    /// Maps an NVML return code (non-zero) to an error, with `detail` saying which call on what.
    pub fn from_nvml(code: u32, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        match code {
            2 => Self::InvalidArgument(detail),
            3 => Self::NotSupported(detail),
            4 => Self::NoPermission(detail),
            6 => Self::NotFound(detail),
            9 | 12 => Self::NoDriver(detail),
            16 => Self::ResetRequired(detail),
            19 => Self::InUse(detail),
            23 => Self::InsufficientResources(detail),
            code => Self::Other { code, detail },
        }
    }

    /// The NVML return code this error stands for, where there is one.
    pub fn nvml_code(&self) -> Option<u32> {
        match self {
            Self::InvalidArgument(_) => Some(2),
            Self::NotSupported(_) => Some(3),
            Self::NoPermission(_) => Some(4),
            Self::NotFound(_) => Some(6),
            Self::ResetRequired(_) => Some(16),
            Self::InUse(_) => Some(19),
            Self::InsufficientResources(_) => Some(23),
            Self::Other { code, .. } => Some(*code),
            Self::NoDriver(_) => None,
        }
    }
}

/// Reads and changes MIG on one node's GPUs. Synchronous: NVML blocks; async callers use
/// `tokio::task::spawn_blocking`.
pub trait GpuDriver: Send + Sync {
    /// The node's GPUs.
    ///
    /// # Errors
    /// [`DriverError`], [`DriverError::NoDriver`] when there is no driver.
    fn gpus(&self) -> Result<Vec<GpuInfo>, DriverError>;
    /// MIG mode now and pending.
    ///
    /// # Errors
    /// [`DriverError`].
    fn mig_mode(&self, gpu: u32) -> Result<ModeState, DriverError>;
    /// Requests a MIG mode; it may stay pending until the GPU is reset.
    ///
    /// # Errors
    /// [`DriverError::InUse`] when processes or instances prevent it.
    fn set_mig_mode(&self, gpu: u32, mode: MigMode) -> Result<ModeState, DriverError>;
    /// The GPU instances, with their compute instances.
    ///
    /// # Errors
    /// [`DriverError::NotSupported`] when MIG is off.
    fn gpu_instances(&self, gpu: u32) -> Result<Vec<GpuInstanceInfo>, DriverError>;
    /// Creates a GPU instance of NVML profile *id* `profile_id` at memory slice `start`; returns its id.
    ///
    /// # Errors
    /// [`DriverError::InsufficientResources`] when the placement is taken or the limit is reached.
    fn create_gpu_instance(&self, gpu: u32, profile_id: u32, start: u8)
    -> Result<u32, DriverError>;
    /// Creates the compute instance spanning GPU instance `gi`; returns its id.
    ///
    /// # Errors
    /// [`DriverError`].
    fn create_compute_instance(&self, gpu: u32, gi: u32) -> Result<u32, DriverError>;
    /// Destroys compute instance `ci` of GPU instance `gi`.
    ///
    /// # Errors
    /// [`DriverError::InUse`] when processes run on it.
    fn destroy_compute_instance(&self, gpu: u32, gi: u32, ci: u32) -> Result<(), DriverError>;
    /// Destroys GPU instance `gi` (its compute instances must be gone).
    ///
    /// # Errors
    /// [`DriverError::InUse`] when compute instances or processes remain.
    fn destroy_gpu_instance(&self, gpu: u32, gi: u32) -> Result<(), DriverError>;
    /// The MIG devices of GPU `gpu` (none when MIG is off).
    ///
    /// # Errors
    /// [`DriverError`].
    fn mig_devices(&self, gpu: u32) -> Result<Vec<MigDeviceInfo>, DriverError>;
    /// Processes running on GPU instance `gi`.
    ///
    /// # Errors
    /// [`DriverError`].
    fn processes(&self, gpu: u32, gi: u32) -> Result<Vec<ProcessInfo>, DriverError>;

    /// Resets GPU `gpu`, so a pending MIG mode change takes effect. Refused while processes run on
    /// it. Drivers that cannot reset say so (the default), with what to run instead.
    ///
    /// # Errors
    /// [`DriverError::InUse`] with processes on it; [`DriverError::NotSupported`].
    fn reset_gpu(&self, gpu: u32) -> Result<(), DriverError> {
        Err(DriverError::NotSupported(format!(
            "this driver cannot reset GPUs: run `nvidia-smi --gpu-reset -i {gpu}` on the node when it is idle, or reboot it"
        )))
    }

    /// Simulated GPUs only: runs a simulated workload (process `pid` using `memory_mib`) on the
    /// instance that starts at memory slice `start`, as a scheduled pod would.
    ///
    /// # Errors
    /// [`DriverError::NotSupported`] on real GPUs (the default); [`DriverError::NotFound`] when no
    /// instance starts there.
    fn simulate_workload(&self, workload: &WorkloadRequest) -> Result<(), DriverError> {
        let _ = workload;
        Err(DriverError::NotSupported(
            "simulated workloads run only on simulated GPUs (--simulate)".to_owned(),
        ))
    }

    /// Simulated GPUs only: stops the simulated workloads on the instance that starts at `start`;
    /// returns how many processes stopped.
    ///
    /// # Errors
    /// As [`GpuDriver::simulate_workload`].
    fn stop_simulated_workloads(&self, gpu: u32, start: u8) -> Result<u32, DriverError> {
        let _ = (gpu, start);
        Err(DriverError::NotSupported(
            "simulated workloads run only on simulated GPUs (--simulate)".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvml_codes_round_trip() {
        for code in [2, 3, 4, 6, 16, 19, 23, 999] {
            assert_eq!(
                DriverError::from_nvml(code, "x").nvml_code(),
                Some(code),
                "{code}"
            );
        }
        assert_eq!(
            DriverError::from_nvml(9, "x"),
            DriverError::NoDriver("x".to_owned())
        );
    }
}
