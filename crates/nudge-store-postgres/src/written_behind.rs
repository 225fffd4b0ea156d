//! Rows the processor's transaction writes behind on PostgreSQL, so a round of events costs a
//! few multi-row statements instead of a round trip per row: journey timeline entries (with
//! their counters) and instances that are already finished when inserted (a journey that
//! sends at once and completes). Each takes its id when recorded, from ids reserved in blocks
//! (`reserved_ids`), and reaches its table before anything in the transaction could read or
//! move it and before the transaction commits; a rollback drops it with the transaction.
//! What callers see does not change: ids keep the order rows were recorded in (a block is
//! given up whenever a row of the same table is inserted at once), counters add up, and a
//! finished instance can never clash with a live one (the uniqueness of live keys is over
//! active rows only), so deferring its insert refuses nothing that inserting it at once would.

use std::collections::BTreeMap;

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{InstanceRow, JourneyEvent, StoreResult};
use postgres::types::ToSql;
use postgres::GenericClient;

use crate::event_rows::to_json;
use crate::reserved_ids::{ReservedIds, RESERVE_EVENT_IDS, RESERVE_INSTANCE_IDS};
use crate::write_tx::PgWriteTx;
use crate::Statements;

/// The pending entries (arrays `$1`–`$11`, one element per entry) and the counters they
/// increment (`$12`–`$17`, each counter once: an upsert cannot touch the same row twice in
/// one statement).
const WRITE_TIMELINE: &str = "WITH recorded AS (INSERT INTO journey_events (id, workspace_id, \
     at, person_key, journey, version, instance, step, kind, reason, detail) \
     SELECT * FROM unnest($1::INT8[], $2::INT8[], $3::INT8[], $4::INT8[], $5::TEXT[], \
     $6::INT8[], $7::INT8[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[])) \
     INSERT INTO journey_counters (workspace_id, journey, step, kind, reason, count) \
     SELECT * FROM unnest($12::INT8[], $13::TEXT[], $14::TEXT[], $15::TEXT[], $16::TEXT[], \
     $17::INT8[]) \
     ON CONFLICT (workspace_id, journey, step, kind, reason) \
     DO UPDATE SET count = journey_counters.count + excluded.count";
/// The pending finished instances, one array element each.
const WRITE_FINISHED_INSTANCES: &str = "INSERT INTO journey_instances (id, workspace_id, \
     journey, version, person_key, key, active, step, wake_at, watch_until, entered_at, state) \
     SELECT id, ws, journey, version, person, key, FALSE, step, wake_at, watch_until, \
     entered_at, state FROM unnest($1::INT8[], $2::INT8[], $3::TEXT[], $4::INT8[], \
     $5::INT8[], $6::TEXT[], $7::TEXT[], $8::INT8[], $9::INT8[], $10::INT8[], $11::TEXT[]) \
     AS pending (id, ws, journey, version, person, key, step, wake_at, watch_until, \
     entered_at, state)";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![WRITE_TIMELINE, WRITE_FINISHED_INSTANCES]
}

/// What one write transaction has recorded and not written yet.
pub(crate) struct WrittenBehind {
    event_ids: ReservedIds,
    entries: Vec<PendingEntry>,
    instance_ids: ReservedIds,
    instances: Vec<(WorkspaceId, InstanceRow)>,
}

impl Default for WrittenBehind {
    fn default() -> Self {
        Self {
            event_ids: ReservedIds::new(RESERVE_EVENT_IDS),
            entries: Vec::new(),
            instance_ids: ReservedIds::new(RESERVE_INSTANCE_IDS),
            instances: Vec::new(),
        }
    }
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
        let id = self.event_ids.next(client, statements)?;
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
        let id = self.instance_ids.next(client, statements)?;
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

    /// Writes the pending instances.
    fn write_instances(
        &mut self,
        client: &mut impl GenericClient,
        statements: &mut Statements,
    ) -> StoreResult<()> {
        if self.instances.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.instances);
        let mut states = Vec::with_capacity(pending.len());
        for (_, row) in &pending {
            states.push(to_json(&row.state)?);
        }
        let column = |f: &dyn Fn(&InstanceRow) -> i64| -> Vec<i64> {
            pending.iter().map(|(_, row)| f(row)).collect()
        };
        let ids = column(&|row| row.id);
        let versions = column(&|row| row.version);
        let people = column(&|row| row.person.0);
        let entered = column(&|row| row.entered_at.millis());
        let workspaces: Vec<i64> = pending.iter().map(|(ws, _)| ws.0).collect();
        let journeys: Vec<&str> = pending.iter().map(|(_, r)| r.journey.as_str()).collect();
        let keys: Vec<&str> = pending.iter().map(|(_, r)| r.key.as_str()).collect();
        let steps: Vec<Option<&str>> = pending.iter().map(|(_, r)| r.step.as_deref()).collect();
        let millis = |at: Option<Timestamp>| at.map(Timestamp::millis);
        let wakes: Vec<Option<i64>> = pending.iter().map(|(_, r)| millis(r.wake_at)).collect();
        let watches: Vec<Option<i64>> =
            pending.iter().map(|(_, r)| millis(r.watch_until)).collect();
        let params: [&(dyn ToSql + Sync); 11] = [
            &ids,
            &workspaces,
            &journeys,
            &versions,
            &people,
            &keys,
            &steps,
            &wakes,
            &watches,
            &entered,
            &states,
        ];
        statements.execute(client, WRITE_FINISHED_INSTANCES, &params)?;
        Ok(())
    }

    /// Writes the pending timeline entries and the counters they increment.
    fn write_timeline(
        &mut self,
        client: &mut impl GenericClient,
        statements: &mut Statements,
    ) -> StoreResult<()> {
        if self.entries.is_empty() {
            return Ok(());
        }
        let entries = std::mem::take(&mut self.entries);
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
        let instances: Vec<i64> = entries.iter().map(|e| e.instance).collect();
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
        let params: [&(dyn ToSql + Sync); 17] = [
            &ids,
            &workspaces,
            &ats,
            &people,
            &journeys,
            &versions,
            &instances,
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
        statements.execute(client, WRITE_TIMELINE, &params)?;
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
        if !row.active {
            return self
                .behind
                .insert_finished(self.tx, self.statements, ws, row);
        }
        self.behind.instance_ids.give_up();
        crate::journeys::insert(self.tx, self.statements, ws, row)
    }

    /// Writes the pending instances if one of them is the person's: before their instances
    /// are read.
    pub(crate) fn write_person_instances(
        &mut self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<()> {
        if self.behind.holds_person(ws, person) {
            self.behind.write_instances(self.tx, self.statements)?;
        }
        Ok(())
    }

    /// Writes the pending instances if `id` is one of them: before it is read or rewritten.
    pub(crate) fn write_instance(&mut self, ws: WorkspaceId, id: i64) -> StoreResult<()> {
        if self.behind.holds_instance(ws, id) {
            self.behind.write_instances(self.tx, self.statements)?;
        }
        Ok(())
    }

    /// Writes everything pending and gives up the reserved ids: before the transaction
    /// commits, and before anything in it moves or removes a person's journey rows.
    pub(crate) fn write_behind(&mut self) -> StoreResult<()> {
        self.behind.write_instances(self.tx, self.statements)?;
        self.behind.write_timeline(self.tx, self.statements)?;
        self.behind.event_ids.give_up();
        self.behind.instance_ids.give_up();
        Ok(())
    }
}
