//! Rejected Pipelines messages: appended by the writer inside its transaction, listed newest
//! first per workspace through the `(workspace_id, id)` index. Nothing here updates or
//! deletes a rejection.

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{Rejection, RejectionRecord, StoreError, StoreResult};
use postgres::GenericClient;

use crate::errors::{column, pg};
use crate::event_rows::to_json;
use crate::Statements;

const RECORD_REJECTION: &str = "INSERT INTO rejected_messages (workspace_id, received_at, \
     source, reason, field, raw) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
const REJECTIONS: &str =
    "SELECT id, received_at, source, reason, field, raw FROM rejected_messages \
     WHERE workspace_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![RECORD_REJECTION, REJECTIONS]
}

/// Appends one rejection and returns its id.
pub(crate) fn record(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    rejection: &Rejection,
) -> StoreResult<i64> {
    let statement = statements.get(client, RECORD_REJECTION)?;
    let raw = to_json(&rejection.raw)?;
    let row = client
        .query_one(
            &statement,
            &[
                &ws.0,
                &rejection.received_at.millis(),
                &rejection.source,
                &rejection.reason,
                &rejection.field,
                &raw,
            ],
        )
        .map_err(pg)?;
    column(&row, 0)
}

/// Newest first, ids below `before_id`, at most `limit`.
pub(crate) fn list(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    before_id: Option<i64>,
    limit: usize,
) -> StoreResult<Vec<RejectionRecord>> {
    let statement = statements.get(client, REJECTIONS)?;
    let before = before_id.unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(&statement, &[&ws.0, &before, &limit])
        .map_err(pg)?;
    rows.iter()
        .map(|row| {
            let raw: &str = column(row, 5)?;
            Ok(RejectionRecord {
                id: column(row, 0)?,
                rejection: Rejection {
                    received_at: Timestamp::from_millis(column(row, 1)?),
                    source: column(row, 2)?,
                    reason: column(row, 3)?,
                    field: column(row, 4)?,
                    raw: serde_json::from_str(raw).map_err(|e| {
                        StoreError::Corrupt(format!("rejected message payload: {e}"))
                    })?,
                },
            })
        })
        .collect()
}
