//! The delivery worker: claims what the ledger has due, re-checks each claimed batch, hands
//! each message the re-check lets through to its channel and records the outcomes. Before a
//! claim it waits for the log processor to reach the log's head, so every event acknowledged
//! before the claim (the purchase, the unsubscribe) has been seen by the re-check. A batch is
//! re-checked with a few reads for all of it, right after its claim; each send then runs as a
//! task of its own, up to a limit in flight; outcomes are recorded in batches, one transaction
//! for all that completed while the previous batch was written. A claim that its worker never
//! finishes (a crash) runs out and is claimed again, with the same delivery id as the
//! provider's idempotency key.

mod attempt;
mod caps;
mod consent;
mod exits;
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

use nudge_core::{Clock, Timestamp};
use nudge_ingest::Ingestor;
use nudge_store::{FinishedDelivery, Store, StoreError, StoreResult};
use tokio::task::{JoinHandle, JoinSet};

use crate::bell::Bell;
use crate::config::ChannelsConfig;
use crate::workspace_channels::ChannelRegistry;
use attempt::Attempt;
use log_wait::LogWait;

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
                self.clock.clone(),
                channels.clone(),
                self.ingestor,
                &self.config,
            )),
            channels,
            log_wait: Arc::default(),
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
    log_wait: Arc<LogWait>,
    bell: Arc<Bell>,
}

/// The outcomes being written, at most one batch at a time.
type Recording = Option<JoinHandle<()>>;

impl Loop {
    async fn run(self) {
        let mut in_flight: JoinSet<FinishedDelivery> = JoinSet::new();
        let mut done: Vec<FinishedDelivery> = Vec::new();
        let mut recording: Recording = None;
        // Claims wait for room for a whole batch while sends are in flight, so a busy worker
        // claims (and re-checks) full batches rather than a few deliveries at a time.
        let whole_batch = self.config.batch.min(self.config.concurrency).max(1);
        loop {
            while let Some(joined) = in_flight.try_join_next() {
                collect(joined, &mut done);
            }
            if recording.as_ref().is_some_and(JoinHandle::is_finished) {
                recorded(&mut recording).await;
            }
            if recording.is_none() && !done.is_empty() {
                recording = Some(self.record(std::mem::take(&mut done)));
            }
            let Some(round) = self.bell.begin_round() else {
                break;
            };
            let room = self.config.concurrency.saturating_sub(in_flight.len());
            let mut sleep = self.config.idle_wait;
            if room >= whole_batch || in_flight.is_empty() {
                let wanted = room.min(self.config.batch);
                let claimed = match self.claim(wanted, &mut in_flight, &mut done).await {
                    Ok(claimed) => claimed,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming deliveries failed; retrying");
                        self.pause(self.config.idle_wait).await;
                        continue;
                    }
                };
                if in_flight.is_empty() && done.is_empty() && recording.is_none() {
                    self.bell.idle_after(round);
                }
                // Updates to record go at once unless a batch is being written: then the wait
                // below ends when it is.
                if (wanted > 0 && claimed == wanted) || (!done.is_empty() && recording.is_none()) {
                    continue;
                }
                sleep = self.until_next_due().await;
            }
            tokio::select! {
                Some(joined) = in_flight.join_next(), if !in_flight.is_empty() => {
                    collect(joined, &mut done);
                }
                _ = recorded(&mut recording), if recording.is_some() => {}
                _ = self.bell.rung() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
        // Stopped: what is in flight finishes and is recorded.
        while let Some(joined) = in_flight.join_next().await {
            collect(joined, &mut done);
        }
        recorded(&mut recording).await;
        if !done.is_empty() {
            recording = Some(self.record(done));
            recorded(&mut recording).await;
        }
    }

    /// Waits for the processor (see [`log_wait`]), claims up to `wanted` due deliveries,
    /// re-checks them together and starts a send for each the re-check lets through; the
    /// others' updates go to `done`. How many were claimed.
    async fn claim(
        &self,
        wanted: usize,
        in_flight: &mut JoinSet<FinishedDelivery>,
        done: &mut Vec<FinishedDelivery>,
    ) -> StoreResult<usize> {
        if wanted == 0 || !self.wait_for_processor().await? {
            return Ok(0);
        }
        let now = self.clock.now();
        let until = now.plus_millis(millis(self.config.claim_for));
        let (attempt, clock) = (self.attempt.clone(), self.clock.clone());
        let checked = self
            .blocking(move |store| {
                let claimed = store.claim_deliveries(now, until, wanted)?;
                if claimed.is_empty() {
                    return Ok(Vec::new());
                }
                let now = clock.now();
                let verdicts = attempt.recheck().verdicts(store, &claimed, now);
                Ok(claimed.into_iter().zip(verdicts).collect::<Vec<_>>())
            })
            .await?;
        let claimed = checked.len();
        for (delivery, verdict) in checked {
            match self.attempt.verdict(verdict) {
                Ok(person) => {
                    let attempt = self.attempt.clone();
                    in_flight.spawn(attempt.run(delivery, person));
                }
                Err(update) => done.push(FinishedDelivery {
                    ws: delivery.ws,
                    id: delivery.id,
                    attempts: delivery.attempts,
                    update,
                }),
            }
        }
        Ok(claimed)
    }

    /// Reads the channel definitions in force (what is claimed next goes out through them),
    /// then waits until the processor has reached the head each workspace's log has now;
    /// `false` when the worker was stopped meanwhile.
    async fn wait_for_processor(&self) -> StoreResult<bool> {
        let channels = self.channels.clone();
        let log_wait = self.log_wait.clone();
        let mut behind = self
            .blocking(move |store| {
                if let Err(e) = channels.refresh() {
                    tracing::warn!(error = %e, "reading the channel definitions failed");
                }
                log_wait.behind(store)
            })
            .await?;
        while !behind.is_empty() {
            if self.bell.begin_round().is_none() {
                return Ok(false);
            }
            // The processor's progress rings the bell; the timeout is a backstop.
            tokio::select! {
                _ = self.bell.rung() => {}
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            behind = self
                .blocking(move |store| log_wait::still_behind(store, behind))
                .await?;
        }
        Ok(true)
    }

    /// Starts writing `done` in one transaction, on a blocking thread, while the loop goes on.
    fn record(&self, done: Vec<FinishedDelivery>) -> JoinHandle<()> {
        let store = self.store.clone();
        let now = self.clock.now();
        tokio::task::spawn_blocking(move || match store.finish_deliveries(&done, now) {
            Ok(kept) => {
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
            }
            // The claims run out and the deliveries are claimed again.
            Err(e) => tracing::warn!(error = %e, "recording delivery outcomes failed"),
        })
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

/// Keeps a finished send's update; a send that panicked keeps its claim until it runs out.
fn collect(
    joined: Result<FinishedDelivery, tokio::task::JoinError>,
    done: &mut Vec<FinishedDelivery>,
) {
    match joined {
        Ok(finished) => done.push(finished),
        Err(e) => tracing::error!(error = %e, "a delivery attempt failed"),
    }
}

/// Waits for the outcomes being written, if any.
async fn recorded(recording: &mut Recording) {
    if let Some(handle) = recording.as_mut() {
        if let Err(e) = handle.await {
            tracing::error!(error = %e, "recording delivery outcomes failed");
        }
    }
    *recording = None;
}

pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Seconds from `from` to `to` (for latency metrics); 0 when `to` is earlier.
pub(crate) fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    (to.millis() - from.millis()).max(0) as f64 / 1000.0
}
