//! Broadcast jobs on PostgreSQL: put (inserted or replaced by id) inside the write
//! transaction as the processor makes progress, read outside it by id through the primary key
//! and, for the open ones, through the partial `broadcasts_open` index. Every statement
//! reaches its rows by key or index (`plans.rs` checks).

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{BroadcastJob, StoreResult};
use postgres::types::ToSql;
use postgres::{GenericClient, Row};

use crate::errors::{column, corrupt};
use crate::event_rows::to_json;
use crate::Statements;

/// The columns `job_from_row` decodes, in its order.
macro_rules! broadcast_columns {
    () => {
        "id, journey, data, audience_filter, after_key, visited, started, complete, created_at, \
         log_offset"
    };
}

const PUT_BROADCAST: &str = "INSERT INTO broadcasts (workspace_id, id, journey, data, \
     audience_filter, after_key, visited, started, complete, created_at, log_offset) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (workspace_id, id) DO UPDATE SET journey = excluded.journey, \
     data = excluded.data, audience_filter = excluded.audience_filter, \
     after_key = excluded.after_key, visited = excluded.visited, started = excluded.started, \
     complete = excluded.complete, created_at = excluded.created_at, \
     log_offset = excluded.log_offset";
/// `NOT complete` as the partial index spells it.
const OPEN_BROADCASTS: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts WHERE workspace_id = $1 AND NOT complete ORDER BY id"
);
const BROADCAST: &str = concat!(
    "SELECT ",
    broadcast_columns!(),
    " FROM broadcasts WHERE workspace_id = $1 AND id = $2"
);

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![PUT_BROADCAST, OPEN_BROADCASTS, BROADCAST]
}

/// A count as a column; counts past `i64::MAX` cannot happen and are stored as the maximum.
fn count_column(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

pub(crate) fn put(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    job: &BroadcastJob,
) -> StoreResult<()> {
    let data = to_json(&job.data)?;
    let filter = job.filter.as_ref().map(to_json).transpose()?;
    let (visited, started) = (count_column(job.visited), count_column(job.started));
    let created_at = job.created_at.millis();
    let params: [&(dyn ToSql + Sync); 11] = [
        &ws.0,
        &job.id,
        &job.journey,
        &data,
        &filter,
        &job.after,
        &visited,
        &started,
        &job.complete,
        &created_at,
        &job.offset,
    ];
    statements.execute(client, PUT_BROADCAST, &params).map(drop)
}

pub(crate) fn open(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
) -> StoreResult<Vec<BroadcastJob>> {
    statements
        .query(client, OPEN_BROADCASTS, &[&ws.0])?
        .iter()
        .map(job_from_row)
        .collect()
}

pub(crate) fn by_id(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    id: i64,
) -> StoreResult<Option<BroadcastJob>> {
    statements
        .query(client, BROADCAST, &[&ws.0, &id])?
        .first()
        .map(job_from_row)
        .transpose()
}

/// Decodes the columns of `broadcast_columns!`.
fn job_from_row(row: &Row) -> StoreResult<BroadcastJob> {
    let count = |i: usize| -> StoreResult<u64> {
        let value: i64 = column(row, i)?;
        u64::try_from(value).map_err(|e| corrupt("broadcast count", e))
    };
    let data: &str = column(row, 2)?;
    let filter: Option<&str> = column(row, 3)?;
    Ok(BroadcastJob {
        id: column(row, 0)?,
        offset: column(row, 9)?,
        journey: column(row, 1)?,
        data: serde_json::from_str(data).map_err(|e| corrupt("broadcast data", e))?,
        filter: filter
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| corrupt("broadcast audience filter", e))?,
        after: column(row, 4)?,
        visited: count(5)?,
        started: count(6)?,
        complete: column(row, 7)?,
        created_at: Timestamp::from_millis(column(row, 8)?),
    })
}
