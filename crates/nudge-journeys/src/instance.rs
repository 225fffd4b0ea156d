//! An instance's whole state: one person's way through one journey version, stored by the
//! caller as JSON and handed back to the step function with each input.

use nudge_core::{JsonMap, Timestamp};
use serde::{Deserialize, Serialize};

/// What started an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerData {
    /// The trigger event's name; `None` for segment, attribute, date and broadcast triggers.
    pub event: Option<String>,
    pub timestamp: Timestamp,
    pub data: JsonMap,
    /// Log offset of the entry that triggered it; 0 when none.
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Status {
    Active,
    Finished { reason: String, at: Timestamp },
}

/// The instance's most recent message (the goal's conversion window runs from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentMessage {
    pub step: String,
    pub message_id: String,
    pub at: Timestamp,
}

/// An instance's whole state, stored as JSON by the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub journey: String,
    pub version: i64,
    /// The instance key's text; `""` for a journey without a key.
    pub key: String,
    pub trigger: TriggerData,
    pub entered_at: Timestamp,
    pub status: Status,
    /// The step it waits at (before its first input: the step it will start at).
    pub step: Option<String>,
    /// When the current step began: its scheduled time, so lateness does not accumulate.
    pub step_started: Timestamp,
    /// When its timer fires; `None` when finished or not waiting.
    pub wake_at: Option<Timestamp>,
    /// Steps executed so far (makes message ids unique across loops and restarts).
    pub visits: u32,
    /// The newest log offset whose events this instance has seen.
    pub seen_offset: i64,
    pub last_message: Option<SentMessage>,
    /// End of the conversion window of the last message; cleared once it converted.
    pub goal_until: Option<Timestamp>,
}

impl Instance {
    pub fn is_active(&self) -> bool {
        matches!(self.status, Status::Active)
    }

    /// Active, or finished with an open conversion window: the caller still feeds it events.
    pub fn watching(&self, now: Timestamp) -> bool {
        self.is_active() || self.goal_until.is_some_and(|until| until > now)
    }
}
