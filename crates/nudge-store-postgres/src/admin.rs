//! Administrative writes outside ingestion: creating workspaces, replacing their keys and
//! creating manual segments. Each runs inside a transaction `PostgresStore` opened; none is on
//! the hot path.

use nudge_core::{Timestamp, Workspace, WorkspaceId};
use nudge_store::{KeyRecord, NewWorkspace, Segment, StoreResult};
use postgres::GenericClient;

use crate::errors::{column, pg};
use crate::Statements;

const INSERT_WORKSPACE: &str = "INSERT INTO workspaces (name, env, site_id, created_at) \
     VALUES ($1, $2, $3, $4) RETURNING id";
const INSERT_KEY: &str = "INSERT INTO api_keys (hash, workspace_id, kind) VALUES ($1, $2, $3)";
const DELETE_KEYS: &str = "DELETE FROM api_keys WHERE workspace_id = $1";
const INSERT_MANUAL_SEGMENT: &str = "INSERT INTO segments (workspace_id, name, description, \
     manual, created_at) VALUES ($1, $2, $3, TRUE, $4) RETURNING id";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        INSERT_WORKSPACE,
        INSERT_KEY,
        DELETE_KEYS,
        INSERT_MANUAL_SEGMENT,
    ]
}

pub(crate) fn insert_workspace(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    new: &NewWorkspace,
) -> StoreResult<Workspace> {
    let statement = statements.get(client, INSERT_WORKSPACE)?;
    let row = client
        .query_one(
            &statement,
            &[
                &new.name,
                &new.env.as_str(),
                &new.site_id,
                &new.now.millis(),
            ],
        )
        .map_err(pg)?;
    Ok(Workspace {
        id: WorkspaceId(column(&row, 0)?),
        name: new.name.clone(),
        env: new.env,
        site_id: new.site_id.clone(),
    })
}

pub(crate) fn insert_keys(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    keys: &[KeyRecord],
) -> StoreResult<()> {
    let statement = statements.get(client, INSERT_KEY)?;
    for key in keys {
        client
            .execute(&statement, &[&&key.hash[..], &ws.0, &key.kind.as_str()])
            .map_err(pg)?;
    }
    Ok(())
}

pub(crate) fn delete_keys(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
) -> StoreResult<()> {
    let statement = statements.get(client, DELETE_KEYS)?;
    client.execute(&statement, &[&ws.0]).map_err(pg)?;
    Ok(())
}

pub(crate) fn insert_manual_segment(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    name: &str,
    description: &str,
    now: Timestamp,
) -> StoreResult<Segment> {
    let statement = statements.get(client, INSERT_MANUAL_SEGMENT)?;
    let row = client
        .query_one(&statement, &[&ws.0, &name, &description, &now.millis()])
        .map_err(pg)?;
    Ok(Segment {
        id: column(&row, 0)?,
        name: name.to_string(),
        description: description.to_string(),
        manual: true,
    })
}
