//! Broadcast jobs on SQLite: put (inserted or replaced by id) inside the writer's transaction
//! as the processor makes progress, read outside it by id through the primary key and, for
//! the open ones, through the partial `broadcasts_open` index. Every read is in the plan test
//! in `statements`.

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{BroadcastJob, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Params, Row};

use crate::codec::{from_json, to_json};
use crate::errors::{corrupt, from_sqlite};

/// The columns [`BroadcastColumns`] reads, in its order.
macro_rules! broadcast_columns {
    () => {
        "id, journey, data, audience_filter, after_key, visited, started, complete, created_at, \
         log_offset"
    };
}

const PUT_BROADCAST: &str = "INSERT INTO broadcasts (workspace_id, id, journey, data, \
     audience_filter, after_key, visited, started, complete, created_at, log_offset) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
     ON CONFLICT (workspace_id, id) DO UPDATE SET journey = excluded.journey, \
     data = excluded.data, audience_filter = excluded.audience_filter, \
     after_key = excluded.after_key, visited = excluded.visited, started = excluded.started, \
     complete = excluded.complete, created_at = excluded.created_at, \
     log_offset = excluded.log_offset";
/// `complete = 0` as the partial index spells it.
pub(crate) const OPEN_BROADCASTS: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts WHERE workspace_id = ?1 AND complete = 0 ORDER BY id"
);
const BROADCAST: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts WHERE workspace_id = ?1 AND id = ?2"
);

/// The statements that read existing rows, for the plan test.
#[cfg(test)]
pub(crate) const STATEMENTS: [&str; 2] = [OPEN_BROADCASTS, BROADCAST];

/// A count as a column; counts past `i64::MAX` cannot happen and are stored as the maximum.
fn count_column(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

pub(crate) fn put(conn: &Connection, ws: WorkspaceId, job: &BroadcastJob) -> StoreResult<()> {
    let data = to_json(&job.data)?;
    let filter = job.filter.as_ref().map(to_json).transpose()?;
    conn.prepare_cached(PUT_BROADCAST)
        .and_then(|mut stmt| {
            stmt.execute(params![
                ws.0,
                job.id,
                job.journey,
                data,
                filter,
                job.after,
                count_column(job.visited),
                count_column(job.started),
                job.complete,
                job.created_at.millis(),
                job.offset,
            ])
        })
        .map(drop)
        .map_err(from_sqlite)
}

fn jobs(conn: &Connection, sql: &str, params: impl Params) -> StoreResult<Vec<BroadcastJob>> {
    let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params, BroadcastColumns::read)
        .map_err(from_sqlite)?;
    rows.map(|row| row.map_err(from_sqlite)?.decode()).collect()
}

pub(crate) fn open(conn: &Connection, ws: WorkspaceId) -> StoreResult<Vec<BroadcastJob>> {
    jobs(conn, OPEN_BROADCASTS, params![ws.0])
}

pub(crate) fn by_id(
    conn: &Connection,
    ws: WorkspaceId,
    id: i64,
) -> StoreResult<Option<BroadcastJob>> {
    let row = conn
        .prepare_cached(BROADCAST)
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, id], BroadcastColumns::read)
                .optional()
        })
        .map_err(from_sqlite)?;
    row.map(BroadcastColumns::decode).transpose()
}

/// Read from `broadcast_columns!`, in order.
struct BroadcastColumns {
    id: i64,
    journey: String,
    data: String,
    filter: Option<String>,
    after: i64,
    visited: i64,
    started: i64,
    complete: bool,
    created_at: i64,
    offset: i64,
}

impl BroadcastColumns {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            journey: row.get(1)?,
            data: row.get(2)?,
            filter: row.get(3)?,
            after: row.get(4)?,
            visited: row.get(5)?,
            started: row.get(6)?,
            complete: row.get(7)?,
            created_at: row.get(8)?,
            offset: row.get(9)?,
        })
    }

    fn decode(self) -> StoreResult<BroadcastJob> {
        let count = |n: i64| u64::try_from(n).map_err(|err| corrupt("broadcast count", err));
        Ok(BroadcastJob {
            id: self.id,
            offset: self.offset,
            journey: self.journey,
            data: from_json(&self.data, "broadcast data")?,
            filter: self
                .filter
                .map(|text| from_json(&text, "broadcast audience filter"))
                .transpose()?,
            after: self.after,
            visited: count(self.visited)?,
            started: count(self.started)?,
            complete: self.complete,
            created_at: Timestamp::from_millis(self.created_at),
        })
    }
}
