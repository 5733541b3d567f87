//! [`NvmlDriver`]: the GPU driver on real hardware, through NVIDIA's NVML (`libnvidia-ml.so.1`)
//! loaded at run time with nvml-wrapper 0.13. The safe API where it exists (devices, names, UUIDs,
//! memory, PCI ids); raw `nvml.lib()` calls for MIG, which nvml-wrapper does not wrap safely (its
//! `possible_placements()` returns nothing, and error 23 surfaces as an unknown variant). A symbol
//! the loaded library lacks becomes `NotSupported`, never a panic.
//!
//! This module is the only place in the workspace besides the `nvml-sim` test library where
//! `unsafe` is allowed; every block says why it is sound.

use std::ffi::c_uint;
use std::path::Path;

use mig::MigMode;
use mig::model::KINDS;
use nvml_wrapper::Nvml;
use nvml_wrapper_sys::bindings::{
    nvmlComputeInstance_t, nvmlComputeInstanceInfo_t, nvmlComputeInstanceProfileInfo_t,
    nvmlDevice_t, nvmlGpuInstance_t, nvmlGpuInstanceInfo_t, nvmlGpuInstancePlacement_t,
    nvmlGpuInstanceProfileInfo_t, nvmlProcessInfo_t, nvmlReturn_t,
};

use crate::driver::{
    DriverError, GpuDriver, GpuInfo, GpuInstanceInfo, MigDeviceInfo, ModeState, ProcessInfo,
};

/// Real GPUs through NVML.
pub struct NvmlDriver {
    nvml: Nvml,
}

impl std::fmt::Debug for NvmlDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvmlDriver").finish_non_exhaustive()
    }
}

/// Looks up an NVML function in the loaded library, or says the driver lacks it.
macro_rules! sym {
    ($self:ident, $name:ident) => {
        $self.nvml.lib().$name.as_ref().map_err(|e| {
            DriverError::NotSupported(format!(
                "the NVIDIA driver has no {}: {e}",
                stringify!($name)
            ))
        })?
    };
}

fn check(ret: nvmlReturn_t, what: impl FnOnce() -> String) -> Result<(), DriverError> {
    if ret == 0 {
        Ok(())
    } else {
        Err(DriverError::from_nvml(ret, what()))
    }
}

fn mode_of(code: c_uint) -> MigMode {
    if code == 1 {
        MigMode::Enabled
    } else {
        MigMode::Disabled
    }
}

impl NvmlDriver {
    /// Loads NVML from `lib` (default: `libnvidia-ml.so.1` on the library path) and initialises it.
    ///
    /// # Errors
    /// [`DriverError::NoDriver`] when the library is missing or the driver is not loaded.
    pub fn open(lib: Option<&Path>) -> Result<Self, DriverError> {
        let mut builder = Nvml::builder();
        if let Some(path) = lib {
            builder.lib_path(path.as_os_str());
        }
        let nvml = builder.init().map_err(|e| {
            DriverError::NoDriver(format!(
                "loading NVML from {}: {e}",
                lib.map_or("libnvidia-ml.so.1".into(), |p| p.display().to_string())
            ))
        })?;
        Ok(Self { nvml })
    }

    fn handle(&self, gpu: u32) -> Result<nvmlDevice_t, DriverError> {
        let device = self
            .nvml
            .device_by_index(gpu)
            .map_err(|e| DriverError::InvalidArgument(format!("GPU {gpu}: {e}")))?;
        // SAFETY: the handle is only passed back to NVML while `self.nvml` (and so the library) lives.
        Ok(unsafe { device.handle() })
    }

    fn gi_handle(&self, gpu: u32, gi: u32) -> Result<nvmlGpuInstance_t, DriverError> {
        let device = self.handle(gpu)?;
        let f = sym!(self, nvmlDeviceGetGpuInstanceById);
        let mut out: nvmlGpuInstance_t = std::ptr::null_mut();
        // SAFETY: `device` is a live handle, `out` a valid place for one handle.
        check(unsafe { f(device, gi, &mut out) }, || {
            format!("GPU {gpu}: GPU instance {gi}")
        })?;
        Ok(out)
    }

    fn gi_info(
        &self,
        gpu: u32,
        gi: nvmlGpuInstance_t,
    ) -> Result<nvmlGpuInstanceInfo_t, DriverError> {
        let f = sym!(self, nvmlGpuInstanceGetInfo);
        // SAFETY: all-zero is a valid value of this plain C struct (null handle, zero ids).
        let mut info: nvmlGpuInstanceInfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `gi` is a live GPU instance handle and `info` valid for writing.
        check(unsafe { f(gi, &mut info) }, || {
            format!("GPU {gpu}: GPU instance info")
        })?;
        Ok(info)
    }

    fn ci_profile_id(
        &self,
        gpu: u32,
        gi: nvmlGpuInstance_t,
        profile_id: u32,
    ) -> Result<c_uint, DriverError> {
        let kind = KINDS
            .iter()
            .find(|k| k.nvml_id == profile_id)
            .ok_or_else(|| {
                DriverError::NotSupported(format!(
                    "GPU {gpu}: GPU instance profile id {profile_id} is unknown"
                ))
            })?;
        let f = sym!(self, nvmlGpuInstanceGetComputeInstanceProfileInfo);
        // SAFETY: all-zero is a valid value of this plain C struct.
        let mut info: nvmlComputeInstanceProfileInfo_t = unsafe { std::mem::zeroed() };
        let index = kind.full_compute_instance_profile_index();
        // SAFETY: live handle, valid out pointer; engine profile 0 is the shared one.
        check(unsafe { f(gi, index, 0, &mut info) }, || {
            format!("GPU {gpu}: compute instance profile {index}")
        })?;
        Ok(info.id)
    }
}

impl GpuDriver for NvmlDriver {
    fn gpus(&self) -> Result<Vec<GpuInfo>, DriverError> {
        let nvml_err = |what: String| {
            move |e: nvml_wrapper::error::NvmlError| DriverError::Other {
                code: 999,
                detail: format!("{what}: {e}"),
            }
        };
        let count = self
            .nvml
            .device_count()
            .map_err(nvml_err("device count".into()))?;
        (0..count)
            .map(|index| {
                let d = self
                    .nvml
                    .device_by_index(index)
                    .map_err(nvml_err(format!("GPU {index}")))?;
                let name = d.name().map_err(nvml_err(format!("GPU {index} name")))?;
                let pci = d
                    .pci_info()
                    .map_err(nvml_err(format!("GPU {index} PCI info")))?;
                Ok(GpuInfo {
                    index,
                    uuid: d.uuid().map_err(nvml_err(format!("GPU {index} UUID")))?,
                    model: mig::GpuModel::from_pci_device_id(pci.pci_device_id)
                        .or_else(|| mig::GpuModel::from_product_name(&name)),
                    name,
                    memory_mib: d
                        .memory_info()
                        .map_err(nvml_err(format!("GPU {index} memory")))?
                        .total
                        / (1024 * 1024),
                    pci_device_id: pci.pci_device_id,
                })
            })
            .collect()
    }

    fn mig_mode(&self, gpu: u32) -> Result<ModeState, DriverError> {
        let device = self.handle(gpu)?;
        let f = sym!(self, nvmlDeviceGetMigMode);
        let (mut current, mut pending) = (0, 0);
        // SAFETY: live handle, two valid out pointers.
        check(unsafe { f(device, &mut current, &mut pending) }, || {
            format!("GPU {gpu}: MIG mode")
        })?;
        Ok(ModeState {
            current: mode_of(current),
            pending: mode_of(pending),
        })
    }

    fn set_mig_mode(&self, gpu: u32, mode: MigMode) -> Result<ModeState, DriverError> {
        let device = self.handle(gpu)?;
        let f = sym!(self, nvmlDeviceSetMigMode);
        let mut activation: nvmlReturn_t = 0;
        let code = if mode == MigMode::Enabled { 1 } else { 0 };
        // SAFETY: live handle, valid out pointer.
        check(unsafe { f(device, code, &mut activation) }, || {
            format!("GPU {gpu}: set MIG mode")
        })?;
        self.mig_mode(gpu)
    }

    fn gpu_instances(&self, gpu: u32) -> Result<Vec<GpuInstanceInfo>, DriverError> {
        let device = self.handle(gpu)?;
        let profile_info = sym!(self, nvmlDeviceGetGpuInstanceProfileInfo);
        let list = sym!(self, nvmlDeviceGetGpuInstances);
        let list_ci = sym!(self, nvmlGpuInstanceGetComputeInstances);
        let ci_info = sym!(self, nvmlComputeInstanceGetInfo_v2);
        let mut out = Vec::new();
        for kind in &KINDS {
            // SAFETY: all-zero is a valid value of this plain C struct.
            let mut info: nvmlGpuInstanceProfileInfo_t = unsafe { std::mem::zeroed() };
            // SAFETY: live handle; `kind.nvml_index` is a profile *index*, as this call takes.
            let ret = unsafe { profile_info(device, kind.nvml_index, &mut info) };
            if ret == 3 || ret == 2 {
                continue; // this GPU has no such profile
            }
            check(ret, || {
                format!("GPU {gpu}: profile index {}", kind.nvml_index)
            })?;
            let mut handles: Vec<nvmlGpuInstance_t> =
                vec![std::ptr::null_mut(); info.instanceCount.max(1) as usize];
            let mut count: c_uint = 0;
            // SAFETY: `handles` has room for instanceCount handles, the most NVML returns for a profile.
            check(
                unsafe { list(device, info.id, handles.as_mut_ptr(), &mut count) },
                || format!("GPU {gpu}: GPU instances of profile id {}", info.id),
            )?;
            for &gi in handles.iter().take(count as usize) {
                let gi_info = self.gi_info(gpu, gi)?;
                let mut cis: Vec<nvmlComputeInstance_t> = vec![std::ptr::null_mut(); 8];
                let mut ci_count: c_uint = 0;
                let ci_profile = self.ci_profile_id(gpu, gi, gi_info.profileId)?;
                // SAFETY: room for 8 compute instances, more than a GPU instance can hold (7 slices).
                check(
                    unsafe { list_ci(gi, ci_profile, cis.as_mut_ptr(), &mut ci_count) },
                    || {
                        format!(
                            "GPU {gpu}: compute instances of GPU instance {}",
                            gi_info.id
                        )
                    },
                )?;
                let mut ids = Vec::new();
                for &ci in cis.iter().take(ci_count as usize) {
                    // SAFETY: all-zero is a valid value of this plain C struct.
                    let mut ci_i: nvmlComputeInstanceInfo_t = unsafe { std::mem::zeroed() };
                    // SAFETY: live compute instance handle, valid out pointer.
                    check(unsafe { ci_info(ci, &mut ci_i) }, || {
                        format!("GPU {gpu}: compute instance info")
                    })?;
                    ids.push(ci_i.id);
                }
                out.push(GpuInstanceInfo {
                    id: gi_info.id,
                    profile_id: gi_info.profileId,
                    start: u8::try_from(gi_info.placement.start).unwrap_or(u8::MAX),
                    size: u8::try_from(gi_info.placement.size).unwrap_or(u8::MAX),
                    compute_instances: ids,
                });
            }
        }
        out.sort_by_key(|g| g.start);
        Ok(out)
    }

    fn create_gpu_instance(
        &self,
        gpu: u32,
        profile_id: u32,
        start: u8,
    ) -> Result<u32, DriverError> {
        let device = self.handle(gpu)?;
        let kind = KINDS
            .iter()
            .find(|k| k.nvml_id == profile_id)
            .ok_or_else(|| {
                DriverError::InvalidArgument(format!(
                    "GPU {gpu}: no GPU instance profile id {profile_id}"
                ))
            })?;
        let f = sym!(self, nvmlDeviceCreateGpuInstanceWithPlacement);
        let placement = nvmlGpuInstancePlacement_t {
            start: c_uint::from(start),
            size: c_uint::from(kind.memory_slices),
        };
        let mut gi: nvmlGpuInstance_t = std::ptr::null_mut();
        // SAFETY: live handle; `placement` lives across the call; `gi` is a valid out pointer.
        check(
            unsafe { f(device, profile_id, &placement, &mut gi) },
            || format!("GPU {gpu}: create GPU instance of profile id {profile_id} at {start}"),
        )?;
        Ok(self.gi_info(gpu, gi)?.id)
    }

    fn create_compute_instance(&self, gpu: u32, gi: u32) -> Result<u32, DriverError> {
        let handle = self.gi_handle(gpu, gi)?;
        let info = self.gi_info(gpu, handle)?;
        let ci_profile = self.ci_profile_id(gpu, handle, info.profileId)?;
        let create = sym!(self, nvmlGpuInstanceCreateComputeInstance);
        let ci_info = sym!(self, nvmlComputeInstanceGetInfo_v2);
        let mut ci: nvmlComputeInstance_t = std::ptr::null_mut();
        // SAFETY: live GPU instance handle, valid out pointer.
        check(unsafe { create(handle, ci_profile, &mut ci) }, || {
            format!("GPU {gpu}: create compute instance in {gi}")
        })?;
        // SAFETY: all-zero is a valid value of this plain C struct.
        let mut i: nvmlComputeInstanceInfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: the compute instance just created, valid out pointer.
        check(unsafe { ci_info(ci, &mut i) }, || {
            format!("GPU {gpu}: compute instance info")
        })?;
        Ok(i.id)
    }

    fn destroy_compute_instance(&self, gpu: u32, gi: u32, ci: u32) -> Result<(), DriverError> {
        let handle = self.gi_handle(gpu, gi)?;
        let by_id = sym!(self, nvmlGpuInstanceGetComputeInstanceById);
        let destroy = sym!(self, nvmlComputeInstanceDestroy);
        let mut ci_handle: nvmlComputeInstance_t = std::ptr::null_mut();
        // SAFETY: live GPU instance handle, valid out pointer.
        check(unsafe { by_id(handle, ci, &mut ci_handle) }, || {
            format!("GPU {gpu}: compute instance {ci} of {gi}")
        })?;
        // SAFETY: a live compute instance handle, not used after this call.
        check(unsafe { destroy(ci_handle) }, || {
            format!("GPU {gpu}: destroy compute instance {ci} of {gi}")
        })
    }

    fn destroy_gpu_instance(&self, gpu: u32, gi: u32) -> Result<(), DriverError> {
        let handle = self.gi_handle(gpu, gi)?;
        let destroy = sym!(self, nvmlGpuInstanceDestroy);
        // SAFETY: a live GPU instance handle, not used after this call.
        check(unsafe { destroy(handle) }, || {
            format!("GPU {gpu}: destroy GPU instance {gi}")
        })
    }

    fn mig_devices(&self, gpu: u32) -> Result<Vec<MigDeviceInfo>, DriverError> {
        if self.mig_mode(gpu)?.current != MigMode::Enabled {
            return Ok(Vec::new());
        }
        let device = self.handle(gpu)?;
        let max = sym!(self, nvmlDeviceGetMaxMigDeviceCount);
        let by_index = sym!(self, nvmlDeviceGetMigDeviceHandleByIndex);
        let gi_id = sym!(self, nvmlDeviceGetGpuInstanceId);
        let ci_id = sym!(self, nvmlDeviceGetComputeInstanceId);
        let uuid = sym!(self, nvmlDeviceGetUUID);
        let mut count: c_uint = 0;
        // SAFETY: live handle, valid out pointer.
        check(unsafe { max(device, &mut count) }, || {
            format!("GPU {gpu}: MIG device count")
        })?;
        let mut out = Vec::new();
        for index in 0..count {
            let mut mig: nvmlDevice_t = std::ptr::null_mut();
            // SAFETY: live handle, valid out pointer.
            let ret = unsafe { by_index(device, index, &mut mig) };
            if ret == 6 {
                continue; // no MIG device at this index
            }
            check(ret, || format!("GPU {gpu}: MIG device {index}"))?;
            let (mut gi, mut ci) = (0, 0);
            let mut buf = [0 as std::ffi::c_char; 96];
            // SAFETY: `mig` is a live MIG device handle; out pointers valid; `buf` holds 96 bytes,
            // more than NVML_DEVICE_UUID_V2_BUFFER_SIZE (96 is that size).
            unsafe {
                check(gi_id(mig, &mut gi), || {
                    format!("GPU {gpu}: MIG device {index} GPU instance")
                })?;
                check(ci_id(mig, &mut ci), || {
                    format!("GPU {gpu}: MIG device {index} compute instance")
                })?;
                check(uuid(mig, buf.as_mut_ptr(), buf.len() as c_uint), || {
                    format!("GPU {gpu}: MIG device {index} UUID")
                })?;
            }
            // SAFETY: NVML wrote a NUL-terminated string into `buf` (checked above).
            let text = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
                .to_string_lossy()
                .into_owned();
            out.push(MigDeviceInfo {
                gpu_instance_id: gi,
                compute_instance_id: ci,
                uuid: text,
            });
        }
        Ok(out)
    }

    /// NVML has no public reset call: `nvidia-smi --gpu-reset` (which refuses while processes
    /// run, or while other GPUs share its NVLink fabric without being reset too) does it.
    fn reset_gpu(&self, gpu: u32) -> Result<(), DriverError> {
        let out = std::process::Command::new("nvidia-smi")
            .args(["--gpu-reset", "-i", &gpu.to_string()])
            .output()
            .map_err(|e| {
                DriverError::NotSupported(format!(
                    "GPU {gpu}: cannot run nvidia-smi to reset it ({e}); reset it by hand or reboot the node"
                ))
            })?;
        if out.status.success() {
            return Ok(());
        }
        let why = String::from_utf8_lossy(&out.stdout).trim().to_owned()
            + String::from_utf8_lossy(&out.stderr).trim();
        Err(DriverError::InUse(format!(
            "GPU {gpu}: nvidia-smi --gpu-reset refused: {why}"
        )))
    }

    fn processes(&self, gpu: u32, gi: u32) -> Result<Vec<ProcessInfo>, DriverError> {
        let device = self.handle(gpu)?;
        let f = sym!(self, nvmlDeviceGetComputeRunningProcesses_v3);
        let mut capacity: c_uint = 64;
        loop {
            // SAFETY: all-zero is a valid value of this plain C struct.
            let mut infos: Vec<nvmlProcessInfo_t> =
                vec![unsafe { std::mem::zeroed() }; capacity as usize];
            let mut count = capacity;
            // SAFETY: `count` says how many entries `infos` holds; NVML writes at most that many.
            let ret = unsafe { f(device, &mut count, infos.as_mut_ptr()) };
            if ret == 7 && count > capacity {
                capacity = count + 16; // more processes than room: grow and ask again
                continue;
            }
            check(ret, || format!("GPU {gpu}: running processes"))?;
            return Ok(infos
                .iter()
                .take(count as usize)
                .filter(|p| p.gpuInstanceId == gi)
                .map(|p| ProcessInfo {
                    pid: p.pid,
                    used_memory_mib: p.usedGpuMemory / (1024 * 1024),
                })
                .collect());
        }
    }
}
