//! People as the store keeps them: an internal key, the immutable `cio_id`, identifiers,
//! attributes with the time each was last set, devices, and the activity timeline.

use serde::{Deserialize, Serialize};

use crate::{JsonMap, Timestamp};

/// The internal key every event and identifier points at. Never shown to API clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonKey(pub i64);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonState {
    pub key: PersonKey,
    pub cio_id: String,
    pub id: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub attributes: JsonMap,
    /// When each attribute was last set (ms), so an older `_timestamp` update never
    /// overwrites a newer value.
    pub attribute_times: std::collections::BTreeMap<String, i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub token: String,
    pub platform: String,
    pub last_used: Option<Timestamp>,
    pub attributes: JsonMap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Event,
    Page,
    Screen,
    AttributeChange,
    FailedAttributeChange,
    DeviceUpdated,
    DeviceDeleted,
    Merged,
    /// An anonymous id joined a known person (identify with `anonymous_id`, alias).
    Stitched,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 9] = [
        ActivityKind::Event,
        ActivityKind::Page,
        ActivityKind::Screen,
        ActivityKind::AttributeChange,
        ActivityKind::FailedAttributeChange,
        ActivityKind::DeviceUpdated,
        ActivityKind::DeviceDeleted,
        ActivityKind::Merged,
        ActivityKind::Stitched,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Event => "event",
            ActivityKind::Page => "page",
            ActivityKind::Screen => "screen",
            ActivityKind::AttributeChange => "attribute_change",
            ActivityKind::FailedAttributeChange => "failed_attribute_change",
            ActivityKind::DeviceUpdated => "device_updated",
            ActivityKind::DeviceDeleted => "device_deleted",
            ActivityKind::Merged => "merged",
            ActivityKind::Stitched => "stitched",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entry of a person's timeline, as recorded by ingestion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub kind: ActivityKind,
    /// Event, page or screen name; empty for attribute changes.
    pub name: String,
    /// When it happened (the client's timestamp, or receipt time).
    pub timestamp: Timestamp,
    pub data: JsonMap,
    /// The client's dedupe id (ULID) for events that carried one.
    pub event_id: Option<String>,
    /// False for events too old (over 72 h at receipt) or merged in: they may never trigger.
    pub can_trigger: bool,
}

/// An activity as read back, with its position in the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredActivity {
    pub seq: i64,
    pub activity: Activity,
    pub recorded_at: Timestamp,
}
