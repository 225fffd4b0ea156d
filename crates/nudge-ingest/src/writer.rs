//! The single writer: requests queue their operations here, and the writer thread drains the
//! queue, applies a whole batch in one transaction and commits once, then answers every
//! request of the batch. An answer therefore always means "durably committed", and one fsync
//! serves hundreds of concurrent requests.

use std::sync::Arc;
use std::thread::JoinHandle;

use nudge_core::{Clock, Operation, Timestamp, WorkspaceId};
use nudge_store::{LogEntry, Rejection, Store, StoreError, WriteTx};
use tokio::sync::{mpsc, oneshot};

use crate::apply::{apply_entry, Outcome};
use crate::computed_keys::{strip_computed, ComputedKeys};
use crate::DEDUPE_WINDOW_MILLIS;

#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// Stop draining the queue once a batch holds this many operations.
    pub max_batch_operations: usize,
    /// Requests that may wait for the writer before senders are held back.
    pub queue_depth: usize,
    /// Attributes identify may not write.
    pub computed_keys: Arc<ComputedKeys>,
    /// Called after every successful commit (it wakes the log processor).
    pub on_commit: Option<CommitHook>,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            max_batch_operations: 4096,
            queue_depth: 8192,
            computed_keys: Arc::default(),
            on_commit: None,
        }
    }
}

/// What runs after each commit.
#[derive(Clone)]
pub struct CommitHook(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for CommitHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CommitHook")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the writer has shut down")]
    ShutDown,
}

/// One accepted message on its way to the log: the operation, the key a repeat of it would
/// carry (an event ULID, a Pipelines `messageId`), and the raw payload to keep.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub operation: Operation,
    pub dedupe_key: Option<String>,
    pub raw: Option<serde_json::Value>,
}

impl From<Operation> for Accepted {
    /// Track API operations: events carrying a ULID are deduplicated by it.
    fn from(operation: Operation) -> Self {
        let dedupe_key = match &operation {
            Operation::Track { event, .. } | Operation::TrackAnonymous { event, .. } => {
                event.id.as_ref().map(|id| format!("event:{id}"))
            }
            _ => None,
        };
        Self {
            operation,
            dedupe_key,
            raw: None,
        }
    }
}

struct Submission {
    ws: WorkspaceId,
    source: &'static str,
    operations: Vec<Accepted>,
    /// Messages refused at the edge, committed in the same transaction as the operations.
    rejections: Vec<Rejection>,
    reply: oneshot::Sender<Result<Vec<Outcome>, IngestError>>,
}

/// The handle requests submit through. Cheap to clone.
#[derive(Clone)]
pub struct Ingestor {
    queue: mpsc::Sender<Submission>,
}

/// Joins the writer thread once every [`Ingestor`] clone is dropped and the queue is drained.
pub struct WriterHandle(JoinHandle<()>);

impl WriterHandle {
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("the writer thread panicked");
        }
    }
}

impl Ingestor {
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: WriterConfig,
    ) -> (Ingestor, WriterHandle) {
        let (queue, receiver) = mpsc::channel(config.queue_depth);
        let writer = Writer {
            store,
            clock,
            config,
            last_prune: None,
        };
        let thread = std::thread::Builder::new()
            .name("nudge-writer".into())
            .spawn(move || writer.run(receiver))
            .expect("spawning the writer thread");
        (Ingestor { queue }, WriterHandle(thread))
    }

    /// Commits `operations` (in order) and returns one outcome per operation.
    pub async fn submit(
        &self,
        ws: WorkspaceId,
        source: &'static str,
        operations: Vec<Accepted>,
    ) -> Result<Vec<Outcome>, IngestError> {
        self.submit_with_rejections(ws, source, operations, Vec::new())
            .await
    }

    /// [`submit`](Self::submit), and in the same transaction keeps `rejections`: messages the
    /// edge refused but answered with success (Pipelines' permissive mode), so that success
    /// means they are durably recorded too.
    pub async fn submit_with_rejections(
        &self,
        ws: WorkspaceId,
        source: &'static str,
        operations: Vec<Accepted>,
        rejections: Vec<Rejection>,
    ) -> Result<Vec<Outcome>, IngestError> {
        let (reply, answer) = oneshot::channel();
        let submission = Submission {
            ws,
            source,
            operations,
            rejections,
            reply,
        };
        self.queue
            .send(submission)
            .await
            .map_err(|_| IngestError::ShutDown)?;
        answer.await.map_err(|_| IngestError::ShutDown)?
    }

    /// Queues `operations` from a plain thread (never from async code: it blocks while the
    /// queue is full) and returns at once with a handle to wait on. The writer commits
    /// submissions in the order they were queued, so a bulk loader can keep several in flight
    /// and still apply its rows in file order.
    pub fn enqueue_blocking(
        &self,
        ws: WorkspaceId,
        source: &'static str,
        operations: Vec<Accepted>,
    ) -> Result<Pending, IngestError> {
        let (reply, answer) = oneshot::channel();
        let submission = Submission {
            ws,
            source,
            operations,
            rejections: Vec::new(),
            reply,
        };
        self.queue
            .blocking_send(submission)
            .map_err(|_| IngestError::ShutDown)?;
        Ok(Pending(answer))
    }
}

/// A submission queued by [`Ingestor::enqueue_blocking`] and not yet answered.
pub struct Pending(oneshot::Receiver<Result<Vec<Outcome>, IngestError>>);

impl Pending {
    /// Blocks until the writer has committed the submission (or failed to); one outcome per
    /// operation. Not for async code.
    pub fn wait(self) -> Result<Vec<Outcome>, IngestError> {
        self.0.blocking_recv().map_err(|_| IngestError::ShutDown)?
    }
}

struct Writer {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: WriterConfig,
    last_prune: Option<Timestamp>,
}

impl Writer {
    fn run(mut self, mut receiver: mpsc::Receiver<Submission>) {
        while let Some(first) = receiver.blocking_recv() {
            let mut batch = vec![first];
            let mut operations = batch[0].operations.len();
            while operations < self.config.max_batch_operations {
                match receiver.try_recv() {
                    Ok(next) => {
                        operations += next.operations.len();
                        batch.push(next);
                    }
                    Err(_) => break,
                }
            }
            self.commit(batch, operations);
        }
    }

    fn commit(&mut self, mut batch: Vec<Submission>, operations: usize) {
        let now = self.clock.now();
        let prune_before = self.prune_due(now);
        let mut outcomes = Vec::new();
        let result = self.store.write(&mut |tx| {
            if let Some(before) = prune_before {
                tx.prune_dedupe_keys(before)?;
            }
            let mut all = Vec::with_capacity(batch.len());
            for submission in batch.iter_mut() {
                let computed = self.config.computed_keys.get(submission.ws);
                all.push(apply_submission(
                    tx,
                    submission.ws,
                    submission.source,
                    &mut submission.operations,
                    computed.as_deref(),
                    now,
                )?);
                for rejection in &submission.rejections {
                    tx.record_rejection(submission.ws, rejection)?;
                }
            }
            outcomes = all;
            Ok(())
        });
        match result {
            Ok(()) => {
                if prune_before.is_some() {
                    self.last_prune = Some(now);
                }
                if let Some(CommitHook(hook)) = &self.config.on_commit {
                    hook();
                }
                metrics::histogram!("nudge_commit_batch_operations").record(operations as f64);
                metrics::histogram!("nudge_commit_batch_requests").record(batch.len() as f64);
                for (submission, outcome) in batch.into_iter().zip(std::mem::take(&mut outcomes)) {
                    count(&submission, &outcome);
                    let _ = submission.reply.send(Ok(outcome));
                }
            }
            Err(error) if batch.len() > 1 => {
                // One bad request must not fail its neighbours: retry each on its own.
                tracing::warn!(%error, requests = batch.len(), "batch commit failed; retrying one by one");
                for submission in batch {
                    let n = submission.operations.len();
                    self.commit(vec![submission], n);
                }
            }
            Err(error) => {
                tracing::error!(%error, "commit failed");
                metrics::counter!("nudge_commit_failures_total").increment(1);
                for submission in batch {
                    let _ = submission
                        .reply
                        .send(Err(IngestError::Store(error.clone())));
                }
            }
        }
    }

    /// Dedupe keys are pruned at most once an hour, inside a regular batch.
    fn prune_due(&self, now: Timestamp) -> Option<Timestamp> {
        let hour = 60 * 60 * 1000;
        match self.last_prune {
            Some(last) if now.millis() - last.millis() < hour => None,
            _ => Some(now.minus_millis(DEDUPE_WINDOW_MILLIS)),
        }
    }
}

fn apply_submission(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    source: &'static str,
    operations: &mut [Accepted],
    computed: Option<&std::collections::BTreeSet<String>>,
    now: Timestamp,
) -> Result<Vec<Outcome>, StoreError> {
    let mut outcomes = Vec::with_capacity(operations.len());
    for accepted in operations {
        if let Some(key) = &accepted.dedupe_key {
            if !tx.record_dedupe_key(ws, key, now)? {
                outcomes.push(Outcome::Duplicate);
                continue;
            }
        }
        // The log entry borrows the operation and its raw payload for the duration of the
        // write instead of copying them (a deep copy per event was a measurable share of the
        // writer's time); both go back before any error propagates, so a batch that fails
        // can still be retried request by request.
        let stripped = computed.and_then(|names| {
            strip_computed(
                &accepted.operation,
                names,
                source,
                accepted.raw.as_ref(),
                now,
            )
        });
        let (operation, refusal) = match stripped {
            Some((operation, refusal)) => (operation, Some(refusal)),
            None => (std::mem::replace(&mut accepted.operation, vacated()), None),
        };
        let entry = LogEntry {
            source: source.to_string(),
            received_at: now,
            operation,
            raw: accepted.raw.take(),
        };
        if let Some(refusal) = &refusal {
            if let Err(e) = tx.record_rejection(ws, refusal) {
                accepted.raw = entry.raw;
                return Err(e);
            }
        }
        let result = tx
            .append_log(ws, &entry)
            .and_then(|offset| apply_entry(tx, ws, offset, &entry))
            .and_then(|outcome| {
                if let Outcome::Dropped(reason) = &outcome {
                    tx.record_rejection(ws, &without_effect(&entry, reason))?;
                }
                Ok(outcome)
            });
        if refusal.is_none() {
            accepted.operation = entry.operation;
        }
        accepted.raw = entry.raw;
        outcomes.push(result?);
    }
    Ok(outcomes)
}

/// A message that was accepted and logged but changed nothing (a suppressed identifier, an
/// unknown cio_id, an `_update` for nobody) is listed with the rejected messages, so it is
/// visible and countable instead of silently gone.
fn without_effect(entry: &LogEntry, reason: &str) -> Rejection {
    Rejection {
        received_at: entry.received_at,
        source: entry.source.clone(),
        reason: format!("accepted without effect: {reason}"),
        field: None,
        raw: entry
            .raw
            .clone()
            .unwrap_or_else(|| serde_json::to_value(&entry.operation).unwrap_or_default()),
    }
}

/// What stands in an `Accepted` while its operation is lent to the log entry: allocates
/// nothing, and is never applied or stored.
fn vacated() -> Operation {
    Operation::Unsuppress {
        person: nudge_core::Identifier::new(nudge_core::IdentifierKind::CioId, "vacated")
            .expect("a constant cio_id"),
    }
}

fn count(submission: &Submission, outcomes: &[Outcome]) {
    // One counter update per (operation, result) of the submission, not one per operation.
    let mut tally: Vec<(&'static str, &'static str, u64)> = Vec::new();
    for (accepted, outcome) in submission.operations.iter().zip(outcomes) {
        let operation = &accepted.operation;
        let result = match outcome {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Dropped(_) => "dropped",
            Outcome::Refused(_) => "refused",
        };
        match tally
            .iter_mut()
            .find(|(o, r, _)| *o == operation.name() && *r == result)
        {
            Some(entry) => entry.2 += 1,
            None => tally.push((operation.name(), result, 1)),
        }
    }
    let workspace = submission.ws.to_string();
    if !submission.rejections.is_empty() {
        metrics::counter!("nudge_rejected_messages_total",
            "workspace" => workspace.clone(), "source" => submission.source)
        .increment(submission.rejections.len() as u64);
    }
    for (operation, result, n) in tally {
        metrics::counter!("nudge_operations_total",
            "workspace" => workspace.clone(), "operation" => operation, "result" => result)
        .increment(n);
    }
}
