//! Exports on PostgreSQL: keyset pages of people (by key) and of events (by activity
//! position), each an indexed range read that never loads a whole table, and the App API's
//! export jobs. `plans.rs` checks every statement here.

use nudge_core::{PersonKey, PersonState, Timestamp, WorkspaceId};
use nudge_store::{
    ExportEnd, ExportJob, ExportScope, ExportStatus, ExportedEvent, NewExport, StoreResult,
};
use postgres::GenericClient;

use crate::errors::{column, corrupt, pg};
use crate::event_rows::to_json;
use crate::read::person_from_row;
use crate::Statements;

const PEOPLE_PAGE: &str = "SELECT p.key, p.cio_id, p.id, p.email, p.phone, p.attributes, \
     p.attribute_times, p.created_at, p.updated_at FROM people p \
     WHERE p.workspace_id = $1 AND p.key > $2 AND p.updated_at >= $3 \
     ORDER BY p.key LIMIT $4";
const SEGMENT_PEOPLE_PAGE: &str = "SELECT p.key, p.cio_id, p.id, p.email, p.phone, \
     p.attributes, p.attribute_times, p.created_at, p.updated_at FROM segment_members m \
     JOIN people p ON p.key = m.person_key AND p.workspace_id = m.workspace_id \
     WHERE m.workspace_id = $1 AND m.segment_id = $5 AND m.person_key > $2 \
     AND p.updated_at >= $3 ORDER BY m.person_key LIMIT $4";
/// Walks activities by position from `after_seq`; the workspace and kind are filters on that
/// walk, which is what keeps a page a bounded range read.
const EVENTS_PAGE: &str = "SELECT a.seq, a.kind, a.name, a.\"timestamp\", a.data, a.event_id, \
     a.can_trigger, p.id, p.email, p.cio_id \
     FROM activities a JOIN people p ON p.key = a.person_key AND p.workspace_id = a.workspace_id \
     WHERE a.seq > $2 AND a.workspace_id = $1 AND a.kind IN ('event', 'page', 'screen') \
     AND a.\"timestamp\" >= $3 AND ($5::BIGINT IS NULL OR EXISTS (SELECT 1 FROM segment_members m \
     WHERE m.workspace_id = $1 AND m.segment_id = $5::BIGINT AND m.person_key = a.person_key)) \
     ORDER BY a.seq LIMIT $4";
const CREATE_EXPORT: &str = "INSERT INTO exports (workspace_id, kind, filters, status, total, \
     downloads, created_at, updated_at) VALUES ($1, $2, $3, 'pending', 0, 0, $4, $4) \
     RETURNING id";
const EXPORT_JOB: &str = "SELECT id, kind, filters, status, total, downloads, error, \
     created_at, updated_at FROM exports WHERE workspace_id = $1 AND id = $2";
const FINISH_EXPORT: &str = "UPDATE exports SET status = $3, total = $4, error = $5, \
     updated_at = $6 WHERE workspace_id = $1 AND id = $2";
const COUNT_DOWNLOAD: &str = "UPDATE exports SET downloads = downloads + 1, updated_at = $3 \
     WHERE workspace_id = $1 AND id = $2";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        PEOPLE_PAGE,
        SEGMENT_PEOPLE_PAGE,
        EVENTS_PAGE,
        CREATE_EXPORT,
        EXPORT_JOB,
        FINISH_EXPORT,
        COUNT_DOWNLOAD,
    ]
}

fn since_millis(scope: &ExportScope) -> i64 {
    scope.since.map_or(i64::MIN, Timestamp::millis)
}

fn as_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

pub(crate) fn people_page(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    after: Option<PersonKey>,
    limit: usize,
    scope: &ExportScope,
) -> StoreResult<Vec<PersonState>> {
    let after = after.map_or(i64::MIN, |k| k.0);
    let (since, limit) = (since_millis(scope), as_limit(limit));
    let rows = match scope.segment {
        None => {
            let statement = statements.get(client, PEOPLE_PAGE)?;
            client.query(&statement, &[&ws.0, &after, &since, &limit])
        }
        Some(segment) => {
            let statement = statements.get(client, SEGMENT_PEOPLE_PAGE)?;
            client.query(&statement, &[&ws.0, &after, &since, &limit, &segment])
        }
    }
    .map_err(pg)?;
    rows.iter().map(person_from_row).collect()
}

pub(crate) fn events_page(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    after_seq: i64,
    limit: usize,
    scope: &ExportScope,
) -> StoreResult<Vec<ExportedEvent>> {
    let statement = statements.get(client, EVENTS_PAGE)?;
    let rows = client
        .query(
            &statement,
            &[
                &ws.0,
                &after_seq,
                &since_millis(scope),
                &as_limit(limit),
                &scope.segment,
            ],
        )
        .map_err(pg)?;
    rows.iter()
        .map(|row| {
            Ok(ExportedEvent {
                seq: column(row, 0)?,
                person_id: column(row, 7)?,
                person_email: column(row, 8)?,
                person_cio_id: column(row, 9)?,
                activity: crate::read::activity_columns(row)?,
            })
        })
        .collect()
}

pub(crate) fn create_export(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    new: &NewExport,
) -> StoreResult<ExportJob> {
    let statement = statements.get(client, CREATE_EXPORT)?;
    let filters = to_json(&new.filters)?;
    let row = client
        .query_one(&statement, &[&ws.0, &new.kind, &filters, &new.now.millis()])
        .map_err(pg)?;
    Ok(ExportJob {
        id: column(&row, 0)?,
        kind: new.kind.clone(),
        filters: new.filters.clone(),
        status: ExportStatus::Pending,
        total: 0,
        downloads: 0,
        error: None,
        created_at: new.now,
        updated_at: new.now,
    })
}

pub(crate) fn export_job(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    id: i64,
) -> StoreResult<Option<ExportJob>> {
    let statement = statements.get(client, EXPORT_JOB)?;
    let Some(row) = client.query_opt(&statement, &[&ws.0, &id]).map_err(pg)? else {
        return Ok(None);
    };
    let status: &str = column(&row, 3)?;
    let filters: &str = column(&row, 2)?;
    Ok(Some(ExportJob {
        id: column(&row, 0)?,
        kind: column(&row, 1)?,
        filters: serde_json::from_str(filters).map_err(|e| corrupt("export filters", e))?,
        status: ExportStatus::parse(status).ok_or_else(|| corrupt("export status", status))?,
        total: column(&row, 4)?,
        downloads: column(&row, 5)?,
        error: column(&row, 6)?,
        created_at: Timestamp::from_millis(column(&row, 7)?),
        updated_at: Timestamp::from_millis(column(&row, 8)?),
    }))
}

pub(crate) fn finish_export(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    id: i64,
    end: &ExportEnd,
    now: Timestamp,
) -> StoreResult<()> {
    let (status, total, error) = match end {
        ExportEnd::Done { total } => (ExportStatus::Done, *total, None),
        ExportEnd::Failed { error } => (ExportStatus::Failed, 0, Some(error.as_str())),
    };
    let statement = statements.get(client, FINISH_EXPORT)?;
    client
        .execute(
            &statement,
            &[&ws.0, &id, &status.as_str(), &total, &error, &now.millis()],
        )
        .map_err(pg)?;
    Ok(())
}

pub(crate) fn record_download(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    id: i64,
    now: Timestamp,
) -> StoreResult<()> {
    let statement = statements.get(client, COUNT_DOWNLOAD)?;
    client
        .execute(&statement, &[&ws.0, &id, &now.millis()])
        .map_err(pg)?;
    Ok(())
}
