//! Shared server state and the [`app::backend::Backend`] implementation server functions call.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use app::api::status::ServerStatus;
use app::backend::{Backend, BackendHandle};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use mig::blueprint::{Catalogue, FleetView};

use crate::fleet;

/// State every handler can reach. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Leptos' site options (site root, bundle name, address).
    pub leptos_options: LeptosOptions,
    inner: Arc<ServerBackend>,
}

impl AppState {
    /// Creates the state for a server whose static site lives in `leptos_options.site_root`.
    pub fn new(leptos_options: LeptosOptions) -> Self {
        let catalogue = Arc::new(fleet::catalogue());
        let fleet = fleet::initial_fleet(&catalogue);
        Self {
            leptos_options,
            inner: Arc::new(ServerBackend {
                started: Instant::now(),
                sequence: AtomicU64::new(0),
                catalogue,
                fleet: RwLock::new(fleet),
            }),
        }
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
    fleet: RwLock<FleetView>,
}

impl Backend for ServerBackend {
    fn status(&self) -> ServerStatus {
        let now_unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        ServerStatus {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            backend: fleet::DESCRIPTION.to_owned(),
            uptime_secs: self.started.elapsed().as_secs(),
            now_unix_ms,
            sequence: self.sequence.fetch_add(1, Ordering::Relaxed) + 1,
        }
    }

    fn catalogue(&self) -> Arc<Catalogue> {
        self.catalogue.clone()
    }

    fn fleet(&self) -> FleetView {
        // A poisoned lock means a writer panicked mid-update; the view is plain data and still usable.
        self.fleet
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}
