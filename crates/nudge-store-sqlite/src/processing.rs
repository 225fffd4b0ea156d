//! The log processor's per-person state on SQLite: [`ProcessingTx`] on the writer's
//! transaction (watermark, memberships, transitions, events, fold states, schedules, backfill
//! pages and progress, a batch's people read ahead through `read_ahead`; journey instances,
//! timeline and outbox through `journeys` and `journey_records`; broadcast progress through
//! `broadcasts`), and the few reads the store shares with it outside the writer. Every
//! statement is one person's rows, one page or one key (the plan test in `statements` proves
//! it); nothing here changes a definition.

use std::collections::BTreeMap;

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    Backfill, BroadcastJob, DueCheck, DueInstance, EventRead, InstanceRow, JourneyEvent,
    OutboxMessage, PagedPerson, PersonSchedule, ProcessingTx, StoreResult, StoredEvent,
};
use rusqlite::{params, Connection, OptionalExtension, Params};

use crate::codec::{from_json, to_json, BackfillColumns};
use crate::errors::from_sqlite;
use crate::read::limit;
use crate::write_tx::SqliteWriteTx;
use crate::{broadcasts, computed_catalogue, journey_records, journeys, segment_catalogue};

const PROCESSED_OFFSET: &str = "SELECT offset FROM processed_offsets WHERE workspace_id = ?1";
const SET_PROCESSED_OFFSET: &str = "INSERT INTO processed_offsets (workspace_id, offset) \
     VALUES (?1, ?2) ON CONFLICT (workspace_id) DO UPDATE SET offset = excluded.offset";
const PERSON_SEGMENT_IDS: &str = "SELECT segment_id FROM segment_members \
     WHERE workspace_id = ?1 AND person_key = ?2 ORDER BY segment_id";
const RECORD_TRANSITION: &str = "INSERT INTO segment_transitions (workspace_id, person_key, \
     segment_id, entered, at) VALUES (?1, ?2, ?3, ?4, ?5)";
/// One name at a time: each is one range of the (workspace, person, name, timestamp, kind)
/// index, where an `IN` list over a JSON array would build a temporary table per call. The
/// caller sorts, so no ORDER BY: the index's order ends in kind, not seq.
const PERSON_EVENTS: &str = "SELECT seq, name, timestamp, data \
     FROM activities INDEXED BY activities_person_name \
     WHERE workspace_id = ?1 AND person_key = ?2 AND name = ?3 AND timestamp >= ?4 \
     AND kind IN ('event', 'page', 'screen')";
/// The same without the data: answered from the index alone.
const PERSON_EVENT_TIMES: &str = "SELECT seq, name, timestamp, NULL \
     FROM activities INDEXED BY activities_person_name \
     WHERE workspace_id = ?1 AND person_key = ?2 AND name = ?3 AND timestamp >= ?4 \
     AND kind IN ('event', 'page', 'screen')";
const ENTRY_ATTRIBUTE_CHANGES: &str = "SELECT data FROM activities \
     INDEXED BY activities_person WHERE workspace_id = ?1 AND person_key = ?2 \
     AND seq BETWEEN ?3 AND ?4 AND kind = 'attribute_change' ORDER BY seq";
const COMPUTED_STATES: &str =
    "SELECT states FROM computed_states WHERE workspace_id = ?1 AND person_key = ?2";
const SET_COMPUTED_STATES: &str = "INSERT INTO computed_states (workspace_id, person_key, \
     states) VALUES (?1, ?2, ?3) \
     ON CONFLICT (workspace_id, person_key) DO UPDATE SET states = excluded.states";
const FORGET_COMPUTED_STATES: &str =
    "DELETE FROM computed_states WHERE workspace_id = ?1 AND person_key = ?2";
const PERSON_SCHEDULE: &str = "SELECT next_check, segment_checks FROM person_schedules \
     WHERE workspace_id = ?1 AND person_key = ?2";
const SET_PERSON_SCHEDULE: &str = "INSERT INTO person_schedules (workspace_id, person_key, \
     next_check, segment_checks) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (workspace_id, person_key) DO UPDATE SET next_check = excluded.next_check, \
     segment_checks = excluded.segment_checks";
const DUE_CHECKS: &str = "SELECT workspace_id, person_key, next_check FROM person_schedules \
     WHERE next_check <= ?1 ORDER BY next_check, workspace_id, person_key LIMIT ?2";
const NEXT_SCHEDULED_CHECK: &str =
    "SELECT min(next_check) FROM person_schedules WHERE next_check IS NOT NULL";
/// By the outbox's unique (workspace, message id) index.
const DELIVERY_STATE: &str =
    "SELECT state FROM journey_outbox WHERE workspace_id = ?1 AND message_id = ?2";
const CONFIG_VERSION: &str = "SELECT version FROM config_version WHERE id = 1";

/// The statements that read or change existing rows, for the plan test.
#[cfg(test)]
pub(crate) const STATEMENTS: [&str; 11] = [
    PROCESSED_OFFSET,
    PERSON_SEGMENT_IDS,
    ENTRY_ATTRIBUTE_CHANGES,
    PERSON_EVENTS,
    PERSON_EVENT_TIMES,
    COMPUTED_STATES,
    FORGET_COMPUTED_STATES,
    PERSON_SCHEDULE,
    DUE_CHECKS,
    NEXT_SCHEDULED_CHECK,
    CONFIG_VERSION,
];

/// Runs one cached statement.
fn run(conn: &Connection, sql: &str, params: impl Params) -> StoreResult<()> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map(drop)
        .map_err(from_sqlite)
}

pub(crate) fn processed_offset(conn: &Connection, ws: WorkspaceId) -> StoreResult<i64> {
    conn.prepare_cached(PROCESSED_OFFSET)
        .and_then(|mut stmt| stmt.query_row([ws.0], |row| row.get(0)).optional())
        .map(Option::unwrap_or_default)
        .map_err(from_sqlite)
}

pub(crate) fn config_version(conn: &Connection) -> StoreResult<i64> {
    conn.prepare_cached(CONFIG_VERSION)
        .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
        .map_err(from_sqlite)
}

pub(crate) fn next_scheduled_check(conn: &Connection) -> StoreResult<Option<Timestamp>> {
    conn.prepare_cached(NEXT_SCHEDULED_CHECK)
        .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, Option<i64>>(0)))
        .map(|next| next.map(Timestamp::from_millis))
        .map_err(from_sqlite)
}

/// One person's events as `read` asks, for the processor inside a write and for previews
/// outside.
pub(crate) fn person_events(
    conn: &Connection,
    ws: WorkspaceId,
    person: PersonKey,
    read: &EventRead,
) -> StoreResult<Vec<StoredEvent>> {
    let since = read.since.map_or(i64::MIN, Timestamp::millis);
    let sql = if read.with_data {
        PERSON_EVENTS
    } else {
        PERSON_EVENT_TIMES
    };
    let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
    let mut events = Vec::new();
    let mut distinct: Vec<&String> = read.names.iter().collect();
    distinct.sort();
    distinct.dedup();
    for name in distinct {
        let rows = stmt
            .query_map(params![ws.0, person.0, name, since], EventRow::read)
            .map_err(from_sqlite)?;
        for row in rows {
            events.push(row.map_err(from_sqlite)?.decode()?);
        }
    }
    events.sort_by_key(|e| (e.timestamp, e.seq));
    Ok(events)
}

/// A row of `seq, name, timestamp, data` (data NULL when not read).
pub(crate) struct EventRow {
    seq: i64,
    name: String,
    timestamp: i64,
    data: Option<String>,
}

impl EventRow {
    pub(crate) fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Self::read_from(row, 0)
    }

    /// The columns from `first` on.
    pub(crate) fn read_from(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Self> {
        Ok(Self {
            seq: row.get(first)?,
            name: row.get(first + 1)?,
            timestamp: row.get(first + 2)?,
            data: row.get(first + 3)?,
        })
    }

    pub(crate) fn decode(self) -> StoreResult<StoredEvent> {
        Ok(StoredEvent {
            seq: self.seq,
            name: self.name,
            timestamp: Timestamp::from_millis(self.timestamp),
            data: match self.data {
                Some(data) => from_json(&data, "activity data")?,
                None => Default::default(),
            },
        })
    }
}

impl ProcessingTx for SqliteWriteTx<'_> {
    fn processed_offset(&mut self, ws: WorkspaceId) -> StoreResult<i64> {
        processed_offset(self.conn(), ws)
    }

    fn set_processed_offset(&mut self, ws: WorkspaceId, offset: i64) -> StoreResult<()> {
        run(self.conn(), SET_PROCESSED_OFFSET, params![ws.0, offset])
    }

    fn entry_attribute_changes(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        offset: i64,
    ) -> StoreResult<nudge_core::JsonMap> {
        let (first, last) = nudge_store::entry_activity_range(offset);
        let mut stmt = self
            .conn()
            .prepare_cached(ENTRY_ATTRIBUTE_CHANGES)
            .map_err(from_sqlite)?;
        let rows = stmt
            .query_map(params![ws.0, person.0, first, last], |row| {
                row.get::<_, String>(0)
            })
            .map_err(from_sqlite)?;
        let mut changes = nudge_core::JsonMap::new();
        for row in rows {
            let data: nudge_core::JsonMap =
                crate::codec::from_json(&row.map_err(from_sqlite)?, "activity data")?;
            changes.extend(data);
        }
        Ok(changes)
    }

    fn person_identifiers(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<Vec<nudge_core::Identifier>> {
        crate::read::person_identifiers(self.conn(), ws, person)
    }

    fn person_segment_ids(&mut self, ws: WorkspaceId, person: PersonKey) -> StoreResult<Vec<i64>> {
        let mut stmt = self
            .conn()
            .prepare_cached(PERSON_SEGMENT_IDS)
            .map_err(from_sqlite)?;
        let rows = stmt
            .query_map(params![ws.0, person.0], |row| row.get(0))
            .map_err(from_sqlite)?;
        rows.collect::<Result<_, _>>().map_err(from_sqlite)
    }

    fn record_segment_transition(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        segment_id: i64,
        entered: bool,
        at: Timestamp,
    ) -> StoreResult<()> {
        let row = params![ws.0, person.0, segment_id, entered, at.millis()];
        run(self.conn(), RECORD_TRANSITION, row)
    }

    fn person_events(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        read: &EventRead,
    ) -> StoreResult<Vec<StoredEvent>> {
        person_events(self.conn(), ws, person, read)
    }

    fn computed_states(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<BTreeMap<String, serde_json::Value>> {
        let states: Option<String> = self
            .conn()
            .prepare_cached(COMPUTED_STATES)
            .and_then(|mut stmt| {
                stmt.query_row(params![ws.0, person.0], |row| row.get(0))
                    .optional()
            })
            .map_err(from_sqlite)?;
        states.map_or(Ok(BTreeMap::new()), |states| {
            from_json(&states, "computed attribute states")
        })
    }

    fn set_computed_states(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        states: &BTreeMap<String, serde_json::Value>,
    ) -> StoreResult<()> {
        if states.is_empty() {
            return run(self.conn(), FORGET_COMPUTED_STATES, params![ws.0, person.0]);
        }
        let row = params![ws.0, person.0, to_json(states)?];
        run(self.conn(), SET_COMPUTED_STATES, row)
    }

    fn person_schedule(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<Option<PersonSchedule>> {
        let columns: Option<(Option<i64>, Option<String>)> = self
            .conn()
            .prepare_cached(PERSON_SCHEDULE)
            .and_then(|mut stmt| {
                stmt.query_row(params![ws.0, person.0], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
            })
            .map_err(from_sqlite)?;
        columns
            .map(|(next, checks)| PersonSchedule::from_columns(next, checks.as_deref()))
            .transpose()
    }

    fn set_person_schedule(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        schedule: &PersonSchedule,
    ) -> StoreResult<()> {
        let next = schedule.next_check.map(Timestamp::millis);
        let checks = schedule.segment_checks_column();
        run(
            self.conn(),
            SET_PERSON_SCHEDULE,
            params![ws.0, person.0, next, checks],
        )
    }

    fn due_checks(&mut self, now: Timestamp, max: usize) -> StoreResult<Vec<DueCheck>> {
        let mut stmt = self
            .conn()
            .prepare_cached(DUE_CHECKS)
            .map_err(from_sqlite)?;
        let rows = stmt
            .query_map(params![now.millis(), limit(max)], |row| {
                Ok(DueCheck {
                    ws: WorkspaceId(row.get(0)?),
                    person: PersonKey(row.get(1)?),
                    due_at: Timestamp::from_millis(row.get(2)?),
                })
            })
            .map_err(from_sqlite)?;
        rows.collect::<Result<_, _>>().map_err(from_sqlite)
    }

    fn people_page(
        &mut self,
        ws: WorkspaceId,
        after: i64,
        max: usize,
        events: &[EventRead],
    ) -> StoreResult<Vec<PagedPerson>> {
        crate::page::people_page(self.conn(), ws, after, max, events)
    }

    fn people_by_key(
        &mut self,
        ws: WorkspaceId,
        keys: &[PersonKey],
    ) -> StoreResult<Vec<PagedPerson>> {
        crate::read_ahead::people_by_key(self, ws, keys)
    }

    fn resolve_all(
        &mut self,
        ws: WorkspaceId,
        identifiers: &[nudge_core::Identifier],
    ) -> StoreResult<Vec<Option<PersonKey>>> {
        crate::read_ahead::resolve_all(self, ws, identifiers)
    }

    fn set_segment_backfill(
        &mut self,
        ws: WorkspaceId,
        id: i64,
        backfill: &Backfill,
    ) -> StoreResult<()> {
        let b = BackfillColumns::from(backfill);
        let row = params![ws.0, id, b.complete, b.after, b.done, b.total];
        run(self.conn(), segment_catalogue::SET_BACKFILL, row)
    }

    fn set_computed_backfill(
        &mut self,
        ws: WorkspaceId,
        name: &str,
        backfill: &Backfill,
    ) -> StoreResult<()> {
        let b = BackfillColumns::from(backfill);
        let row = params![ws.0, name, b.complete, b.after, b.done, b.total];
        run(self.conn(), computed_catalogue::SET_BACKFILL, row)
    }

    fn insert_instance(&mut self, ws: WorkspaceId, row: &InstanceRow) -> StoreResult<i64> {
        journeys::insert(self.conn(), ws, row)
    }

    fn update_instance(&mut self, ws: WorkspaceId, row: &InstanceRow) -> StoreResult<()> {
        journeys::update(self.conn(), ws, row)
    }

    fn instance(&mut self, ws: WorkspaceId, id: i64) -> StoreResult<Option<InstanceRow>> {
        journeys::instance(self.conn(), ws, id)
    }

    fn person_instances(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        now: Timestamp,
    ) -> StoreResult<Vec<InstanceRow>> {
        journeys::person_instances(self.conn(), ws, person, now)
    }

    fn live_instance(
        &mut self,
        ws: WorkspaceId,
        journey: &str,
        person: PersonKey,
        key: &str,
    ) -> StoreResult<Option<InstanceRow>> {
        journeys::live_instance(self.conn(), ws, journey, person, key)
    }

    fn last_entry(
        &mut self,
        ws: WorkspaceId,
        journey: &str,
        person: PersonKey,
    ) -> StoreResult<Option<Timestamp>> {
        journeys::last_entry(self.conn(), ws, journey, person)
    }

    fn due_instances(&mut self, now: Timestamp, max: usize) -> StoreResult<Vec<DueInstance>> {
        journeys::due_instances(self.conn(), now, max)
    }

    fn record_journey_event(&mut self, ws: WorkspaceId, event: &JourneyEvent) -> StoreResult<i64> {
        journey_records::record(self.conn(), ws, event)
    }

    fn enqueue_message(&mut self, ws: WorkspaceId, message: &OutboxMessage) -> StoreResult<bool> {
        journey_records::enqueue(self.conn(), ws, message)
    }

    fn delivery_state(
        &mut self,
        ws: WorkspaceId,
        message_id: &str,
    ) -> StoreResult<Option<nudge_store::DeliveryState>> {
        let state: Option<String> = self
            .conn()
            .prepare_cached(DELIVERY_STATE)
            .and_then(|mut stmt| {
                stmt.query_row(params![ws.0, message_id], |row| row.get(0))
                    .optional()
            })
            .map_err(from_sqlite)?;
        state
            .map(|name| {
                nudge_store::DeliveryState::parse(&name).ok_or_else(|| {
                    nudge_store::StoreError::Corrupt(format!("delivery state '{name}'"))
                })
            })
            .transpose()
    }

    fn put_broadcast(&mut self, ws: WorkspaceId, job: &BroadcastJob) -> StoreResult<()> {
        broadcasts::put(self.conn(), ws, job)
    }
}
