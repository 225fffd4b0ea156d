//! [`Definitions`] on [`PostgresStore`]: each call on a pooled connection, each change in its
//! own transaction, which also raises the config version (one counter row, whose lock orders
//! definition changes). The statements live with their subjects (`segment_catalogue`,
//! `computed_catalogue`, `documents`, `processor_reads`, `journeys`, `journey_records`,
//! `broadcasts`); this module holds what they share.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    Backfill, BroadcastJob, ComputedDefinition, Definitions, Document, DocumentKind, InstanceRow,
    JourneyCounter, NewSegment, SegmentDefinition, SegmentTransition, StoreResult, StoredEvent,
    StoredJourneyEvent, StoredMessage,
};
use postgres::{GenericClient, Row, Transaction};

use crate::errors::{column, corrupt, pg};
use crate::{
    broadcasts, computed_catalogue, documents, journey_records, journeys, processor_reads,
    segment_catalogue, PostgresStore, Statements,
};

const RAISE_CONFIG_VERSION: &str = "UPDATE config_version SET version = version + 1 WHERE id = 1";
const CONFIG_VERSION: &str = "SELECT version FROM config_version WHERE id = 1";
const PEOPLE_COUNT: &str = "SELECT count(*) FROM people WHERE workspace_id = $1";
const NEXT_SCHEDULED_CHECK: &str =
    "SELECT min(next_check) FROM person_schedules WHERE next_check IS NOT NULL";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        RAISE_CONFIG_VERSION,
        CONFIG_VERSION,
        PEOPLE_COUNT,
        NEXT_SCHEDULED_CHECK,
    ]
}

/// Records a definition change; the row stays locked until the transaction ends.
pub(crate) fn raise_config_version(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
) -> StoreResult<()> {
    let statement = statements.get(tx, RAISE_CONFIG_VERSION)?;
    tx.execute(&statement, &[]).map(drop).map_err(pg)
}

/// People in the workspace now: the size of a backfill that starts now.
pub(crate) fn people_count(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
) -> StoreResult<u64> {
    let statement = statements.get(client, PEOPLE_COUNT)?;
    let row = client.query_one(&statement, &[&ws.0]).map_err(pg)?;
    let count: i64 = column(&row, 0)?;
    Ok(count.unsigned_abs())
}

/// A backfill from four columns starting at `at`: complete, after, done, total.
pub(crate) fn backfill_columns(row: &Row, at: usize) -> StoreResult<Backfill> {
    let count = |i: usize| -> StoreResult<u64> {
        let value: i64 = column(row, i)?;
        u64::try_from(value).map_err(|e| corrupt("backfill count", e))
    };
    Ok(Backfill {
        complete: column(row, at)?,
        after: column(row, at + 1)?,
        done: count(at + 2)?,
        total: count(at + 3)?,
    })
}

/// The four backfill columns' values, in `backfill_columns` order.
pub(crate) fn backfill_params(backfill: &Backfill) -> (bool, i64, i64, i64) {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    (
        backfill.complete,
        backfill.after,
        count(backfill.done),
        count(backfill.total),
    )
}

impl PostgresStore {
    /// Runs `f` in one transaction, committed if it returns `Ok` and rolled back otherwise.
    fn in_transaction<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>, &mut Statements) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.with_conn(|client, statements| {
            let mut tx = client.transaction().map_err(pg)?;
            let value = f(&mut tx, statements)?;
            tx.commit().map_err(pg)?;
            Ok(value)
        })
    }
}

impl Definitions for PostgresStore {
    fn segment_definitions(&self, ws: WorkspaceId) -> StoreResult<Vec<SegmentDefinition>> {
        self.with_conn(|c, s| segment_catalogue::list(c, s, ws))
    }

    fn segment_definition(
        &self,
        ws: WorkspaceId,
        id: i64,
    ) -> StoreResult<Option<SegmentDefinition>> {
        self.with_conn(|c, s| segment_catalogue::get(c, s, ws, id))
    }

    fn create_segment(
        &self,
        ws: WorkspaceId,
        new: &NewSegment,
        now: Timestamp,
    ) -> StoreResult<SegmentDefinition> {
        self.in_transaction(|tx, s| segment_catalogue::create(tx, s, ws, new, now))
    }

    fn update_segment(
        &self,
        ws: WorkspaceId,
        id: i64,
        new: &NewSegment,
        now: Timestamp,
    ) -> StoreResult<Option<SegmentDefinition>> {
        self.in_transaction(|tx, s| segment_catalogue::update(tx, s, ws, id, new, now))
    }

    fn delete_segment(&self, ws: WorkspaceId, id: i64) -> StoreResult<bool> {
        self.in_transaction(|tx, s| segment_catalogue::delete(tx, s, ws, id))
    }

    fn segment_member_count(&self, ws: WorkspaceId, id: i64) -> StoreResult<u64> {
        self.with_conn(|c, s| segment_catalogue::member_count(c, s, ws, id))
    }

    fn segment_members(
        &self,
        ws: WorkspaceId,
        id: i64,
        after: Option<PersonKey>,
        limit: usize,
    ) -> StoreResult<Vec<PersonKey>> {
        self.with_conn(|c, s| segment_catalogue::members(c, s, ws, id, after, limit))
    }

    fn segment_transitions(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        limit: usize,
    ) -> StoreResult<Vec<SegmentTransition>> {
        self.with_conn(|c, s| segment_catalogue::transitions(c, s, ws, person, limit))
    }

    fn computed_definitions(&self, ws: WorkspaceId) -> StoreResult<Vec<ComputedDefinition>> {
        self.with_conn(|c, s| computed_catalogue::list(c, s, ws))
    }

    fn put_computed_definition(
        &self,
        ws: WorkspaceId,
        name: &str,
        definition: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<ComputedDefinition> {
        self.in_transaction(|tx, s| computed_catalogue::put(tx, s, ws, name, definition, now))
    }

    fn delete_computed_definition(&self, ws: WorkspaceId, name: &str) -> StoreResult<bool> {
        self.in_transaction(|tx, s| computed_catalogue::delete(tx, s, ws, name))
    }

    fn person_events(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        names: &[String],
        since: Option<Timestamp>,
    ) -> StoreResult<Vec<StoredEvent>> {
        let read = nudge_store::EventRead {
            names: names.to_vec(),
            since,
            with_data: true,
        };
        self.with_conn(|c, s| processor_reads::person_events(c, s, ws, person, &read))
    }

    fn config_version(&self) -> StoreResult<i64> {
        self.with_conn(|client, statements| {
            let statement = statements.get(client, CONFIG_VERSION)?;
            let row = client.query_one(&statement, &[]).map_err(pg)?;
            column(&row, 0)
        })
    }

    fn processed_offset(&self, ws: WorkspaceId) -> StoreResult<i64> {
        self.with_conn(|c, s| processor_reads::processed_offset(c, s, ws))
    }

    fn next_scheduled_check(&self) -> StoreResult<Option<Timestamp>> {
        self.with_conn(|client, statements| {
            let statement = statements.get(client, NEXT_SCHEDULED_CHECK)?;
            let row = client.query_one(&statement, &[]).map_err(pg)?;
            let next: Option<i64> = column(&row, 0)?;
            Ok(next.map(Timestamp::from_millis))
        })
    }

    fn documents(&self, ws: WorkspaceId, kind: DocumentKind) -> StoreResult<Vec<Document>> {
        self.with_conn(|c, s| documents::latest_live(c, s, ws, kind))
    }

    fn document_versions(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
        name: &str,
    ) -> StoreResult<Vec<Document>> {
        self.with_conn(|c, s| documents::versions(c, s, ws, kind, name))
    }

    fn all_document_versions(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
    ) -> StoreResult<Vec<Document>> {
        self.with_conn(|c, s| documents::all_versions(c, s, ws, kind))
    }

    fn put_document(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
        name: &str,
        body: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<Document> {
        self.in_transaction(|tx, s| documents::put(tx, s, ws, kind, name, body, now))
    }

    fn delete_document(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
        name: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.in_transaction(|tx, s| documents::delete(tx, s, ws, kind, name, now))
    }

    fn next_instance_wake(&self) -> StoreResult<Option<Timestamp>> {
        self.with_conn(journeys::next_instance_wake)
    }

    fn journey_events(
        &self,
        ws: WorkspaceId,
        after_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<StoredJourneyEvent>> {
        self.with_conn(|c, s| journey_records::journey_events(c, s, ws, after_id, limit))
    }

    fn person_journey_events(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<StoredJourneyEvent>> {
        self.with_conn(|c, s| {
            journey_records::person_journey_events(c, s, ws, person, before_id, limit)
        })
    }

    fn journey_counters(&self, ws: WorkspaceId, journey: &str) -> StoreResult<Vec<JourneyCounter>> {
        self.with_conn(|c, s| journey_records::counters(c, s, ws, journey))
    }

    fn waiting_instances(
        &self,
        ws: WorkspaceId,
        journey: &str,
    ) -> StoreResult<Vec<(i64, Option<String>, u64)>> {
        self.with_conn(|c, s| journeys::waiting_instances(c, s, ws, journey))
    }

    fn person_instances_view(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<Vec<InstanceRow>> {
        self.with_conn(|c, s| journeys::person_instances_view(c, s, ws, person))
    }

    fn outbox(
        &self,
        ws: WorkspaceId,
        after_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>> {
        self.with_conn(|c, s| journey_records::outbox(c, s, ws, after_id, limit))
    }

    fn open_broadcasts(&self, ws: WorkspaceId) -> StoreResult<Vec<BroadcastJob>> {
        self.with_conn(|c, s| broadcasts::open(c, s, ws))
    }

    fn broadcast(&self, ws: WorkspaceId, id: i64) -> StoreResult<Option<BroadcastJob>> {
        self.with_conn(|c, s| broadcasts::by_id(c, s, ws, id))
    }
}
