//! The reporting webhook dispatcher: posts each workspace's report stream to its reporting
//! webhooks (docs/delivery.md, "Reporting webhooks"), signed as Customer.io signs them, in
//! order per endpoint. An endpoint whose post fails is retried with backoff, and its later
//! reports wait; other endpoints go on. Endpoints are held by a lease, so several nodes may
//! run a dispatcher. It sleeps until woken (the transactional API queued a message, a virtual
//! clock moved), until an endpoint's retry is due, or at most `idle_wait`, then looks for
//! endpoints with new reports. Time comes from the clock. It decides nothing about what is
//! reported: the store appends the stream.

mod endpoint;
pub mod post;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use nudge_core::{Clock, WorkspaceId};
use nudge_store::{PendingEndpoint, Store, StoreError, StoreResult};
use tokio::task::JoinHandle;

use crate::bell::Bell;
use endpoint::Turn;

pub use post::{sign, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// How the dispatcher paces itself; the defaults are Customer.io's where it documents them.
#[derive(Debug, Clone)]
pub struct ReportingConfig {
    /// How long an endpoint has to answer (Customer.io: 4 s).
    pub timeout: Duration,
    /// The wait before the first retry of a report; it doubles with each failure.
    pub first_retry: Duration,
    /// The longest wait between retries, and the wait after the answers Customer.io waits
    /// an hour after (400, 401, 402, 403, 404, 405, 410, 429, 500, 502, 521, a refused
    /// connection).
    pub max_retry: Duration,
    /// Reports appended longer ago than this are given up on when they fail (Customer.io:
    /// 7 days): it bounds the backlog of an endpoint that stays down.
    pub retention: Duration,
    /// At most this many reports per endpoint turn.
    pub batch: usize,
    /// How long a turn holds its endpoint: longer than `batch` posts may take.
    pub lease: Duration,
    /// The longest the dispatcher sleeps without looking for work.
    pub idle_wait: Duration,
}

impl Default for ReportingConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(4),
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(3600),
            retention: Duration::from_secs(7 * 24 * 3600),
            batch: 50,
            lease: Duration::from_secs(300),
            idle_wait: Duration::from_secs(1),
        }
    }
}

/// What a dispatcher needs; [`ReportingDispatcher::spawn`] starts it on the current runtime.
pub struct ReportingDispatcher {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: ReportingConfig,
}

/// Rings the dispatcher: after a request that leads to reports, or when a virtual clock
/// moves.
#[derive(Clone)]
pub struct ReportingWaker(Arc<Bell>);

impl ReportingWaker {
    pub fn wake(&self) {
        self.0.ring(false);
    }

    /// Wakes the dispatcher and blocks until a round that began after this call found
    /// nothing due at the clock's time and had nothing in flight. `false` on timeout or once
    /// stopped. For plain threads only (a virtual clock's driver).
    pub fn wake_and_wait_idle(&self, timeout: Duration) -> bool {
        self.0.ring_and_wait_idle(timeout)
    }
}

pub struct ReportingHandle {
    waker: ReportingWaker,
    task: JoinHandle<()>,
}

impl ReportingHandle {
    pub fn waker(&self) -> ReportingWaker {
        self.waker.clone()
    }

    /// Stops taking endpoints, lets the posts in flight finish and record, then returns.
    pub async fn stop(self) {
        self.waker.0.ring(true);
        if self.task.await.is_err() {
            tracing::error!("the reporting webhook dispatcher panicked");
        }
    }
}

impl ReportingDispatcher {
    /// Fails only when no HTTP client can be built (no TLS roots).
    pub fn spawn(self) -> Result<ReportingHandle, reqwest::Error> {
        let http = crate::providers::http::http_client()?;
        let bell = Arc::new(Bell::default());
        let looper = Loop {
            store: self.store,
            clock: self.clock,
            config: Arc::new(self.config),
            http,
            bell: bell.clone(),
        };
        Ok(ReportingHandle {
            waker: ReportingWaker(bell),
            task: tokio::spawn(looper.run()),
        })
    }
}

struct Loop {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: Arc<ReportingConfig>,
    http: reqwest::Client,
    bell: Arc<Bell>,
}

type EndpointKey = (WorkspaceId, i64);

impl Loop {
    async fn run(self) {
        let mut in_flight = FuturesUnordered::new();
        let mut running: HashSet<EndpointKey> = HashSet::new();
        loop {
            while let Some(Some(done)) = in_flight.next().now_or_never() {
                running.remove(&done);
            }
            let Some(round) = self.bell.begin_round() else {
                break;
            };
            let pending = match blocking(&self.store, |s| s.pending_reporting_endpoints()).await {
                Ok(pending) => pending,
                Err(e) => {
                    tracing::warn!(error = %e, "reading reporting webhooks failed; retrying");
                    Vec::new()
                }
            };
            let now = self.clock.now();
            let mut next_due = None;
            for endpoint in pending {
                let key = (endpoint.ws, endpoint.id);
                if running.contains(&key) {
                    continue;
                }
                let due = endpoint.due_at();
                if due > now {
                    next_due =
                        Some(next_due.map_or(due, |next: nudge_core::Timestamp| next.min(due)));
                    continue;
                }
                match self.claim(&endpoint).await {
                    Ok(true) => {
                        running.insert(key);
                        let turn = Turn {
                            store: self.store.clone(),
                            clock: self.clock.clone(),
                            http: self.http.clone(),
                            config: self.config.clone(),
                        };
                        in_flight.push(
                            async move {
                                turn.run(endpoint).await;
                                key
                            }
                            .boxed(),
                        );
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "claiming a reporting webhook failed"),
                }
            }
            if in_flight.is_empty() {
                self.bell.idle_after(round);
            }
            let sleep = match next_due {
                Some(at) => Duration::from_millis((at.millis() - now.millis()).max(0) as u64)
                    .min(self.config.idle_wait),
                None => self.config.idle_wait,
            };
            tokio::select! {
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    running.remove(&done);
                }
                _ = self.bell.rung() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
        while in_flight.next().await.is_some() {}
    }

    async fn claim(&self, endpoint: &PendingEndpoint) -> StoreResult<bool> {
        let now = self.clock.now();
        let until = now.plus_millis(millis(self.config.lease));
        let (ws, id, cursor) = (endpoint.ws, endpoint.id, endpoint.cursor);
        blocking(&self.store, move |s| {
            s.claim_reporting_endpoint(ws, id, cursor, now, until)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    store: &Arc<dyn Store>,
    work: impl FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || work(store.as_ref()))
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
