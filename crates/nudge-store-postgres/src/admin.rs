//! Administrative writes outside ingestion: creating workspaces and replacing their keys.
//! Each runs inside a transaction `PostgresStore` opened; none is on the hot path.

use nudge_core::{Workspace, WorkspaceId};
use nudge_store::{KeyRecord, NewWorkspace, StoreResult};
use postgres::GenericClient;

use crate::errors::{column, pg};
use crate::Statements;

const INSERT_WORKSPACE: &str = "INSERT INTO workspaces (name, env, site_id, created_at) \
     VALUES ($1, $2, $3, $4) RETURNING id";
const INSERT_KEY: &str = "INSERT INTO api_keys (hash, workspace_id, kind) VALUES ($1, $2, $3)";
const DELETE_KEYS: &str = "DELETE FROM api_keys WHERE workspace_id = $1";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![INSERT_WORKSPACE, INSERT_KEY, DELETE_KEYS]
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
