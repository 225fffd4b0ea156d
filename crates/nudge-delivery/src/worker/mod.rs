//! The delivery worker: claims what the ledger has due, re-checks each message, hands it to
//! its channel and records the outcome. It first waits for the log processor to reach the log's
//! head, so every event acknowledged before a claim (the purchase, the unsubscribe) has been
//! seen by the re-check. Sends run concurrently up to a limit; outcomes are recorded in
//! batches as they complete. A claim that its worker never finishes (a crash) runs out and is
//! claimed again, with the same delivery id as the provider's idempotency key.

mod attempt;
mod bell;
mod caps;
mod consent;
mod log_wait;
mod outgoing;
mod policy;
mod quiet;
mod recheck;
mod retry;

pub use caps::{parse_period, FrequencyCap};
pub use consent::{bypasses_consent, is_marketing, is_transactional, unsubscribed, ConsentRules};
pub use outgoing::{mapped_attributes, outgoing_messages};
pub use policy::{SendPolicy, UnsubscribeLinks};
pub use quiet::QuietHours;
pub use recheck::{Recheck, Verdict};
pub use retry::{BreakerPolicy, CircuitBreaker, RetryPolicy};

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use nudge_core::{Clock, Timestamp};
use nudge_ingest::Ingestor;
use nudge_store::{FinishedDelivery, Store, StoreError, StoreResult};
use tokio::task::JoinHandle;

use crate::config::ChannelsConfig;
use crate::workspace_channels::ChannelRegistry;
use attempt::Attempt;
use bell::Bell;
use log_wait::processor_derives;

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// At most this many deliveries claimed in one round.
    pub batch: usize,
    /// At most this many sends in flight.
    pub concurrency: usize,
    /// How long a claim holds: longer than any send may take.
    pub claim_for: Duration,
    /// The longest the worker sleeps without looking at the ledger.
    pub idle_wait: Duration,
    pub retry: RetryPolicy,
    pub breaker: BreakerPolicy,
    /// Consent, the frequency cap, quiet hours and unsubscribe links.
    pub policy: SendPolicy,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            batch: 256,
            concurrency: 512,
            claim_for: Duration::from_secs(120),
            idle_wait: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            breaker: BreakerPolicy::default(),
            policy: SendPolicy::default(),
        }
    }
}

/// What a worker needs; [`DeliveryWorker::spawn`] starts it on the current tokio runtime.
pub struct DeliveryWorker {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// The environment's channels: the first workspace's, unless it defines its own. Every
    /// workspace's channel definitions are read from the store.
    pub channels: Arc<ChannelsConfig>,
    /// Where attributes mapped from webhook responses are written, like any other identify.
    pub ingestor: Option<Ingestor>,
    pub config: WorkerConfig,
}

/// Rings the worker: after a commit or a processor round, or when a virtual clock moves.
#[derive(Clone)]
pub struct DeliveryWaker(Arc<Bell>);

impl DeliveryWaker {
    pub fn wake(&self) {
        self.0.ring(false);
    }

    /// Wakes the worker and blocks until a round that began after this call found nothing due
    /// at the clock's time and had nothing in flight. `false` on timeout or once stopped. For
    /// plain threads only (a virtual clock's driver).
    pub fn wake_and_wait_idle(&self, timeout: Duration) -> bool {
        self.0.ring_and_wait_idle(timeout)
    }
}

pub struct WorkerHandle {
    waker: DeliveryWaker,
    task: JoinHandle<()>,
}

impl WorkerHandle {
    pub fn waker(&self) -> DeliveryWaker {
        self.waker.clone()
    }

    /// Stops claiming, lets the sends in flight finish and records them, then returns.
    pub async fn stop(self) {
        self.waker.0.ring(true);
        if self.task.await.is_err() {
            tracing::error!("the delivery worker panicked");
        }
    }
}

impl DeliveryWorker {
    pub fn spawn(self) -> WorkerHandle {
        let bell = Arc::new(Bell::default());
        let channels = Arc::new(ChannelRegistry::new(
            self.store.clone(),
            self.clock.clone(),
            self.channels,
        ));
        let looper = Loop {
            attempt: Arc::new(Attempt::new(
                self.store.clone(),
                self.clock.clone(),
                channels.clone(),
                self.ingestor,
                &self.config,
            )),
            channels,
            store: self.store,
            clock: self.clock,
            config: self.config,
            bell: bell.clone(),
        };
        WorkerHandle {
            waker: DeliveryWaker(bell),
            task: tokio::spawn(looper.run()),
        }
    }
}

struct Loop {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
    attempt: Arc<Attempt>,
    channels: Arc<ChannelRegistry>,
    bell: Arc<Bell>,
}

impl Loop {
    async fn run(self) {
        let mut in_flight = FuturesUnordered::new();
        let mut done: Vec<FinishedDelivery> = Vec::new();
        loop {
            while let Some(Some(finished)) = in_flight.next().now_or_never() {
                done.push(finished);
            }
            if !done.is_empty() {
                if let Err(e) = self.finish(std::mem::take(&mut done)).await {
                    // The claims run out and the deliveries are claimed again.
                    tracing::warn!(error = %e, "recording delivery outcomes failed");
                }
            }
            let Some(round) = self.bell.begin_round() else {
                break;
            };
            // Before the claim: what is claimed next goes out through the channels in force.
            let channels = self.channels.clone();
            if let Err(e) = self.blocking(move |_| channels.refresh()).await {
                tracing::warn!(error = %e, "reading the channel definitions failed");
            }
            let room = self.config.concurrency.saturating_sub(in_flight.len());
            let wanted = room.min(self.config.batch);
            let claimed = match self.claim(wanted).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming deliveries failed; retrying");
                    self.pause(self.config.idle_wait).await;
                    continue;
                }
            };
            let full_batch = wanted > 0 && claimed.len() == wanted;
            for delivery in claimed {
                let attempt = self.attempt.clone();
                in_flight.push(async move { attempt.run(delivery).await }.boxed());
            }
            if in_flight.is_empty() {
                self.bell.idle_after(round);
            }
            if full_batch {
                continue;
            }
            let sleep = self.until_next_due().await;
            tokio::select! {
                Some(finished) = in_flight.next(), if !in_flight.is_empty() => done.push(finished),
                _ = self.bell.rung() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
        // Stopped: what is in flight finishes and is recorded.
        while let Some(finished) = in_flight.next().await {
            done.push(finished);
        }
        if let Err(e) = self.finish(done).await {
            tracing::warn!(error = %e, "recording delivery outcomes at shutdown failed");
        }
    }

    /// Waits for the processor to reach the head each workspace's log had when the round
    /// began, then claims up to `wanted` due deliveries.
    async fn claim(&self, wanted: usize) -> StoreResult<Vec<nudge_store::Delivery>> {
        if wanted == 0 {
            return Ok(Vec::new());
        }
        let heads = self
            .blocking(|store| {
                let mut heads = Vec::new();
                for workspace in store.workspaces()? {
                    heads.push((workspace.id, store.log_head(workspace.id)?));
                }
                Ok(heads)
            })
            .await?;
        for (ws, head) in heads {
            let mut derives = None;
            while self.blocking(move |s| s.processed_offset(ws)).await? < head {
                if derives.is_none() {
                    derives = Some(self.blocking(move |s| processor_derives(s, ws)).await?);
                }
                if derives == Some(false) {
                    break;
                }
                if self.bell.begin_round().is_none() {
                    return Ok(Vec::new());
                }
                // The processor's progress rings the bell; the timeout is a backstop.
                tokio::select! {
                    _ = self.bell.rung() => {}
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        }
        let now = self.clock.now();
        let until = now.plus_millis(millis(self.config.claim_for));
        self.blocking(move |s| s.claim_deliveries(now, until, wanted))
            .await
    }

    async fn finish(&self, done: Vec<FinishedDelivery>) -> StoreResult<()> {
        if done.is_empty() {
            return Ok(());
        }
        let now = self.clock.now();
        let kept = self
            .blocking(move |s| {
                let kept = s.finish_deliveries(&done, now)?;
                Ok((done, kept))
            })
            .await?;
        let (done, kept) = kept;
        for (finished, kept) in done.iter().zip(kept) {
            if kept {
                attempt::count(finished);
            } else {
                tracing::warn!(
                    delivery = finished.id,
                    "a delivery's claim ran out before its outcome was recorded"
                );
            }
        }
        Ok(())
    }

    /// How long to sleep before looking at the ledger again: until its next due delivery, at
    /// most `idle_wait`.
    async fn until_next_due(&self) -> Duration {
        let next = self.blocking(|s| s.next_delivery_due()).await;
        match next {
            Ok(Some(at)) => {
                let wait = (at.millis() - self.clock.now().millis()).max(0) as u64;
                Duration::from_millis(wait).min(self.config.idle_wait)
            }
            _ => self.config.idle_wait,
        }
    }

    async fn pause(&self, wait: Duration) {
        tokio::select! {
            _ = self.bell.rung() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Store) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || work(store.as_ref()))
            .await
            .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Seconds from `from` to `to` (for latency metrics); 0 when `to` is earlier.
pub(crate) fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    (to.millis() - from.millis()).max(0) as f64 / 1000.0
}
