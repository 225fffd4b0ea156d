//! Journey instances on PostgreSQL: inserted, rewritten and read inside the write transaction,
//! due ones claimed through the partial `wake_at` index, a person's through
//! `(workspace_id, person_key, id)`, and the reads the store makes outside the writer (the
//! next wake, waiting counts, a person's instances). Also the journeys' share of a merge.
//! Every statement reaches its rows by key or index (`plans.rs` checks).

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{DueInstance, InstanceRow, JourneyEvent, StoreError, StoreResult};
use postgres::types::ToSql;
use postgres::{GenericClient, Row};

use crate::errors::{column, corrupt};
use crate::event_rows::to_json;
use crate::journey_records;
use crate::segment_catalogue::as_limit;
use crate::{Params, Statements};

/// The columns `instance` decodes, in its order.
macro_rules! instance_columns {
    () => {
        "id, journey, version, person_key, key, active, step, wake_at, watch_until, \
         entered_at, state"
    };
}
pub(crate) use instance_columns;

/// Nothing is inserted (and the transaction goes on) when the person already has a live
/// instance with this journey and key.
const INSERT_INSTANCE: &str = "INSERT INTO journey_instances (workspace_id, journey, version, \
     person_key, key, active, step, wake_at, watch_until, entered_at, state) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (workspace_id, journey, person_key, key) WHERE active DO NOTHING RETURNING id";
const UPDATE_INSTANCE: &str = "UPDATE journey_instances SET journey = $3, version = $4, \
     key = $5, active = $6, step = $7, wake_at = $8, watch_until = $9, entered_at = $10, \
     state = $11 WHERE id = $2 AND workspace_id = $1";
const INSTANCE: &str = concat!(
    "SELECT ",
    instance_columns!(),
    " FROM journey_instances WHERE id = $2 AND workspace_id = $1"
);
const PERSON_INSTANCES: &str = concat!(
    "SELECT ",
    instance_columns!(),
    " FROM journey_instances WHERE workspace_id = $1 AND person_key = $2 \
     AND (active OR watch_until > $3) ORDER BY id"
);
const PERSON_INSTANCES_VIEW: &str = concat!(
    "SELECT ",
    instance_columns!(),
    " FROM journey_instances WHERE workspace_id = $1 AND person_key = $2 ORDER BY id DESC"
);
const LIVE_INSTANCE: &str = concat!(
    "SELECT ",
    instance_columns!(),
    " FROM journey_instances WHERE workspace_id = $1 AND journey = $2 AND person_key = $3 \
     AND key = $4 AND active"
);
const LAST_ENTRY: &str = "SELECT max(entered_at) FROM journey_instances \
     WHERE workspace_id = $1 AND journey = $2 AND person_key = $3";
/// SKIP LOCKED: instances another node's processor is running right now are left to it
/// rather than waited for.
const DUE_INSTANCES: &str = "SELECT workspace_id, id, person_key, wake_at \
     FROM journey_instances WHERE active AND wake_at IS NOT NULL AND wake_at <= $1 \
     ORDER BY wake_at, id LIMIT $2 FOR UPDATE SKIP LOCKED";
const NEXT_INSTANCE_WAKE: &str = "SELECT min(wake_at) FROM journey_instances \
     WHERE active AND wake_at IS NOT NULL";
const WAITING_INSTANCES: &str = "SELECT version, step, count(*) FROM journey_instances \
     WHERE workspace_id = $1 AND journey = $2 AND active GROUP BY version, step";
/// A merge finishes one of the merged-away person's instances.
const FINISH_MERGED: &str = "UPDATE journey_instances SET active = FALSE, wake_at = NULL \
     WHERE id = $2 AND workspace_id = $1";
const MOVE_INSTANCES: &str = "UPDATE journey_instances SET person_key = $3 \
     WHERE workspace_id = $1 AND person_key = $2";
/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        INSERT_INSTANCE,
        UPDATE_INSTANCE,
        INSTANCE,
        PERSON_INSTANCES,
        PERSON_INSTANCES_VIEW,
        LIVE_INSTANCE,
        LAST_ENTRY,
        DUE_INSTANCES,
        NEXT_INSTANCE_WAKE,
        WAITING_INSTANCES,
        FINISH_MERGED,
        MOVE_INSTANCES,
    ]
}

fn instances(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    sql: &'static str,
    params: &Params<'_>,
) -> StoreResult<Vec<InstanceRow>> {
    statements
        .query(client, sql, params)?
        .iter()
        .map(instance_from_row)
        .collect()
}

/// The columns every write of a row sets, after the workspace and (id or person) parameters.
fn row_params(row: &InstanceRow) -> StoreResult<(Option<i64>, Option<i64>, i64, String)> {
    Ok((
        row.wake_at.map(Timestamp::millis),
        row.watch_until.map(Timestamp::millis),
        row.entered_at.millis(),
        to_json(&row.state)?,
    ))
}

pub(crate) fn insert(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    row: &InstanceRow,
) -> StoreResult<i64> {
    let (wake_at, watch_until, entered_at, state) = row_params(row)?;
    let params: [&(dyn ToSql + Sync); 11] = [
        &ws.0,
        &row.journey,
        &row.version,
        &row.person.0,
        &row.key,
        &row.active,
        &row.step,
        &wake_at,
        &watch_until,
        &entered_at,
        &state,
    ];
    match statements.query(client, INSERT_INSTANCE, &params)?.first() {
        Some(inserted) => column(inserted, 0),
        None => Err(StoreError::Conflict(format!(
            "person {} already has a live instance of journey '{}' with key '{}'",
            row.person.0, row.journey, row.key
        ))),
    }
}

pub(crate) fn update(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    row: &InstanceRow,
) -> StoreResult<()> {
    let (wake_at, watch_until, entered_at, state) = row_params(row)?;
    let params: [&(dyn ToSql + Sync); 11] = [
        &ws.0,
        &row.id,
        &row.journey,
        &row.version,
        &row.key,
        &row.active,
        &row.step,
        &wake_at,
        &watch_until,
        &entered_at,
        &state,
    ];
    if statements.execute(client, UPDATE_INSTANCE, &params)? == 0 {
        return Err(StoreError::Backend(format!(
            "cannot update journey instance {} of workspace {ws}: there is no such instance",
            row.id
        )));
    }
    Ok(())
}

pub(crate) fn instance(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    id: i64,
) -> StoreResult<Option<InstanceRow>> {
    Ok(instances(client, statements, INSTANCE, &[&ws.0, &id])?.pop())
}

pub(crate) fn person_instances(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    person: PersonKey,
    now: Timestamp,
) -> StoreResult<Vec<InstanceRow>> {
    let params: [&(dyn ToSql + Sync); 3] = [&ws.0, &person.0, &now.millis()];
    instances(client, statements, PERSON_INSTANCES, &params)
}

pub(crate) fn person_instances_view(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    person: PersonKey,
) -> StoreResult<Vec<InstanceRow>> {
    instances(
        client,
        statements,
        PERSON_INSTANCES_VIEW,
        &[&ws.0, &person.0],
    )
}

pub(crate) fn live_instance(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    journey: &str,
    person: PersonKey,
    key: &str,
) -> StoreResult<Option<InstanceRow>> {
    let params: [&(dyn ToSql + Sync); 4] = [&ws.0, &journey, &person.0, &key];
    Ok(instances(client, statements, LIVE_INSTANCE, &params)?.pop())
}

pub(crate) fn last_entry(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    journey: &str,
    person: PersonKey,
) -> StoreResult<Option<Timestamp>> {
    let rows = statements.query(client, LAST_ENTRY, &[&ws.0, &journey, &person.0])?;
    let last: Option<i64> = match rows.first() {
        Some(row) => column(row, 0)?,
        None => None,
    };
    Ok(last.map(Timestamp::from_millis))
}

pub(crate) fn due_instances(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    now: Timestamp,
    limit: usize,
) -> StoreResult<Vec<DueInstance>> {
    let params: [&(dyn ToSql + Sync); 2] = [&now.millis(), &as_limit(limit)];
    statements
        .query(client, DUE_INSTANCES, &params)?
        .iter()
        .map(|row| {
            Ok(DueInstance {
                ws: WorkspaceId(column(row, 0)?),
                id: column(row, 1)?,
                person: PersonKey(column(row, 2)?),
                wake_at: Timestamp::from_millis(column(row, 3)?),
            })
        })
        .collect()
}

pub(crate) fn next_instance_wake(
    client: &mut impl GenericClient,
    statements: &mut Statements,
) -> StoreResult<Option<Timestamp>> {
    let rows = statements.query(client, NEXT_INSTANCE_WAKE, &[])?;
    let next: Option<i64> = match rows.first() {
        Some(row) => column(row, 0)?,
        None => None,
    };
    Ok(next.map(Timestamp::from_millis))
}

/// In (version, step) order, no step first (as on every backend).
pub(crate) fn waiting_instances(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    journey: &str,
) -> StoreResult<Vec<(i64, Option<String>, u64)>> {
    let rows = statements.query(client, WAITING_INSTANCES, &[&ws.0, &journey])?;
    let mut waiting = rows
        .iter()
        .map(|row| {
            let count: i64 = column(row, 2)?;
            let count = u64::try_from(count).map_err(|e| corrupt("waiting count", e))?;
            Ok((column(row, 0)?, column(row, 1)?, count))
        })
        .collect::<StoreResult<Vec<(i64, Option<String>, u64)>>>()?;
    waiting.sort();
    Ok(waiting)
}

/// The journeys' share of `move_person_data`: moves `from`'s timeline to `to`, finishes each
/// live instance of `from` whose journey and key `to` already runs, moves every instance of
/// `from` to `to` and records the finished ones on the timeline. Returns (moved, finished).
pub(crate) fn move_journeys(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    from: PersonKey,
    to: PersonKey,
    now: Timestamp,
) -> StoreResult<(u64, u64)> {
    journey_records::move_timeline(client, statements, ws, from, to)?;
    let mut finished = Vec::new();
    for row in person_instances_view(client, statements, ws, from)? {
        if !row.active {
            continue;
        }
        if let Some(kept) = live_instance(client, statements, ws, &row.journey, to, &row.key)? {
            statements.execute(client, FINISH_MERGED, &[&ws.0, &row.id])?;
            finished.push((row, kept.id));
        }
    }
    let moved = statements.execute(client, MOVE_INSTANCES, &[&ws.0, &from.0, &to.0])?;
    // Oldest instance first, so the timeline lists them in the order they were created.
    for (row, kept) in finished.iter().rev() {
        let exit = JourneyEvent::merged_exit(row, to, *kept, now);
        journey_records::record(client, statements, ws, &exit)?;
    }
    Ok((moved, finished.len() as u64))
}

/// Decodes the columns of `instance_columns!`.
pub(crate) fn instance_from_row(row: &Row) -> StoreResult<InstanceRow> {
    let wake_at: Option<i64> = column(row, 7)?;
    let watch_until: Option<i64> = column(row, 8)?;
    let state: &str = column(row, 10)?;
    Ok(InstanceRow {
        id: column(row, 0)?,
        journey: column(row, 1)?,
        version: column(row, 2)?,
        person: PersonKey(column(row, 3)?),
        key: column(row, 4)?,
        active: column(row, 5)?,
        step: column(row, 6)?,
        wake_at: wake_at.map(Timestamp::from_millis),
        watch_until: watch_until.map(Timestamp::from_millis),
        entered_at: Timestamp::from_millis(column(row, 9)?),
        state: serde_json::from_str(state).map_err(|e| corrupt("journey instance state", e))?,
    })
}
