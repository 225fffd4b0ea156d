//! What the store keeps of running journeys: each instance (the engine's state as opaque JSON,
//! with the few fields the store indexes copied beside it), the journey timeline with its
//! counters, and the outbox of messages to send. Plain data only; the operations are in
//! [`ProcessingTx`](crate::ProcessingTx) and [`Definitions`](crate::Definitions).

use nudge_core::{PersonKey, Timestamp, WorkspaceId};

/// One journey instance as stored. `state` is the engine's instance document (opaque JSON
/// here); the other fields are copies the store indexes.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRow {
    /// Assigned by `insert_instance` (ignored there).
    pub id: i64,
    pub journey: String,
    pub version: i64,
    pub person: PersonKey,
    /// The instance key (one live instance per person, journey and key).
    pub key: String,
    pub active: bool,
    pub step: Option<String>,
    /// When a waiting active instance is due; `None` when it waits for nothing timed.
    pub wake_at: Option<Timestamp>,
    /// A finished instance is still watched for conversions until then.
    pub watch_until: Option<Timestamp>,
    pub entered_at: Timestamp,
    pub state: serde_json::Value,
}

/// An active instance whose `wake_at` has come.
#[derive(Debug, Clone, PartialEq)]
pub struct DueInstance {
    pub ws: WorkspaceId,
    pub id: i64,
    pub person: PersonKey,
    pub wake_at: Timestamp,
}

/// One entry of the journey timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct JourneyEvent {
    pub at: Timestamp,
    pub person: PersonKey,
    pub journey: String,
    pub version: i64,
    pub instance: i64,
    pub step: Option<String>,
    /// entered, step_reached, message_sent, message_skipped, exited, converted,
    /// attributes_updated, event_emitted, webhook_queued.
    pub kind: String,
    pub reason: Option<String>,
    pub detail: serde_json::Value,
}

/// A timeline entry as read back; `id` increases with every entry recorded in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredJourneyEvent {
    pub id: i64,
    pub event: JourneyEvent,
}

/// How many timeline entries of one journey had this step, kind and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JourneyCounter {
    pub journey: String,
    /// `""` for entries about the journey as a whole.
    pub step: String,
    pub kind: String,
    /// `""` when the entries had none.
    pub reason: String,
    pub count: u64,
}

/// A message queued for a channel worker.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    /// Unique per workspace: the idempotency key.
    pub message_id: String,
    pub person: PersonKey,
    pub journey: String,
    pub step: String,
    pub instance: i64,
    pub channel: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    /// Channel-specific extras.
    pub payload: serde_json::Value,
    pub created_at: Timestamp,
}

/// An outbox message as read back; `id` increases with every message queued in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub id: i64,
    pub message: OutboxMessage,
}

/// The timeline kind and reason `move_person_data` records for an instance it finishes
/// because the person it merges into already has a live instance with the same key.
pub const MERGED_EXIT: (&str, &str) = ("exited", "merged");

impl JourneyEvent {
    /// The [`MERGED_EXIT`] entry for `closed`, an instance `move_person_data` finished while
    /// moving it to `to`, whose live instance `kept` has the same journey and key.
    pub fn merged_exit(closed: &InstanceRow, to: PersonKey, kept: i64, at: Timestamp) -> Self {
        let (kind, reason) = MERGED_EXIT;
        JourneyEvent {
            at,
            person: to,
            journey: closed.journey.clone(),
            version: closed.version,
            instance: closed.id,
            step: closed.step.clone(),
            kind: kind.to_string(),
            reason: Some(reason.to_string()),
            detail: serde_json::json!({ "kept_instance": kept }),
        }
    }
}

impl JourneyCounter {
    /// The counter key an event increments: (step or "", kind, reason or "").
    pub fn key_of(event: &JourneyEvent) -> (&str, &str, &str) {
        (
            event.step.as_deref().unwrap_or(""),
            event.kind.as_str(),
            event.reason.as_deref().unwrap_or(""),
        )
    }
}
