//! What the log processor stores and reads: the definitions it evaluates (segments and
//! computed attributes; the catalogue itself is [`Definitions`](crate::Definitions)), and the
//! state it keeps inside one write transaction (the [`ProcessingTx`] operations): its
//! watermark, data-driven memberships and their transitions, computed-attribute fold states,
//! each person's next scheduled check, backfill progress, journey instances with their
//! timeline and outbox, and the progress of broadcasts.

use nudge_core::{JsonMap, PersonKey, Timestamp, WorkspaceId};
use serde::{Deserialize, Serialize};

use crate::{BroadcastJob, DueInstance, InstanceRow, JourneyEvent, OutboxMessage, StoreResult};

/// How far a background evaluation of a new or edited definition over every existing person
/// has got. People are visited in key order; `after` is the last key done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backfill {
    pub complete: bool,
    /// The last person key visited (0 before the first).
    pub after: i64,
    /// People visited so far.
    pub done: u64,
    /// People in the workspace when the backfill started (an estimate of the work).
    pub total: u64,
}

impl Backfill {
    pub const COMPLETE: Backfill = Backfill {
        complete: true,
        after: 0,
        done: 0,
        total: 0,
    };

    pub fn starting(total: u64) -> Self {
        Backfill {
            complete: false,
            after: 0,
            done: 0,
            total,
        }
    }
}

/// A segment as stored: manual (members added and removed through the APIs), or data-driven
/// with its condition document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentDefinition {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// The condition document (validated by the caller) for a data-driven segment; `None`
    /// for a manual one.
    pub conditions: Option<serde_json::Value>,
    /// 1 when created; every update adds one.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Always complete for manual segments.
    pub backfill: Backfill,
}

impl SegmentDefinition {
    pub fn manual(&self) -> bool {
        self.conditions.is_none()
    }

    /// The segment as it would be stored with `new`'s content: `existing`'s version and
    /// creation time if it replaces one, version 1 otherwise. What validation checks before
    /// anything is written.
    pub fn proposed(
        id: i64,
        new: &NewSegment,
        existing: Option<&SegmentDefinition>,
        now: Timestamp,
    ) -> Self {
        SegmentDefinition {
            id,
            name: new.name.clone(),
            description: new.description.clone(),
            conditions: new.conditions.clone(),
            version: existing.map_or(1, |e| e.version),
            created_at: existing.map_or(now, |e| e.created_at),
            updated_at: now,
            backfill: Backfill::COMPLETE,
        }
    }
}

/// What creating or replacing a segment takes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSegment {
    /// The id to create it with (files name their segments' ids so conditions can refer to
    /// them); `None` lets the store choose.
    pub id: Option<i64>,
    pub name: String,
    pub description: String,
    pub conditions: Option<serde_json::Value>,
}

/// A computed attribute's definition as stored (the JSON document `nudge-conditions` parses).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComputedDefinition {
    /// The person attribute it maintains; unique in the workspace.
    pub name: String,
    pub definition: serde_json::Value,
    /// 1 when created; every change adds one.
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub backfill: Backfill,
}

impl ComputedDefinition {
    /// The definition as it would be stored, before anything is written (validation).
    pub fn proposed(name: &str, definition: &serde_json::Value, now: Timestamp) -> Self {
        ComputedDefinition {
            name: name.to_string(),
            definition: definition.clone(),
            version: 1,
            created_at: now,
            updated_at: now,
            backfill: Backfill::COMPLETE,
        }
    }
}

/// A person entering or leaving a data-driven segment, at the moment it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentTransition {
    /// Increases with every transition recorded in the store.
    pub id: i64,
    pub person: PersonKey,
    pub segment_id: i64,
    pub entered: bool,
    pub at: Timestamp,
}

/// One of a person's stored events (track events, page and screen views) as the processor
/// reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The activity's position (the `seq` it was recorded at, see `activity_seq`): says which
    /// log entry recorded it, so the processor counts only events it has reached.
    pub seq: i64,
    pub name: String,
    pub timestamp: Timestamp,
    pub data: JsonMap,
}

/// The processor's bookkeeping for one person it has evaluated: when time alone could next
/// change one of their memberships or computed attributes. A person without one has never
/// been evaluated, so their first evaluation covers every segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonSchedule {
    pub next_check: Option<Timestamp>,
    /// Per time-driven segment, when time alone next changes the person's answer, so an
    /// evaluation that re-evaluates other segments keeps it without reading its data. `None`
    /// for a schedule recorded before these were kept: the next evaluation covers every
    /// segment.
    pub segment_checks: Option<std::collections::BTreeMap<i64, Timestamp>>,
}

impl PersonSchedule {
    /// A schedule with only a next check (and no segment checks pending).
    pub fn next(next_check: Option<Timestamp>) -> Self {
        PersonSchedule {
            next_check,
            segment_checks: Some(Default::default()),
        }
    }

    /// From the stored columns: the next check in ms, and the segment checks as a JSON
    /// object by segment id (NULL before they were kept).
    pub fn from_columns(
        next_check: Option<i64>,
        segment_checks: Option<&str>,
    ) -> Result<Self, crate::StoreError> {
        let segment_checks = segment_checks
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| crate::StoreError::Corrupt(format!("segment checks: {e}")))?;
        Ok(PersonSchedule {
            next_check: next_check.map(Timestamp::from_millis),
            segment_checks,
        })
    }

    /// The segment checks as stored.
    pub fn segment_checks_column(&self) -> Option<String> {
        self.segment_checks
            .as_ref()
            .map(|checks| serde_json::to_string(checks).expect("a map of integers encodes as JSON"))
    }
}

/// Which of a person's events a read brings: these names, with timestamp at or after `since`
/// (all of them for `None`), and whether with their data. Without it, each comes with an
/// empty `data` and the store answers from its index alone, never touching the event rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRead {
    pub names: Vec<String>,
    pub since: Option<Timestamp>,
    pub with_data: bool,
}

/// One person of a backfill page, as one evaluation reads them.
#[derive(Debug, Clone, PartialEq)]
pub struct PagedPerson {
    pub state: nudge_core::PersonState,
    pub schedule: Option<PersonSchedule>,
    /// Fold states by attribute name, as `computed_states` gives them.
    pub computed_states: std::collections::BTreeMap<String, serde_json::Value>,
    /// Segment ids, ascending, as `person_segment_ids` gives them.
    pub segment_ids: Vec<i64>,
    /// Their events of each [`EventRead`] asked for, in timestamp (then seq) order, each once
    /// (with its data if any read that brought it asked for data).
    pub events: Vec<StoredEvent>,
}

/// A person whose scheduled check has come due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueCheck {
    pub ws: WorkspaceId,
    pub person: PersonKey,
    pub due_at: Timestamp,
}

/// The processor's work inside one write transaction. Every call is an indexed read or write
/// of one person's rows (or one page), never a scan.
pub trait ProcessingTx {
    /// Lets this transaction commit without waiting for its changes to reach the disk. Only
    /// for transactions that write nothing but what the log's entries and the clock derive,
    /// which the processor derives again when a crash loses them (the processed offset goes
    /// with them). Nothing derived can leave the store without a later transaction that does
    /// wait (a delivery is claimed by one), and waiting makes everything committed before it
    /// durable too. Does nothing by default.
    fn commit_lazily(&mut self) -> StoreResult<()> {
        Ok(())
    }
    /// How far the processor has got through the workspace's log (0 before anything).
    fn processed_offset(&mut self, ws: WorkspaceId) -> StoreResult<i64>;
    fn set_processed_offset(&mut self, ws: WorkspaceId, offset: i64) -> StoreResult<()>;

    /// Ids of every segment (manual and data-driven) the person belongs to, ascending.
    fn person_segment_ids(&mut self, ws: WorkspaceId, person: PersonKey) -> StoreResult<Vec<i64>>;
    /// The attribute changes the log entry at `offset` recorded on the person, by attribute:
    /// `{"plan": {"from": "basic", "to": "pro"}}` (empty when it changed nothing). One range
    /// of the person's activities, by position.
    fn entry_attribute_changes(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        offset: i64,
    ) -> StoreResult<nudge_core::JsonMap>;
    /// Every identifier that resolves to the person, sorted (ids, emails, phones, anonymous
    /// ids, merged-away ids).
    fn person_identifiers(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<Vec<nudge_core::Identifier>>;
    /// Appends a transition (and nothing else: membership is `set_segment_membership`).
    fn record_segment_transition(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        segment_id: i64,
        entered: bool,
        at: Timestamp,
    ) -> StoreResult<()>;

    /// The person's events, page and screen views that `read` asks for, in timestamp (then
    /// seq) order.
    fn person_events(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        read: &EventRead,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// The person's computed-attribute fold states, by attribute name.
    fn computed_states(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<std::collections::BTreeMap<String, serde_json::Value>>;
    /// Replaces the person's fold states with `states` (none at all when it is empty).
    fn set_computed_states(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        states: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> StoreResult<()>;

    /// `None` when the processor has never evaluated the person.
    fn person_schedule(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<Option<PersonSchedule>>;
    /// Records that the person was evaluated and when to check them again (`None`: only
    /// when their data changes).
    fn set_person_schedule(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        schedule: &PersonSchedule,
    ) -> StoreResult<()>;
    /// Checks due at or before `now`, earliest first, at most `limit`, any workspace.
    fn due_checks(&mut self, now: Timestamp, limit: usize) -> StoreResult<Vec<DueCheck>>;

    /// The people with keys greater than `after`, ascending, at most `limit` (a backfill
    /// page), each with everything one evaluation reads: a few range reads for the whole page
    /// instead of several statements per person.
    fn people_page(
        &mut self,
        ws: WorkspaceId,
        after: i64,
        limit: usize,
        events: &[EventRead],
    ) -> StoreResult<Vec<PagedPerson>>;
    /// The people with these keys that exist, in key order, each with their row, schedule,
    /// fold states and segment ids as [`people_page`](Self::people_page) brings them (no
    /// events: those are read when needed). The log processor reads a batch's people ahead
    /// with it, in a few statements instead of several per person.
    fn people_by_key(
        &mut self,
        ws: WorkspaceId,
        keys: &[PersonKey],
    ) -> StoreResult<Vec<PagedPerson>>;
    /// The person each identifier resolves to (`None`: nobody), in the order given: the
    /// log processor resolves a batch's entries together.
    fn resolve_all(
        &mut self,
        ws: WorkspaceId,
        identifiers: &[nudge_core::Identifier],
    ) -> StoreResult<Vec<Option<PersonKey>>>;
    fn set_segment_backfill(
        &mut self,
        ws: WorkspaceId,
        id: i64,
        backfill: &Backfill,
    ) -> StoreResult<()>;
    fn set_computed_backfill(
        &mut self,
        ws: WorkspaceId,
        name: &str,
        backfill: &Backfill,
    ) -> StoreResult<()>;

    // --- journeys -----------------------------------------------------------------------
    /// Inserts a new instance (`row.id` is ignored) and returns its id.
    /// `Err(StoreError::Conflict)` when the person already has an active instance of this
    /// journey with this key; the transaction stays usable.
    fn insert_instance(&mut self, ws: WorkspaceId, row: &InstanceRow) -> StoreResult<i64>;
    /// Rewrites the instance with `row.id` (every field but id and person); an error when
    /// the workspace has no such instance.
    fn update_instance(&mut self, ws: WorkspaceId, row: &InstanceRow) -> StoreResult<()>;
    fn instance(&mut self, ws: WorkspaceId, id: i64) -> StoreResult<Option<InstanceRow>>;
    /// The person's active instances and finished ones with `watch_until > now`, by id.
    fn person_instances(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        now: Timestamp,
    ) -> StoreResult<Vec<InstanceRow>>;
    /// Says that [`person_instances`](Self::person_instances) will be asked for each of
    /// `people` at `now` later in this transaction, so a backend for which a statement is a
    /// round trip can read them all in one. The answers stay what a read at that moment would
    /// give. Does nothing by default.
    fn prefetch_instances(
        &mut self,
        ws: WorkspaceId,
        people: &[PersonKey],
        now: Timestamp,
    ) -> StoreResult<()> {
        let _ = (ws, people, now);
        Ok(())
    }
    /// The active instance of this journey, person and key.
    fn live_instance(
        &mut self,
        ws: WorkspaceId,
        journey: &str,
        person: PersonKey,
        key: &str,
    ) -> StoreResult<Option<InstanceRow>>;
    /// The latest `entered_at` of any instance (active or not) of this person in this journey.
    fn last_entry(
        &mut self,
        ws: WorkspaceId,
        journey: &str,
        person: PersonKey,
    ) -> StoreResult<Option<Timestamp>>;
    /// Active instances of every workspace with `wake_at <= now`, earliest first (then by
    /// id), at most `limit`.
    fn due_instances(&mut self, now: Timestamp, limit: usize) -> StoreResult<Vec<DueInstance>>;
    /// Appends to the journey timeline and returns the entry's id; increments the counter
    /// (journey, step or "", kind, reason or "") in the same transaction.
    fn record_journey_event(&mut self, ws: WorkspaceId, event: &JourneyEvent) -> StoreResult<i64>;
    /// Queues a message; `false` (and nothing written) when a message with this
    /// `message_id` is already in the workspace's outbox.
    fn enqueue_message(&mut self, ws: WorkspaceId, message: &OutboxMessage) -> StoreResult<bool>;
    /// The ledger state of the workspace's message with this id, if there is one: how far a
    /// message got (opened, clicked) when a goal that asks for it is reached.
    fn delivery_state(
        &mut self,
        ws: WorkspaceId,
        message_id: &str,
    ) -> StoreResult<Option<crate::DeliveryState>>;

    // --- broadcasts ---------------------------------------------------------------------
    /// Inserts the job, or replaces the one with its id (progress).
    fn put_broadcast(&mut self, ws: WorkspaceId, job: &BroadcastJob) -> StoreResult<()>;
}
