//! A workspace's derived state as a whole, for `nudge replay`: wiping it before a rebuild,
//! measuring how much log a replay has ahead of it, and a canonical dump that tests compare
//! before and after a replay. Wiping deliberately walks whole workspaces; none of this is on
//! the ingest path.

use nudge_core::WorkspaceId;
use nudge_store::{LogExtent, StoreResult};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection};
use serde_json::{Map, Value};

use crate::errors::from_sqlite;

const LOG_EXTENT: &str = "SELECT count(*), max(offset) FROM event_log \
     WHERE workspace_id = ?1 AND offset > ?2";

/// Every table derived from the log, children before the people and objects they reference;
/// the processor's watermark goes with them, so it starts over (broadcast jobs too: it starts
/// each broadcast again from its log entry). Documents and the journey outbox are not derived
/// (re-deriving must not send a message again).
const RESET: [&str; 17] = [
    "DELETE FROM segment_transitions WHERE workspace_id = ?1",
    "DELETE FROM journey_instances WHERE workspace_id = ?1",
    "DELETE FROM journey_events WHERE workspace_id = ?1",
    "DELETE FROM journey_counters WHERE workspace_id = ?1",
    "DELETE FROM broadcasts WHERE workspace_id = ?1",
    "DELETE FROM computed_states WHERE workspace_id = ?1",
    "DELETE FROM person_schedules WHERE workspace_id = ?1",
    "DELETE FROM processed_offsets WHERE workspace_id = ?1",
    "DELETE FROM relationships WHERE workspace_id = ?1",
    "DELETE FROM segment_members WHERE workspace_id = ?1",
    "DELETE FROM devices WHERE workspace_id = ?1",
    "DELETE FROM activities WHERE workspace_id = ?1",
    "DELETE FROM identifiers WHERE workspace_id = ?1",
    "DELETE FROM people WHERE workspace_id = ?1",
    "DELETE FROM objects WHERE workspace_id = ?1",
    "DELETE FROM suppressions WHERE workspace_id = ?1",
    "DELETE FROM applied_marks WHERE workspace_id = ?1",
];

/// The dump, table by table: people are named by cio_id (internal keys differ between a
/// store and its rebuild), rows in a stable order, JSON columns as stored text.
const DUMP: [(&str, &str); 13] = [
    (
        "people",
        "SELECT cio_id, id, email, phone, attributes, attribute_times, created_at, updated_at \
         FROM people WHERE workspace_id = ?1 ORDER BY cio_id",
    ),
    (
        "identifiers",
        "SELECT i.kind, i.value, p.cio_id FROM identifiers i JOIN people p \
         ON p.workspace_id = i.workspace_id AND p.key = i.person_key \
         WHERE i.workspace_id = ?1 ORDER BY i.kind, i.value",
    ),
    (
        "activities",
        "SELECT a.seq, p.cio_id, a.kind, a.name, a.timestamp, a.data, a.event_id, \
         a.can_trigger, a.recorded_at FROM activities a JOIN people p \
         ON p.workspace_id = a.workspace_id AND p.key = a.person_key \
         WHERE a.workspace_id = ?1 ORDER BY a.seq",
    ),
    (
        "devices",
        "SELECT d.token, p.cio_id, d.platform, d.last_used, d.attributes FROM devices d \
         JOIN people p ON p.workspace_id = d.workspace_id AND p.key = d.person_key \
         WHERE d.workspace_id = ?1 ORDER BY d.token",
    ),
    (
        "suppressions",
        "SELECT kind, value, suppressed_at FROM suppressions WHERE workspace_id = ?1 \
         ORDER BY kind, value",
    ),
    (
        "segment_members",
        "SELECT m.segment_id, p.cio_id, m.added_at FROM segment_members m JOIN people p \
         ON p.workspace_id = m.workspace_id AND p.key = m.person_key \
         WHERE m.workspace_id = ?1 ORDER BY m.segment_id, p.cio_id",
    ),
    (
        "objects",
        "SELECT type_id, object_id, attributes, created_at, updated_at FROM objects \
         WHERE workspace_id = ?1 ORDER BY type_id, object_id",
    ),
    (
        "relationships",
        "SELECT p.cio_id, r.type_id, r.object_id, r.attributes, r.updated_at \
         FROM relationships r JOIN people p \
         ON p.workspace_id = r.workspace_id AND p.key = r.person_key \
         WHERE r.workspace_id = ?1 ORDER BY p.cio_id, r.type_id, r.object_id",
    ),
    (
        "segment_transitions",
        "SELECT p.cio_id, t.segment_id, t.entered, t.at FROM segment_transitions t \
         JOIN people p ON p.workspace_id = t.workspace_id AND p.key = t.person_key \
         WHERE t.workspace_id = ?1 ORDER BY p.cio_id, t.id",
    ),
    (
        "computed_states",
        "SELECT p.cio_id, c.states FROM computed_states c JOIN people p \
         ON p.workspace_id = c.workspace_id AND p.key = c.person_key \
         WHERE c.workspace_id = ?1 ORDER BY p.cio_id",
    ),
    (
        "person_schedules",
        "SELECT p.cio_id, s.next_check, s.segment_checks FROM person_schedules s JOIN people p \
         ON p.workspace_id = s.workspace_id AND p.key = s.person_key \
         WHERE s.workspace_id = ?1 ORDER BY p.cio_id",
    ),
    (
        "processed_offset",
        "SELECT offset FROM processed_offsets WHERE workspace_id = ?1",
    ),
    (
        "marks",
        "SELECT subject, key, value, applied_offset FROM applied_marks WHERE workspace_id = ?1 \
         ORDER BY subject, key, value",
    ),
];

pub(crate) fn log_extent(conn: &Connection, ws: WorkspaceId, after: i64) -> StoreResult<LogExtent> {
    conn.prepare_cached(LOG_EXTENT)
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, after], |row| {
                Ok(LogExtent {
                    entries: row.get::<_, i64>(0)?.unsigned_abs(),
                    last_offset: row.get(1)?,
                })
            })
        })
        .map_err(from_sqlite)
}

pub(crate) fn reset(conn: &Connection, ws: WorkspaceId) -> StoreResult<()> {
    for sql in RESET {
        conn.execute(sql, params![ws.0]).map_err(from_sqlite)?;
    }
    Ok(())
}

/// `{table: [[column, ...], ...]}` for every derived table of `ws`.
pub(crate) fn snapshot(conn: &Connection, ws: WorkspaceId) -> StoreResult<Value> {
    let mut tables = Map::new();
    for (table, sql) in DUMP {
        let mut stmt = conn.prepare(sql).map_err(from_sqlite)?;
        let width = stmt.column_count();
        let rows = stmt
            .query_map(params![ws.0], |row| {
                (0..width)
                    .map(|i| row.get_ref(i).map(json))
                    .collect::<rusqlite::Result<Vec<Value>>>()
            })
            .map_err(from_sqlite)?
            .map(|row| row.map(Value::Array))
            .collect::<rusqlite::Result<Vec<Value>>>()
            .map_err(from_sqlite)?;
        tables.insert(table.to_string(), Value::Array(rows));
    }
    Ok(Value::Object(tables))
}

fn json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::from(n),
        ValueRef::Real(x) => Value::from(x),
        ValueRef::Text(text) => Value::from(String::from_utf8_lossy(text).into_owned()),
        ValueRef::Blob(bytes) => Value::from(hex(bytes)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
