//! A workspace's derived state as a whole, for `nudge replay`: wiping it before a rebuild,
//! measuring how much log a replay has ahead of it, and a canonical dump that tests compare
//! before and after a replay. Wiping deliberately walks whole workspaces (by index); none of
//! this is on the ingest path.

use nudge_core::WorkspaceId;
use nudge_store::{LogExtent, StoreResult};
use postgres::types::Type;
use postgres::{GenericClient, Row, Transaction};
use serde_json::{Map, Value};

use crate::errors::{column, pg};
use crate::Statements;

const LOG_EXTENT: &str = "SELECT count(*), max(\"offset\") FROM event_log \
     WHERE workspace_id = $1 AND \"offset\" > $2";

/// Every table derived from the log, children before the people and objects they reference;
/// broadcast jobs too (the processor starts each broadcast again from its log entry).
/// Documents and the journey outbox are not derived (re-deriving must not send a message
/// again).
const RESET: [&str; 17] = [
    "DELETE FROM journey_instances WHERE workspace_id = $1",
    "DELETE FROM journey_events WHERE workspace_id = $1",
    "DELETE FROM journey_counters WHERE workspace_id = $1",
    "DELETE FROM broadcasts WHERE workspace_id = $1",
    "DELETE FROM relationships WHERE workspace_id = $1",
    "DELETE FROM segment_members WHERE workspace_id = $1",
    "DELETE FROM segment_transitions WHERE workspace_id = $1",
    "DELETE FROM computed_states WHERE workspace_id = $1",
    "DELETE FROM person_schedules WHERE workspace_id = $1",
    "DELETE FROM devices WHERE workspace_id = $1",
    "DELETE FROM activities WHERE workspace_id = $1",
    "DELETE FROM identifiers WHERE workspace_id = $1",
    "DELETE FROM people WHERE workspace_id = $1",
    "DELETE FROM objects WHERE workspace_id = $1",
    "DELETE FROM suppressions WHERE workspace_id = $1",
    "DELETE FROM applied_marks WHERE workspace_id = $1",
    // The processor starts again from the beginning of the log.
    "DELETE FROM processed_offsets WHERE workspace_id = $1",
];

/// The dump, table by table: people are named by cio_id (internal keys differ between a
/// store and its rebuild), rows in a stable order, JSON columns as stored text.
const DUMP: [(&str, &str); 12] = [
    (
        "people",
        "SELECT cio_id, id, email, phone, attributes, attribute_times, created_at, updated_at \
         FROM people WHERE workspace_id = $1 ORDER BY cio_id",
    ),
    (
        "identifiers",
        "SELECT i.kind, i.value, p.cio_id FROM identifiers i JOIN people p \
         ON p.workspace_id = i.workspace_id AND p.key = i.person_key \
         WHERE i.workspace_id = $1 ORDER BY i.kind, i.value",
    ),
    (
        "activities",
        "SELECT a.seq, p.cio_id, a.kind, a.name, a.\"timestamp\", a.data, a.event_id, \
         a.can_trigger, a.recorded_at FROM activities a JOIN people p \
         ON p.workspace_id = a.workspace_id AND p.key = a.person_key \
         WHERE a.workspace_id = $1 ORDER BY a.seq",
    ),
    (
        "devices",
        "SELECT d.token, p.cio_id, d.platform, d.last_used, d.attributes FROM devices d \
         JOIN people p ON p.workspace_id = d.workspace_id AND p.key = d.person_key \
         WHERE d.workspace_id = $1 ORDER BY d.token",
    ),
    (
        "suppressions",
        "SELECT kind, value, suppressed_at FROM suppressions WHERE workspace_id = $1 \
         ORDER BY kind, value",
    ),
    (
        "segment_members",
        "SELECT m.segment_id, p.cio_id, m.added_at FROM segment_members m JOIN people p \
         ON p.workspace_id = m.workspace_id AND p.key = m.person_key \
         WHERE m.workspace_id = $1 ORDER BY m.segment_id, p.cio_id",
    ),
    (
        "objects",
        "SELECT type_id, object_id, attributes, created_at, updated_at FROM objects \
         WHERE workspace_id = $1 ORDER BY type_id, object_id",
    ),
    (
        "relationships",
        "SELECT p.cio_id, r.type_id, r.object_id, r.attributes, r.updated_at \
         FROM relationships r JOIN people p \
         ON p.workspace_id = r.workspace_id AND p.key = r.person_key \
         WHERE r.workspace_id = $1 ORDER BY p.cio_id, r.type_id, r.object_id",
    ),
    (
        "segment_transitions",
        "SELECT p.cio_id, t.segment_id, t.entered, t.at FROM segment_transitions t \
         JOIN people p ON p.workspace_id = t.workspace_id AND p.key = t.person_key \
         WHERE t.workspace_id = $1 ORDER BY p.cio_id, t.id",
    ),
    (
        "computed_states",
        "SELECT p.cio_id, c.states FROM computed_states c JOIN people p \
         ON p.workspace_id = c.workspace_id AND p.key = c.person_key \
         WHERE c.workspace_id = $1 ORDER BY p.cio_id",
    ),
    (
        "person_schedules",
        "SELECT p.cio_id, s.next_check, s.segment_checks FROM person_schedules s JOIN people p \
         ON p.workspace_id = s.workspace_id AND p.key = s.person_key \
         WHERE s.workspace_id = $1 ORDER BY p.cio_id",
    ),
    (
        "marks",
        "SELECT subject, key, value, applied_offset FROM applied_marks WHERE workspace_id = $1 \
         ORDER BY subject, key, value",
    ),
];

/// Every statement this module runs on a live store, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    std::iter::once(LOG_EXTENT).chain(RESET).collect()
}

pub(crate) fn log_extent(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    after: i64,
) -> StoreResult<LogExtent> {
    let statement = statements.get(client, LOG_EXTENT)?;
    let row = client.query_one(&statement, &[&ws.0, &after]).map_err(pg)?;
    let entries: i64 = column(&row, 0)?;
    Ok(LogExtent {
        entries: entries.unsigned_abs(),
        last_offset: column(&row, 1)?,
    })
}

pub(crate) fn reset(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
) -> StoreResult<()> {
    for sql in RESET {
        let statement = statements.get(tx, sql)?;
        tx.execute(&statement, &[&ws.0]).map_err(pg)?;
    }
    Ok(())
}

/// `{table: [[column, ...], ...]}` for every derived table of `ws`.
pub(crate) fn snapshot(tx: &mut Transaction<'_>, ws: WorkspaceId) -> StoreResult<Value> {
    let mut tables = Map::new();
    for (table, sql) in DUMP {
        let rows = tx.query(sql, &[&ws.0]).map_err(pg)?;
        let rows = rows.iter().map(json_row).collect::<StoreResult<Vec<_>>>()?;
        tables.insert(table.to_string(), Value::Array(rows));
    }
    Ok(Value::Object(tables))
}

fn json_row(row: &Row) -> StoreResult<Value> {
    let mut values = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let value = match *col.type_() {
            Type::INT8 => column::<Option<i64>>(row, i)?.map(Value::from),
            Type::INT4 => column::<Option<i32>>(row, i)?.map(Value::from),
            Type::BOOL => column::<Option<bool>>(row, i)?.map(Value::from),
            _ => column::<Option<String>>(row, i)?.map(Value::from),
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Value::Array(values))
}
