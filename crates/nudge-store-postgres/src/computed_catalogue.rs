//! Computed-attribute definitions on PostgreSQL: listing, creating or replacing (an identical
//! definition is left alone), and deleting them (people's fold states stay, as on SQLite).
//! Each change runs in a transaction `PostgresStore` opened and raises the config version in
//! it. Not on the ingest path.

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{Backfill, ComputedDefinition, StoreResult};
use postgres::{GenericClient, Row, Transaction};

use crate::definitions::{backfill_columns, backfill_params, people_count, raise_config_version};
use crate::errors::{column, corrupt, pg};
use crate::event_rows::to_json;
use crate::Statements;

/// The columns `definition` decodes, in its order.
macro_rules! computed_columns {
    () => {
        "name, definition, version, created_at, updated_at, backfill_complete, backfill_after, \
         backfill_done, backfill_total"
    };
}

const COMPUTED: &str = concat!(
    "SELECT ",
    computed_columns!(),
    " FROM computed_definitions WHERE workspace_id = $1"
);
const COMPUTED_FOR_UPDATE: &str = concat!(
    "SELECT ",
    computed_columns!(),
    " FROM computed_definitions WHERE workspace_id = $1 AND name = $2 FOR UPDATE"
);
/// Creates at version 1 or replaces with the next version; either way a new backfill.
const PUT_COMPUTED: &str = concat!(
    "INSERT INTO computed_definitions (workspace_id, name, definition, version, created_at, \
     updated_at, backfill_complete, backfill_after, backfill_done, backfill_total) \
     VALUES ($1, $2, $3, 1, $4, $4, $5, $6, $7, $8) \
     ON CONFLICT (workspace_id, name) DO UPDATE SET definition = excluded.definition, \
     version = computed_definitions.version + 1, updated_at = excluded.updated_at, \
     backfill_complete = excluded.backfill_complete, backfill_after = excluded.backfill_after, \
     backfill_done = excluded.backfill_done, backfill_total = excluded.backfill_total \
     RETURNING ",
    computed_columns!()
);
const DELETE_COMPUTED: &str =
    "DELETE FROM computed_definitions WHERE workspace_id = $1 AND name = $2";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![COMPUTED, COMPUTED_FOR_UPDATE, PUT_COMPUTED, DELETE_COMPUTED]
}

/// The workspace's definitions by name (sorted here, not by the database's collation).
pub(crate) fn list(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
) -> StoreResult<Vec<ComputedDefinition>> {
    let statement = statements.get(client, COMPUTED)?;
    let rows = client.query(&statement, &[&ws.0]).map_err(pg)?;
    let mut definitions = rows
        .iter()
        .map(definition)
        .collect::<StoreResult<Vec<_>>>()?;
    definitions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(definitions)
}

pub(crate) fn put(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    name: &str,
    new: &serde_json::Value,
    now: Timestamp,
) -> StoreResult<ComputedDefinition> {
    let statement = statements.get(tx, COMPUTED_FOR_UPDATE)?;
    if let Some(row) = tx.query_opt(&statement, &[&ws.0, &name]).map_err(pg)? {
        let current = definition(&row)?;
        if current.definition == *new {
            return Ok(current);
        }
    }
    let backfill = Backfill::starting(people_count(tx, statements, ws)?);
    let (complete, after, done, total) = backfill_params(&backfill);
    let statement = statements.get(tx, PUT_COMPUTED)?;
    let row = tx
        .query_one(
            &statement,
            &[
                &ws.0,
                &name,
                &to_json(new)?,
                &now.millis(),
                &complete,
                &after,
                &done,
                &total,
            ],
        )
        .map_err(pg)?;
    raise_config_version(tx, statements)?;
    definition(&row)
}

/// `false` when there was no such definition (and nothing changed).
pub(crate) fn delete(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    name: &str,
) -> StoreResult<bool> {
    let statement = statements.get(tx, DELETE_COMPUTED)?;
    if tx.execute(&statement, &[&ws.0, &name]).map_err(pg)? == 0 {
        return Ok(false);
    }
    raise_config_version(tx, statements)?;
    Ok(true)
}

/// Decodes the columns of `computed_columns!`.
fn definition(row: &Row) -> StoreResult<ComputedDefinition> {
    let text: &str = column(row, 1)?;
    Ok(ComputedDefinition {
        name: column(row, 0)?,
        definition: serde_json::from_str(text)
            .map_err(|e| corrupt("computed attribute definition", e))?,
        version: column(row, 2)?,
        created_at: Timestamp::from_millis(column(row, 3)?),
        updated_at: Timestamp::from_millis(column(row, 4)?),
        backfill: backfill_columns(row, 5)?,
    })
}
