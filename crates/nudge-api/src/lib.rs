//! Nudge's HTTP edge: thin axum routers that authenticate, decode the Customer.io wire
//! formats into domain operations, hand them to the ingest writer, and render answers and
//! errors in the shape each official client expects. No business rule lives here.

pub mod app;
pub mod auth;
pub mod credentials;
pub mod error;
pub mod json;
pub mod ops;
pub mod pipelines;
pub mod track;
pub mod tracking;
pub mod unsubscribe;

use std::sync::Arc;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use nudge_core::Clock;
use nudge_ingest::Ingestor;
use nudge_store::Store;

pub use error::{ApiError, Flavor};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub ingestor: Ingestor,
    pub clock: Arc<dyn Clock>,
    pub metrics: Option<PrometheusHandle>,
    pub keys: Arc<auth::KeyCache>,
    /// Where App API export files go, and how their download links are signed.
    pub exports: Arc<app::exports::ExportFiles>,
    /// A test server's virtual clock (`nudge serve --virtual-clock`); `None` on the system
    /// clock, where `/v1/clock` does not exist.
    pub virtual_clock: Option<Arc<nudge_process::ClockDriver>>,
    /// Rings the delivery worker when a request queued a delivery (the transactional API),
    /// so it need not wait for its next look at the ledger; `None` where no worker runs.
    pub wake_deliveries: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Signs and checks the links of the hosted unsubscribe page.
    pub unsubscribe: Arc<unsubscribe::UnsubscribeLinks>,
}

impl AppState {
    /// Runs a store read on the blocking pool: the store is synchronous by design.
    pub async fn read<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> nudge_store::StoreResult<T> + Send + 'static,
    {
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || work(store.as_ref())).await {
            Ok(result) => result.map_err(ApiError::from),
            Err(join) => Err(ApiError::internal(format!(
                "store read task failed: {join}"
            ))),
        }
    }
}

/// The whole HTTP surface on one router.
pub fn router(state: AppState) -> Router {
    let mut routes = Router::new()
        .merge(track::router())
        .merge(pipelines::router())
        .merge(app::router())
        .merge(unsubscribe::router())
        .merge(tracking::router())
        .merge(ops::router());
    if state.virtual_clock.is_some() {
        routes = routes.merge(app::clock::router());
    }
    let routes = routes
        .fallback(error::unknown_route)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn(error::render_errors))
        .with_state(state);
    ops::instrument(routes)
}
