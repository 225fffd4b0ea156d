//! The delivery ledger: every message the outbox holds, with its state, attempts and outcome.
//! A delivery worker claims what is due, re-checks it, hands it to a channel and records what
//! happened; the App API and `nudge outbox tail` read it. Plain data and the [`Deliveries`]
//! trait; the backends implement it.

mod recheck;

pub use recheck::*;

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use serde::{Deserialize, Serialize};

use crate::{InstanceRow, OutboxMessage, StoreResult};

/// Where a message is. `Queued` and `Attempted` are open; the others are outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its first attempt or its next retry (`due_at`).
    Queued,
    /// Claimed by a worker until `due_at`; a claim that runs out is claimed again.
    Attempted,
    /// The provider took it.
    Sent,
    /// The provider reported it delivered.
    Delivered,
    Opened,
    Clicked,
    /// The address bounced.
    Bounced,
    /// The provider refused it for good, or retries ran out.
    Failed,
    /// Not sent on purpose (the instance exited, consent, suppression).
    Skipped,
    /// Could not go out within its limits (a frequency cap that never cleared).
    Undeliverable,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 10] = [
        DeliveryState::Queued,
        DeliveryState::Attempted,
        DeliveryState::Sent,
        DeliveryState::Delivered,
        DeliveryState::Opened,
        DeliveryState::Clicked,
        DeliveryState::Bounced,
        DeliveryState::Failed,
        DeliveryState::Skipped,
        DeliveryState::Undeliverable,
    ];

    /// The name stored and shown (`queued`, `attempted`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Attempted => "attempted",
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Opened => "opened",
            DeliveryState::Clicked => "clicked",
            DeliveryState::Bounced => "bounced",
            DeliveryState::Failed => "failed",
            DeliveryState::Skipped => "skipped",
            DeliveryState::Undeliverable => "undeliverable",
        }
    }

    pub fn parse(name: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether a worker may still act on it.
    pub fn is_open(self) -> bool {
        matches!(self, DeliveryState::Queued | DeliveryState::Attempted)
    }
}

/// One message of the ledger as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The outbox row's id: increases with every message queued in the store.
    pub id: i64,
    pub ws: WorkspaceId,
    /// What was queued; `message.message_id` is the delivery id.
    pub message: OutboxMessage,
    pub state: DeliveryState,
    /// Attempts started so far (a claim counts as one).
    pub attempts: u32,
    /// When an open delivery is next looked at: its next attempt (`Queued`) or the end of its
    /// claim (`Attempted`). `None` once it has an outcome.
    pub due_at: Option<Timestamp>,
    /// Why it is in this state: the last transient failure for a queued retry (kept while
    /// the next attempt runs), the reason of a failure or a skip, a sent message's note.
    pub reason: Option<String>,
    pub provider_message_id: Option<String>,
    /// The provider's JSON answer, when it had one (a webhook's response body).
    pub response: Option<serde_json::Value>,
    /// When the state last changed.
    pub updated_at: Timestamp,
    /// When the provider took it.
    pub sent_at: Option<Timestamp>,
}

/// An outcome (or a retry) recorded by the worker that holds the claim.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryUpdate {
    Sent {
        provider_message_id: Option<String>,
        response: Option<serde_json::Value>,
        /// A note kept as the reason (the outbox channel records that no provider is set).
        note: Option<String>,
    },
    /// Back to `Queued`, due again at `at`.
    Retry {
        at: Timestamp,
        reason: String,
    },
    Failed {
        reason: String,
    },
    Skipped {
        reason: String,
    },
    Undeliverable {
        reason: String,
    },
}

impl DeliveryUpdate {
    /// The state this update leaves the delivery in.
    pub fn state(&self) -> DeliveryState {
        match self {
            DeliveryUpdate::Sent { .. } => DeliveryState::Sent,
            DeliveryUpdate::Retry { .. } => DeliveryState::Queued,
            DeliveryUpdate::Failed { .. } => DeliveryState::Failed,
            DeliveryUpdate::Skipped { .. } => DeliveryState::Skipped,
            DeliveryUpdate::Undeliverable { .. } => DeliveryState::Undeliverable,
        }
    }

    /// Why the delivery is in [`state`](Self::state) after this update (for `Sent`, its
    /// note).
    pub fn reason(&self) -> Option<&str> {
        match self {
            DeliveryUpdate::Sent { note, .. } => note.as_deref(),
            DeliveryUpdate::Retry { reason, .. }
            | DeliveryUpdate::Failed { reason }
            | DeliveryUpdate::Skipped { reason }
            | DeliveryUpdate::Undeliverable { reason } => Some(reason),
        }
    }

    /// When the delivery is due again after this update: `Retry`'s time; `None` for an
    /// outcome.
    pub fn due_at(&self) -> Option<Timestamp> {
        match self {
            DeliveryUpdate::Retry { at, .. } => Some(*at),
            _ => None,
        }
    }
}

/// A worker's update for one delivery it claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedDelivery {
    pub ws: WorkspaceId,
    pub id: i64,
    /// The `attempts` the claim returned: the fence.
    pub attempts: u32,
    pub update: DeliveryUpdate,
}

/// Which deliveries of a workspace to list: oldest first, or newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryQuery {
    /// Only ids above this one; with `newest_first`, only ids below it (0: from the newest).
    pub after_id: i64,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
    pub limit: usize,
    pub state: Option<DeliveryState>,
    pub person: Option<PersonKey>,
    pub journey: Option<String>,
    /// Only this channel (`email`, `sms`, `push`, `webhook`).
    pub channel: Option<String>,
}

/// A delivery queued outside the processor, by the transactional API: it belongs to no
/// journey (journey and step are empty, instance 0) and is first due at `due_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    /// The delivery id: unique in the workspace.
    pub delivery_id: String,
    pub person: PersonKey,
    pub channel: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    /// Channel extras, as for a journey's message.
    pub payload: serde_json::Value,
    /// When it was queued (the row's `created_at`).
    pub queued_at: Timestamp,
    /// Its first attempt: a requested send time, or `queued_at`.
    pub due_at: Timestamp,
    /// The client's `Idempotency-Key`, kept with the row.
    pub idempotency: Option<IdempotencyKey>,
}

/// An idempotency key and the fingerprint of the request that used it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    /// What the request said (a hash of it): a later request with the same key and another
    /// fingerprint is a different request reusing the key.
    pub fingerprint: String,
}

/// The delivery an idempotency key queued, and the fingerprint of that request.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedDelivery {
    pub delivery: Delivery,
    pub fingerprint: String,
}

/// What [`Deliveries::queue_delivery`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum QueuedDelivery {
    /// The delivery is committed, as read right after the commit.
    Queued(Delivery),
    /// Its idempotency key had queued a delivery before: that one, nothing new.
    AlreadyQueued(KeyedDelivery),
}

/// The ledger's operations. Each call is its own transaction.
pub trait Deliveries {
    /// Claims up to `limit` deliveries of any workspace that are due at `now`: queued ones whose
    /// `due_at` has come, and attempted ones whose claim ran out (a worker died holding them).
    /// Each becomes `Attempted` with `due_at = claim_until` and one more attempt, atomically,
    /// so two workers never hold the same delivery. Earliest due first.
    fn claim_deliveries(
        &self,
        now: Timestamp,
        claim_until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>>;

    /// Records each update for the delivery it names if that delivery is still `Attempted`
    /// with the claim's `attempts`, all in one transaction; one flag per update, `false` when
    /// the claim was lost (it ran out and another worker took it) and nothing was written for
    /// it.
    fn finish_deliveries(
        &self,
        finished: &[FinishedDelivery],
        now: Timestamp,
    ) -> StoreResult<Vec<bool>>;

    /// The earliest `due_at` of any open delivery of any workspace (the worker sleeps until
    /// then).
    fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>>;

    /// The delivery with this delivery id (the message id).
    fn delivery(&self, ws: WorkspaceId, delivery_id: &str) -> StoreResult<Option<Delivery>>;

    /// The workspace's deliveries matching `query`, by id.
    fn deliveries(&self, ws: WorkspaceId, query: &DeliveryQuery) -> StoreResult<Vec<Delivery>>;

    /// The journey instances with these ids, active or not, in one read, by id; an id with
    /// no instance in the workspace is left out. The worker re-checks a claimed batch's
    /// instances with it.
    fn instances(&self, ws: WorkspaceId, ids: &[i64]) -> StoreResult<Vec<InstanceRow>>;

    /// Everything `query` names, in one read snapshot: what the worker's re-check of a claimed
    /// batch looks at besides the instances.
    fn recheck_reads(&self, ws: WorkspaceId, query: &RecheckQuery) -> StoreResult<RecheckReads>;

    /// The greatest offset in the workspace's log (0 when it is empty): a worker waits for the
    /// processor to reach it, so every event acknowledged before a send is seen by the
    /// re-check.
    fn log_head(&self, ws: WorkspaceId) -> StoreResult<i64>;

    /// Queues one delivery outside the processor, in one transaction with its idempotency key:
    /// when the key (per workspace) already queued a delivery, nothing is written and that one
    /// is returned; two requests with one key racing each other queue one delivery. A
    /// delivery id already taken is a [`StoreError::Conflict`](crate::StoreError::Conflict).
    fn queue_delivery(&self, ws: WorkspaceId, new: &NewDelivery) -> StoreResult<QueuedDelivery>;

    /// The delivery an idempotency key of the workspace queued, if any.
    fn keyed_delivery(&self, ws: WorkspaceId, key: &str) -> StoreResult<Option<KeyedDelivery>>;
}
