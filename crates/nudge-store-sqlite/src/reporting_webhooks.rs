//! [`ReportingWebhooks`] on [`SqliteStore`]: endpoints in `reporting_webhooks`, each
//! workspace's report stream in `reporting_events` numbered by `reporting_streams.head`.
//! Writes are immediate transactions on the writer connection, so numbering follows commit
//! order; reads use the read pool. Appends made by other changes live in [`stream`].

pub(crate) mod stream;

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{
    NewReport, PendingEndpoint, ReportingProgress, ReportingWebhook, ReportingWebhooks,
    StoreResult, StoredReport, WebhookSettings,
};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::codec::{from_json, millis, to_json};
use crate::errors::{corrupt, from_sqlite};
use crate::read::limit;
use crate::SqliteStore;

macro_rules! webhook_columns {
    () => {
        "id, workspace_id, name, endpoint, events, disabled, full_resolution, with_content, \
         signing_key, cursor_seq, failures, next_attempt_at, last_error, created_at, updated_at"
    };
}

const CREATE: &str = concat!(
    "INSERT INTO reporting_webhooks (workspace_id, name, endpoint, events, disabled, \
     full_resolution, with_content, signing_key, cursor_seq, created_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10) RETURNING ",
    webhook_columns!()
);
const WEBHOOKS: &str = concat!(
    "SELECT ",
    webhook_columns!(),
    " FROM reporting_webhooks WHERE workspace_id = ?1 ORDER BY workspace_id, id"
);
const WEBHOOK: &str = concat!(
    "SELECT ",
    webhook_columns!(),
    " FROM reporting_webhooks WHERE id = ?2 AND workspace_id = ?1"
);
/// Settings, and (`?9`) the cursor to start again from when the endpoint is enabled again.
const UPDATE: &str = concat!(
    "UPDATE reporting_webhooks SET name = ?3, endpoint = ?4, events = ?5, \
     full_resolution = ?7, with_content = ?8, updated_at = ?10, \
     cursor_seq = CASE WHEN disabled = 1 AND ?6 = 0 THEN ?9 ELSE cursor_seq END, \
     failures = CASE WHEN disabled = 1 AND ?6 = 0 THEN 0 ELSE failures END, \
     next_attempt_at = CASE WHEN disabled = 1 AND ?6 = 0 THEN NULL ELSE next_attempt_at END, \
     last_error = CASE WHEN disabled = 1 AND ?6 = 0 THEN NULL ELSE last_error END, \
     lease_until = CASE WHEN disabled = 1 AND ?6 = 0 THEN NULL ELSE lease_until END, \
     disabled = ?6 WHERE id = ?2 AND workspace_id = ?1 RETURNING ",
    webhook_columns!()
);
const DELETE: &str = "DELETE FROM reporting_webhooks WHERE id = ?2 AND workspace_id = ?1";
const PENDING: &str = "SELECT w.workspace_id, w.id, w.cursor_seq, s.head, w.next_attempt_at, \
     w.lease_until FROM reporting_webhooks w \
     JOIN reporting_streams s ON s.workspace_id = w.workspace_id \
     WHERE w.disabled = 0 AND w.cursor_seq < s.head";
const CLAIM: &str = "UPDATE reporting_webhooks SET lease_until = ?5 \
     WHERE id = ?2 AND workspace_id = ?1 AND cursor_seq = ?3 AND disabled = 0 \
     AND coalesce(lease_until, 0) <= ?4";
const REPORTS_AFTER: &str = "SELECT seq, object_type, metric, first, at, appended_at, data \
     FROM reporting_events WHERE workspace_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3";
const LAST_APPENDED_BY: &str = "SELECT coalesce(max(seq), ?2) FROM reporting_events \
     WHERE workspace_id = ?1 AND seq > ?2 AND appended_at <= ?3";
/// Fenced by the cursor read; a failure (`?6` set) counts one more failure of the same row,
/// or the first of a new one.
const PROGRESS: &str = "UPDATE reporting_webhooks SET \
     failures = CASE WHEN ?6 IS NULL THEN 0 WHEN ?4 = cursor_seq THEN failures + 1 ELSE 1 END, \
     cursor_seq = ?4, next_attempt_at = ?6, last_error = ?7, \
     lease_until = CASE WHEN ?5 THEN NULL ELSE lease_until END \
     WHERE id = ?2 AND workspace_id = ?1 AND cursor_seq = ?3 AND disabled = 0";
/// Rows every enabled endpoint has passed (all of them when none is enabled).
const PRUNE: &str = "DELETE FROM reporting_events WHERE workspace_id = ?1 AND seq <= \
     coalesce((SELECT min(cursor_seq) FROM reporting_webhooks \
     WHERE workspace_id = ?1 AND disabled = 0), \
     (SELECT head FROM reporting_streams WHERE workspace_id = ?1), 0)";

impl ReportingWebhooks for SqliteStore {
    fn create_reporting_webhook(
        &self,
        ws: WorkspaceId,
        settings: &WebhookSettings,
        signing_key: &str,
        now: Timestamp,
    ) -> StoreResult<ReportingWebhook> {
        let events = to_json(&settings.events)?;
        let row = self.in_transaction(|tx| {
            let head = stream::head(tx, ws)?;
            tx.prepare_cached(CREATE)
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![
                            ws.0,
                            settings.name,
                            settings.endpoint,
                            events,
                            settings.disabled,
                            settings.full_resolution,
                            settings.with_content,
                            signing_key,
                            head,
                            now.millis(),
                        ],
                        WebhookRow::read,
                    )
                })
                .map_err(from_sqlite)
        })?;
        row.decode()
    }

    fn reporting_webhooks(&self, ws: WorkspaceId) -> StoreResult<Vec<ReportingWebhook>> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(WEBHOOKS).map_err(from_sqlite)?;
            let rows = stmt
                .query_map(params![ws.0], WebhookRow::read)
                .map_err(from_sqlite)?;
            rows.map(|row| row.map_err(from_sqlite)?.decode()).collect()
        })
    }

    fn reporting_webhook(&self, ws: WorkspaceId, id: i64) -> StoreResult<Option<ReportingWebhook>> {
        let row = self.with_reader(|conn| {
            conn.prepare_cached(WEBHOOK)
                .and_then(|mut stmt| {
                    stmt.query_row(params![ws.0, id], WebhookRow::read)
                        .optional()
                })
                .map_err(from_sqlite)
        })?;
        row.map(WebhookRow::decode).transpose()
    }

    fn update_reporting_webhook(
        &self,
        ws: WorkspaceId,
        id: i64,
        settings: &WebhookSettings,
        now: Timestamp,
    ) -> StoreResult<Option<ReportingWebhook>> {
        let events = to_json(&settings.events)?;
        let row = self.in_transaction(|tx| {
            let head = stream::head(tx, ws)?;
            let row = tx
                .prepare_cached(UPDATE)
                .and_then(|mut stmt| {
                    stmt.query_row(
                        params![
                            ws.0,
                            id,
                            settings.name,
                            settings.endpoint,
                            events,
                            settings.disabled,
                            settings.full_resolution,
                            settings.with_content,
                            head,
                            now.millis(),
                        ],
                        WebhookRow::read,
                    )
                    .optional()
                })
                .map_err(from_sqlite)?;
            prune(tx, ws)?;
            Ok(row)
        })?;
        row.map(WebhookRow::decode).transpose()
    }

    fn delete_reporting_webhook(&self, ws: WorkspaceId, id: i64) -> StoreResult<bool> {
        self.in_transaction(|tx| {
            let deleted = tx
                .prepare_cached(DELETE)
                .and_then(|mut stmt| stmt.execute(params![ws.0, id]))
                .map_err(from_sqlite)?;
            prune(tx, ws)?;
            Ok(deleted == 1)
        })
    }

    fn append_reports(
        &self,
        ws: WorkspaceId,
        reports: &[NewReport],
        now: Timestamp,
    ) -> StoreResult<usize> {
        if reports.is_empty() {
            return Ok(0);
        }
        self.in_transaction(|tx| stream::append(tx, ws, reports, now))
    }

    fn pending_reporting_endpoints(&self) -> StoreResult<Vec<PendingEndpoint>> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(PENDING).map_err(from_sqlite)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok(PendingEndpoint {
                        ws: WorkspaceId(row.get(0)?),
                        id: row.get(1)?,
                        cursor: row.get(2)?,
                        head: row.get(3)?,
                        next_attempt_at: row.get::<_, Option<i64>>(4)?.map(Timestamp::from_millis),
                        lease_until: row.get::<_, Option<i64>>(5)?.map(Timestamp::from_millis),
                    })
                })
                .map_err(from_sqlite)?;
            rows.collect::<Result<_, _>>().map_err(from_sqlite)
        })
    }

    fn claim_reporting_endpoint(
        &self,
        ws: WorkspaceId,
        id: i64,
        cursor: i64,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<bool> {
        self.in_transaction(|tx| {
            let claimed = tx
                .prepare_cached(CLAIM)
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        ws.0,
                        id,
                        cursor,
                        now.millis(),
                        lease_until.millis()
                    ])
                })
                .map_err(from_sqlite)?;
            Ok(claimed == 1)
        })
    }

    fn reports_after(
        &self,
        ws: WorkspaceId,
        after: i64,
        max: usize,
    ) -> StoreResult<Vec<StoredReport>> {
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(REPORTS_AFTER).map_err(from_sqlite)?;
            let rows = stmt
                .query_map(params![ws.0, after, limit(max)], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, bool>(3)?,
                        row.get::<_, i64>(4)?,
                        row.get::<_, i64>(5)?,
                        row.get::<_, String>(6)?,
                    ))
                })
                .map_err(from_sqlite)?;
            rows.map(|row| {
                let (seq, object_type, metric, first, at, appended_at, data) =
                    row.map_err(from_sqlite)?;
                Ok(StoredReport {
                    seq,
                    report: NewReport {
                        object_type,
                        metric,
                        first,
                        at: Timestamp::from_millis(at),
                        data: from_json(&data, "report data")?,
                    },
                    appended_at: Timestamp::from_millis(appended_at),
                })
            })
            .collect()
        })
    }

    fn last_report_appended_by(
        &self,
        ws: WorkspaceId,
        after: i64,
        at: Timestamp,
    ) -> StoreResult<i64> {
        self.with_reader(|conn| {
            conn.prepare_cached(LAST_APPENDED_BY)
                .and_then(|mut stmt| {
                    stmt.query_row(params![ws.0, after, at.millis()], |row| row.get(0))
                })
                .map_err(from_sqlite)
        })
    }

    fn record_reporting_progress(
        &self,
        progress: &ReportingProgress,
        _now: Timestamp,
    ) -> StoreResult<bool> {
        let (retry_at, error) = match &progress.failure {
            Some(failure) => (Some(failure.retry_at), Some(failure.error.as_str())),
            None => (None, None),
        };
        self.in_transaction(|tx| {
            let changed = tx
                .prepare_cached(PROGRESS)
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        progress.ws.0,
                        progress.id,
                        progress.from,
                        progress.to,
                        progress.release,
                        millis(retry_at),
                        error,
                    ])
                })
                .map_err(from_sqlite)?;
            if changed == 1 && progress.to > progress.from {
                prune(tx, progress.ws)?;
            }
            Ok(changed == 1)
        })
    }
}

fn prune(conn: &Connection, ws: WorkspaceId) -> StoreResult<usize> {
    conn.prepare_cached(PRUNE)
        .and_then(|mut stmt| stmt.execute(params![ws.0]))
        .map_err(from_sqlite)
}

/// Read from `webhook_columns!`, in order.
struct WebhookRow {
    id: i64,
    workspace_id: i64,
    name: String,
    endpoint: String,
    events: String,
    disabled: bool,
    full_resolution: bool,
    with_content: bool,
    signing_key: String,
    cursor: i64,
    failures: i64,
    next_attempt_at: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl WebhookRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            workspace_id: row.get(1)?,
            name: row.get(2)?,
            endpoint: row.get(3)?,
            events: row.get(4)?,
            disabled: row.get(5)?,
            full_resolution: row.get(6)?,
            with_content: row.get(7)?,
            signing_key: row.get(8)?,
            cursor: row.get(9)?,
            failures: row.get(10)?,
            next_attempt_at: row.get(11)?,
            last_error: row.get(12)?,
            created_at: row.get(13)?,
            updated_at: row.get(14)?,
        })
    }

    fn decode(self) -> StoreResult<ReportingWebhook> {
        Ok(ReportingWebhook {
            id: self.id,
            ws: WorkspaceId(self.workspace_id),
            settings: WebhookSettings {
                name: self.name,
                endpoint: self.endpoint,
                events: from_json(&self.events, "reporting webhook events")?,
                disabled: self.disabled,
                full_resolution: self.full_resolution,
                with_content: self.with_content,
            },
            signing_key: self.signing_key,
            cursor: self.cursor,
            failures: u32::try_from(self.failures)
                .map_err(|e| corrupt("reporting webhook failures", e))?,
            next_attempt_at: self.next_attempt_at.map(Timestamp::from_millis),
            last_error: self.last_error,
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each statement on the stream seeks its key; none scans or sorts the reports.
    #[test]
    fn stream_statements_seek_their_keys() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::apply(&mut conn).unwrap();
        let expected = [
            (
                REPORTS_AFTER,
                "reporting_events",
                "(workspace_id=? AND seq>?)",
            ),
            (
                LAST_APPENDED_BY,
                "reporting_events",
                "(workspace_id=? AND seq>?)",
            ),
            (PRUNE, "reporting_events", "(workspace_id=? AND seq<?)"),
            (stream::HEAD, "reporting_streams", "(rowid=?)"),
            (stream::DELIVERY_FACTS, "o", "(rowid=?)"),
            (stream::DELIVERY_FACTS, "p", "(rowid=?)"),
            (WEBHOOKS, "reporting_webhooks", "(workspace_id=?)"),
            (PROGRESS, "reporting_webhooks", "(rowid=?)"),
            (CLAIM, "reporting_webhooks", "(rowid=?)"),
        ];
        for (sql, table, seek) in expected {
            let plan = crate::send_history::plan(&conn, sql);
            let on_table: Vec<&String> = plan
                .iter()
                .filter(|line| line.contains(&format!(" {table} ")) || line.ends_with(table))
                .collect();
            assert!(
                !on_table.is_empty()
                    && on_table
                        .iter()
                        .all(|line| line.starts_with("SEARCH") && line.contains(seek))
                    && !plan.iter().any(|line| line.contains("TEMP B-TREE")),
                "{sql}\n  plan: {plan:?}\n  expected a search of {table} by {seek}"
            );
        }
        for sql in [
            stream::GATE,
            stream::RAISE_HEAD,
            stream::APPEND,
            CREATE,
            UPDATE,
            DELETE,
            PENDING,
        ] {
            conn.prepare(sql).unwrap();
        }
    }
}
