//! The MIG configs the server offers: NVIDIA's built-ins (mig-parted's file, read once) and the
//! custom configs of the database, as one [`Catalogue`] that every part of the server reads.
//!
//! Custom configs change at run time, so the catalogue is a [`SharedCatalogue`]: a cheap handle
//! whose readers take the current snapshot (`Arc`) and whose writer swaps in a new one. No lock is
//! held across an `.await`.

use std::sync::{Arc, RwLock};

use mig::blueprint::Catalogue;
use mig::{GpuModel, NamedConfig};

use crate::store::StoredConfig;

/// mig-parted's default configs for every model. Empty (every config name then fails validation
/// with the list of what exists, i.e. none) only if the embedded file stops parsing, which a test
/// forbids.
pub fn builtin() -> Catalogue {
    match mig::MigPartedConfig::default_configs() {
        Ok(file) => Catalogue::from_parted(&file),
        Err(e) => {
            tracing::error!(error = %e, "the embedded mig-parted config does not parse");
            Catalogue::default()
        }
    }
}

/// The built-in configs plus the current custom ones; clones share it.
#[derive(Debug, Clone)]
pub struct SharedCatalogue {
    builtin: Arc<Catalogue>,
    current: Arc<RwLock<Arc<Catalogue>>>,
}

impl SharedCatalogue {
    /// `builtin` alone (custom configs come with [`SharedCatalogue::set_custom`]).
    pub fn new(builtin: Catalogue) -> Self {
        let builtin = Arc::new(builtin);
        Self {
            current: Arc::new(RwLock::new(builtin.clone())),
            builtin,
        }
    }

    /// The catalogue now.
    pub fn get(&self) -> Arc<Catalogue> {
        match self.current.read() {
            Ok(c) => c.clone(),
            // A writer panicked mid-swap: the value is still a whole Arc, so read it.
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// NVIDIA's built-ins only.
    pub fn builtin(&self) -> &Catalogue {
        &self.builtin
    }

    /// Replaces the custom configs with `stored` (the current version of each). A stored config
    /// that no longer validates (its model's table changed) is left out and logged.
    pub fn set_custom(&self, stored: &[StoredConfig]) {
        let custom: Vec<(GpuModel, NamedConfig)> = stored
            .iter()
            .filter_map(|s| match s.config.clone().validate(|n| self.builtin.is_builtin(n)) {
                Ok(c) => Some((c.model(), NamedConfig::from_custom(&c, s.version))),
                Err(issues) => {
                    let why: Vec<String> =
                        issues.iter().map(|i| format!("{}: {}", i.path, i.message)).collect();
                    tracing::error!(config = %s.config.name, version = s.version, issues = %why.join("; "), "a stored custom MIG config does not validate; it is not offered");
                    None
                }
            })
            .collect();
        let next = Arc::new((*self.builtin).clone().with_custom(custom));
        match self.current.write() {
            Ok(mut c) => *c = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}

impl Default for SharedCatalogue {
    fn default() -> Self {
        Self::new(builtin())
    }
}
