//! Exports on SQLite: keyset pages of people (by key) and of events (by activity position),
//! each an indexed range read that never loads a whole table, and the App API's export jobs.
//! The plan test in `statements` covers every statement here.

use nudge_core::{PersonKey, PersonState, Timestamp, WorkspaceId};
use nudge_store::{
    ExportEnd, ExportJob, ExportScope, ExportStatus, ExportedEvent, NewExport, StoreError,
    StoreResult,
};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use crate::codec::{from_json, to_json, ActivityRow, PersonRow};
use crate::errors::{corrupt, from_sqlite};
use crate::read::limit;

pub(crate) const PEOPLE_PAGE: &str = "SELECT p.key, p.cio_id, p.id, p.email, p.phone, \
     p.attributes, p.attribute_times, p.created_at, p.updated_at FROM people p \
     WHERE p.workspace_id = ?1 AND p.key > ?2 AND p.updated_at >= ?3 \
     ORDER BY p.key LIMIT ?4";
pub(crate) const SEGMENT_PEOPLE_PAGE: &str = "SELECT p.key, p.cio_id, p.id, p.email, p.phone, \
     p.attributes, p.attribute_times, p.created_at, p.updated_at FROM segment_members m \
     JOIN people p ON p.key = m.person_key AND p.workspace_id = m.workspace_id \
     WHERE m.workspace_id = ?1 AND m.segment_id = ?5 AND m.person_key > ?2 \
     AND p.updated_at >= ?3 ORDER BY m.person_key LIMIT ?4";
/// Walks activities by their position (the rowid) from `after_seq`; the workspace and kind
/// are filters on that walk, which is what keeps a page a bounded range read.
pub(crate) const EVENTS_PAGE: &str = "SELECT a.seq, a.kind, a.name, a.timestamp, a.data, \
     a.event_id, a.can_trigger, a.recorded_at, p.id, p.email, p.cio_id \
     FROM activities a JOIN people p ON p.key = a.person_key AND p.workspace_id = a.workspace_id \
     WHERE a.seq > ?2 AND +a.workspace_id = ?1 AND a.kind IN ('event', 'page', 'screen') \
     AND a.timestamp >= ?3 AND (?5 IS NULL OR EXISTS (SELECT 1 FROM segment_members m \
     WHERE m.workspace_id = ?1 AND m.segment_id = ?5 AND m.person_key = a.person_key)) \
     ORDER BY a.seq LIMIT ?4";
pub(crate) const CREATE_EXPORT: &str = "INSERT INTO exports (workspace_id, kind, filters, \
     status, total, downloads, created_at, updated_at) VALUES (?1, ?2, ?3, 'pending', 0, 0, ?4, ?4)";
pub(crate) const EXPORT_JOB: &str = "SELECT id, kind, filters, status, total, downloads, error, \
     created_at, updated_at FROM exports WHERE workspace_id = ?1 AND id = ?2";
pub(crate) const FINISH_EXPORT: &str = "UPDATE exports SET status = ?3, total = ?4, error = ?5, \
     updated_at = ?6 WHERE workspace_id = ?1 AND id = ?2";
pub(crate) const COUNT_DOWNLOAD: &str = "UPDATE exports SET downloads = downloads + 1, \
     updated_at = ?3 WHERE workspace_id = ?1 AND id = ?2";

/// Every statement here that reads or changes existing rows, for the plan test.
#[cfg(test)]
pub(crate) const STATEMENTS: [&str; 5] = [
    PEOPLE_PAGE,
    SEGMENT_PEOPLE_PAGE,
    EVENTS_PAGE,
    EXPORT_JOB,
    FINISH_EXPORT,
];

fn since_millis(scope: &ExportScope) -> i64 {
    scope.since.map_or(i64::MIN, Timestamp::millis)
}

pub(crate) fn people_page(
    conn: &Connection,
    ws: WorkspaceId,
    after: Option<PersonKey>,
    max: usize,
    scope: &ExportScope,
) -> StoreResult<Vec<PersonState>> {
    let after = after.map_or(i64::MIN, |k| k.0);
    let since = since_millis(scope);
    let rows = match scope.segment {
        None => {
            let mut stmt = conn.prepare_cached(PEOPLE_PAGE).map_err(from_sqlite)?;
            let rows = stmt
                .query_map(params![ws.0, after, since, limit(max)], PersonRow::read)
                .map_err(from_sqlite)?;
            rows.collect::<Result<Vec<_>, _>>()
        }
        Some(segment) => {
            let mut stmt = conn
                .prepare_cached(SEGMENT_PEOPLE_PAGE)
                .map_err(from_sqlite)?;
            let rows = stmt
                .query_map(
                    params![ws.0, after, since, limit(max), segment],
                    PersonRow::read,
                )
                .map_err(from_sqlite)?;
            rows.collect::<Result<Vec<_>, _>>()
        }
    }
    .map_err(from_sqlite)?;
    rows.into_iter().map(PersonRow::decode).collect()
}

pub(crate) fn events_page(
    conn: &Connection,
    ws: WorkspaceId,
    after_seq: i64,
    max: usize,
    scope: &ExportScope,
) -> StoreResult<Vec<ExportedEvent>> {
    let mut stmt = conn.prepare_cached(EVENTS_PAGE).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(
            params![
                ws.0,
                after_seq,
                since_millis(scope),
                limit(max),
                scope.segment
            ],
            |row| {
                Ok((
                    ActivityRow::read(row)?,
                    row.get::<_, Option<String>>(8)?,
                    row.get::<_, Option<String>>(9)?,
                    row.get::<_, String>(10)?,
                ))
            },
        )
        .map_err(from_sqlite)?;
    rows.map(|row| {
        let (activity, person_id, person_email, person_cio_id) = row.map_err(from_sqlite)?;
        let stored = activity.decode()?;
        Ok(ExportedEvent {
            seq: stored.seq,
            person_id,
            person_email,
            person_cio_id,
            activity: stored.activity,
        })
    })
    .collect()
}

pub(crate) fn create_export(
    tx: &Transaction<'_>,
    ws: WorkspaceId,
    new: &NewExport,
) -> StoreResult<ExportJob> {
    let filters = to_json(&new.filters)?;
    tx.prepare_cached(CREATE_EXPORT)
        .and_then(|mut stmt| stmt.execute(params![ws.0, new.kind, filters, new.now.millis()]))
        .map_err(from_sqlite)?;
    let id = tx.last_insert_rowid();
    export_job(tx, ws, id)?
        .ok_or_else(|| StoreError::Backend(format!("export {id} vanished after its insert")))
}

pub(crate) fn export_job(
    conn: &Connection,
    ws: WorkspaceId,
    id: i64,
) -> StoreResult<Option<ExportJob>> {
    let row = conn
        .prepare_cached(EXPORT_JOB)
        .and_then(|mut stmt| stmt.query_row(params![ws.0, id], JobRow::read).optional())
        .map_err(from_sqlite)?;
    row.map(JobRow::decode).transpose()
}

pub(crate) fn finish_export(
    tx: &Transaction<'_>,
    ws: WorkspaceId,
    id: i64,
    end: &ExportEnd,
    now: Timestamp,
) -> StoreResult<()> {
    let (status, total, error) = match end {
        ExportEnd::Done { total } => (ExportStatus::Done, *total, None),
        ExportEnd::Failed { error } => (ExportStatus::Failed, 0, Some(error.as_str())),
    };
    tx.prepare_cached(FINISH_EXPORT)
        .and_then(|mut stmt| {
            stmt.execute(params![
                ws.0,
                id,
                status.as_str(),
                total,
                error,
                now.millis()
            ])
        })
        .map_err(from_sqlite)?;
    Ok(())
}

pub(crate) fn record_download(
    tx: &Transaction<'_>,
    ws: WorkspaceId,
    id: i64,
    now: Timestamp,
) -> StoreResult<()> {
    tx.prepare_cached(COUNT_DOWNLOAD)
        .and_then(|mut stmt| stmt.execute(params![ws.0, id, now.millis()]))
        .map_err(from_sqlite)?;
    Ok(())
}

/// Read from the columns of [`EXPORT_JOB`], in order.
struct JobRow {
    id: i64,
    kind: String,
    filters: String,
    status: String,
    total: i64,
    downloads: i64,
    error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl JobRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            kind: row.get(1)?,
            filters: row.get(2)?,
            status: row.get(3)?,
            total: row.get(4)?,
            downloads: row.get(5)?,
            error: row.get(6)?,
            created_at: row.get(7)?,
            updated_at: row.get(8)?,
        })
    }

    fn decode(self) -> StoreResult<ExportJob> {
        let status = ExportStatus::parse(&self.status)
            .ok_or_else(|| corrupt("export status", format!("unknown status '{}'", self.status)))?;
        Ok(ExportJob {
            id: self.id,
            kind: self.kind,
            filters: from_json(&self.filters, "export filters")?,
            status,
            total: self.total,
            downloads: self.downloads,
            error: self.error,
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
        })
    }
}
