//! Journey instances on SQLite: inserted, rewritten and read inside the writer's transaction,
//! due ones found through the partial `wake_at` index, a person's through
//! `(workspace_id, person_key, id)`, and the reads the store makes outside the writer (the
//! next wake, waiting counts, a person's instances). Also the journeys' share of a merge.
//! Every statement is in the plan test in `statements`.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{DueInstance, InstanceRow, JourneyEvent, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Params, Row};

use crate::codec::{from_json, millis, to_json};
use crate::errors::from_sqlite;
use crate::journey_records;
use crate::read::limit;

/// The columns [`InstanceColumns`] reads, in its order.
macro_rules! instance_columns {
    () => {
        "id, journey, version, person_key, key, active, step, wake_at, watch_until, \
         entered_at, state"
    };
}

/// Nothing is inserted when the person already has a live instance with this journey and key.
const INSERT_INSTANCE: &str = "INSERT INTO journey_instances (workspace_id, journey, version, \
     person_key, key, active, step, wake_at, watch_until, entered_at, state) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
     ON CONFLICT (workspace_id, journey, person_key, key) WHERE active = 1 DO NOTHING";
const UPDATE_INSTANCE: &str = "UPDATE journey_instances SET journey = ?3, version = ?4, \
     key = ?5, active = ?6, step = ?7, wake_at = ?8, watch_until = ?9, entered_at = ?10, \
     state = ?11 WHERE id = ?2 AND workspace_id = ?1";
const INSTANCE: &str = concat!(
    "SELECT ",
    instance_columns!(),
    " FROM journey_instances WHERE id = ?2 AND workspace_id = ?1"
);
const PERSON_INSTANCES: &str = concat!(
    "SELECT ",
    instance_columns!(),
    " FROM journey_instances WHERE workspace_id = ?1 AND person_key = ?2 \
     AND (active = 1 OR watch_until > ?3) ORDER BY id"
);
const PERSON_INSTANCES_VIEW: &str = concat!(
    "SELECT ",
    instance_columns!(),
    " FROM journey_instances WHERE workspace_id = ?1 AND person_key = ?2 ORDER BY id DESC"
);
const LIVE_INSTANCE: &str = concat!(
    "SELECT ",
    instance_columns!(),
    " FROM journey_instances WHERE workspace_id = ?1 AND journey = ?2 AND person_key = ?3 \
     AND key = ?4 AND active = 1"
);
const LAST_ENTRY: &str = "SELECT max(entered_at) FROM journey_instances \
     WHERE workspace_id = ?1 AND journey = ?2 AND person_key = ?3";
const DUE_INSTANCES: &str = "SELECT workspace_id, id, person_key, wake_at \
     FROM journey_instances WHERE active = 1 AND wake_at IS NOT NULL AND wake_at <= ?1 \
     ORDER BY wake_at, id LIMIT ?2";
const NEXT_INSTANCE_WAKE: &str = "SELECT min(wake_at) FROM journey_instances \
     WHERE active = 1 AND wake_at IS NOT NULL";
const WAITING_INSTANCES: &str = "SELECT version, step, count(*) FROM journey_instances \
     WHERE workspace_id = ?1 AND journey = ?2 AND active = 1 GROUP BY version, step";
/// A merge finishes one of the merged-away person's instances.
const FINISH_MERGED: &str = "UPDATE journey_instances SET active = 0, wake_at = NULL \
     WHERE id = ?2 AND workspace_id = ?1";
const MOVE_INSTANCES: &str = "UPDATE journey_instances SET person_key = ?3 \
     WHERE workspace_id = ?1 AND person_key = ?2";
/// The statements that read or change existing rows, for the plan test.
#[cfg(test)]
pub(crate) const STATEMENTS: [&str; 11] = [
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
];

fn run(conn: &Connection, sql: &str, params: impl Params) -> StoreResult<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map_err(from_sqlite)
}

fn instances(conn: &Connection, sql: &str, params: impl Params) -> StoreResult<Vec<InstanceRow>> {
    let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params, InstanceColumns::read)
        .map_err(from_sqlite)?;
    rows.map(|row| row.map_err(from_sqlite)?.decode()).collect()
}

fn one_instance(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> StoreResult<Option<InstanceRow>> {
    let row = conn
        .prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_row(params, InstanceColumns::read).optional())
        .map_err(from_sqlite)?;
    row.map(InstanceColumns::decode).transpose()
}

pub(crate) fn insert(conn: &Connection, ws: WorkspaceId, row: &InstanceRow) -> StoreResult<i64> {
    let inserted = run(
        conn,
        INSERT_INSTANCE,
        params![
            ws.0,
            row.journey,
            row.version,
            row.person.0,
            row.key,
            row.active,
            row.step,
            millis(row.wake_at),
            millis(row.watch_until),
            row.entered_at.millis(),
            to_json(&row.state)?,
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::Conflict(format!(
            "person {} already has a live instance of journey '{}' with key '{}'",
            row.person.0, row.journey, row.key
        )));
    }
    Ok(conn.last_insert_rowid())
}

pub(crate) fn update(conn: &Connection, ws: WorkspaceId, row: &InstanceRow) -> StoreResult<()> {
    let changed = run(
        conn,
        UPDATE_INSTANCE,
        params![
            ws.0,
            row.id,
            row.journey,
            row.version,
            row.key,
            row.active,
            row.step,
            millis(row.wake_at),
            millis(row.watch_until),
            row.entered_at.millis(),
            to_json(&row.state)?,
        ],
    )?;
    if changed == 0 {
        return Err(StoreError::Backend(format!(
            "cannot update journey instance {} of workspace {ws}: there is no such instance",
            row.id
        )));
    }
    Ok(())
}

pub(crate) fn instance(
    conn: &Connection,
    ws: WorkspaceId,
    id: i64,
) -> StoreResult<Option<InstanceRow>> {
    one_instance(conn, INSTANCE, params![ws.0, id])
}

pub(crate) fn person_instances(
    conn: &Connection,
    ws: WorkspaceId,
    person: PersonKey,
    now: Timestamp,
) -> StoreResult<Vec<InstanceRow>> {
    instances(
        conn,
        PERSON_INSTANCES,
        params![ws.0, person.0, now.millis()],
    )
}

pub(crate) fn person_instances_view(
    conn: &Connection,
    ws: WorkspaceId,
    person: PersonKey,
) -> StoreResult<Vec<InstanceRow>> {
    instances(conn, PERSON_INSTANCES_VIEW, params![ws.0, person.0])
}

pub(crate) fn live_instance(
    conn: &Connection,
    ws: WorkspaceId,
    journey: &str,
    person: PersonKey,
    key: &str,
) -> StoreResult<Option<InstanceRow>> {
    one_instance(conn, LIVE_INSTANCE, params![ws.0, journey, person.0, key])
}

pub(crate) fn last_entry(
    conn: &Connection,
    ws: WorkspaceId,
    journey: &str,
    person: PersonKey,
) -> StoreResult<Option<Timestamp>> {
    conn.prepare_cached(LAST_ENTRY)
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, journey, person.0], |row| {
                row.get::<_, Option<i64>>(0)
            })
        })
        .map(|last| last.map(Timestamp::from_millis))
        .map_err(from_sqlite)
}

pub(crate) fn due_instances(
    conn: &Connection,
    now: Timestamp,
    max: usize,
) -> StoreResult<Vec<DueInstance>> {
    let mut stmt = conn.prepare_cached(DUE_INSTANCES).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params![now.millis(), limit(max)], |row| {
            Ok(DueInstance {
                ws: WorkspaceId(row.get(0)?),
                id: row.get(1)?,
                person: PersonKey(row.get(2)?),
                wake_at: Timestamp::from_millis(row.get(3)?),
            })
        })
        .map_err(from_sqlite)?;
    rows.collect::<Result<_, _>>().map_err(from_sqlite)
}

pub(crate) fn next_instance_wake(conn: &Connection) -> StoreResult<Option<Timestamp>> {
    conn.prepare_cached(NEXT_INSTANCE_WAKE)
        .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, Option<i64>>(0)))
        .map(|next| next.map(Timestamp::from_millis))
        .map_err(from_sqlite)
}

/// In (version, step) order, no step first.
pub(crate) fn waiting_instances(
    conn: &Connection,
    ws: WorkspaceId,
    journey: &str,
) -> StoreResult<Vec<(i64, Option<String>, u64)>> {
    let mut stmt = conn
        .prepare_cached(WAITING_INSTANCES)
        .map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params![ws.0, journey], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get::<_, i64>(2)?.unsigned_abs(),
            ))
        })
        .map_err(from_sqlite)?;
    let mut waiting: Vec<(i64, Option<String>, u64)> =
        rows.collect::<Result<_, _>>().map_err(from_sqlite)?;
    waiting.sort();
    Ok(waiting)
}

/// The journeys' share of `move_person_data`: moves `from`'s timeline to `to`, finishes each
/// live instance of `from` whose journey and key `to` already runs, moves every instance of
/// `from` to `to` and records the finished ones on the timeline. Returns (moved, finished).
pub(crate) fn move_journeys(
    conn: &Connection,
    ws: WorkspaceId,
    from: PersonKey,
    to: PersonKey,
    now: Timestamp,
) -> StoreResult<(u64, u64)> {
    journey_records::move_timeline(conn, ws, from, to)?;
    let mut finished = Vec::new();
    for row in person_instances_view(conn, ws, from)? {
        if !row.active {
            continue;
        }
        if let Some(kept) = live_instance(conn, ws, &row.journey, to, &row.key)? {
            run(conn, FINISH_MERGED, params![ws.0, row.id])?;
            finished.push((row, kept.id));
        }
    }
    let moved = run(conn, MOVE_INSTANCES, params![ws.0, from.0, to.0])? as u64;
    // Oldest instance first, so the timeline lists them in the order they were created.
    for (row, kept) in finished.iter().rev() {
        journey_records::record(conn, ws, &JourneyEvent::merged_exit(row, to, *kept, now))?;
    }
    Ok((moved, finished.len() as u64))
}

/// Read from `instance_columns!`, in order.
struct InstanceColumns {
    id: i64,
    journey: String,
    version: i64,
    person_key: i64,
    key: String,
    active: bool,
    step: Option<String>,
    wake_at: Option<i64>,
    watch_until: Option<i64>,
    entered_at: i64,
    state: String,
}

impl InstanceColumns {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            journey: row.get(1)?,
            version: row.get(2)?,
            person_key: row.get(3)?,
            key: row.get(4)?,
            active: row.get(5)?,
            step: row.get(6)?,
            wake_at: row.get(7)?,
            watch_until: row.get(8)?,
            entered_at: row.get(9)?,
            state: row.get(10)?,
        })
    }

    fn decode(self) -> StoreResult<InstanceRow> {
        Ok(InstanceRow {
            id: self.id,
            journey: self.journey,
            version: self.version,
            person: PersonKey(self.person_key),
            key: self.key,
            active: self.active,
            step: self.step,
            wake_at: self.wake_at.map(Timestamp::from_millis),
            watch_until: self.watch_until.map(Timestamp::from_millis),
            entered_at: Timestamp::from_millis(self.entered_at),
            state: from_json(&self.state, "journey instance state")?,
        })
    }
}
