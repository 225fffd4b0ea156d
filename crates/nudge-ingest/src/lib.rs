//! Ingestion: turning accepted API operations into committed state. `apply` holds the
//! identity-resolution and attribute rules (written once, for every backend); `writer` is the
//! single group-commit writer that batches concurrent requests into one transaction; `replay`
//! re-applies a workspace's log (`nudge replay`) through the same rules.

mod apply;
mod attributes;
mod computed_keys;
pub mod replay;
mod writer;

pub use apply::{apply_entry, replay_entry, Outcome, Replayed};
pub use computed_keys::ComputedKeys;
pub use writer::{
    Accepted, CommitHook, IngestError, Ingestor, Pending, WriterConfig, WriterHandle,
};

/// How long client dedupe keys (event ULIDs, later `messageId`s) are remembered.
pub const DEDUPE_WINDOW_MILLIS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Events older than this at receipt are stored but may never trigger journeys.
pub const TRIGGER_WINDOW_MILLIS: i64 = 72 * 60 * 60 * 1000;
