//! Nudge's domain core: the types every other crate speaks (workspaces, identifiers, people,
//! events, the operations ingestion applies) and the injected clock. It does no IO and never
//! reads the wall clock itself.

pub mod identifier;
pub mod limits;
pub mod operation;
pub mod person;
pub mod time;
pub mod workspace;

pub use identifier::{Identifier, IdentifierKind};
pub use operation::{
    BroadcastAudience, BroadcastRecipient, EventKind, EventRecord, ObjectRef, Operation, PersonRef,
};
pub use person::{Activity, ActivityKind, Device, PersonKey, PersonState};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use workspace::{ApiKind, Env, Workspace, WorkspaceId};

/// A JSON object: attribute maps, event data.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;
