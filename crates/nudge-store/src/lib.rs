//! Storage behind traits. [`Store`] is what the server reads and administers; [`WriteTx`] is
//! the set of domain operations ingestion performs inside one transaction, handed to a closure
//! by [`Store::write`] so no transaction handle ever leaves a backend. No SQL type crosses
//! these signatures. `contract` holds the behaviour every backend must share.

mod address_suppressions;
mod broadcasts;
pub mod contract;
mod definitions;
mod deliveries;
mod documents;
mod export_types;
mod journeys;
mod marks;
mod processing;
mod reporting_webhooks;
mod send_history;
mod types;

pub use address_suppressions::*;
pub use broadcasts::*;
pub use definitions::*;
pub use deliveries::*;
pub use documents::*;
pub use export_types::*;
pub use journeys::*;
pub use marks::*;
pub use processing::*;
pub use reporting_webhooks::*;
pub use send_history::*;
pub use types::*;

use nudge_core::{
    Device, Env, Identifier, JsonMap, ObjectRef, PersonKey, PersonState, Timestamp, Workspace,
    WorkspaceId,
};

/// Everything a backend can fail with. Client mistakes never reach this layer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused service; the request may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was broken (a workspace name or identifier already taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data could not be decoded: a bug or manual tampering.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// Anything else the backend reported.
    #[error("store error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The work done inside one transaction.
pub type TxWork<'a> = dyn FnMut(&mut dyn WriteTx) -> StoreResult<()> + 'a;

/// A Nudge store: SQLite embedded, or PostgreSQL for many nodes.
pub trait Store:
    Definitions
    + Deliveries
    + AddressSuppressions
    + ReportingWebhooks
    + SendHistory
    + Send
    + Sync
    + 'static
{
    /// Which backend this is, for logs and `check-config` ("sqlite", "postgres").
    fn backend_name(&self) -> &'static str;

    /// Cheap round trip used by `/readyz`.
    fn ping(&self) -> StoreResult<()>;

    /// Runs `work` in one transaction and commits once if it returns `Ok`; rolls back
    /// everything otherwise. A returned `Ok` means the commit is durable.
    fn write(&self, work: &mut TxWork<'_>) -> StoreResult<()>;

    // --- workspaces and credentials -------------------------------------------------------
    fn create_workspace(&self, new: &NewWorkspace) -> StoreResult<Workspace>;
    fn workspaces(&self) -> StoreResult<Vec<Workspace>>;
    fn workspace_by_name(&self, name: &str) -> StoreResult<Option<Workspace>>;
    /// Replaces every key of the workspace at once: old keys stop working at commit.
    fn replace_keys(&self, workspace: WorkspaceId, keys: &[KeyRecord]) -> StoreResult<()>;
    /// The workspace and API a key hash opens, if any.
    fn find_key(&self, hash: &KeyHash) -> StoreResult<Option<KeyOwner>>;

    // --- people -----------------------------------------------------------------------------
    fn resolve(&self, ws: WorkspaceId, identifier: &Identifier) -> StoreResult<Option<PersonKey>>;
    fn person(&self, ws: WorkspaceId, key: PersonKey) -> StoreResult<Option<PersonView>>;
    /// Newest first; `before_seq` continues a page.
    fn activities(
        &self,
        ws: WorkspaceId,
        key: PersonKey,
        query: &ActivityQuery,
    ) -> StoreResult<Vec<nudge_core::person::StoredActivity>>;

    // --- segments ---------------------------------------------------------------------------
    fn create_manual_segment(
        &self,
        ws: WorkspaceId,
        name: &str,
        description: &str,
        now: Timestamp,
    ) -> StoreResult<Segment> {
        let new = NewSegment {
            id: None,
            name: name.to_string(),
            description: description.to_string(),
            conditions: None,
        };
        let created = self.create_segment(ws, &new, now)?;
        Ok(Segment {
            id: created.id,
            name: created.name,
            description: created.description,
            manual: true,
        })
    }
    fn person_segments(&self, ws: WorkspaceId, key: PersonKey) -> StoreResult<Vec<Segment>>;

    // --- objects ----------------------------------------------------------------------------
    fn object(&self, ws: WorkspaceId, object: &ObjectRef) -> StoreResult<Option<ObjectView>>;

    // --- the event log ----------------------------------------------------------------------
    /// Entries with offset greater than `after`, in offset order, at most `limit`.
    fn read_log(&self, ws: WorkspaceId, after: i64, limit: usize) -> StoreResult<Vec<LogRecord>>;
    /// How many entries of the workspace's log have an offset greater than `after`, and the
    /// last one's offset.
    fn log_extent(&self, ws: WorkspaceId, after: i64) -> StoreResult<LogExtent>;

    // --- derived state ----------------------------------------------------------------------
    /// Deletes, in one transaction, everything of the workspace that is derived from its log:
    /// people, identifiers, activities, devices, suppressions, segment memberships and
    /// transitions, computed-attribute states, person schedules, objects, relationships,
    /// marks, journey instances, the journey timeline and its counters, broadcast jobs; the
    /// processed offset goes back to 0. The log, dedupe keys, the workspace and its keys,
    /// segment and computed-attribute definitions, documents, the outbox (the record of what
    /// was sent: re-deriving must not send again) and anything else not derived from the log
    /// stay.
    /// `nudge replay --rebuild` then re-applies the whole log.
    fn reset_derived(&self, ws: WorkspaceId) -> StoreResult<()>;

    // --- rejected messages ------------------------------------------------------------------
    /// The workspace's rejected messages, newest first, with id below `before_id` (all when
    /// `None`), at most `limit`.
    fn rejections(
        &self,
        ws: WorkspaceId,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<RejectionRecord>>;

    // --- exports ----------------------------------------------------------------------------
    /// People in `scope`, in key order, with key greater than `after` (from the first when
    /// `None`), at most `limit`: keyset pages, each an indexed range read.
    fn people_page(
        &self,
        ws: WorkspaceId,
        after: Option<PersonKey>,
        limit: usize,
        scope: &ExportScope,
    ) -> StoreResult<Vec<PersonState>>;
    /// Events, page and screen views of people in `scope`, in activity order, with position
    /// greater than `after_seq`, at most `limit`.
    fn events_page(
        &self,
        ws: WorkspaceId,
        after_seq: i64,
        limit: usize,
        scope: &ExportScope,
    ) -> StoreResult<Vec<ExportedEvent>>;
    /// Records a pending export job.
    fn create_export(&self, ws: WorkspaceId, new: &NewExport) -> StoreResult<ExportJob>;
    fn export_job(&self, ws: WorkspaceId, id: i64) -> StoreResult<Option<ExportJob>>;
    /// Marks a job done or failed.
    fn finish_export(
        &self,
        ws: WorkspaceId,
        id: i64,
        end: &ExportEnd,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Counts one fetch of the job's file.
    fn record_export_download(&self, ws: WorkspaceId, id: i64, now: Timestamp) -> StoreResult<()>;
}

/// Domain operations inside one write transaction. Implementations must keep every call
/// O(log n) in the data size: each one is on the ingest hot path.
pub trait WriteTx: ProcessingTx {
    /// Appends to the workspace's ordered log and returns the new offset.
    fn append_log(&mut self, ws: WorkspaceId, entry: &LogEntry) -> StoreResult<i64>;
    /// Records a client dedupe key; `false` if it was already recorded (a duplicate).
    fn record_dedupe_key(
        &mut self,
        ws: WorkspaceId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Forgets dedupe keys recorded before `before`; returns how many.
    fn prune_dedupe_keys(&mut self, before: Timestamp) -> StoreResult<u64>;
    /// Keeps a message the Pipelines API refused; returns its id.
    fn record_rejection(&mut self, ws: WorkspaceId, rejection: &Rejection) -> StoreResult<i64>;

    fn resolve(
        &mut self,
        ws: WorkspaceId,
        identifier: &Identifier,
    ) -> StoreResult<Option<PersonKey>>;
    fn load_person(&mut self, ws: WorkspaceId, key: PersonKey) -> StoreResult<Option<PersonState>>;
    /// Creates an empty person with this cio_id and returns its key.
    fn insert_person(
        &mut self,
        ws: WorkspaceId,
        cio_id: &str,
        now: Timestamp,
    ) -> StoreResult<PersonKey>;
    /// Writes the person's row (identifier columns, attributes, times).
    fn save_person(&mut self, ws: WorkspaceId, person: &PersonState) -> StoreResult<()>;
    /// Removes the person and everything that hangs off them: identifiers (cio_id included),
    /// devices, activities, memberships, segment transitions, computed-attribute states, their
    /// schedule, relationships and journey instances. Their journey timeline and outbox
    /// messages stay: they are the record of what happened.
    fn delete_person(&mut self, ws: WorkspaceId, key: PersonKey) -> StoreResult<()>;

    /// Points `identifier` at `key`, replacing any earlier mapping of that identifier.
    fn link_identifier(
        &mut self,
        ws: WorkspaceId,
        identifier: &Identifier,
        key: PersonKey,
    ) -> StoreResult<()>;
    fn unlink_identifier(&mut self, ws: WorkspaceId, identifier: &Identifier) -> StoreResult<()>;

    /// Records an activity at position `seq`, which the caller derives from the log offset of
    /// the entry that caused it: unique in the store, and the same when the log is replayed.
    /// A `seq` already recorded is left as it is and the call changes nothing, so re-applying
    /// an entry never duplicates its activities.
    fn record_activity(
        &mut self,
        ws: WorkspaceId,
        key: PersonKey,
        activity: &nudge_core::Activity,
        seq: i64,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Adds or replaces the device with this token on this person (a token belongs to one
    /// person: it is taken from anyone else who had it).
    fn upsert_device(
        &mut self,
        ws: WorkspaceId,
        key: PersonKey,
        device: &Device,
    ) -> StoreResult<()>;
    /// `true` if the person had that device.
    fn delete_device(&mut self, ws: WorkspaceId, key: PersonKey, token: &str) -> StoreResult<bool>;

    fn set_suppressed(
        &mut self,
        ws: WorkspaceId,
        identifier: &Identifier,
        suppressed: bool,
        now: Timestamp,
    ) -> StoreResult<()>;
    fn is_suppressed(&mut self, ws: WorkspaceId, identifier: &Identifier) -> StoreResult<bool>;
    /// Suppresses these identifiers as one group (one person's id, email and phone), so that
    /// unsuppressing any of them frees them all.
    fn suppress_together(
        &mut self,
        ws: WorkspaceId,
        identifiers: &[Identifier],
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Frees `identifier` and every identifier suppressed together with it; returns every
    /// identifier freed.
    fn unsuppress_together(
        &mut self,
        ws: WorkspaceId,
        identifier: &Identifier,
    ) -> StoreResult<Vec<Identifier>>;

    /// Moves everything that hangs off `from` to `to`: identifiers, activities, devices
    /// (keeping `to`'s own on a token clash), manual segment memberships and relationships
    /// (keeping `to`'s own on a clash), segment transitions, journey instances and the
    /// journey timeline. `from`'s data-driven memberships, computed-attribute states and
    /// schedule are dropped: the processor re-evaluates `to` from the merged data.
    ///
    /// An active instance of `from` whose (journey, key) is also the key of an active
    /// instance of `to` is finished as it moves (`active` false, `wake_at` cleared, `state`
    /// left for the processor to settle), and the timeline records it as
    /// [`MERGED_EXIT`](crate::MERGED_EXIT) on `to`, counted like any entry, `detail`
    /// `{"kept_instance": <to's live instance>}`, at `now` (the merge's time).
    ///
    /// `from`'s row itself is left for the caller to delete. Returns how many of each moved,
    /// for the merge's audit trail.
    fn move_person_data(
        &mut self,
        ws: WorkspaceId,
        from: PersonKey,
        to: PersonKey,
        now: Timestamp,
    ) -> StoreResult<MovedData>;

    /// `Some(true)` manual, `Some(false)` data-driven, `None` no such segment.
    fn segment_is_manual(&mut self, ws: WorkspaceId, segment_id: i64) -> StoreResult<Option<bool>>;
    fn set_segment_membership(
        &mut self,
        ws: WorkspaceId,
        segment_id: i64,
        key: PersonKey,
        member: bool,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Creates the object if needed and merges `attributes` into its own (a `null` or `""`
    /// value removes that attribute).
    fn upsert_object(
        &mut self,
        ws: WorkspaceId,
        object: &ObjectRef,
        attributes: &JsonMap,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Deletes the object and its relationships; `false` if there was none.
    fn delete_object(&mut self, ws: WorkspaceId, object: &ObjectRef) -> StoreResult<bool>;
    /// `Some(attrs)` adds or replaces the relationship (creating the object if needed);
    /// `None` removes it.
    fn set_relationship(
        &mut self,
        ws: WorkspaceId,
        key: PersonKey,
        object: &ObjectRef,
        attributes: Option<&JsonMap>,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Raises `subject`'s mark to `offset`, the log entry that just changed it; a lower offset
    /// leaves the mark as it is.
    fn mark(&mut self, ws: WorkspaceId, subject: Marked<'_>, offset: i64) -> StoreResult<()>;
    /// `subject`'s mark: the newest log offset recorded for it, 0 when none. For a person,
    /// the newer of their own mark and the entry of their newest activity (0 when the person
    /// does not exist); for [`Marked::IdentifiersOf`], the newest among their identifiers.
    fn marked(&mut self, ws: WorkspaceId, subject: Marked<'_>) -> StoreResult<i64>;
}

/// Activities an entry may record (its events, attribute changes, merges, failures).
pub const ACTIVITIES_PER_ENTRY: i64 = 16;

/// The first and last activity positions the log entry at `offset` may have used.
pub fn entry_activity_range(offset: i64) -> (i64, i64) {
    (activity_seq(offset, 0), activity_seq(offset, u32::MAX))
}

/// The position of the `n`-th activity caused by the log entry at `offset`: stable across
/// replays, unique in the store, ordered like the log.
pub fn activity_seq(offset: i64, n: u32) -> i64 {
    offset * ACTIVITIES_PER_ENTRY + i64::from(n.min(ACTIVITIES_PER_ENTRY as u32 - 1))
}

/// What `create_workspace` needs.
#[derive(Debug, Clone)]
pub struct NewWorkspace {
    pub name: String,
    pub env: Env,
    pub site_id: String,
    pub keys: Vec<KeyRecord>,
    pub now: Timestamp,
}
