//! Any text → mig-parted YAML: parsing the file and importing it as custom configs for every GPU
//! model never panics; every imported config validates as it was imported.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mig::model::GpuModel;
use mig::parted::MigPartedConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    let _ = MigPartedConfig::parse(input);
    for model in GpuModel::all() {
        if let Ok(imported) = mig::custom::import_mig_parted(input, model) {
            let _ = format!("{imported:?}");
        }
    }
});
