//! Computed-attribute definitions on SQLite: put (create, replace, or leave an identical one
//! as it is) and delete inside the caller's writer transaction, raising the config version on
//! every real change; list a workspace's definitions by name. Fold states are `processing`'s.

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{Backfill, ComputedDefinition, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::codec::{from_json, to_json, BackfillColumns};
use crate::errors::from_sqlite;
use crate::segment_catalogue::{people_count, raise_config_version};

const COLUMNS: &str = "name, definition, version, created_at, updated_at, backfill_complete, \
     backfill_after, backfill_done, backfill_total";
const PUT: &str = "INSERT INTO computed_definitions (workspace_id, name, definition, version, \
     created_at, updated_at, backfill_complete, backfill_after, backfill_done, backfill_total) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
     ON CONFLICT (workspace_id, name) DO UPDATE SET definition = excluded.definition, \
     version = excluded.version, updated_at = excluded.updated_at, \
     backfill_complete = excluded.backfill_complete, backfill_after = excluded.backfill_after, \
     backfill_done = excluded.backfill_done, backfill_total = excluded.backfill_total";
const DELETE: &str = "DELETE FROM computed_definitions WHERE workspace_id = ?1 AND name = ?2";
pub(crate) const SET_BACKFILL: &str = "UPDATE computed_definitions SET backfill_complete = ?3, \
     backfill_after = ?4, backfill_done = ?5, backfill_total = ?6 \
     WHERE workspace_id = ?1 AND name = ?2";

fn definition_sql() -> String {
    format!("SELECT {COLUMNS} FROM computed_definitions WHERE workspace_id = ?1 AND name = ?2")
}

/// The statements that read or change existing rows, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<String> {
    vec![definition_sql(), DELETE.into(), SET_BACKFILL.into()]
}

pub(crate) fn definitions(
    conn: &Connection,
    ws: WorkspaceId,
) -> StoreResult<Vec<ComputedDefinition>> {
    let sql =
        format!("SELECT {COLUMNS} FROM computed_definitions WHERE workspace_id = ?1 ORDER BY name");
    let mut stmt = conn.prepare_cached(&sql).map_err(from_sqlite)?;
    let rows = stmt
        .query_map([ws.0], ComputedRow::read)
        .map_err(from_sqlite)?;
    rows.map(|row| row.map_err(from_sqlite)?.decode()).collect()
}

fn definition(
    conn: &Connection,
    ws: WorkspaceId,
    name: &str,
) -> StoreResult<Option<ComputedDefinition>> {
    let row = conn
        .prepare_cached(&definition_sql())
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, name], ComputedRow::read)
                .optional()
        })
        .map_err(from_sqlite)?;
    row.map(ComputedRow::decode).transpose()
}

/// Inside the writer's transaction.
pub(crate) fn put(
    conn: &Connection,
    ws: WorkspaceId,
    name: &str,
    definition_json: &serde_json::Value,
    now: Timestamp,
) -> StoreResult<ComputedDefinition> {
    let old = definition(conn, ws, name)?;
    if let Some(old) = old
        .as_ref()
        .filter(|old| &old.definition == definition_json)
    {
        return Ok(old.clone());
    }
    let backfill = Backfill::starting(people_count(conn, ws)?);
    let put = ComputedDefinition {
        name: name.to_string(),
        definition: definition_json.clone(),
        version: old.as_ref().map_or(1, |old| old.version + 1),
        created_at: old.as_ref().map_or(now, |old| old.created_at),
        updated_at: now,
        backfill,
    };
    let text = to_json(definition_json)?;
    let columns = BackfillColumns::from(&backfill);
    conn.prepare_cached(PUT)
        .and_then(|mut stmt| {
            stmt.execute(params![
                ws.0,
                name,
                text,
                put.version,
                put.created_at.millis(),
                now.millis(),
                columns.complete,
                columns.after,
                columns.done,
                columns.total,
            ])
        })
        .map_err(from_sqlite)?;
    raise_config_version(conn)?;
    Ok(put)
}

/// Inside the writer's transaction.
pub(crate) fn delete(conn: &Connection, ws: WorkspaceId, name: &str) -> StoreResult<bool> {
    let deleted = conn
        .prepare_cached(DELETE)
        .and_then(|mut stmt| stmt.execute(params![ws.0, name]))
        .map_err(from_sqlite)?;
    if deleted > 0 {
        raise_config_version(conn)?;
    }
    Ok(deleted > 0)
}

/// Read from [`COLUMNS`], in order.
struct ComputedRow {
    name: String,
    definition: String,
    version: i64,
    created_at: i64,
    updated_at: i64,
    backfill: BackfillColumns,
}

impl ComputedRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            name: row.get(0)?,
            definition: row.get(1)?,
            version: row.get(2)?,
            created_at: row.get(3)?,
            updated_at: row.get(4)?,
            backfill: BackfillColumns::read(row, 5)?,
        })
    }

    fn decode(self) -> StoreResult<ComputedDefinition> {
        Ok(ComputedDefinition {
            name: self.name,
            definition: from_json(&self.definition, "computed attribute definition")?,
            version: self.version,
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
            backfill: self.backfill.decode()?,
        })
    }
}
