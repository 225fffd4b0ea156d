//! Rejected Pipelines messages: appended by the writer inside its transaction, listed newest
//! first per workspace through the `(workspace_id, id)` index. Nothing here updates or
//! deletes a rejection.

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{Rejection, RejectionRecord, StoreResult};
use rusqlite::{params, Connection};

use crate::codec::{from_json, to_json};
use crate::errors::from_sqlite;

pub(crate) const RECORD_REJECTION: &str = "INSERT INTO rejected_messages (workspace_id, \
     received_at, source, reason, field, raw) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
pub(crate) const REJECTIONS: &str =
    "SELECT id, received_at, source, reason, field, raw FROM rejected_messages \
     WHERE workspace_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3";

/// Appends one rejection on the writer connection and returns its id.
pub(crate) fn record(
    conn: &Connection,
    ws: WorkspaceId,
    rejection: &Rejection,
) -> StoreResult<i64> {
    let raw = to_json(&rejection.raw)?;
    conn.prepare_cached(RECORD_REJECTION)
        .and_then(|mut stmt| {
            stmt.execute(params![
                ws.0,
                rejection.received_at.millis(),
                rejection.source,
                rejection.reason,
                rejection.field,
                raw
            ])
        })
        .map_err(from_sqlite)?;
    Ok(conn.last_insert_rowid())
}

/// Newest first, ids below `before_id`, at most `limit`.
pub(crate) fn list(
    conn: &Connection,
    ws: WorkspaceId,
    before_id: Option<i64>,
    limit: usize,
) -> StoreResult<Vec<RejectionRecord>> {
    let before = before_id.unwrap_or(i64::MAX);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(REJECTIONS).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params![ws.0, before, limit], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, String>(5)?,
            ))
        })
        .map_err(from_sqlite)?;
    rows.map(|row| {
        let (id, received_at, source, reason, field, raw) = row.map_err(from_sqlite)?;
        Ok(RejectionRecord {
            id,
            rejection: Rejection {
                received_at: Timestamp::from_millis(received_at),
                source,
                reason,
                field,
                raw: from_json(&raw, "rejected message")?,
            },
        })
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_rejections_searches_the_workspace_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::apply(&mut conn).unwrap();
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {REJECTIONS}"))
            .unwrap()
            .query_map(params![1, 2, 3], |row| row.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter()
                .any(|step| step.starts_with("SEARCH") && step.contains("(workspace_id=? AND")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN")),
            "{plan:?}"
        );
    }
}
