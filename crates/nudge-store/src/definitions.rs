//! The [`Definitions`] catalogue: what a workspace is configured with (segments, computed
//! attributes, versioned documents) and the reads made outside the writer (previews, the App
//! API, the processor's status, sleep and open broadcasts). Every definition change raises
//! the store's [`config_version`](Definitions::config_version); nothing here runs inside a
//! write.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};

use crate::{
    BroadcastJob, ComputedDefinition, Document, DocumentKind, InstanceRow, JourneyCounter,
    NewSegment, SegmentDefinition, SegmentTransition, StoreResult, StoredEvent, StoredJourneyEvent,
    StoredMessage,
};

/// Segment, computed-attribute and document definitions, and the reads of processing state
/// made outside the writer. Every definition change raises the store's
/// [`config_version`](Definitions::config_version), which running processors watch.
pub trait Definitions {
    /// The workspace's segments, by id.
    fn segment_definitions(&self, ws: WorkspaceId) -> StoreResult<Vec<SegmentDefinition>>;
    fn segment_definition(
        &self,
        ws: WorkspaceId,
        id: i64,
    ) -> StoreResult<Option<SegmentDefinition>>;
    /// Creates a segment, with `new.id` if given (a `Conflict` if that id is taken in any
    /// workspace). A data-driven segment starts with a backfill whose total is the number of
    /// people in the workspace; a manual one is complete at once.
    fn create_segment(
        &self,
        ws: WorkspaceId,
        new: &NewSegment,
        now: Timestamp,
    ) -> StoreResult<SegmentDefinition>;
    /// Replaces name, description and conditions (`new.id` is ignored) and adds one to the
    /// version. Changed conditions start a new backfill; turning a manual segment into a
    /// data-driven one or back is a `Conflict`. `None` when there is no such segment.
    fn update_segment(
        &self,
        ws: WorkspaceId,
        id: i64,
        new: &NewSegment,
        now: Timestamp,
    ) -> StoreResult<Option<SegmentDefinition>>;
    /// Deletes the segment with its memberships and transitions; `false` if there was none.
    fn delete_segment(&self, ws: WorkspaceId, id: i64) -> StoreResult<bool>;
    fn segment_member_count(&self, ws: WorkspaceId, id: i64) -> StoreResult<u64>;
    /// Members in key order with key greater than `after`, at most `limit`.
    fn segment_members(
        &self,
        ws: WorkspaceId,
        id: i64,
        after: Option<PersonKey>,
        limit: usize,
    ) -> StoreResult<Vec<PersonKey>>;
    /// The person's segment transitions, newest first, at most `limit`.
    fn segment_transitions(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        limit: usize,
    ) -> StoreResult<Vec<SegmentTransition>>;

    /// The workspace's computed attributes, by name.
    fn computed_definitions(&self, ws: WorkspaceId) -> StoreResult<Vec<ComputedDefinition>>;
    /// Creates or replaces the definition named `name`. A new one, or one whose definition
    /// changed, gets a new version and starts a backfill; an identical one is left as it is.
    fn put_computed_definition(
        &self,
        ws: WorkspaceId,
        name: &str,
        definition: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<ComputedDefinition>;
    /// Stops maintaining the attribute (values already written stay as plain attributes);
    /// `false` if there was none.
    fn delete_computed_definition(&self, ws: WorkspaceId, name: &str) -> StoreResult<bool>;

    /// The person's events, page and screen views whose name is one of `names`, with
    /// timestamp at or after `since` when given, in timestamp order (as
    /// [`ProcessingTx::person_events`], outside the writer: previews read through this).
    fn person_events(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        names: &[String],
        since: Option<Timestamp>,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// Raised by every definition change in any workspace.
    fn config_version(&self) -> StoreResult<i64>;
    /// How far the processor has got through the workspace's log (0 before anything).
    fn processed_offset(&self, ws: WorkspaceId) -> StoreResult<i64>;
    /// The earliest scheduled person check of any workspace.
    fn next_scheduled_check(&self) -> StoreResult<Option<Timestamp>>;

    // --- versioned documents ----------------------------------------------------------------
    /// The latest version of every live (not deleted) document of `kind`, by name.
    fn documents(&self, ws: WorkspaceId, kind: DocumentKind) -> StoreResult<Vec<Document>>;
    /// Every version of one document, oldest first, deletions included.
    fn document_versions(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
        name: &str,
    ) -> StoreResult<Vec<Document>>;
    /// Every version of every document of `kind`, by name then version (the processor keeps
    /// old versions for instances that entered with them).
    fn all_document_versions(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
    ) -> StoreResult<Vec<Document>>;
    /// Stores `body` as a new version when it differs from the latest live version (or there
    /// is none / it was deleted) and returns it; returns the latest version unchanged
    /// otherwise. Raises `config_version` when it writes.
    fn put_document(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
        name: &str,
        body: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<Document>;
    /// Records a deletion version; `false` when there is no live document. Raises
    /// `config_version`.
    fn delete_document(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
        name: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;

    // --- journeys, outside the writer -------------------------------------------------------
    /// The earliest `wake_at` of any active instance of any workspace (the processor sleeps
    /// until then).
    fn next_instance_wake(&self) -> StoreResult<Option<Timestamp>>;
    /// The workspace's journey timeline with id greater than `after_id`, oldest first, at
    /// most `limit`.
    fn journey_events(
        &self,
        ws: WorkspaceId,
        after_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<StoredJourneyEvent>>;
    /// Timeline of one person, newest first, id below `before_id` (all when None), at most
    /// `limit`.
    fn person_journey_events(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<StoredJourneyEvent>>;
    /// The journey's counters, by step, kind and reason.
    fn journey_counters(&self, ws: WorkspaceId, journey: &str) -> StoreResult<Vec<JourneyCounter>>;
    /// Active instances of the journey grouped by (version, step), with their counts, in
    /// (version, step) order (no step first).
    fn waiting_instances(
        &self,
        ws: WorkspaceId,
        journey: &str,
    ) -> StoreResult<Vec<(i64, Option<String>, u64)>>;
    /// All of the person's instances, active or not, newest first (for the App API).
    fn person_instances_view(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<Vec<InstanceRow>>;
    /// The workspace's outbox with id greater than `after_id`, oldest first, at most `limit`.
    fn outbox(
        &self,
        ws: WorkspaceId,
        after_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>>;

    // --- broadcasts, outside the writer -----------------------------------------------------
    /// The workspace's broadcasts that are not complete, oldest first (in log order, by id),
    /// read through a partial index on the incomplete ones.
    fn open_broadcasts(&self, ws: WorkspaceId) -> StoreResult<Vec<BroadcastJob>>;
    /// The workspace's broadcast with this id, complete or not.
    fn broadcast(&self, ws: WorkspaceId, id: i64) -> StoreResult<Option<BroadcastJob>>;
}
