//! [`ProcessingTx`] on the write transaction: the log processor's watermark, a person's segment
//! ids, transitions, fold states and schedule, the due checks of every workspace, backfill
//! pages and progress, a batch's people read ahead (`read_ahead`), journey instances,
//! timeline and outbox (`journeys`, `journey_records`; timeline entries and finished
//! instances are written behind, `written_behind`), and broadcast progress (`broadcasts`).
//! Every statement reaches its rows by key or index (`plans.rs` checks); commit and rollback
//! belong to `PostgresStore::write`.

use std::collections::BTreeMap;

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    Backfill, BroadcastJob, DeliveryState, DueCheck, DueInstance, EventRead, InstanceRow,
    JourneyEvent, OutboxMessage, PagedPerson, PersonSchedule, ProcessingTx, StoreResult,
    StoredEvent,
};

use crate::definitions::backfill_params;
use crate::errors::{column, corrupt};
use crate::event_rows::to_json;
use crate::prefetched_instances::PrefetchedInstances;
use crate::segment_catalogue::as_limit;
use crate::write_tx::PgWriteTx;
use crate::{broadcasts, journeys, processor_reads, read_ahead};

const SET_PROCESSED_OFFSET: &str = "INSERT INTO processed_offsets (workspace_id, \"offset\") \
     VALUES ($1, $2) ON CONFLICT (workspace_id) DO UPDATE SET \"offset\" = excluded.\"offset\"";
const PERSON_SEGMENT_IDS: &str = "SELECT segment_id FROM segment_members \
     WHERE workspace_id = $1 AND person_key = $2 ORDER BY segment_id";
const RECORD_TRANSITION: &str = "INSERT INTO segment_transitions (workspace_id, person_key, \
     segment_id, entered, at) VALUES ($1, $2, $3, $4, $5)";
const ENTRY_ATTRIBUTE_CHANGES: &str = "SELECT data FROM activities \
     WHERE workspace_id = $1 AND person_key = $2 AND seq BETWEEN $3 AND $4 \
     AND kind = 'attribute_change' ORDER BY seq";
const COMPUTED_STATES: &str =
    "SELECT states FROM computed_states WHERE workspace_id = $1 AND person_key = $2";
const SET_COMPUTED_STATES: &str = "INSERT INTO computed_states (workspace_id, person_key, \
     states) VALUES ($1, $2, $3) \
     ON CONFLICT (workspace_id, person_key) DO UPDATE SET states = excluded.states";
const FORGET_COMPUTED_STATES: &str =
    "DELETE FROM computed_states WHERE workspace_id = $1 AND person_key = $2";
const PERSON_SCHEDULE: &str = "SELECT next_check, segment_checks FROM person_schedules \
     WHERE workspace_id = $1 AND person_key = $2";
const SET_PERSON_SCHEDULE: &str = "INSERT INTO person_schedules (workspace_id, person_key, \
     next_check, segment_checks) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (workspace_id, person_key) DO UPDATE SET next_check = excluded.next_check, \
     segment_checks = excluded.segment_checks";
/// Read from the partial index alone. SKIP LOCKED: checks another node's processor is
/// evaluating right now are left to it rather than waited for.
const DUE_CHECKS: &str = "SELECT workspace_id, person_key, next_check FROM person_schedules \
     WHERE next_check IS NOT NULL AND next_check <= $1 \
     ORDER BY next_check, workspace_id, person_key LIMIT $2 FOR UPDATE SKIP LOCKED";
const SET_SEGMENT_BACKFILL: &str = "UPDATE segments SET backfill_complete = $3, \
     backfill_after = $4, backfill_done = $5, backfill_total = $6 \
     WHERE workspace_id = $1 AND id = $2";
/// By the outbox's unique (workspace, message id) index.
const DELIVERY_STATE: &str =
    "SELECT state FROM journey_outbox WHERE workspace_id = $1 AND message_id = $2";
const SET_COMPUTED_BACKFILL: &str = "UPDATE computed_definitions SET backfill_complete = $3, \
     backfill_after = $4, backfill_done = $5, backfill_total = $6 \
     WHERE workspace_id = $1 AND name = $2";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        SET_PROCESSED_OFFSET,
        PERSON_SEGMENT_IDS,
        ENTRY_ATTRIBUTE_CHANGES,
        RECORD_TRANSITION,
        COMPUTED_STATES,
        SET_COMPUTED_STATES,
        FORGET_COMPUTED_STATES,
        PERSON_SCHEDULE,
        SET_PERSON_SCHEDULE,
        DUE_CHECKS,
        SET_SEGMENT_BACKFILL,
        SET_COMPUTED_BACKFILL,
        DELIVERY_STATE,
    ]
}

impl ProcessingTx for PgWriteTx<'_, '_> {
    fn processed_offset(&mut self, ws: WorkspaceId) -> StoreResult<i64> {
        processor_reads::processed_offset(self.tx, self.statements, ws)
    }

    fn set_processed_offset(&mut self, ws: WorkspaceId, offset: i64) -> StoreResult<()> {
        self.run(SET_PROCESSED_OFFSET, &[&ws.0, &offset]).map(drop)
    }

    fn entry_attribute_changes(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        offset: i64,
    ) -> StoreResult<nudge_core::JsonMap> {
        let (first, last) = nudge_store::entry_activity_range(offset);
        let rows = self.query(ENTRY_ATTRIBUTE_CHANGES, &[&ws.0, &person.0, &first, &last])?;
        let mut changes = nudge_core::JsonMap::new();
        for row in rows {
            let text: String = column(&row, 0)?;
            let data: nudge_core::JsonMap = serde_json::from_str(&text)
                .map_err(|e| nudge_store::StoreError::Corrupt(format!("activity data: {e}")))?;
            changes.extend(data);
        }
        Ok(changes)
    }

    fn person_identifiers(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<Vec<nudge_core::Identifier>> {
        crate::read::person_identifiers(self.tx, self.statements, ws, person)
    }

    fn person_segment_ids(&mut self, ws: WorkspaceId, person: PersonKey) -> StoreResult<Vec<i64>> {
        let rows = self.query(PERSON_SEGMENT_IDS, &[&ws.0, &person.0])?;
        rows.iter().map(|row| column(row, 0)).collect()
    }

    fn record_segment_transition(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        segment_id: i64,
        entered: bool,
        at: Timestamp,
    ) -> StoreResult<()> {
        let params: [&(dyn postgres::types::ToSql + Sync); 5] =
            [&ws.0, &person.0, &segment_id, &entered, &at.millis()];
        self.run(RECORD_TRANSITION, &params).map(drop)
    }

    fn person_events(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        read: &EventRead,
    ) -> StoreResult<Vec<StoredEvent>> {
        processor_reads::person_events(self.tx, self.statements, ws, person, read)
    }

    fn computed_states(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<BTreeMap<String, serde_json::Value>> {
        let Some(row) = self.query_opt(COMPUTED_STATES, &[&ws.0, &person.0])? else {
            return Ok(BTreeMap::new());
        };
        let states: &str = column(&row, 0)?;
        serde_json::from_str(states).map_err(|e| corrupt("computed states", e))
    }

    fn set_computed_states(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        states: &BTreeMap<String, serde_json::Value>,
    ) -> StoreResult<()> {
        if states.is_empty() {
            return self
                .run(FORGET_COMPUTED_STATES, &[&ws.0, &person.0])
                .map(drop);
        }
        let states = to_json(states)?;
        self.run(SET_COMPUTED_STATES, &[&ws.0, &person.0, &states])
            .map(drop)
    }

    fn person_schedule(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<Option<PersonSchedule>> {
        let Some(row) = self.query_opt(PERSON_SCHEDULE, &[&ws.0, &person.0])? else {
            return Ok(None);
        };
        let checks: Option<&str> = column(&row, 1)?;
        PersonSchedule::from_columns(column(&row, 0)?, checks).map(Some)
    }

    fn set_person_schedule(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        schedule: &PersonSchedule,
    ) -> StoreResult<()> {
        let next_check = schedule.next_check.map(Timestamp::millis);
        let checks = schedule.segment_checks_column();
        self.run(
            SET_PERSON_SCHEDULE,
            &[&ws.0, &person.0, &next_check, &checks],
        )
        .map(drop)
    }

    fn due_checks(&mut self, now: Timestamp, limit: usize) -> StoreResult<Vec<DueCheck>> {
        let rows = self.query(DUE_CHECKS, &[&now.millis(), &as_limit(limit)])?;
        rows.iter()
            .map(|row| {
                Ok(DueCheck {
                    ws: WorkspaceId(column(row, 0)?),
                    person: PersonKey(column(row, 1)?),
                    due_at: Timestamp::from_millis(column(row, 2)?),
                })
            })
            .collect()
    }

    fn people_page(
        &mut self,
        ws: WorkspaceId,
        after: i64,
        limit: usize,
        events: &[EventRead],
    ) -> StoreResult<Vec<PagedPerson>> {
        crate::page::people_page(self, ws, after, limit, events)
    }

    fn people_by_key(
        &mut self,
        ws: WorkspaceId,
        keys: &[PersonKey],
    ) -> StoreResult<Vec<PagedPerson>> {
        read_ahead::people_by_key(self, ws, keys)
    }

    fn resolve_all(
        &mut self,
        ws: WorkspaceId,
        identifiers: &[nudge_core::Identifier],
    ) -> StoreResult<Vec<Option<PersonKey>>> {
        read_ahead::resolve_all(self, ws, identifiers)
    }

    fn set_segment_backfill(
        &mut self,
        ws: WorkspaceId,
        id: i64,
        backfill: &Backfill,
    ) -> StoreResult<()> {
        let (complete, after, done, total) = backfill_params(backfill);
        let params: [&(dyn postgres::types::ToSql + Sync); 6] =
            [&ws.0, &id, &complete, &after, &done, &total];
        self.run(SET_SEGMENT_BACKFILL, &params).map(drop)
    }

    fn set_computed_backfill(
        &mut self,
        ws: WorkspaceId,
        name: &str,
        backfill: &Backfill,
    ) -> StoreResult<()> {
        let (complete, after, done, total) = backfill_params(backfill);
        let params: [&(dyn postgres::types::ToSql + Sync); 6] =
            [&ws.0, &name, &complete, &after, &done, &total];
        self.run(SET_COMPUTED_BACKFILL, &params).map(drop)
    }

    fn insert_instance(&mut self, ws: WorkspaceId, row: &InstanceRow) -> StoreResult<i64> {
        self.forget_prefetched(ws, row.person);
        self.insert_instance_now_or_behind(ws, row)
    }

    fn update_instance(&mut self, ws: WorkspaceId, row: &InstanceRow) -> StoreResult<()> {
        self.forget_prefetched(ws, row.person);
        self.write_instance(ws, row.id)?;
        journeys::update(self.tx, self.statements, ws, row)
    }

    fn instance(&mut self, ws: WorkspaceId, id: i64) -> StoreResult<Option<InstanceRow>> {
        self.write_instance(ws, id)?;
        journeys::instance(self.tx, self.statements, ws, id)
    }

    fn person_instances(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
        now: Timestamp,
    ) -> StoreResult<Vec<InstanceRow>> {
        self.write_person_instances(ws, person)?;
        if let Some(read) = self
            .prefetched
            .as_mut()
            .and_then(|p| p.take(ws, person, now))
        {
            return Ok(read);
        }
        journeys::person_instances(self.tx, self.statements, ws, person, now)
    }

    fn commit_lazily(&mut self) -> StoreResult<()> {
        self.tx
            .batch_execute("SET LOCAL synchronous_commit = off")
            .map_err(crate::errors::pg)
    }

    fn prefetch_instances(
        &mut self,
        ws: WorkspaceId,
        people: &[PersonKey],
        now: Timestamp,
    ) -> StoreResult<()> {
        // What is written behind must be in the table the statement reads.
        self.write_behind()?;
        let read = PrefetchedInstances::read(self.tx, self.statements, ws, people, now)?;
        self.prefetched = Some(read);
        Ok(())
    }

    fn live_instance(
        &mut self,
        ws: WorkspaceId,
        journey: &str,
        person: PersonKey,
        key: &str,
    ) -> StoreResult<Option<InstanceRow>> {
        // Only live instances match, and none of those is written behind.
        journeys::live_instance(self.tx, self.statements, ws, journey, person, key)
    }

    fn last_entry(
        &mut self,
        ws: WorkspaceId,
        journey: &str,
        person: PersonKey,
    ) -> StoreResult<Option<Timestamp>> {
        self.write_person_instances(ws, person)?;
        journeys::last_entry(self.tx, self.statements, ws, journey, person)
    }

    fn due_instances(&mut self, now: Timestamp, limit: usize) -> StoreResult<Vec<DueInstance>> {
        journeys::due_instances(self.tx, self.statements, now, limit)
    }

    fn record_journey_event(&mut self, ws: WorkspaceId, event: &JourneyEvent) -> StoreResult<i64> {
        self.record_behind(ws, event)
    }

    fn enqueue_message(&mut self, ws: WorkspaceId, message: &OutboxMessage) -> StoreResult<bool> {
        self.enqueue_now_or_behind(ws, message)
    }

    fn delivery_state(
        &mut self,
        ws: WorkspaceId,
        message_id: &str,
    ) -> StoreResult<Option<DeliveryState>> {
        self.write_message(ws, message_id)?;
        let Some(row) = self.query_opt(DELIVERY_STATE, &[&ws.0, &message_id])? else {
            return Ok(None);
        };
        let name: &str = column(&row, 0)?;
        DeliveryState::parse(name)
            .map(Some)
            .ok_or_else(|| corrupt("journey_outbox", format!("delivery state '{name}'")))
    }

    fn put_broadcast(&mut self, ws: WorkspaceId, job: &BroadcastJob) -> StoreResult<()> {
        broadcasts::put(self.tx, self.statements, ws, job)
    }
}
