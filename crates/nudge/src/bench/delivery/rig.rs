//! The engine under measurement and the providers it sends to: a fresh store, the real
//! group-commit writer, the processor thread and the delivery worker on the system clock,
//! wired as `server::launch` wires them, plus a local SMTP sink and a local webhook sink on a
//! runtime of their own (so their CPU is told apart from the worker's). Starts and stops
//! workers, submits operations and waits for the processor; measures nothing itself.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use nudge_api::credentials::new_workspace;
use nudge_core::{Clock, Env, Operation, SystemClock, WorkspaceId};
use nudge_delivery::sinks::{HttpSink, SmtpSink};
use nudge_delivery::worker::{DeliveryWaker, DeliveryWorker, WorkerConfig, WorkerHandle};
use nudge_delivery::ChannelsConfig;
use nudge_ingest::{Accepted, CommitHook, Ingestor, Outcome, Pending, WriterConfig, WriterHandle};
use nudge_process::{Processor, ProcessorConfig, ProcessorHandle};
use nudge_store::Store;
use nudge_store_postgres::test_database::TestDatabase;
use tokio::runtime::Runtime;

use super::definitions::{self, EMAIL_EVENT, WEBHOOK_EVENT};
use crate::bench::throwaway_database;
use crate::config::{DeliveryArgs, StoreArgs};

/// Operations per submission and submissions in flight: commits of up to 4,096, as many
/// concurrent API requests would give the group commit.
const SUBMISSION: usize = 256;
const IN_FLIGHT: usize = 16;
/// The longest the processor may take to reach the head of the log.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(900);
pub(super) const EMAIL_FROM: &str = "Bench Shop <orders@shop.example>";
const WEBHOOK_SECRET: &str = "whsec-bench-0123456789abcdef";
const PUBLIC_URL: &str = "https://nudge.bench.example";
/// Thread names, for CPU per thread (`/proc` keeps 15 bytes of a name).
pub(super) const WORKER_THREADS: &str = "nudge-delivery";
pub(super) const SINK_THREADS: &str = "bench-sinks";
pub(super) const PROCESSOR_THREAD: &str = "nudge-processor";
/// Idle blocking threads live this long: a thread that exits takes its CPU time out of
/// `/proc`, so they must outlive the run for CPU per thread to add up.
const THREAD_KEEP_ALIVE: Duration = Duration::from_secs(24 * 3600);

/// Which provider a phase sends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sink {
    Smtp,
    Webhook,
}

impl Sink {
    /// The channel the journey step uses.
    pub(super) fn channel(self) -> &'static str {
        match self {
            Sink::Smtp => "email",
            Sink::Webhook => "webhook",
        }
    }

    /// The event that triggers the journey sending to this sink.
    pub(super) fn event(self) -> &'static str {
        match self {
            Sink::Smtp => EMAIL_EVENT,
            Sink::Webhook => WEBHOOK_EVENT,
        }
    }
}

pub(super) struct Rig {
    pub store: Arc<dyn Store>,
    pub ws: WorkspaceId,
    pub clock: Arc<dyn Clock>,
    pub ingestor: Ingestor,
    pub channels: Arc<ChannelsConfig>,
    pub worker_config: WorkerConfig,
    pub smtp_connections: u64,
    pub smtp: SmtpSink,
    pub webhook: HttpSink,
    pub worker_runtime: Runtime,
    /// When the rig started, on the clock and as an instant: turns a sink's arrival instants
    /// into the clock's milliseconds.
    anchor: (i64, Instant),
    sink_runtime: Runtime,
    /// The running worker's waker, rung by the processor's progress.
    worker_waker: Arc<Mutex<Option<DeliveryWaker>>>,
    processor: ProcessorHandle,
    writer: WriterHandle,
    database: Option<TestDatabase>,
    dir: tempfile::TempDir,
}

impl Rig {
    pub(super) fn start(store_name: &str) -> anyhow::Result<Rig> {
        let dir = tempfile::tempdir()?;
        let database = throwaway_database(store_name)?;
        let store = crate::server::open_store(&StoreArgs {
            data_dir: dir.path().to_path_buf(),
            database_url: database.as_ref().map(|d| d.url().to_string()),
        })?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let anchor = (clock.now().millis(), Instant::now());
        let (new, _keys) = new_workspace("bench", Env::Development, clock.now());
        let ws = store.create_workspace(&new)?.id;

        let sink_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(SINK_THREADS)
            .thread_keep_alive(THREAD_KEEP_ALIVE)
            .enable_all()
            .build()?;
        let (smtp, webhook) = sink_runtime.block_on(async {
            let smtp = SmtpSink::start().await?;
            let webhook = HttpSink::start().await?;
            std::io::Result::Ok((smtp, webhook))
        })?;
        definitions::define(store.as_ref(), ws, &webhook.url(), clock.now())?;

        let delivery = DeliveryArgs {
            provider_env: Some(BTreeMap::from([
                ("NUDGE_SMTP_URL".to_string(), smtp.url()),
                ("NUDGE_EMAIL_FROM".to_string(), EMAIL_FROM.to_string()),
                (
                    "NUDGE_WEBHOOK_SECRET".to_string(),
                    WEBHOOK_SECRET.to_string(),
                ),
            ])),
            public_url: Some(PUBLIC_URL.to_string()),
            ..DeliveryArgs::default()
        };
        let channels = delivery.channels(clock.clone())?;
        let smtp_connections = channels.effective()["email"]["max_connections"]
            .as_u64()
            .context("the email channel is configured")?;
        let links = delivery.unsubscribe_links(
            dir.path(),
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            false,
        )?;
        let mut worker_config = delivery.worker_config();
        worker_config.policy = delivery.send_policy(Some(Arc::new(links)))?;

        let worker_waker: Arc<Mutex<Option<DeliveryWaker>>> = Arc::default();
        let processor = Processor::new(store.clone(), clock.clone(), ProcessorConfig::default())
            .on_progress({
                let worker = worker_waker.clone();
                Box::new(move || {
                    if let Some(waker) = worker
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .as_ref()
                    {
                        waker.wake();
                    }
                })
            })
            .spawn();
        let waker = processor.waker();
        let (ingestor, writer) = Ingestor::start(
            store.clone(),
            clock.clone(),
            WriterConfig {
                on_commit: Some(CommitHook(Arc::new(move || waker.wake()))),
                ..WriterConfig::default()
            },
        );
        let worker_runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(WORKER_THREADS)
            .thread_keep_alive(THREAD_KEEP_ALIVE)
            .enable_all()
            .build()?;
        Ok(Rig {
            store,
            ws,
            clock,
            ingestor,
            channels: Arc::new(channels),
            worker_config,
            smtp_connections,
            smtp,
            webhook,
            worker_runtime,
            anchor,
            sink_runtime,
            worker_waker,
            processor,
            writer,
            database,
            dir,
        })
    }

    /// Stops everything, the store last; the throwaway database and directory go with it.
    pub(super) fn stop(self) {
        *self
            .worker_waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        self.processor.stop();
        drop(self.ingestor);
        self.writer.join();
        drop(self.smtp);
        drop(self.webhook);
        self.sink_runtime.shutdown_background();
        self.worker_runtime.shutdown_background();
        drop(self.store);
        drop(self.database);
        drop(self.dir);
    }

    /// Starts a delivery worker, woken by the processor's progress as the server's is.
    pub(super) fn spawn_worker(&self) -> WorkerHandle {
        let _entered = self.worker_runtime.enter();
        let handle = DeliveryWorker {
            store: self.store.clone(),
            clock: self.clock.clone(),
            channels: self.channels.clone(),
            ingestor: Some(self.ingestor.clone()),
            config: self.worker_config.clone(),
        }
        .spawn();
        *self
            .worker_waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(handle.waker());
        handle
    }

    /// Stops a worker: what it has in flight finishes and is recorded.
    pub(super) fn stop_worker(&self, handle: WorkerHandle) {
        *self
            .worker_waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
        self.worker_runtime.block_on(handle.stop());
    }

    /// Runs `work` on the sinks' runtime (waiting for what they received).
    pub(super) fn on_sinks<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        self.sink_runtime.block_on(work)
    }

    /// Milliseconds on the rig's clock at `at`.
    pub(super) fn millis_at(&self, at: Instant) -> f64 {
        let (millis, instant) = self.anchor;
        millis as f64 + at.saturating_duration_since(instant).as_secs_f64() * 1000.0
    }

    /// People `0..count`, each with an email and a first name, created through the writer;
    /// returns once the processor has seen them.
    pub(super) fn create_people(&self, count: u64) -> anyhow::Result<()> {
        self.submit((0..count).map(definitions::identify))?;
        self.wait_caught_up()
    }

    /// Submits `operations` through the writer in submissions of [`SUBMISSION`], up to
    /// [`IN_FLIGHT`] unanswered; every one must be applied.
    pub(super) fn submit(
        &self,
        operations: impl Iterator<Item = anyhow::Result<Operation>>,
    ) -> anyhow::Result<()> {
        let mut pending: VecDeque<Pending> = VecDeque::new();
        let mut batch: Vec<Accepted> = Vec::with_capacity(SUBMISSION);
        let mut operations = operations.peekable();
        while let Some(operation) = operations.next() {
            batch.push(operation?.into());
            if batch.len() == SUBMISSION || operations.peek().is_none() {
                let submission = std::mem::take(&mut batch);
                pending.push_back(
                    self.ingestor
                        .enqueue_blocking(self.ws, "track_v1", submission)?,
                );
            }
            while pending.len() >= IN_FLIGHT {
                settle(pending.pop_front())?;
            }
        }
        while !pending.is_empty() {
            settle(pending.pop_front())?;
        }
        Ok(())
    }

    /// Waits until the processor has reached the head of the log.
    pub(super) fn wait_caught_up(&self) -> anyhow::Result<()> {
        let head = self.store.log_head(self.ws)?;
        let started = Instant::now();
        while self.store.processed_offset(self.ws)? < head {
            if started.elapsed() > CATCH_UP_TIMEOUT {
                anyhow::bail!("the processor did not reach the head of the log in time");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }
}

fn settle(pending: Option<Pending>) -> anyhow::Result<()> {
    if let Some(pending) = pending {
        let outcomes = pending.wait().context("the writer refused a submission")?;
        if let Some(bad) = outcomes.iter().find(|o| !matches!(o, Outcome::Applied)) {
            anyhow::bail!("an operation was not applied: {bad:?}");
        }
    }
    Ok(())
}
