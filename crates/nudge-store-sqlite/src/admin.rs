//! Administrative writes outside ingestion: creating workspaces and replacing their keys
//! (definitions belong to the segment and computed catalogues). Each runs inside a
//! transaction the caller opened on the writer connection; none is on the hot path.

use nudge_core::{Workspace, WorkspaceId};
use nudge_store::{KeyRecord, NewWorkspace, StoreResult};
use rusqlite::{params, Connection};

use crate::errors::from_sqlite;

pub(crate) fn create_workspace(conn: &Connection, new: &NewWorkspace) -> StoreResult<Workspace> {
    conn.prepare_cached(
        "INSERT INTO workspaces (name, env, site_id, created_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            new.name,
            new.env.as_str(),
            new.site_id,
            new.now.millis()
        ])
    })
    .map_err(from_sqlite)?;
    let id = WorkspaceId(conn.last_insert_rowid());
    insert_keys(conn, id, &new.keys)?;
    Ok(Workspace {
        id,
        name: new.name.clone(),
        env: new.env,
        site_id: new.site_id.clone(),
    })
}

pub(crate) fn replace_keys(
    conn: &Connection,
    workspace: WorkspaceId,
    keys: &[KeyRecord],
) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM api_keys WHERE workspace_id = ?1")
        .and_then(|mut stmt| stmt.execute([workspace.0]))
        .map_err(from_sqlite)?;
    insert_keys(conn, workspace, keys)
}

fn insert_keys(conn: &Connection, workspace: WorkspaceId, keys: &[KeyRecord]) -> StoreResult<()> {
    let mut stmt = conn
        .prepare_cached("INSERT INTO api_keys (hash, workspace_id, kind) VALUES (?1, ?2, ?3)")
        .map_err(from_sqlite)?;
    for key in keys {
        stmt.execute(params![key.hash, workspace.0, key.kind.as_str()])
            .map_err(from_sqlite)?;
    }
    Ok(())
}
