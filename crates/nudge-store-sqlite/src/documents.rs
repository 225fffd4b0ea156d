//! Versioned documents on SQLite: a put or a deletion appends a version inside the writer's
//! transaction (raising the config version), reads list the latest live versions or every
//! version of a kind or a name. Each statement is a range of the (workspace, kind, name,
//! version) primary key.

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{Document, DocumentKind, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::codec::{from_json, to_json};
use crate::errors::{corrupt, from_sqlite};
use crate::segment_catalogue::raise_config_version;

const COLUMNS: &str = "kind, name, version, body, created_at, deleted";
const INSERT: &str = "INSERT INTO documents (workspace_id, kind, name, version, body, \
     created_at, deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

fn latest_live_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM documents d WHERE workspace_id = ?1 AND kind = ?2 \
         AND deleted = 0 AND version = (SELECT max(version) FROM documents l \
         WHERE l.workspace_id = ?1 AND l.kind = ?2 AND l.name = d.name)"
    )
}

fn versions_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM documents WHERE workspace_id = ?1 AND kind = ?2 AND name = ?3 \
         ORDER BY version"
    )
}

fn all_versions_sql() -> String {
    format!("SELECT {COLUMNS} FROM documents WHERE workspace_id = ?1 AND kind = ?2")
}

fn latest_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM documents WHERE workspace_id = ?1 AND kind = ?2 AND name = ?3 \
         ORDER BY version DESC LIMIT 1"
    )
}

/// The statements that read existing rows, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<String> {
    vec![
        latest_live_sql(),
        versions_sql(),
        all_versions_sql(),
        latest_sql(),
    ]
}

/// Runs `sql` with `params` and decodes every row.
fn query(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<Vec<Document>> {
    let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params, DocumentRow::read)
        .map_err(from_sqlite)?;
    rows.map(|row| row.map_err(from_sqlite)?.decode()).collect()
}

/// By name (in byte order, as on every backend).
pub(crate) fn latest_live(
    conn: &Connection,
    ws: WorkspaceId,
    kind: DocumentKind,
) -> StoreResult<Vec<Document>> {
    let mut documents = query(conn, &latest_live_sql(), params![ws.0, kind.as_str()])?;
    documents.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(documents)
}

pub(crate) fn versions(
    conn: &Connection,
    ws: WorkspaceId,
    kind: DocumentKind,
    name: &str,
) -> StoreResult<Vec<Document>> {
    query(conn, &versions_sql(), params![ws.0, kind.as_str(), name])
}

/// By name, then version.
pub(crate) fn all_versions(
    conn: &Connection,
    ws: WorkspaceId,
    kind: DocumentKind,
) -> StoreResult<Vec<Document>> {
    let mut documents = query(conn, &all_versions_sql(), params![ws.0, kind.as_str()])?;
    documents.sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
    Ok(documents)
}

fn latest(
    conn: &Connection,
    ws: WorkspaceId,
    kind: DocumentKind,
    name: &str,
) -> StoreResult<Option<Document>> {
    let row = conn
        .prepare_cached(&latest_sql())
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, kind.as_str(), name], DocumentRow::read)
                .optional()
        })
        .map_err(from_sqlite)?;
    row.map(DocumentRow::decode).transpose()
}

fn insert(conn: &Connection, ws: WorkspaceId, document: &Document) -> StoreResult<()> {
    let body = to_json(&document.body)?;
    conn.prepare_cached(INSERT)
        .and_then(|mut stmt| {
            stmt.execute(params![
                ws.0,
                document.kind.as_str(),
                document.name,
                document.version,
                body,
                document.created_at.millis(),
                document.deleted,
            ])
        })
        .map_err(from_sqlite)?;
    raise_config_version(conn)
}

/// Inside the writer's transaction.
pub(crate) fn put(
    conn: &Connection,
    ws: WorkspaceId,
    kind: DocumentKind,
    name: &str,
    body: &serde_json::Value,
    now: Timestamp,
) -> StoreResult<Document> {
    let current = latest(conn, ws, kind, name)?;
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
    insert(conn, ws, &document)?;
    Ok(document)
}

/// Inside the writer's transaction.
pub(crate) fn delete(
    conn: &Connection,
    ws: WorkspaceId,
    kind: DocumentKind,
    name: &str,
    now: Timestamp,
) -> StoreResult<bool> {
    let current = latest(conn, ws, kind, name)?;
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
    insert(conn, ws, &deletion)?;
    Ok(true)
}

/// Read from [`COLUMNS`], in order.
struct DocumentRow {
    kind: String,
    name: String,
    version: i64,
    body: String,
    created_at: i64,
    deleted: bool,
}

impl DocumentRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            kind: row.get(0)?,
            name: row.get(1)?,
            version: row.get(2)?,
            body: row.get(3)?,
            created_at: row.get(4)?,
            deleted: row.get(5)?,
        })
    }

    fn decode(self) -> StoreResult<Document> {
        let kind = DocumentKind::parse(&self.kind)
            .ok_or_else(|| corrupt("document kind", format!("unknown kind '{}'", self.kind)))?;
        Ok(Document {
            kind,
            name: self.name,
            version: self.version,
            body: from_json(&self.body, "document body")?,
            created_at: Timestamp::from_millis(self.created_at),
            deleted: self.deleted,
        })
    }
}
