//! Plain data the storage traits take and return.

use nudge_core::{
    ApiKind, Device, Identifier, JsonMap, ObjectRef, Operation, PersonKey, PersonState, Timestamp,
    Workspace,
};
use serde::{Deserialize, Serialize};

/// SHA-256 of an API key. Keys are 128-bit random strings, so a fast hash is enough; the
/// plain key is never stored.
pub type KeyHash = [u8; 32];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub kind: ApiKind,
    pub hash: KeyHash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    pub workspace: Workspace,
    pub kind: ApiKind,
}

/// One entry of the event log as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Which door it came in by: "track_v1", "track_v2", "pipelines", "import".
    pub source: String,
    pub received_at: Timestamp,
    pub operation: Operation,
    /// The message exactly as the client sent it, where the decoded operation does not
    /// already say everything (Pipelines messages carry context, timestamps, integrations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<serde_json::Value>,
}

/// One entry of the event log as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub offset: i64,
    pub entry: LogEntry,
}

/// A person with everything the people API shows.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonView {
    pub state: PersonState,
    /// Every identifier that resolves to this person, sorted.
    pub identifiers: Vec<Identifier>,
    /// Sorted by token.
    pub devices: Vec<Device>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityQuery {
    /// Only these kinds; empty means all.
    pub kinds: Vec<nudge_core::ActivityKind>,
    pub name: Option<String>,
    /// Continue below this sequence number (exclusive).
    pub before_seq: Option<i64>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub manual: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectView {
    pub object: ObjectRef,
    pub attributes: JsonMap,
    /// Related people and the relationship's attributes, by person key.
    pub relationships: Vec<(PersonKey, JsonMap)>,
}

/// A message the Pipelines API could not accept, kept so a permissive-mode 200 never drops
/// anything silently: what was wrong, where, and the message as it arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    pub received_at: Timestamp,
    /// Which door it came in by ("pipelines").
    pub source: String,
    /// Why it was refused, in words a person can act on.
    pub reason: String,
    /// The JSON path of the offending field inside the message, when one is to blame.
    pub field: Option<String>,
    /// The message as received (oversize or unparseable ones as a bounded excerpt).
    pub raw: serde_json::Value,
}

/// A stored rejection as read back; `id` increases with every rejection recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectionRecord {
    pub id: i64,
    pub rejection: Rejection,
}

/// What a merge moved from one person to another (rows kept by the target on a clash are not
/// counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovedData {
    pub identifiers: u64,
    pub activities: u64,
    pub devices: u64,
    pub segment_memberships: u64,
    pub relationships: u64,
    /// Journey instances moved, the finished ones included.
    #[serde(default)]
    pub instances: u64,
    /// Of those, active instances finished because `to` had a live one with the same key.
    #[serde(default)]
    pub instances_closed: u64,
}
