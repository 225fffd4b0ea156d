//! Suppressions inside the write transaction: by identifier, not by person (they outlive the
//! person a delete removed), set alone or as a group that is freed together. Every statement
//! is a primary-key or group-index lookup (`plans.rs` checks).

use nudge_core::{Identifier, Timestamp, WorkspaceId};
use nudge_store::StoreResult;

use crate::errors::column;
use crate::write_tx::PgWriteTx;

const SUPPRESS: &str = "INSERT INTO suppressions (workspace_id, kind, value, suppressed_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id, kind, value) DO NOTHING";
const UNSUPPRESS: &str =
    "DELETE FROM suppressions WHERE workspace_id = $1 AND kind = $2 AND value = $3";
const SUPPRESS_IN_GROUP: &str = "INSERT INTO suppressions (workspace_id, kind, value, \
     suppressed_at, suppression_group) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (workspace_id, kind, value) DO UPDATE \
     SET suppressed_at = excluded.suppressed_at, suppression_group = excluded.suppression_group";
const SUPPRESSION_GROUP: &str = "SELECT suppression_group FROM suppressions \
     WHERE workspace_id = $1 AND kind = $2 AND value = $3";
const FREE_GROUP: &str = "DELETE FROM suppressions WHERE workspace_id = $1 \
     AND suppression_group = $2 RETURNING kind, value";
const IS_SUPPRESSED: &str = "SELECT EXISTS (SELECT 1 FROM suppressions \
     WHERE workspace_id = $1 AND kind = $2 AND value = $3)";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        SUPPRESS,
        UNSUPPRESS,
        SUPPRESS_IN_GROUP,
        SUPPRESSION_GROUP,
        FREE_GROUP,
        IS_SUPPRESSED,
    ]
}

pub(crate) fn set(
    tx: &mut PgWriteTx<'_, '_>,
    ws: WorkspaceId,
    identifier: &Identifier,
    suppressed: bool,
    now: Timestamp,
) -> StoreResult<()> {
    let (kind, value) = (identifier.kind().as_str(), identifier.value());
    if suppressed {
        tx.run(SUPPRESS, &[&ws.0, &kind, &value, &now.millis()])?;
    } else {
        tx.run(UNSUPPRESS, &[&ws.0, &kind, &value])?;
    }
    Ok(())
}

pub(crate) fn suppress_together(
    tx: &mut PgWriteTx<'_, '_>,
    ws: WorkspaceId,
    identifiers: &[Identifier],
    now: Timestamp,
) -> StoreResult<()> {
    let Some(first) = identifiers.first() else {
        return Ok(());
    };
    let group = first.to_string();
    for identifier in identifiers {
        let kind = identifier.kind().as_str();
        tx.run(
            SUPPRESS_IN_GROUP,
            &[&ws.0, &kind, &identifier.value(), &now.millis(), &group],
        )?;
    }
    Ok(())
}

pub(crate) fn unsuppress_together(
    tx: &mut PgWriteTx<'_, '_>,
    ws: WorkspaceId,
    identifier: &Identifier,
) -> StoreResult<Vec<Identifier>> {
    let kind = identifier.kind().as_str();
    let row = tx.query_opt(SUPPRESSION_GROUP, &[&ws.0, &kind, &identifier.value()])?;
    let group: Option<String> = match row {
        Some(row) => column(&row, 0)?,
        None => None,
    };
    let Some(group) = group else {
        tx.run(UNSUPPRESS, &[&ws.0, &kind, &identifier.value()])?;
        return Ok(vec![identifier.clone()]);
    };
    let rows = tx.query(FREE_GROUP, &[&ws.0, &group])?;
    rows.iter()
        .map(|row| crate::read::identifier(column(row, 0)?, column(row, 1)?))
        .collect()
}

pub(crate) fn is_suppressed(
    tx: &mut PgWriteTx<'_, '_>,
    ws: WorkspaceId,
    identifier: &Identifier,
) -> StoreResult<bool> {
    let kind = identifier.kind().as_str();
    let row = tx.query_opt(IS_SUPPRESSED, &[&ws.0, &kind, &identifier.value()])?;
    row.map_or(Ok(false), |row| column(&row, 0))
}
