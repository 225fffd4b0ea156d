//! What the store keeps of an API-triggered broadcast while the log processor works through
//! it: the job and its progress over the audience, a page of people per transaction. Plain
//! data only; the job is written by [`ProcessingTx::put_broadcast`](crate::ProcessingTx) and
//! read through [`Definitions`](crate::Definitions). Derived from the log like journey
//! instances: `Store::reset_derived` wipes it.

use nudge_core::{JsonMap, Timestamp};

/// A broadcast as the processor works through it, by the trigger id the API answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastJob {
    pub id: i64,
    /// The log offset of the broadcast's entry: the trigger of every instance it starts.
    pub offset: i64,
    pub journey: String,
    pub data: JsonMap,
    /// The audience filter (a condition document); `None` for a list of named people.
    pub filter: Option<serde_json::Value>,
    /// The last person key visited (0 before the first page).
    pub after: i64,
    pub visited: u64,
    /// Instances it started.
    pub started: u64,
    pub complete: bool,
    pub created_at: Timestamp,
}
