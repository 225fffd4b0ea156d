//! The two rows every ingested event writes, its event-log entry and its activity, and how
//! domain values become column text. Shared by the write transaction and the raw-insert
//! benchmark baseline, so both write exactly the same rows.

use nudge_core::{Activity, PersonKey, Timestamp, WorkspaceId};
use nudge_store::{LogEntry, StoreError, StoreResult};
use postgres::types::ToSql;
use postgres::GenericClient;

use crate::errors::{column, pg};
use crate::Statements;

const APPEND_LOG: &str = "INSERT INTO event_log (workspace_id, source, received_at, \
     operation, raw) VALUES ($1, $2, $3, $4, $5) RETURNING \"offset\"";
const RECORD_ACTIVITY: &str = "INSERT INTO activities (workspace_id, person_key, \
     kind, name, \"timestamp\", data, event_id, can_trigger, recorded_at, seq) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (seq) DO NOTHING";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![APPEND_LOG, RECORD_ACTIVITY]
}

/// Appends one log row and returns its offset; shared with the raw-insert baseline so both
/// write the same row.
pub(crate) fn insert_log(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    entry: &LogEntry,
) -> StoreResult<i64> {
    let operation = to_json(&entry.operation)?;
    let raw = entry.raw.as_ref().map(to_json).transpose()?;
    let statement = statements.get(client, APPEND_LOG)?;
    let received_at = entry.received_at.millis();
    let row = client
        .query_one(
            &statement,
            &[&ws.0, &entry.source, &received_at, &operation, &raw],
        )
        .map_err(pg)?;
    column(&row, 0)
}

/// Inserts one activity row; shared with the raw-insert baseline.
pub(crate) fn insert_activity(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    key: PersonKey,
    activity: &Activity,
    seq: i64,
    now: Timestamp,
) -> StoreResult<()> {
    let statement = statements.get(client, RECORD_ACTIVITY)?;
    let params: [&(dyn ToSql + Sync); 10] = [
        &ws.0,
        &key.0,
        &activity.kind.as_str(),
        &activity.name,
        &activity.timestamp.millis(),
        &to_json(&activity.data)?,
        &activity.event_id,
        &activity.can_trigger,
        &now.millis(),
        &seq,
    ];
    client.execute(&statement, &params).map_err(pg)?;
    Ok(())
}

pub(crate) fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encoding JSON: {e}")))
}
