//! Shared server state and the [`app::backend::Backend`] implementation server functions call.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use app::api::status::ServerStatus;
use app::backend::{Backend, BackendHandle};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use mig::blueprint::{Catalogue, FleetView};

use crate::cluster::embedded::FleetSpec;
use crate::cluster::{Cluster, Fixed, Fleet};

/// How often the fleet snapshot is refreshed from the cluster.
pub const FLEET_REFRESH: Duration = Duration::from_secs(2);

/// State every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Leptos' site options (site root, bundle name, address).
    pub leptos_options: LeptosOptions,
    inner: Arc<ServerBackend>,
}

/// mig-parted's default configs for every model. Empty (every config name then fails validation
/// with the list of what exists, i.e. none) only if the embedded file stops parsing, which a test
/// forbids.
pub fn catalogue() -> Catalogue {
    match mig::MigPartedConfig::default_configs() {
        Ok(file) => Catalogue::from_parted(&file),
        Err(e) => {
            tracing::error!(error = %e, "the embedded mig-parted config does not parse");
            Catalogue::default()
        }
    }
}

impl AppState {
    /// State over a [`Fixed`] copy of the default fleet, with no agents behind it (handler tests, and
    /// `--cluster none`).
    pub fn new(leptos_options: LeptosOptions) -> Self {
        let catalogue = Arc::new(catalogue());
        let fixed = Fixed::new(
            &FleetSpec::default_fleet(),
            &catalogue,
            "fixed fleet (no agents): the default fleet's layout as data",
        );
        let snapshot = fixed.snapshot();
        Self::with_cluster(leptos_options, Arc::new(fixed), catalogue, snapshot)
    }

    /// State over `cluster`, starting from `snapshot` (the caller has read it once already).
    pub fn with_cluster(
        leptos_options: LeptosOptions,
        cluster: Arc<dyn Cluster>,
        catalogue: Arc<Catalogue>,
        snapshot: Fleet,
    ) -> Self {
        Self {
            leptos_options,
            inner: Arc::new(ServerBackend {
                started: Instant::now(),
                sequence: AtomicU64::new(0),
                catalogue,
                cluster,
                fleet: RwLock::new(snapshot),
            }),
        }
    }

    /// Keeps the fleet snapshot fresh: reads the cluster every [`FLEET_REFRESH`] until the runtime
    /// stops.
    pub fn spawn_fleet_refresh(&self) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FLEET_REFRESH).await;
                inner.refresh().await;
            }
        });
    }

    /// The fleet as last read.
    pub fn fleet(&self) -> Fleet {
        self.inner.snapshot()
    }

    /// Reads the cluster now and keeps the result.
    pub async fn refresh_fleet(&self) -> Fleet {
        self.inner.refresh().await
    }

    /// What the cluster backend is.
    pub fn cluster_description(&self) -> String {
        self.inner.cluster.describe()
    }

    /// The backend as the trait object server functions receive.
    pub fn backend(&self) -> BackendHandle {
        self.inner.clone()
    }

    /// Where the built site (hydration bundle, CSS, assets) is served from.
    pub fn site_root(&self) -> PathBuf {
        PathBuf::from(&*self.leptos_options.site_root)
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The server's side of [`Backend`].
#[derive(Debug)]
struct ServerBackend {
    started: Instant,
    sequence: AtomicU64,
    catalogue: Arc<Catalogue>,
    cluster: Arc<dyn Cluster>,
    fleet: RwLock<Fleet>,
}

impl ServerBackend {
    fn snapshot(&self) -> Fleet {
        // A poisoned lock means a writer panicked mid-update; the snapshot is plain data and still usable.
        self.fleet
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn refresh(&self) -> Fleet {
        let fresh = self.cluster.fleet().await;
        *self
            .fleet
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh.clone();
        fresh
    }
}

impl Backend for ServerBackend {
    fn status(&self) -> ServerStatus {
        let now_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        ServerStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: self.cluster.describe(),
            uptime_secs: self.started.elapsed().as_secs(),
            now_unix_ms,
            sequence: self.sequence.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    fn catalogue(&self) -> Arc<Catalogue> {
        self.catalogue.clone()
    }

    fn fleet(&self) -> FleetView {
        self.snapshot().view(Vec::new())
    }

    fn fleet_layout(&self) -> Fleet {
        self.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_default_fleet_has_its_configs_applied() {
        let cat = catalogue();
        for model in mig::GpuModel::all() {
            assert!(
                !cat.configs(model).is_empty(),
                "{model:?} has named configs"
            );
        }
        let state = AppState::new(LeptosOptions::builder().output_name("t").build());
        let view = state.backend().fleet();
        assert_eq!(view.nodes.len(), 3);
        let h100 = view.node("10.0.10.11").expect("node");
        assert_eq!(h100.mig_config.as_deref(), Some("all-balanced"));
        // all-balanced on H100: 2 × 1g.10gb per GPU, 8 GPUs.
        assert_eq!(h100.slices_of("1g.10gb"), (16, 16));
        let a100 = view.node("10.0.20.11").expect("node");
        assert_eq!(a100.slices_of("1g.5gb"), (56, 56));
    }
}
