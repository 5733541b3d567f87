//! Any JSON → the custom MIG config body (`POST /api/v1/mig-configs`): never a panic; every issue
//! has a message; a config that validates exports to mig-parted YAML that imports again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mig::custom::RawCustomConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = serde_json::from_slice::<RawCustomConfig>(data) else { return };
    match raw.validate(|name| name.starts_with("all-")) {
        Ok(config) => {
            let yaml = config.to_mig_parted_yaml(Some(1));
            assert!(
                mig::custom::import_mig_parted(&yaml, config.model()).is_ok(),
                "its own export does not import:\n{yaml}"
            );
        }
        Err(issues) => {
            assert!(!issues.is_empty());
            assert!(issues.iter().all(|i| !i.message.is_empty()), "{issues:?}");
        }
    }
});
