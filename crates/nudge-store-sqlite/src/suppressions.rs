//! Suppressions on the writer's transaction: by identifier (they outlive the person they
//! deleted), one at a time or as a group that is freed together. Each statement reaches its
//! rows by key or the `(workspace_id, suppression_group)` index (the plan test in `statements`
//! checks); nothing here touches people.

use nudge_core::{Identifier, Timestamp, WorkspaceId};
use nudge_store::StoreResult;
use rusqlite::{params, Connection, OptionalExtension, Params};

use crate::errors::from_sqlite;

const SUPPRESS: &str = "INSERT INTO suppressions (workspace_id, kind, value, suppressed_at) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (workspace_id, kind, value) DO NOTHING";
const UNSUPPRESS: &str =
    "DELETE FROM suppressions WHERE workspace_id = ?1 AND kind = ?2 AND value = ?3";
const SUPPRESS_IN_GROUP: &str = "INSERT INTO suppressions (workspace_id, kind, value, \
     suppressed_at, suppression_group) VALUES (?1, ?2, ?3, ?4, ?5) \
     ON CONFLICT (workspace_id, kind, value) DO UPDATE \
     SET suppressed_at = excluded.suppressed_at, suppression_group = excluded.suppression_group";
const SUPPRESSION_GROUP: &str = "SELECT suppression_group FROM suppressions \
     WHERE workspace_id = ?1 AND kind = ?2 AND value = ?3";
const GROUP_MEMBERS: &str = "SELECT kind, value FROM suppressions \
     WHERE workspace_id = ?1 AND suppression_group = ?2";
const FREE_GROUP: &str =
    "DELETE FROM suppressions WHERE workspace_id = ?1 AND suppression_group = ?2";
const IS_SUPPRESSED: &str = "SELECT EXISTS (SELECT 1 FROM suppressions \
     WHERE workspace_id = ?1 AND kind = ?2 AND value = ?3)";

/// The statements that read or change existing rows, for the plan test.
#[cfg(test)]
pub(crate) const STATEMENTS: [&str; 5] = [
    UNSUPPRESS,
    SUPPRESSION_GROUP,
    GROUP_MEMBERS,
    FREE_GROUP,
    IS_SUPPRESSED,
];

fn run(conn: &Connection, sql: &str, params: impl Params) -> StoreResult<()> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map(drop)
        .map_err(from_sqlite)
}

pub(crate) fn set_suppressed(
    conn: &Connection,
    ws: WorkspaceId,
    identifier: &Identifier,
    suppressed: bool,
    now: Timestamp,
) -> StoreResult<()> {
    let (kind, value) = (identifier.kind().as_str(), identifier.value());
    if suppressed {
        run(conn, SUPPRESS, params![ws.0, kind, value, now.millis()])
    } else {
        run(conn, UNSUPPRESS, params![ws.0, kind, value])
    }
}

pub(crate) fn suppress_together(
    conn: &Connection,
    ws: WorkspaceId,
    identifiers: &[Identifier],
    now: Timestamp,
) -> StoreResult<()> {
    let Some(first) = identifiers.first() else {
        return Ok(());
    };
    let group = first.to_string();
    for identifier in identifiers {
        let (kind, value) = (identifier.kind().as_str(), identifier.value());
        let row = params![ws.0, kind, value, now.millis(), group];
        run(conn, SUPPRESS_IN_GROUP, row)?;
    }
    Ok(())
}

pub(crate) fn unsuppress_together(
    conn: &Connection,
    ws: WorkspaceId,
    identifier: &Identifier,
) -> StoreResult<Vec<Identifier>> {
    let (kind, value) = (identifier.kind().as_str(), identifier.value());
    let group: Option<Option<String>> = conn
        .prepare_cached(SUPPRESSION_GROUP)
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, kind, value], |row| row.get(0))
                .optional()
        })
        .map_err(from_sqlite)?;
    let Some(Some(group)) = group else {
        run(conn, UNSUPPRESS, params![ws.0, kind, value])?;
        return Ok(vec![identifier.clone()]);
    };
    let members = conn
        .prepare_cached(GROUP_MEMBERS)
        .and_then(|mut stmt| {
            stmt.query_map(params![ws.0, group], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(from_sqlite)?;
    run(conn, FREE_GROUP, params![ws.0, group])?;
    members
        .iter()
        .map(|(k, v)| crate::codec::identifier(k, v))
        .collect()
}

pub(crate) fn is_suppressed(
    conn: &Connection,
    ws: WorkspaceId,
    identifier: &Identifier,
) -> StoreResult<bool> {
    let kind = identifier.kind().as_str();
    conn.prepare_cached(IS_SUPPRESSED)
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, kind, identifier.value()], |row| row.get(0))
        })
        .map_err(from_sqlite)
}
