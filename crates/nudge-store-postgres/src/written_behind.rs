//! Rows the processor's transaction writes behind on PostgreSQL, so a round of events costs a
//! couple of statements (one reserving ids, one writing) instead of a round trip per row:
//! journey timeline entries (with their counters) and instances that are already finished
//! when inserted (a journey that sends at once and completes). Each takes its id when
//! recorded, from ids reserved in blocks (`reserved_ids`), and reaches its table before
//! anything in the transaction could read or move it and before the transaction commits; a
//! rollback drops it with the transaction. What callers see does not change: ids keep the
//! order rows were recorded in (reserved ids are given up whenever a row of the same table is
//! inserted at once), counters add up, and a finished instance can never clash with a live
//! one (the uniqueness of live keys is over active rows only), so deferring its insert
//! refuses nothing that inserting it at once would.

use std::collections::BTreeMap;

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{InstanceRow, JourneyEvent, OutboxMessage, StoreResult};
use postgres::types::ToSql;
use postgres::GenericClient;

use crate::event_rows::to_json;
use crate::pending_messages::PendingMessages;
use crate::reserved_ids::{ReservedIds, Sequence};
use crate::write_tx::PgWriteTx;
use crate::Statements;

/// Everything pending in one statement: the finished instances (arrays `$1`–`$11`, one
/// element per instance), the timeline entries (`$12`–`$22`, one per entry) and the counters
/// they increment (`$23`–`$28`, each counter once: an upsert cannot touch the same row twice
/// in one statement). An empty array inserts nothing.
const WRITE_PENDING: &str = "WITH instances AS (INSERT INTO journey_instances (id, \
     workspace_id, journey, version, person_key, key, active, step, wake_at, watch_until, \
     entered_at, state) \
     SELECT id, ws, journey, version, person, key, FALSE, step, wake_at, watch_until, \
     entered_at, state FROM unnest($1::INT8[], $2::INT8[], $3::TEXT[], $4::INT8[], \
     $5::INT8[], $6::TEXT[], $7::TEXT[], $8::INT8[], $9::INT8[], $10::INT8[], $11::TEXT[]) \
     AS pending (id, ws, journey, version, person, key, step, wake_at, watch_until, \
     entered_at, state)), \
     recorded AS (INSERT INTO journey_events (id, workspace_id, at, person_key, journey, \
     version, instance, step, kind, reason, detail) \
     SELECT * FROM unnest($12::INT8[], $13::INT8[], $14::INT8[], $15::INT8[], $16::TEXT[], \
     $17::INT8[], $18::INT8[], $19::TEXT[], $20::TEXT[], $21::TEXT[], $22::TEXT[])) \
     INSERT INTO journey_counters (workspace_id, journey, step, kind, reason, count) \
     SELECT * FROM unnest($23::INT8[], $24::TEXT[], $25::TEXT[], $26::TEXT[], $27::TEXT[], \
     $28::INT8[]) \
     ON CONFLICT (workspace_id, journey, step, kind, reason) \
     DO UPDATE SET count = journey_counters.count + excluded.count";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![WRITE_PENDING]
}

/// What one write transaction has recorded and not written yet.
#[derive(Default)]
pub(crate) struct WrittenBehind {
    ids: ReservedIds,
    /// Outbox messages of the instances this transaction started.
    pub(crate) messages: PendingMessages,
    entries: Vec<PendingEntry>,
    instances: Vec<(WorkspaceId, InstanceRow)>,
}

/// A timeline entry as it will be written.
struct PendingEntry {
    id: i64,
    ws: WorkspaceId,
    at: i64,
    person: i64,
    journey: String,
    version: i64,
    instance: i64,
    step: Option<String>,
    kind: String,
    reason: Option<String>,
    detail: String,
}

impl PendingEntry {
    /// The counter it increments, as [`nudge_store::JourneyCounter::key_of`] names it.
    fn counter(&self) -> (i64, &str, &str, &str, &str) {
        (
            self.ws.0,
            &self.journey,
            self.step.as_deref().unwrap_or(""),
            &self.kind,
            self.reason.as_deref().unwrap_or(""),
        )
    }
}

impl WrittenBehind {
    /// Records a timeline entry (counted when written) and returns its id.
    fn record(
        &mut self,
        client: &mut impl GenericClient,
        statements: &mut Statements,
        ws: WorkspaceId,
        event: &JourneyEvent,
    ) -> StoreResult<i64> {
        let detail = to_json(&event.detail)?;
        let id = self.ids.next(Sequence::Events, client, statements)?;
        self.entries.push(PendingEntry {
            id,
            ws,
            at: event.at.millis(),
            person: event.person.0,
            journey: event.journey.clone(),
            version: event.version,
            instance: event.instance,
            step: event.step.clone(),
            kind: event.kind.clone(),
            reason: event.reason.clone(),
            detail,
        });
        Ok(id)
    }

    /// Records a finished instance (`row.active` false) and returns its id.
    fn insert_finished(
        &mut self,
        client: &mut impl GenericClient,
        statements: &mut Statements,
        ws: WorkspaceId,
        row: &InstanceRow,
    ) -> StoreResult<i64> {
        let id = self.ids.next(Sequence::Instances, client, statements)?;
        self.instances.push((ws, InstanceRow { id, ..row.clone() }));
        Ok(id)
    }

    fn holds_person(&self, ws: WorkspaceId, person: PersonKey) -> bool {
        self.instances
            .iter()
            .any(|(w, row)| *w == ws && row.person == person)
    }

    fn holds_instance(&self, ws: WorkspaceId, id: i64) -> bool {
        self.instances
            .iter()
            .any(|(w, row)| *w == ws && row.id == id)
    }

    /// Writes every pending instance and timeline entry, with the counters the entries
    /// increment, in one statement.
    fn write_pending(
        &mut self,
        client: &mut impl GenericClient,
        statements: &mut Statements,
    ) -> StoreResult<()> {
        self.messages.write(client, statements)?;
        if self.instances.is_empty() && self.entries.is_empty() {
            return Ok(());
        }
        let instances = std::mem::take(&mut self.instances);
        let entries = std::mem::take(&mut self.entries);
        let rows: Vec<&InstanceRow> = instances.iter().map(|(_, row)| row).collect();
        let states = rows
            .iter()
            .map(|row| to_json(&row.state))
            .collect::<StoreResult<Vec<String>>>()?;
        let millis = |at: Option<Timestamp>| at.map(Timestamp::millis);
        let instance_ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let instance_workspaces: Vec<i64> = instances.iter().map(|(ws, _)| ws.0).collect();
        let instance_journeys: Vec<&str> = rows.iter().map(|r| r.journey.as_str()).collect();
        let instance_versions: Vec<i64> = rows.iter().map(|r| r.version).collect();
        let instance_people: Vec<i64> = rows.iter().map(|r| r.person.0).collect();
        let keys: Vec<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        let instance_steps: Vec<Option<&str>> = rows.iter().map(|r| r.step.as_deref()).collect();
        let wakes: Vec<Option<i64>> = rows.iter().map(|r| millis(r.wake_at)).collect();
        let watches: Vec<Option<i64>> = rows.iter().map(|r| millis(r.watch_until)).collect();
        let entered: Vec<i64> = rows.iter().map(|r| r.entered_at.millis()).collect();

        let mut counts: BTreeMap<(i64, &str, &str, &str, &str), i64> = BTreeMap::new();
        for entry in &entries {
            *counts.entry(entry.counter()).or_default() += 1;
        }
        let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
        let workspaces: Vec<i64> = entries.iter().map(|e| e.ws.0).collect();
        let ats: Vec<i64> = entries.iter().map(|e| e.at).collect();
        let people: Vec<i64> = entries.iter().map(|e| e.person).collect();
        let journeys: Vec<&str> = entries.iter().map(|e| e.journey.as_str()).collect();
        let versions: Vec<i64> = entries.iter().map(|e| e.version).collect();
        let of_instances: Vec<i64> = entries.iter().map(|e| e.instance).collect();
        let steps: Vec<Option<&str>> = entries.iter().map(|e| e.step.as_deref()).collect();
        let kinds: Vec<&str> = entries.iter().map(|e| e.kind.as_str()).collect();
        let reasons: Vec<Option<&str>> = entries.iter().map(|e| e.reason.as_deref()).collect();
        let details: Vec<&str> = entries.iter().map(|e| e.detail.as_str()).collect();
        let counters: Vec<_> = counts.into_iter().collect();
        let counter_workspaces: Vec<i64> = counters.iter().map(|(k, _)| k.0).collect();
        let counter_journeys: Vec<&str> = counters.iter().map(|(k, _)| k.1).collect();
        let counter_steps: Vec<&str> = counters.iter().map(|(k, _)| k.2).collect();
        let counter_kinds: Vec<&str> = counters.iter().map(|(k, _)| k.3).collect();
        let counter_reasons: Vec<&str> = counters.iter().map(|(k, _)| k.4).collect();
        let counter_counts: Vec<i64> = counters.iter().map(|(_, n)| *n).collect();
        let params: [&(dyn ToSql + Sync); 28] = [
            &instance_ids,
            &instance_workspaces,
            &instance_journeys,
            &instance_versions,
            &instance_people,
            &keys,
            &instance_steps,
            &wakes,
            &watches,
            &entered,
            &states,
            &ids,
            &workspaces,
            &ats,
            &people,
            &journeys,
            &versions,
            &of_instances,
            &steps,
            &kinds,
            &reasons,
            &details,
            &counter_workspaces,
            &counter_journeys,
            &counter_steps,
            &counter_kinds,
            &counter_reasons,
            &counter_counts,
        ];
        statements.execute(client, WRITE_PENDING, &params)?;
        Ok(())
    }
}

impl PgWriteTx<'_, '_> {
    /// `record_journey_event`, written behind.
    pub(crate) fn record_behind(
        &mut self,
        ws: WorkspaceId,
        event: &JourneyEvent,
    ) -> StoreResult<i64> {
        self.behind.record(self.tx, self.statements, ws, event)
    }

    /// `insert_instance`: a finished row is written behind; a live one is inserted at once
    /// (its insert may be refused), after which reserved instance ids are given up.
    pub(crate) fn insert_instance_now_or_behind(
        &mut self,
        ws: WorkspaceId,
        row: &InstanceRow,
    ) -> StoreResult<i64> {
        let id = if row.active {
            self.behind.ids.give_up(Sequence::Instances);
            crate::journeys::insert(self.tx, self.statements, ws, row)?
        } else {
            self.behind
                .insert_finished(self.tx, self.statements, ws, row)?
        };
        self.behind.messages.started(ws, id);
        Ok(id)
    }

    /// `enqueue_message`: the message of an instance this transaction started is written
    /// behind; any other is inserted at once, after those pending (so outbox ids keep the
    /// order messages were queued in).
    pub(crate) fn enqueue_now_or_behind(
        &mut self,
        ws: WorkspaceId,
        message: &OutboxMessage,
    ) -> StoreResult<bool> {
        if let Some(queued) = self.behind.messages.take(ws, message) {
            return Ok(queued);
        }
        if !self.behind.messages.is_empty() {
            self.behind.messages.write(self.tx, self.statements)?;
        }
        crate::journey_records::enqueue(self.tx, self.statements, ws, message)
    }

    /// Writes the pending messages if one has this id: before its delivery is read.
    pub(crate) fn write_message(&mut self, ws: WorkspaceId, message_id: &str) -> StoreResult<()> {
        if self.behind.messages.holds(ws, message_id) {
            self.behind.messages.write(self.tx, self.statements)?;
        }
        Ok(())
    }

    /// Drops the instances read ahead for the person: one of them is about to be written.
    pub(crate) fn forget_prefetched(&mut self, ws: WorkspaceId, person: PersonKey) {
        if let Some(prefetched) = self.prefetched.as_mut() {
            prefetched.forget(ws, person);
        }
    }

    /// Writes what is pending if one of the pending instances is the person's: before their
    /// instances are read.
    pub(crate) fn write_person_instances(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<()> {
        if self.behind.holds_person(ws, person) {
            self.behind.write_pending(self.tx, self.statements)?;
        }
        Ok(())
    }

    /// Writes what is pending if instance `id` is: before it is read or rewritten.
    pub(crate) fn write_instance(&mut self, ws: WorkspaceId, id: i64) -> StoreResult<()> {
        if self.behind.holds_instance(ws, id) {
            self.behind.write_pending(self.tx, self.statements)?;
        }
        Ok(())
    }

    /// Writes everything pending and gives up the reserved ids: before the transaction
    /// commits, and before anything in it moves or removes a person's journey rows (which
    /// may record timeline entries at once).
    pub(crate) fn write_behind(&mut self) -> StoreResult<()> {
        // Rows may move or go: what was read ahead may no longer be what a read would give.
        self.prefetched = None;
        self.behind.write_pending(self.tx, self.statements)?;
        self.behind.ids.give_up(Sequence::Events);
        self.behind.ids.give_up(Sequence::Instances);
        Ok(())
    }
}
