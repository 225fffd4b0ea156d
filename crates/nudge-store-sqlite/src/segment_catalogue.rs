//! Segment definitions on SQLite: creating, editing and deleting them (each in the caller's
//! writer transaction, raising the config version), and reading them, their members and their
//! members' transitions. Per-segment and per-person reads are indexed ranges (the plan test in
//! `statements` covers them); listing a workspace's definitions walks that workspace's few
//! segment rows. Not the processor's per-person writes: those are `processing`.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    Backfill, NewSegment, SegmentDefinition, SegmentTransition, StoreError, StoreResult,
};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::codec::{from_json, to_json, BackfillColumns};
use crate::errors::from_sqlite;
use crate::read::limit;

const COLUMNS: &str = "id, name, description, conditions, version, created_at, updated_at, \
     backfill_complete, backfill_after, backfill_done, backfill_total";
const ID_TAKEN: &str = "SELECT EXISTS (SELECT 1 FROM segments WHERE id = ?1)";
/// A NULL id lets SQLite choose one past every id ever used (AUTOINCREMENT), explicit ones
/// included.
const INSERT: &str = "INSERT INTO segments (id, workspace_id, name, description, manual, \
     conditions, version, created_at, updated_at, backfill_complete, backfill_after, \
     backfill_done, backfill_total) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
const UPDATE: &str = "UPDATE segments SET name = ?3, description = ?4, conditions = ?5, \
     version = ?6, updated_at = ?7, backfill_complete = ?8, backfill_after = ?9, \
     backfill_done = ?10, backfill_total = ?11 WHERE id = ?2 AND workspace_id = ?1";
/// Children first, the segment last, so foreign keys hold at every step.
const DELETE: [&str; 3] = [
    "DELETE FROM segment_transitions WHERE workspace_id = ?1 AND segment_id = ?2",
    "DELETE FROM segment_members WHERE workspace_id = ?1 AND segment_id = ?2",
    "DELETE FROM segments WHERE id = ?2 AND workspace_id = ?1",
];
pub(crate) const SET_BACKFILL: &str = "UPDATE segments SET backfill_complete = ?3, \
     backfill_after = ?4, backfill_done = ?5, backfill_total = ?6 \
     WHERE id = ?2 AND workspace_id = ?1";
const PEOPLE_COUNT: &str = "SELECT count(*) FROM people WHERE workspace_id = ?1";
const RAISE_CONFIG_VERSION: &str = "UPDATE config_version SET version = version + 1 WHERE id = 1";
const MEMBER_COUNT: &str =
    "SELECT count(*) FROM segment_members WHERE workspace_id = ?1 AND segment_id = ?2";
const MEMBERS: &str = "SELECT person_key FROM segment_members \
     WHERE workspace_id = ?1 AND segment_id = ?2 AND person_key > ?3 \
     ORDER BY person_key LIMIT ?4";
const TRANSITIONS: &str = "SELECT id, person_key, segment_id, entered, at \
     FROM segment_transitions WHERE workspace_id = ?1 AND person_key = ?2 \
     ORDER BY id DESC LIMIT ?3";

fn definition_sql() -> String {
    format!("SELECT {COLUMNS} FROM segments WHERE id = ?2 AND workspace_id = ?1")
}

/// The statements that read or change existing rows, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<String> {
    let mut all: Vec<String> = [
        ID_TAKEN,
        UPDATE,
        SET_BACKFILL,
        MEMBER_COUNT,
        MEMBERS,
        TRANSITIONS,
    ]
    .into_iter()
    .chain(DELETE)
    .map(String::from)
    .collect();
    all.push(definition_sql());
    all
}

pub(crate) fn definitions(
    conn: &Connection,
    ws: WorkspaceId,
) -> StoreResult<Vec<SegmentDefinition>> {
    let sql = format!("SELECT {COLUMNS} FROM segments WHERE workspace_id = ?1 ORDER BY id");
    let mut stmt = conn.prepare_cached(&sql).map_err(from_sqlite)?;
    let rows = stmt
        .query_map([ws.0], SegmentRow::read)
        .map_err(from_sqlite)?;
    rows.map(|row| row.map_err(from_sqlite)?.decode()).collect()
}

pub(crate) fn definition(
    conn: &Connection,
    ws: WorkspaceId,
    id: i64,
) -> StoreResult<Option<SegmentDefinition>> {
    let row = conn
        .prepare_cached(&definition_sql())
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, id], SegmentRow::read)
                .optional()
        })
        .map_err(from_sqlite)?;
    row.map(SegmentRow::decode).transpose()
}

/// Inside the writer's transaction.
pub(crate) fn create(
    conn: &Connection,
    ws: WorkspaceId,
    new: &NewSegment,
    now: Timestamp,
) -> StoreResult<SegmentDefinition> {
    if let Some(id) = new.id {
        let taken: bool = conn
            .prepare_cached(ID_TAKEN)
            .and_then(|mut stmt| stmt.query_row([id], |row| row.get(0)))
            .map_err(from_sqlite)?;
        if taken {
            return Err(StoreError::Conflict(format!("segment id {id} is taken")));
        }
    }
    let backfill = match new.conditions {
        Some(_) => Backfill::starting(people_count(conn, ws)?),
        None => Backfill::COMPLETE,
    };
    let conditions = new.conditions.as_ref().map(to_json).transpose()?;
    let columns = BackfillColumns::from(&backfill);
    conn.prepare_cached(INSERT)
        .and_then(|mut stmt| {
            stmt.execute(params![
                new.id,
                ws.0,
                new.name,
                new.description,
                new.conditions.is_none(),
                conditions,
                1,
                now.millis(),
                now.millis(),
                columns.complete,
                columns.after,
                columns.done,
                columns.total,
            ])
        })
        .map_err(from_sqlite)?;
    raise_config_version(conn)?;
    Ok(SegmentDefinition {
        id: conn.last_insert_rowid(),
        name: new.name.clone(),
        description: new.description.clone(),
        conditions: new.conditions.clone(),
        version: 1,
        created_at: now,
        updated_at: now,
        backfill,
    })
}

/// Inside the writer's transaction.
pub(crate) fn update(
    conn: &Connection,
    ws: WorkspaceId,
    id: i64,
    new: &NewSegment,
    now: Timestamp,
) -> StoreResult<Option<SegmentDefinition>> {
    let Some(old) = definition(conn, ws, id)? else {
        return Ok(None);
    };
    if old.manual() != new.conditions.is_none() {
        let (from, to) = if old.manual() {
            ("manual", "data-driven")
        } else {
            ("data-driven", "manual")
        };
        return Err(StoreError::Conflict(format!(
            "segment {id} is {from}; it cannot become {to}"
        )));
    }
    let backfill = if old.conditions == new.conditions {
        old.backfill
    } else {
        Backfill::starting(people_count(conn, ws)?)
    };
    let updated = SegmentDefinition {
        name: new.name.clone(),
        description: new.description.clone(),
        conditions: new.conditions.clone(),
        version: old.version + 1,
        updated_at: now,
        backfill,
        ..old
    };
    let conditions = updated.conditions.as_ref().map(to_json).transpose()?;
    let columns = BackfillColumns::from(&backfill);
    conn.prepare_cached(UPDATE)
        .and_then(|mut stmt| {
            stmt.execute(params![
                ws.0,
                id,
                updated.name,
                updated.description,
                conditions,
                updated.version,
                now.millis(),
                columns.complete,
                columns.after,
                columns.done,
                columns.total,
            ])
        })
        .map_err(from_sqlite)?;
    raise_config_version(conn)?;
    Ok(Some(updated))
}

/// Inside the writer's transaction.
pub(crate) fn delete(conn: &Connection, ws: WorkspaceId, id: i64) -> StoreResult<bool> {
    let run = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params![ws.0, id]))
            .map_err(from_sqlite)
    };
    let [transitions, members, segment] = DELETE;
    run(transitions)?;
    run(members)?;
    let deleted = run(segment)? > 0;
    if deleted {
        raise_config_version(conn)?;
    }
    Ok(deleted)
}

pub(crate) fn member_count(conn: &Connection, ws: WorkspaceId, id: i64) -> StoreResult<u64> {
    conn.prepare_cached(MEMBER_COUNT)
        .and_then(|mut stmt| stmt.query_row(params![ws.0, id], |row| row.get::<_, i64>(0)))
        .map(i64::unsigned_abs)
        .map_err(from_sqlite)
}

pub(crate) fn members(
    conn: &Connection,
    ws: WorkspaceId,
    id: i64,
    after: Option<PersonKey>,
    max: usize,
) -> StoreResult<Vec<PersonKey>> {
    let after = after.map_or(i64::MIN, |key| key.0);
    let mut stmt = conn.prepare_cached(MEMBERS).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params![ws.0, id, after, limit(max)], |row| {
            row.get(0).map(PersonKey)
        })
        .map_err(from_sqlite)?;
    rows.collect::<Result<_, _>>().map_err(from_sqlite)
}

pub(crate) fn transitions(
    conn: &Connection,
    ws: WorkspaceId,
    person: PersonKey,
    max: usize,
) -> StoreResult<Vec<SegmentTransition>> {
    let mut stmt = conn.prepare_cached(TRANSITIONS).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params![ws.0, person.0, limit(max)], |row| {
            Ok(SegmentTransition {
                id: row.get(0)?,
                person: PersonKey(row.get(1)?),
                segment_id: row.get(2)?,
                entered: row.get(3)?,
                at: Timestamp::from_millis(row.get(4)?),
            })
        })
        .map_err(from_sqlite)?;
    rows.collect::<Result<_, _>>().map_err(from_sqlite)
}

/// How many people a new backfill will visit.
pub(crate) fn people_count(conn: &Connection, ws: WorkspaceId) -> StoreResult<u64> {
    conn.prepare_cached(PEOPLE_COUNT)
        .and_then(|mut stmt| stmt.query_row([ws.0], |row| row.get::<_, i64>(0)))
        .map(i64::unsigned_abs)
        .map_err(from_sqlite)
}

/// Every definition change, segment or computed attribute, ends here.
pub(crate) fn raise_config_version(conn: &Connection) -> StoreResult<()> {
    conn.prepare_cached(RAISE_CONFIG_VERSION)
        .and_then(|mut stmt| stmt.execute([]))
        .map(drop)
        .map_err(from_sqlite)
}

/// Read from [`COLUMNS`], in order.
struct SegmentRow {
    id: i64,
    name: String,
    description: String,
    conditions: Option<String>,
    version: i64,
    created_at: i64,
    updated_at: i64,
    backfill: BackfillColumns,
}

impl SegmentRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            name: row.get(1)?,
            description: row.get(2)?,
            conditions: row.get(3)?,
            version: row.get(4)?,
            created_at: row.get(5)?,
            updated_at: row.get(6)?,
            backfill: BackfillColumns::read(row, 7)?,
        })
    }

    fn decode(self) -> StoreResult<SegmentDefinition> {
        Ok(SegmentDefinition {
            id: self.id,
            name: self.name,
            description: self.description,
            conditions: self
                .conditions
                .map(|text| from_json(&text, "segment conditions"))
                .transpose()?,
            version: self.version,
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
            backfill: self.backfill.decode()?,
        })
    }
}
