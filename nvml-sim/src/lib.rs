//! `nvml-sim`: a shared library that loads as `libnvidia-ml.so.1` and answers the NVML calls
//! migboard's agent makes, over simulated GPUs (the agent's `SimDriver`: NVIDIA's placement rules
//! and NVML's return codes). It exists so the agent's real NVML code path runs in tests on machines
//! without a GPU. Only the symbols the agent uses are exported; nvml-wrapper resolves the rest
//! lazily and reports them as missing if called.
//!
//! Configured by environment, read at `nvmlInit_v2`: `NVML_SIM_GPUS` (`h100x8`, default `h100x1`),
//! `NVML_SIM_RESET_IMMEDIATELY=1` (MIG mode changes take effect at once instead of pending until
//! a reset), `NVML_SIM_INITIAL=all-1g.10gb` (start with a named config applied),
//! `NVML_SIM_PROCESSES=0:3:4242,…` (gpu:memory slice:pid running), `NVML_SIM_FAULT_AFTER=n` (the
//! n-th mutating call fails), `NVML_SIM_LATENCY_MS` (each call's duration). GPU state lives as long as the process (like a GPU across driver
//! re-inits).

// FFI: every exported function takes raw pointers from C. Each dereference is checked for null
// first; the caller (NVML's contract) provides valid, writable memory of the documented type.
#![allow(unsafe_code)]
// Every export is `unsafe extern "C"`: its safety contract is NVML's for the function of that name
// (valid, writable out pointers of the documented types and sizes), documented by NVIDIA, not here.
#![allow(clippy::missing_safety_doc)]

use std::ffi::{CStr, c_char, c_uint};
use std::sync::OnceLock;

use agent::driver::{DriverError, GpuDriver};
use agent::sim::{SimDriver, SimOptions, parse_simulate};
use mig::MigMode;
use mig::model::KINDS;
use nvml_wrapper_sys::bindings::{
    nvmlComputeInstance_t, nvmlDevice_t, nvmlGpuInstance_t, nvmlGpuInstanceInfo_t,
    nvmlGpuInstancePlacement_t, nvmlGpuInstanceProfileInfo_t, nvmlMemory_v2_t, nvmlPciInfo_t,
    nvmlProcessInfo_t, nvmlReturn_t,
};

const SUCCESS: nvmlReturn_t = 0;
const UNINITIALIZED: nvmlReturn_t = 1;
const INVALID_ARGUMENT: nvmlReturn_t = 2;
const NOT_SUPPORTED: nvmlReturn_t = 3;
const NOT_FOUND: nvmlReturn_t = 6;
const INSUFFICIENT_SIZE: nvmlReturn_t = 7;

static SIM: OnceLock<SimDriver> = OnceLock::new();

fn sim() -> Result<&'static SimDriver, nvmlReturn_t> {
    SIM.get().ok_or(UNINITIALIZED)
}

fn code(e: &DriverError) -> nvmlReturn_t {
    e.nvml_code().unwrap_or(999)
}

fn run(f: impl FnOnce() -> Result<(), nvmlReturn_t>) -> nvmlReturn_t {
    match f() {
        Ok(()) => SUCCESS,
        Err(c) => c,
    }
}

// Handles are plain numbers disguised as pointers: device = index + 1; GPU instance =
// (gpu + 1) << 20 | id; compute instance = (gpu + 1) << 40 | gi << 20 | (ci + 1). Never dereferenced.
// MIG device handles live in another range: MIG_BASE | gpu << 24 | gi << 8 | ci.
const MIG_BASE: usize = 1 << 50;
fn mig_handle(gpu: u32, gi: u32, ci: u32) -> nvmlDevice_t {
    (MIG_BASE | (gpu as usize) << 24 | (gi as usize) << 8 | ci as usize) as nvmlDevice_t
}
fn mig_parts(d: nvmlDevice_t) -> Option<(u32, u32, u32)> {
    let n = d as usize;
    (n & MIG_BASE != 0).then_some((
        ((n >> 24) & 0xFFFF) as u32,
        ((n >> 8) & 0xFFFF) as u32,
        (n & 0xFF) as u32,
    ))
}

fn device_index(d: nvmlDevice_t) -> Result<u32, nvmlReturn_t> {
    let n = d as usize;
    if n == 0 || n > 64 {
        Err(INVALID_ARGUMENT)
    } else {
        Ok((n - 1) as u32)
    }
}
fn gi_handle(gpu: u32, gi: u32) -> nvmlGpuInstance_t {
    (((gpu as usize + 1) << 20) | gi as usize) as nvmlGpuInstance_t
}
fn gi_parts(h: nvmlGpuInstance_t) -> Result<(u32, u32), nvmlReturn_t> {
    let n = h as usize;
    let gpu = n >> 20;
    if gpu == 0 {
        Err(INVALID_ARGUMENT)
    } else {
        Ok(((gpu - 1) as u32, (n & 0xFFFFF) as u32))
    }
}
/// The GPU and the simulator's record of the GPU instance behind a handle.
fn instance_of(
    h: nvmlGpuInstance_t,
) -> Result<(u32, agent::driver::GpuInstanceInfo), nvmlReturn_t> {
    let (gpu, id) = gi_parts(h)?;
    let all = sim()?.gpu_instances(gpu).map_err(|e| code(&e))?;
    all.into_iter()
        .find(|g| g.id == id)
        .map(|g| (gpu, g))
        .ok_or(NOT_FOUND)
}

fn ci_handle(gpu: u32, gi: u32, ci: u32) -> nvmlComputeInstance_t {
    (((gpu as usize + 1) << 40) | ((gi as usize) << 20) | (ci as usize + 1))
        as nvmlComputeInstance_t
}
fn ci_parts(h: nvmlComputeInstance_t) -> Result<(u32, u32, u32), nvmlReturn_t> {
    let n = h as usize;
    let gpu = n >> 40;
    let ci = n & 0xFFFFF;
    if gpu == 0 || ci == 0 {
        Err(INVALID_ARGUMENT)
    } else {
        Ok((
            (gpu - 1) as u32,
            ((n >> 20) & 0xFFFFF) as u32,
            (ci - 1) as u32,
        ))
    }
}

/// Writes `value` through `ptr`, refusing null.
fn put<T>(ptr: *mut T, value: T) -> Result<(), nvmlReturn_t> {
    if ptr.is_null() {
        return Err(INVALID_ARGUMENT);
    }
    // SAFETY: non-null, and NVML's contract makes it point to writable memory for a `T`.
    unsafe { ptr.write(value) };
    Ok(())
}

/// Copies `text` and a NUL into a caller buffer of `len` bytes.
fn put_str(buf: *mut c_char, len: c_uint, text: &str) -> Result<(), nvmlReturn_t> {
    if buf.is_null() {
        return Err(INVALID_ARGUMENT);
    }
    let bytes = text.as_bytes();
    if bytes.len() + 1 > len as usize {
        return Err(INSUFFICIENT_SIZE);
    }
    // SAFETY: `buf` is non-null and the caller says it holds `len` bytes; we write bytes.len() + 1 <= len.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len());
        buf.add(bytes.len()).write(0);
    }
    Ok(())
}

fn mode_code(m: MigMode) -> c_uint {
    match m {
        MigMode::Disabled => 0,
        MigMode::Enabled => 1,
    }
}

/// `nvmlInit_v2`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlInit_v2() -> nvmlReturn_t {
    let spec = std::env::var("NVML_SIM_GPUS").unwrap_or_else(|_| "h100x1".to_owned());
    let Ok((model, count)) = parse_simulate(&spec) else {
        return INVALID_ARGUMENT;
    };
    let reset_immediately = std::env::var("NVML_SIM_RESET_IMMEDIATELY").is_ok_and(|v| v == "1");
    let mut failed = SUCCESS;
    SIM.get_or_init(|| {
        let latency = std::env::var("NVML_SIM_LATENCY_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(0);
        let sim = SimDriver::new(model, count, SimOptions { reset_immediately })
            .with_latency(std::time::Duration::from_millis(latency));
        if let Err(code) = prepare(&sim, model, count) {
            failed = code;
        }
        sim
    });
    failed
}

/// Applies `NVML_SIM_INITIAL` (a named config, as after an earlier apply and reset), starts
/// `NVML_SIM_PROCESSES` (`gpu:slice:pid,...`), and arms `NVML_SIM_FAULT_AFTER` (fail the n-th
/// mutating call with an unknown error).
fn prepare(sim: &SimDriver, model: mig::GpuModel, count: u32) -> Result<(), nvmlReturn_t> {
    if let Ok(name) = std::env::var("NVML_SIM_INITIAL") {
        let file = mig::MigPartedConfig::default_configs().map_err(|_| INVALID_ARGUMENT)?;
        for gpu in 0..count {
            let desired = file
                .resolve(&name, model, gpu)
                .map_err(|_| INVALID_ARGUMENT)?;
            let first = agent::apply::apply_gpu(sim, gpu, &desired.clone().into(), false)
                .map_err(|_| INVALID_ARGUMENT)?;
            if first.outcome == agent::apply::Outcome::ResetRequired {
                sim.reset(gpu).map_err(|e| code(&e))?;
                agent::apply::apply_gpu(sim, gpu, &desired.clone().into(), false)
                    .map_err(|_| INVALID_ARGUMENT)?;
            }
        }
    }
    if let Ok(list) = std::env::var("NVML_SIM_PROCESSES") {
        for item in list.split(',').filter(|i| !i.trim().is_empty()) {
            let parts: Vec<u32> = item
                .trim()
                .split(':')
                .filter_map(|p| p.parse().ok())
                .collect();
            let [gpu, slice, pid] = parts[..] else {
                return Err(INVALID_ARGUMENT);
            };
            let slice = u8::try_from(slice).map_err(|_| INVALID_ARGUMENT)?;
            sim.start_process(gpu, slice, pid, 1024)
                .map_err(|e| code(&e))?;
        }
    }
    if let Some(n) = std::env::var("NVML_SIM_FAULT_AFTER")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        sim.inject_fault_after(n);
    }
    Ok(())
}

/// `nvmlInitWithFlags`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlInitWithFlags(_flags: c_uint) -> nvmlReturn_t {
    // SAFETY: nvmlInit_v2 takes no pointers.
    unsafe { nvmlInit_v2() }
}

/// `nvmlShutdown`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlShutdown() -> nvmlReturn_t {
    SUCCESS
}

/// `nvmlErrorString`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlErrorString(result: nvmlReturn_t) -> *const c_char {
    let s: &'static CStr = match result {
        0 => c"Success",
        1 => c"Uninitialized",
        2 => c"Invalid Argument",
        3 => c"Not Supported",
        4 => c"Insufficient Permissions",
        6 => c"Not Found",
        7 => c"Insufficient Size",
        16 => c"GPU requires reset",
        19 => c"In use by another client",
        23 => c"Insufficient resources",
        _ => c"Unknown Error",
    };
    s.as_ptr()
}

/// `nvmlDeviceGetCount_v2`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetCount_v2(count: *mut c_uint) -> nvmlReturn_t {
    run(|| put(count, sim()?.gpus().map_err(|e| code(&e))?.len() as c_uint))
}

/// `nvmlDeviceGetHandleByIndex_v2`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetHandleByIndex_v2(
    index: c_uint,
    device: *mut nvmlDevice_t,
) -> nvmlReturn_t {
    run(|| {
        let n = sim()?.gpus().map_err(|e| code(&e))?.len() as c_uint;
        if index >= n {
            return Err(INVALID_ARGUMENT);
        }
        put(device, (index as usize + 1) as nvmlDevice_t)
    })
}

fn info(d: nvmlDevice_t) -> Result<agent::driver::GpuInfo, nvmlReturn_t> {
    let i = device_index(d)?;
    sim()?
        .gpus()
        .map_err(|e| code(&e))?
        .into_iter()
        .nth(i as usize)
        .ok_or(INVALID_ARGUMENT)
}

/// `nvmlDeviceGetName`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetName(
    device: nvmlDevice_t,
    name: *mut c_char,
    length: c_uint,
) -> nvmlReturn_t {
    run(|| put_str(name, length, &info(device)?.name))
}

/// `nvmlDeviceGetUUID`, of a GPU or of a MIG device.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetUUID(
    device: nvmlDevice_t,
    uuid: *mut c_char,
    length: c_uint,
) -> nvmlReturn_t {
    run(|| match mig_parts(device) {
        Some((gpu, gi, ci)) => {
            let model = info((gpu as usize + 1) as nvmlDevice_t)?
                .model
                .ok_or(NOT_SUPPORTED)?;
            put_str(uuid, length, &agent::sim::mig_uuid(model, gpu, gi, ci))
        }
        None => put_str(uuid, length, &info(device)?.uuid),
    })
}

/// `nvmlDeviceGetMaxMigDeviceCount`: 7 on every modelled GPU.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetMaxMigDeviceCount(
    device: nvmlDevice_t,
    count: *mut c_uint,
) -> nvmlReturn_t {
    run(|| {
        device_index(device)?;
        put(count, 7)
    })
}

/// `nvmlDeviceGetMigDeviceHandleByIndex`: the `index`-th MIG device, NOT_FOUND past the last.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetMigDeviceHandleByIndex(
    device: nvmlDevice_t,
    index: c_uint,
    mig: *mut nvmlDevice_t,
) -> nvmlReturn_t {
    run(|| {
        let gpu = device_index(device)?;
        let devices = sim()?.mig_devices(gpu).map_err(|e| code(&e))?;
        let d = devices.get(index as usize).ok_or(NOT_FOUND)?;
        put(
            mig,
            mig_handle(gpu, d.gpu_instance_id, d.compute_instance_id),
        )
    })
}

/// `nvmlDeviceGetGpuInstanceId` of a MIG device.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceId(
    device: nvmlDevice_t,
    id: *mut c_uint,
) -> nvmlReturn_t {
    run(|| put(id, mig_parts(device).ok_or(INVALID_ARGUMENT)?.1))
}

/// `nvmlDeviceGetComputeInstanceId` of a MIG device.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetComputeInstanceId(
    device: nvmlDevice_t,
    id: *mut c_uint,
) -> nvmlReturn_t {
    run(|| put(id, mig_parts(device).ok_or(INVALID_ARGUMENT)?.2))
}

/// `nvmlDeviceGetMemoryInfo_v2`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetMemoryInfo_v2(
    device: nvmlDevice_t,
    memory: *mut nvmlMemory_v2_t,
) -> nvmlReturn_t {
    run(|| {
        let total = info(device)?.memory_mib * 1024 * 1024;
        let version = (std::mem::size_of::<nvmlMemory_v2_t>() | (2 << 24)) as c_uint;
        put(
            memory,
            nvmlMemory_v2_t {
                version,
                total,
                reserved: 0,
                free: total,
                used: 0,
            },
        )
    })
}

/// `nvmlDeviceGetPciInfo_v3`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetPciInfo_v3(
    device: nvmlDevice_t,
    pci: *mut nvmlPciInfo_t,
) -> nvmlReturn_t {
    run(|| {
        let i = info(device)?;
        let mut bus_id = [0 as c_char; 32];
        for (dst, src) in bus_id
            .iter_mut()
            .zip(format!("00000000:{:02X}:00.0", 0x18 + i.index).bytes())
        {
            *dst = src as c_char;
        }
        let mut legacy = [0 as c_char; 16];
        for (dst, src) in legacy.iter_mut().zip(bus_id.iter().skip(4).take(12)) {
            *dst = *src;
        }
        put(
            pci,
            nvmlPciInfo_t {
                busIdLegacy: legacy,
                domain: 0,
                bus: 0x18 + i.index,
                device: 0,
                pciDeviceId: i.pci_device_id,
                pciSubSystemId: 0,
                busId: bus_id,
            },
        )
    })
}

/// `nvmlDeviceGetMigMode`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetMigMode(
    device: nvmlDevice_t,
    current: *mut c_uint,
    pending: *mut c_uint,
) -> nvmlReturn_t {
    run(|| {
        let m = sim()?
            .mig_mode(device_index(device)?)
            .map_err(|e| code(&e))?;
        put(current, mode_code(m.current))?;
        put(pending, mode_code(m.pending))
    })
}

/// `nvmlDeviceSetMigMode`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceSetMigMode(
    device: nvmlDevice_t,
    mode: c_uint,
    activation: *mut nvmlReturn_t,
) -> nvmlReturn_t {
    run(|| {
        let mode = match mode {
            0 => MigMode::Disabled,
            1 => MigMode::Enabled,
            _ => return Err(INVALID_ARGUMENT),
        };
        let state = sim()?
            .set_mig_mode(device_index(device)?, mode)
            .map_err(|e| code(&e))?;
        // Like real NVML: the call succeeds; whether a reset is still needed comes back here.
        put(activation, if state.current == mode { SUCCESS } else { 16 })
    })
}

/// `nvmlDeviceGetGpuInstanceProfileInfo`: profile *index* in, profile *id* (and sizes) out.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceProfileInfo(
    device: nvmlDevice_t,
    profile: c_uint,
    out: *mut nvmlGpuInstanceProfileInfo_t,
) -> nvmlReturn_t {
    run(|| {
        let model = info(device)?.model.ok_or(NOT_SUPPORTED)?;
        let kind = KINDS
            .iter()
            .find(|k| k.nvml_index == profile)
            .ok_or(NOT_SUPPORTED)?;
        let spec = model.profile_of_kind(kind.kind);
        put(
            out,
            nvmlGpuInstanceProfileInfo_t {
                id: kind.nvml_id,
                isP2pSupported: 0,
                sliceCount: c_uint::from(kind.compute_slices),
                instanceCount: c_uint::from(kind.max_count),
                multiprocessorCount: c_uint::from(spec.sm_count),
                copyEngineCount: 0,
                decoderCount: 0,
                encoderCount: 0,
                jpegCount: 0,
                ofaCount: 0,
                memorySizeMB: u64::from(spec.memory_mib),
            },
        )
    })
}

/// `nvmlDeviceCreateGpuInstanceWithPlacement`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceCreateGpuInstanceWithPlacement(
    device: nvmlDevice_t,
    profile_id: c_uint,
    placement: *const nvmlGpuInstancePlacement_t,
    gpu_instance: *mut nvmlGpuInstance_t,
) -> nvmlReturn_t {
    run(|| {
        if placement.is_null() {
            return Err(INVALID_ARGUMENT);
        }
        // SAFETY: non-null; NVML's contract: points to a placement.
        let p = unsafe { placement.read() };
        let gpu = device_index(device)?;
        let start = u8::try_from(p.start).map_err(|_| INVALID_ARGUMENT)?;
        let gi = sim()?
            .create_gpu_instance(gpu, profile_id, start)
            .map_err(|e| code(&e))?;
        put(gpu_instance, gi_handle(gpu, gi))
    })
}

/// `nvmlDeviceGetGpuInstances`: the instances of one profile *id*.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstances(
    device: nvmlDevice_t,
    profile_id: c_uint,
    out: *mut nvmlGpuInstance_t,
    count: *mut c_uint,
) -> nvmlReturn_t {
    run(|| {
        let gpu = device_index(device)?;
        let all = sim()?.gpu_instances(gpu).map_err(|e| code(&e))?;
        let mine: Vec<u32> = all
            .iter()
            .filter(|g| g.profile_id == profile_id)
            .map(|g| g.id)
            .collect();
        if out.is_null() {
            return Err(INVALID_ARGUMENT);
        }
        for (i, id) in mine.iter().enumerate() {
            // SAFETY: NVML's contract: `out` holds room for the profile's maximum instance count
            // (callers size it from nvmlGpuInstanceProfileInfo.instanceCount, at most 7 here).
            unsafe { out.add(i).write(gi_handle(gpu, *id)) };
        }
        put(count, mine.len() as c_uint)
    })
}

/// `nvmlDeviceGetGpuInstanceById`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceById(
    device: nvmlDevice_t,
    id: c_uint,
    gpu_instance: *mut nvmlGpuInstance_t,
) -> nvmlReturn_t {
    run(|| {
        let gpu = device_index(device)?;
        let all = sim()?.gpu_instances(gpu).map_err(|e| code(&e))?;
        if !all.iter().any(|g| g.id == id) {
            return Err(NOT_FOUND);
        }
        put(gpu_instance, gi_handle(gpu, id))
    })
}

/// `nvmlGpuInstanceGetInfo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlGpuInstanceGetInfo(
    gpu_instance: nvmlGpuInstance_t,
    out: *mut nvmlGpuInstanceInfo_t,
) -> nvmlReturn_t {
    run(|| {
        let (gpu, g) = instance_of(gpu_instance)?;
        let id = g.id;
        put(
            out,
            nvmlGpuInstanceInfo_t {
                device: (gpu as usize + 1) as nvmlDevice_t,
                id,
                profileId: g.profile_id,
                placement: nvmlGpuInstancePlacement_t {
                    start: c_uint::from(g.start),
                    size: c_uint::from(g.size),
                },
            },
        )
    })
}

/// `nvmlGpuInstanceCreateComputeInstance` (the full-size compute instance).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlGpuInstanceCreateComputeInstance(
    gpu_instance: nvmlGpuInstance_t,
    _profile_id: c_uint,
    compute_instance: *mut nvmlComputeInstance_t,
) -> nvmlReturn_t {
    run(|| {
        let (gpu, gi) = gi_parts(gpu_instance)?;
        let ci = sim()?
            .create_compute_instance(gpu, gi)
            .map_err(|e| code(&e))?;
        put(compute_instance, ci_handle(gpu, gi, ci))
    })
}

/// `nvmlGpuInstanceGetComputeInstances`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlGpuInstanceGetComputeInstances(
    gpu_instance: nvmlGpuInstance_t,
    _profile_id: c_uint,
    out: *mut nvmlComputeInstance_t,
    count: *mut c_uint,
) -> nvmlReturn_t {
    run(|| {
        let (gpu, g) = instance_of(gpu_instance)?;
        let gi = g.id;
        if out.is_null() {
            return Err(INVALID_ARGUMENT);
        }
        for (i, ci) in g.compute_instances.iter().enumerate() {
            // SAFETY: NVML's contract: room for the compute profile's instance count (1 here).
            unsafe { out.add(i).write(ci_handle(gpu, gi, *ci)) };
        }
        put(count, g.compute_instances.len() as c_uint)
    })
}

/// `nvmlComputeInstanceDestroy`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlComputeInstanceDestroy(
    compute_instance: nvmlComputeInstance_t,
) -> nvmlReturn_t {
    run(|| {
        let (gpu, gi, ci) = ci_parts(compute_instance)?;
        sim()?
            .destroy_compute_instance(gpu, gi, ci)
            .map_err(|e| code(&e))
    })
}

/// `nvmlGpuInstanceDestroy`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlGpuInstanceDestroy(gpu_instance: nvmlGpuInstance_t) -> nvmlReturn_t {
    run(|| {
        let (gpu, gi) = gi_parts(gpu_instance)?;
        sim()?.destroy_gpu_instance(gpu, gi).map_err(|e| code(&e))
    })
}

/// `nvmlDeviceGetComputeRunningProcesses_v3`: processes of every GPU instance, tagged with its id.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlDeviceGetComputeRunningProcesses_v3(
    device: nvmlDevice_t,
    count: *mut c_uint,
    infos: *mut nvmlProcessInfo_t,
) -> nvmlReturn_t {
    run(|| {
        let gpu = device_index(device)?;
        let s = sim()?;
        let mut procs = Vec::new();
        if s.mig_mode(gpu).map_err(|e| code(&e))?.current == MigMode::Enabled {
            for g in s.gpu_instances(gpu).map_err(|e| code(&e))? {
                for p in s.processes(gpu, g.id).map_err(|e| code(&e))? {
                    procs.push(nvmlProcessInfo_t {
                        pid: p.pid,
                        usedGpuMemory: p.used_memory_mib * 1024 * 1024,
                        gpuInstanceId: g.id,
                        computeInstanceId: 0,
                    });
                }
            }
        }
        if count.is_null() {
            return Err(INVALID_ARGUMENT);
        }
        // SAFETY: non-null; NVML's contract: in, the capacity of `infos`; out, the number of processes.
        let capacity = unsafe { count.read() } as usize;
        put(count, procs.len() as c_uint)?;
        if procs.len() > capacity || (infos.is_null() && !procs.is_empty()) {
            return Err(INSUFFICIENT_SIZE);
        }
        for (i, p) in procs.into_iter().enumerate() {
            // SAFETY: i < capacity, which the caller said `infos` holds.
            unsafe { infos.add(i).write(p) };
        }
        Ok(())
    })
}

/// Test hook (not NVML): start a simulated process on the instance covering `slice` of `gpu`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlSimStartProcess(
    gpu: c_uint,
    slice: c_uint,
    pid: c_uint,
    used_mib: u64,
) -> nvmlReturn_t {
    run(|| {
        let slice = u8::try_from(slice).map_err(|_| INVALID_ARGUMENT)?;
        sim()?
            .start_process(gpu, slice, pid, used_mib)
            .map_err(|e| code(&e))
    })
}

/// `nvmlGpuInstanceGetComputeInstanceById`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlGpuInstanceGetComputeInstanceById(
    gpu_instance: nvmlGpuInstance_t,
    id: c_uint,
    compute_instance: *mut nvmlComputeInstance_t,
) -> nvmlReturn_t {
    run(|| {
        let (gpu, g) = instance_of(gpu_instance)?;
        let gi = g.id;
        if !g.compute_instances.contains(&id) {
            return Err(NOT_FOUND);
        }
        put(compute_instance, ci_handle(gpu, gi, id))
    })
}

/// `nvmlComputeInstanceGetInfo_v2`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlComputeInstanceGetInfo_v2(
    compute_instance: nvmlComputeInstance_t,
    out: *mut nvml_wrapper_sys::bindings::nvmlComputeInstanceInfo_t,
) -> nvmlReturn_t {
    run(|| {
        let (gpu, gi, ci) = ci_parts(compute_instance)?;
        let (_, g) = instance_of(gi_handle(gpu, gi))?;
        let kind = KINDS
            .iter()
            .find(|k| k.nvml_id == g.profile_id)
            .ok_or(NOT_FOUND)?;
        put(
            out,
            nvml_wrapper_sys::bindings::nvmlComputeInstanceInfo_t {
                device: (gpu as usize + 1) as nvmlDevice_t,
                gpuInstance: gi_handle(gpu, gi),
                id: ci,
                profileId: kind.full_compute_instance_profile_index(),
                placement: nvml_wrapper_sys::bindings::nvmlComputeInstancePlacement_t {
                    start: 0,
                    size: c_uint::from(kind.compute_slices),
                },
            },
        )
    })
}

/// `nvmlGpuInstanceGetComputeInstanceProfileInfo`: only the full-size profile of the instance exists.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn nvmlGpuInstanceGetComputeInstanceProfileInfo(
    gpu_instance: nvmlGpuInstance_t,
    profile: c_uint,
    _eng_profile: c_uint,
    out: *mut nvml_wrapper_sys::bindings::nvmlComputeInstanceProfileInfo_t,
) -> nvmlReturn_t {
    run(|| {
        let (_, g) = instance_of(gpu_instance)?;
        let kind = KINDS
            .iter()
            .find(|k| k.nvml_id == g.profile_id)
            .ok_or(NOT_FOUND)?;
        if profile != kind.full_compute_instance_profile_index() {
            return Err(NOT_SUPPORTED);
        }
        put(
            out,
            nvml_wrapper_sys::bindings::nvmlComputeInstanceProfileInfo_t {
                id: profile,
                sliceCount: c_uint::from(kind.compute_slices),
                instanceCount: 1,
                multiprocessorCount: 0,
                sharedCopyEngineCount: 0,
                sharedDecoderCount: 0,
                sharedEncoderCount: 0,
                sharedJpegCount: 0,
                sharedOfaCount: 0,
            },
        )
    })
}
