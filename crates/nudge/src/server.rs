//! The composition root: opens the configured store, starts the log processor, the ingest
//! writer and the delivery worker, builds the router and serves it until shutdown, then
//! drains. Production
//! (`nudge serve`) and the test suites start Nudge through the same [`launch`].

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use nudge_api::credentials::{new_workspace, IssuedCredentials};
use nudge_api::AppState;
use nudge_core::{Clock, Env, ManualClock};
use nudge_delivery::worker::{DeliveryWaker, DeliveryWorker};
use nudge_ingest::{Ingestor, WriterConfig};
use nudge_process::ClockDriver;
use nudge_store::Store;

use crate::config::{Database, ServeArgs, StoreArgs};

/// Opens (and migrates) the store a configuration names. Only the composition root names a
/// concrete backend.
pub fn open_store(args: &StoreArgs) -> anyhow::Result<Arc<dyn Store>> {
    match args.database()? {
        Database::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating data directory {}", dir.display()))?;
            }
            let store = nudge_store_sqlite::SqliteStore::open(&path)
                .with_context(|| format!("opening SQLite store {}", path.display()))?;
            Ok(Arc::new(store))
        }
        Database::Postgres(url) => {
            let store = nudge_store_postgres::PostgresStore::connect(&url).with_context(|| {
                format!(
                    "connecting to PostgreSQL at {}",
                    crate::config::redact_url(&url)
                )
            })?;
            Ok(Arc::new(store))
        }
    }
}

/// The process-wide Prometheus recorder (a recorder can be installed once per process).
pub fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .clone()
}

/// On an empty store, creates the `development` workspace and writes its credentials to
/// `credentials.json` (mode 0600) in the data directory. Returns them only when created.
pub fn bootstrap(
    store: &dyn Store,
    data_dir: &Path,
    clock: &dyn Clock,
) -> anyhow::Result<Option<IssuedCredentials>> {
    if !store.workspaces()?.is_empty() {
        return Ok(None);
    }
    let (new, keys) = new_workspace("development", Env::Development, clock.now());
    let workspace = store.create_workspace(&new)?;
    let issued = keys.issued(&workspace);
    write_credentials(data_dir, &issued)?;
    Ok(Some(issued))
}

fn write_credentials(data_dir: &Path, issued: &IssuedCredentials) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join("credentials.json");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(serde_json::to_string_pretty(issued)?.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// How long `POST /v1/clock` waits for the processor at each stop of a virtual clock.
const VIRTUAL_CLOCK_SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Serves Nudge on `listener` until `shutdown` resolves, then finishes in-flight requests,
/// drains the writer and returns. `on_ready` gets the bound address and any credentials the
/// first start created. Everything reads `clock`, unless `args.virtual_clock` asks for a
/// virtual clock (tests only): then a [`ManualClock`] starting there replaces it, and
/// `POST /v1/clock` moves it.
pub async fn launch(
    args: ServeArgs,
    listener: std::net::TcpListener,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(SocketAddr, Option<IssuedCredentials>),
) -> anyhow::Result<()> {
    let virtual_clock = args.virtual_clock.map(ManualClock::starting_at);
    let clock: Arc<dyn Clock> = match &virtual_clock {
        Some(manual) => {
            tracing::warn!(
                start = %manual.now().to_rfc3339(),
                "running on a virtual clock that only POST /v1/clock moves: for tests only"
            );
            Arc::new(manual.clone())
        }
        None => clock,
    };
    let store_args = args.store.clone();
    let (store, created) = tokio::task::spawn_blocking({
        let clock = clock.clone();
        move || -> anyhow::Result<_> {
            let store = open_store(&store_args)?;
            let created = bootstrap(store.as_ref(), &store_args.data_dir, clock.as_ref())?;
            Ok((store, created))
        }
    })
    .await??;
    let channels = Arc::new(args.delivery.channels(clock.clone())?);
    let computed_keys = Arc::new(nudge_ingest::ComputedKeys::default());
    // The delivery worker starts after the writer (it writes what webhooks answer); the
    // processor's progress wakes it once it exists.
    let delivery_waker: Arc<OnceLock<DeliveryWaker>> = Arc::default();
    let processor = nudge_process::Processor::new(
        store.clone(),
        clock.clone(),
        nudge_process::ProcessorConfig::default(),
    )
    .on_reload({
        let keys = computed_keys.clone();
        Box::new(move |ws, names| keys.set(ws, names))
    })
    .on_progress({
        let deliveries = delivery_waker.clone();
        Box::new(move || {
            if let Some(deliveries) = deliveries.get() {
                deliveries.wake();
            }
        })
    })
    .spawn();
    let waker = processor.waker();
    let writer_config = WriterConfig {
        computed_keys,
        on_commit: Some(nudge_ingest::CommitHook(Arc::new(move || waker.wake()))),
        ..WriterConfig::default()
    };
    let (ingestor, writer) = Ingestor::start(store.clone(), clock.clone(), writer_config);
    let unsubscribe = Arc::new(args.delivery.unsubscribe_links(
        &args.store.data_dir,
        listener.local_addr()?,
        args.tls_cert.is_some(),
    )?);
    let mut worker_config = args.delivery.worker_config();
    worker_config.policy = args.delivery.send_policy(Some(unsubscribe.clone()))?;
    let deliveries = DeliveryWorker {
        store: store.clone(),
        clock: clock.clone(),
        channels,
        ingestor: Some(ingestor.clone()),
        config: worker_config,
    }
    .spawn();
    let _ = delivery_waker.set(deliveries.waker());
    let reporting = nudge_delivery::reporting::ReportingDispatcher {
        store: store.clone(),
        clock: clock.clone(),
        config: Default::default(),
    }
    .spawn()
    .context("starting the reporting webhook dispatcher")?;
    let virtual_clock = virtual_clock.map(|manual| {
        let deliveries = deliveries.waker();
        let reports = reporting.waker();
        Arc::new(
            ClockDriver::new(manual, processor.waker(), VIRTUAL_CLOCK_SETTLE_TIMEOUT)
                .with_deliveries(Box::new(move |timeout| {
                    deliveries.wake_and_wait_idle(timeout) && reports.wake_and_wait_idle(timeout)
                })),
        )
    });
    let state = AppState {
        store,
        ingestor,
        clock,
        metrics: metrics_handle(),
        keys: Default::default(),
        exports: Arc::new(nudge_api::app::exports::ExportFiles::new(
            args.store.data_dir.join("exports"),
            args.tls_cert.is_some(),
        )),
        virtual_clock,
        wake_deliveries: Some({
            let (deliveries, reports) = (deliveries.waker(), reporting.waker());
            Arc::new(move || {
                deliveries.wake();
                reports.wake();
            })
        }),
        unsubscribe,
    };
    let app = nudge_api::router(state);
    let addr = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    on_ready(addr, created);
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .context("loading the TLS certificate and key")?;
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                stopper.graceful_shutdown(Some(std::time::Duration::from_secs(30)));
            });
            axum_server::from_tcp_rustls(listener, tls)?
                .handle(handle)
                .serve(app.into_make_service())
                .await?;
        }
        _ => {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await?;
        }
    }
    // The delivery worker records what it has in flight and lets go of its Ingestor; then
    // every Ingestor clone is gone and the writer drains and stops.
    deliveries.stop().await;
    reporting.stop().await;
    tokio::task::spawn_blocking(move || {
        writer.join();
        processor.stop();
    })
    .await?;
    Ok(())
}
