//! The operations ingestion applies, one per accepted API action. They are what the event log
//! stores, so replaying the log re-applies exactly what the APIs accepted.

use serde::{Deserialize, Serialize};

use crate::{Device, Identifier, JsonMap, Timestamp};

/// Who an operation is about.
pub type PersonRef = Identifier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Event,
    Page,
    Screen,
}

impl EventKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "event" => Some(EventKind::Event),
            "page" => Some(EventKind::Page),
            "screen" => Some(EventKind::Screen),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    pub kind: EventKind,
    pub name: String,
    /// Client-chosen ULID; a repeat within the dedupe window is ignored.
    pub id: Option<String>,
    /// When it happened; `None` means "when received".
    pub timestamp: Option<Timestamp>,
    pub data: JsonMap,
}

/// An object (a company, a course, an account) addressed by type and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    pub type_id: String,
    pub object_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relationship<T> {
    pub with: T,
    pub attributes: JsonMap,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    Identify {
        person: PersonRef,
        attributes: JsonMap,
        /// `_update: true`: never create a person.
        update_only: bool,
        /// `_timestamp`: orders rapid successive updates.
        timestamp: Option<Timestamp>,
    },
    DeletePerson {
        person: PersonRef,
    },
    Track {
        person: PersonRef,
        event: EventRecord,
    },
    TrackAnonymous {
        anonymous_id: Option<String>,
        event: EventRecord,
    },
    AddDevice {
        person: PersonRef,
        device: Device,
    },
    DeleteDevice {
        person: PersonRef,
        token: String,
    },
    Suppress {
        person: PersonRef,
    },
    Unsuppress {
        person: PersonRef,
    },
    Merge {
        primary: PersonRef,
        secondary: PersonRef,
    },
    /// Pipelines `alias`: `previous` (an anonymous id, or an earlier user id) now names the
    /// same person as `user`.
    Alias {
        previous: String,
        user: PersonRef,
    },
    ManualSegment {
        segment_id: i64,
        people: Vec<PersonRef>,
        add: bool,
    },
    PersonRelationships {
        person: PersonRef,
        add: bool,
        relationships: Vec<Relationship<ObjectRef>>,
    },
    IdentifyObject {
        object: ObjectRef,
        attributes: JsonMap,
        relationships: Vec<Relationship<PersonRef>>,
    },
    DeleteObject {
        object: ObjectRef,
    },
    ObjectRelationships {
        object: ObjectRef,
        add: bool,
        relationships: Vec<Relationship<PersonRef>>,
    },
    /// An API-triggered broadcast (`POST /v1/campaigns/{id}/triggers`): start `journey` for
    /// its audience with `data`. Changes no person by itself; the processor starts the
    /// instances.
    TriggerBroadcast {
        /// The id the API answered with, by which the broadcast's progress is looked up.
        trigger_id: i64,
        journey: String,
        data: JsonMap,
        audience: BroadcastAudience,
    },
}

/// Whom a broadcast reaches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastAudience {
    /// These people, each with data of their own laid over the broadcast's.
    People(Vec<BroadcastRecipient>),
    /// Everyone a condition document (the audience filter grammar) matches when the
    /// broadcast is processed.
    Filter(serde_json::Value),
}

/// One named recipient of a broadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BroadcastRecipient {
    pub person: PersonRef,
    #[serde(default, skip_serializing_if = "JsonMap::is_empty")]
    pub data: JsonMap,
}

impl Operation {
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Identify { .. } => "identify",
            Operation::DeletePerson { .. } => "delete_person",
            Operation::Track { .. } => "track",
            Operation::TrackAnonymous { .. } => "track_anonymous",
            Operation::AddDevice { .. } => "add_device",
            Operation::DeleteDevice { .. } => "delete_device",
            Operation::Suppress { .. } => "suppress",
            Operation::Unsuppress { .. } => "unsuppress",
            Operation::Merge { .. } => "merge",
            Operation::Alias { .. } => "alias",
            Operation::ManualSegment { .. } => "manual_segment",
            Operation::PersonRelationships { .. } => "person_relationships",
            Operation::IdentifyObject { .. } => "identify_object",
            Operation::DeleteObject { .. } => "delete_object",
            Operation::TriggerBroadcast { .. } => "trigger_broadcast",
            Operation::ObjectRelationships { .. } => "object_relationships",
        }
    }
}
