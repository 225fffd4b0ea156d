//! Versioned documents on PostgreSQL: a put or a deletion appends a version in a transaction
//! `PostgresStore` opened (raising the config version), reads list the latest live versions or
//! every version of a kind or a name. Each statement is a range of the (workspace, kind, name,
//! version) primary key (`plans.rs` checks).

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{Document, DocumentKind, StoreResult};
use postgres::types::ToSql;
use postgres::{GenericClient, Row, Transaction};

use crate::definitions::raise_config_version;
use crate::errors::{column, corrupt, pg};
use crate::event_rows::to_json;
use crate::Statements;

/// The columns `document` decodes, in its order.
macro_rules! document_columns {
    () => {
        "kind, name, version, body, created_at, deleted"
    };
}

const LATEST_LIVE: &str = concat!(
    "SELECT ",
    document_columns!(),
    " FROM documents d WHERE workspace_id = $1 AND kind = $2 AND NOT deleted \
     AND version = (SELECT max(version) FROM documents l \
     WHERE l.workspace_id = $1 AND l.kind = $2 AND l.name = d.name)"
);
const VERSIONS: &str = concat!(
    "SELECT ",
    document_columns!(),
    " FROM documents WHERE workspace_id = $1 AND kind = $2 AND name = $3 ORDER BY version"
);
const ALL_VERSIONS: &str = concat!(
    "SELECT ",
    document_columns!(),
    " FROM documents WHERE workspace_id = $1 AND kind = $2"
);
const LATEST: &str = concat!(
    "SELECT ",
    document_columns!(),
    " FROM documents WHERE workspace_id = $1 AND kind = $2 AND name = $3 \
     ORDER BY version DESC LIMIT 1"
);
const INSERT: &str = "INSERT INTO documents (workspace_id, kind, name, version, body, \
     created_at, deleted) VALUES ($1, $2, $3, $4, $5, $6, $7)";
/// Definition changes take turns on the config version's row, so two puts of one name
/// cannot both write the same next version.
const LOCK_DEFINITIONS: &str = "SELECT version FROM config_version WHERE id = 1 FOR UPDATE";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        LATEST_LIVE,
        VERSIONS,
        ALL_VERSIONS,
        LATEST,
        INSERT,
        LOCK_DEFINITIONS,
    ]
}

fn query(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    sql: &'static str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Vec<Document>> {
    let statement = statements.get(client, sql)?;
    let rows = client.query(&statement, params).map_err(pg)?;
    rows.iter().map(document).collect()
}

/// By name (in byte order, as on every backend, whatever the database's collation).
pub(crate) fn latest_live(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    kind: DocumentKind,
) -> StoreResult<Vec<Document>> {
    let mut documents = query(client, statements, LATEST_LIVE, &[&ws.0, &kind.as_str()])?;
    documents.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(documents)
}

pub(crate) fn versions(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    kind: DocumentKind,
    name: &str,
) -> StoreResult<Vec<Document>> {
    query(
        client,
        statements,
        VERSIONS,
        &[&ws.0, &kind.as_str(), &name],
    )
}

/// By name, then version.
pub(crate) fn all_versions(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    kind: DocumentKind,
) -> StoreResult<Vec<Document>> {
    let mut documents = query(client, statements, ALL_VERSIONS, &[&ws.0, &kind.as_str()])?;
    documents.sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
    Ok(documents)
}

/// Locks the definitions and reads the newest version of one document.
fn lock_and_read_latest(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    kind: DocumentKind,
    name: &str,
) -> StoreResult<Option<Document>> {
    let lock = statements.get(tx, LOCK_DEFINITIONS)?;
    tx.query_one(&lock, &[]).map_err(pg)?;
    let mut latest = query(tx, statements, LATEST, &[&ws.0, &kind.as_str(), &name])?;
    Ok(latest.pop())
}

fn insert(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    document: &Document,
) -> StoreResult<()> {
    let statement = statements.get(tx, INSERT)?;
    let params: [&(dyn ToSql + Sync); 7] = [
        &ws.0,
        &document.kind.as_str(),
        &document.name,
        &document.version,
        &to_json(&document.body)?,
        &document.created_at.millis(),
        &document.deleted,
    ];
    tx.execute(&statement, &params).map_err(pg)?;
    raise_config_version(tx, statements)
}

pub(crate) fn put(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    kind: DocumentKind,
    name: &str,
    body: &serde_json::Value,
    now: Timestamp,
) -> StoreResult<Document> {
    let current = lock_and_read_latest(tx, statements, ws, kind, name)?;
    let Some(version) = Document::version_to_put(current.as_ref(), body) else {
        // `version_to_put` keeps only a live latest version.
        return current.ok_or_else(|| corrupt("document", "no latest version to keep"));
    };
    let document = Document {
        kind,
        name: name.to_string(),
        version,
        body: body.clone(),
        created_at: now,
        deleted: false,
    };
    insert(tx, statements, ws, &document)?;
    Ok(document)
}

pub(crate) fn delete(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    kind: DocumentKind,
    name: &str,
    now: Timestamp,
) -> StoreResult<bool> {
    let current = lock_and_read_latest(tx, statements, ws, kind, name)?;
    let Some(version) = Document::version_to_delete(current.as_ref()) else {
        return Ok(false);
    };
    let deletion = Document {
        kind,
        name: name.to_string(),
        version,
        body: serde_json::Value::Null,
        created_at: now,
        deleted: true,
    };
    insert(tx, statements, ws, &deletion)?;
    Ok(true)
}

/// Decodes the columns of `document_columns!`.
fn document(row: &Row) -> StoreResult<Document> {
    let kind: &str = column(row, 0)?;
    let body: &str = column(row, 3)?;
    Ok(Document {
        kind: DocumentKind::parse(kind)
            .ok_or_else(|| corrupt("document kind", format!("unknown kind '{kind}'")))?,
        name: column(row, 1)?,
        version: column(row, 2)?,
        body: serde_json::from_str(body).map_err(|e| corrupt("document body", e))?,
        created_at: Timestamp::from_millis(column(row, 4)?),
        deleted: column(row, 5)?,
    })
}
