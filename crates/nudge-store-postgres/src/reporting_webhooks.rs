//! [`ReportingWebhooks`] on [`PostgresStore`]: endpoints in `reporting_webhooks`, each
//! workspace's report stream in `reporting_events` numbered by `reporting_streams.head`
//! (raised under its row lock, so numbers follow commit order). A dispatcher holds an
//! endpoint by a lease, so any number of nodes dispatch and one endpoint's reports still go
//! out one at a time, in order. Appends made by other changes live in [`stream`].

pub(crate) mod stream;

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{
    NewReport, PendingEndpoint, ReportingProgress, ReportingWebhook, ReportingWebhooks,
    StoreResult, StoredReport, WebhookSettings,
};
use postgres::types::ToSql;
use postgres::{GenericClient, Row};

use crate::errors::{column, corrupt, pg};
use crate::event_rows::to_json;
use crate::segment_catalogue::as_limit;
use crate::{PostgresStore, Statements};

macro_rules! webhook_columns {
    () => {
        "id, workspace_id, name, endpoint, events, disabled, full_resolution, with_content, \
         signing_key, cursor_seq, failures, next_attempt_at, last_error, created_at, updated_at"
    };
}

const CREATE: &str = concat!(
    "INSERT INTO reporting_webhooks (workspace_id, name, endpoint, events, disabled, \
     full_resolution, with_content, signing_key, cursor_seq, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING ",
    webhook_columns!()
);
const WEBHOOKS: &str = concat!(
    "SELECT ",
    webhook_columns!(),
    " FROM reporting_webhooks WHERE workspace_id = $1 ORDER BY workspace_id, id"
);
const WEBHOOK: &str = concat!(
    "SELECT ",
    webhook_columns!(),
    " FROM reporting_webhooks WHERE id = $2 AND workspace_id = $1"
);
/// Settings, and (`$9`) the cursor to start again from when the endpoint is enabled again.
const UPDATE: &str = concat!(
    "UPDATE reporting_webhooks SET name = $3, endpoint = $4, events = $5, \
     full_resolution = $7, with_content = $8, updated_at = $10, \
     cursor_seq = CASE WHEN disabled AND NOT $6 THEN $9 ELSE cursor_seq END, \
     failures = CASE WHEN disabled AND NOT $6 THEN 0 ELSE failures END, \
     next_attempt_at = CASE WHEN disabled AND NOT $6 THEN NULL ELSE next_attempt_at END, \
     last_error = CASE WHEN disabled AND NOT $6 THEN NULL ELSE last_error END, \
     lease_until = CASE WHEN disabled AND NOT $6 THEN NULL ELSE lease_until END, \
     disabled = $6 WHERE id = $2 AND workspace_id = $1 RETURNING ",
    webhook_columns!()
);
const DELETE: &str = "DELETE FROM reporting_webhooks WHERE id = $2 AND workspace_id = $1";
/// Every enabled endpoint with work: a read of the endpoints (a handful per workspace) and
/// one head each.
const PENDING: &str = "SELECT w.workspace_id, w.id, w.cursor_seq, s.head, w.next_attempt_at, \
     w.lease_until FROM reporting_webhooks w \
     JOIN reporting_streams s ON s.workspace_id = w.workspace_id \
     WHERE NOT w.disabled AND w.cursor_seq < s.head";
const CLAIM: &str = "UPDATE reporting_webhooks SET lease_until = $5 \
     WHERE id = $2 AND workspace_id = $1 AND cursor_seq = $3 AND NOT disabled \
     AND COALESCE(lease_until, 0) <= $4";
const REPORTS_AFTER: &str = "SELECT seq, object_type, metric, first, at, appended_at, data \
     FROM reporting_events WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
const LAST_APPENDED_BY: &str = "SELECT COALESCE(max(seq), $2) FROM reporting_events \
     WHERE workspace_id = $1 AND seq > $2 AND appended_at <= $3";
/// Fenced by the cursor read; a failure (`$6` set) counts one more failure of the same row,
/// or the first of a new one.
const PROGRESS: &str = "UPDATE reporting_webhooks SET \
     failures = CASE WHEN $6::BIGINT IS NULL THEN 0 WHEN $4 = cursor_seq THEN failures + 1 \
     ELSE 1 END, \
     cursor_seq = $4, next_attempt_at = $6, last_error = $7, \
     lease_until = CASE WHEN $5 THEN NULL ELSE lease_until END \
     WHERE id = $2 AND workspace_id = $1 AND cursor_seq = $3 AND NOT disabled";
/// Rows every enabled endpoint has passed (all of them when none is enabled).
const PRUNE: &str = "DELETE FROM reporting_events WHERE workspace_id = $1 AND seq <= \
     COALESCE((SELECT min(cursor_seq) FROM reporting_webhooks \
     WHERE workspace_id = $1 AND NOT disabled), \
     (SELECT head FROM reporting_streams WHERE workspace_id = $1), 0)";

/// Every statement this module runs but [`PENDING`] (a deliberate read of every endpoint),
/// for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    let mut all = vec![
        CREATE,
        WEBHOOKS,
        WEBHOOK,
        UPDATE,
        DELETE,
        CLAIM,
        REPORTS_AFTER,
        LAST_APPENDED_BY,
        PROGRESS,
        PRUNE,
    ];
    all.extend(stream::statements());
    all
}

impl ReportingWebhooks for PostgresStore {
    fn create_reporting_webhook(
        &self,
        ws: WorkspaceId,
        settings: &WebhookSettings,
        signing_key: &str,
        now: Timestamp,
    ) -> StoreResult<ReportingWebhook> {
        let events = to_json(&settings.events)?;
        self.with_conn(|client, statements| {
            let head = stream::head(client, statements, ws)?;
            let now = now.millis();
            let params: [&(dyn ToSql + Sync); 10] = [
                &ws.0,
                &settings.name,
                &settings.endpoint,
                &events,
                &settings.disabled,
                &settings.full_resolution,
                &settings.with_content,
                &signing_key,
                &head,
                &now,
            ];
            let rows = statements.query(client, CREATE, &params)?;
            let row = rows
                .first()
                .ok_or_else(|| corrupt("reporting webhook", "not returned by its insert"))?;
            webhook_from_row(row)
        })
    }

    fn reporting_webhooks(&self, ws: WorkspaceId) -> StoreResult<Vec<ReportingWebhook>> {
        let rows = self.with_conn(|c, s| s.query(c, WEBHOOKS, &[&ws.0]))?;
        rows.iter().map(webhook_from_row).collect()
    }

    fn reporting_webhook(&self, ws: WorkspaceId, id: i64) -> StoreResult<Option<ReportingWebhook>> {
        let rows = self.with_conn(|c, s| s.query(c, WEBHOOK, &[&ws.0, &id]))?;
        rows.first().map(webhook_from_row).transpose()
    }

    fn update_reporting_webhook(
        &self,
        ws: WorkspaceId,
        id: i64,
        settings: &WebhookSettings,
        now: Timestamp,
    ) -> StoreResult<Option<ReportingWebhook>> {
        let events = to_json(&settings.events)?;
        self.with_conn(|client, statements| {
            let mut tx = client.transaction().map_err(pg)?;
            let head = stream::head(&mut tx, statements, ws)?;
            let now = now.millis();
            let params: [&(dyn ToSql + Sync); 10] = [
                &ws.0,
                &id,
                &settings.name,
                &settings.endpoint,
                &events,
                &settings.disabled,
                &settings.full_resolution,
                &settings.with_content,
                &head,
                &now,
            ];
            let rows = statements.query(&mut tx, UPDATE, &params)?;
            let updated = rows.first().map(webhook_from_row).transpose()?;
            prune(&mut tx, statements, ws)?;
            tx.commit().map_err(pg)?;
            Ok(updated)
        })
    }

    fn delete_reporting_webhook(&self, ws: WorkspaceId, id: i64) -> StoreResult<bool> {
        self.with_conn(|client, statements| {
            let mut tx = client.transaction().map_err(pg)?;
            let deleted = statements.execute(&mut tx, DELETE, &[&ws.0, &id])?;
            prune(&mut tx, statements, ws)?;
            tx.commit().map_err(pg)?;
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
        self.with_conn(|client, statements| {
            let mut tx = client.transaction().map_err(pg)?;
            let appended = stream::append(&mut tx, statements, ws, reports, now)?;
            tx.commit().map_err(pg)?;
            Ok(appended)
        })
    }

    fn pending_reporting_endpoints(&self) -> StoreResult<Vec<PendingEndpoint>> {
        let rows = self.with_conn(|c, s| s.query(c, PENDING, &[]))?;
        rows.iter()
            .map(|row| {
                Ok(PendingEndpoint {
                    ws: WorkspaceId(column(row, 0)?),
                    id: column(row, 1)?,
                    cursor: column(row, 2)?,
                    head: column(row, 3)?,
                    next_attempt_at: column::<Option<i64>>(row, 4)?.map(Timestamp::from_millis),
                    lease_until: column::<Option<i64>>(row, 5)?.map(Timestamp::from_millis),
                })
            })
            .collect()
    }

    fn claim_reporting_endpoint(
        &self,
        ws: WorkspaceId,
        id: i64,
        cursor: i64,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<bool> {
        let (now, until) = (now.millis(), lease_until.millis());
        let params: [&(dyn ToSql + Sync); 5] = [&ws.0, &id, &cursor, &now, &until];
        Ok(self.with_conn(|c, s| s.execute(c, CLAIM, &params))? == 1)
    }

    fn reports_after(
        &self,
        ws: WorkspaceId,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<StoredReport>> {
        let limit = as_limit(limit);
        let params: [&(dyn ToSql + Sync); 3] = [&ws.0, &after, &limit];
        let rows = self.with_conn(|c, s| s.query(c, REPORTS_AFTER, &params))?;
        rows.iter()
            .map(|row| {
                let data: &str = column(row, 6)?;
                Ok(StoredReport {
                    seq: column(row, 0)?,
                    report: NewReport {
                        object_type: column(row, 1)?,
                        metric: column(row, 2)?,
                        first: column(row, 3)?,
                        at: Timestamp::from_millis(column(row, 4)?),
                        data: serde_json::from_str(data).map_err(|e| corrupt("report data", e))?,
                    },
                    appended_at: Timestamp::from_millis(column(row, 5)?),
                })
            })
            .collect()
    }

    fn last_report_appended_by(
        &self,
        ws: WorkspaceId,
        after: i64,
        at: Timestamp,
    ) -> StoreResult<i64> {
        let at = at.millis();
        let params: [&(dyn ToSql + Sync); 3] = [&ws.0, &after, &at];
        let rows = self.with_conn(|c, s| s.query(c, LAST_APPENDED_BY, &params))?;
        match rows.first() {
            Some(row) => column(row, 0),
            None => Ok(after),
        }
    }

    fn record_reporting_progress(
        &self,
        progress: &ReportingProgress,
        _now: Timestamp,
    ) -> StoreResult<bool> {
        let (retry_at, error) = match &progress.failure {
            Some(failure) => (
                Some(failure.retry_at.millis()),
                Some(failure.error.as_str()),
            ),
            None => (None, None),
        };
        self.with_conn(|client, statements| {
            let mut tx = client.transaction().map_err(pg)?;
            let params: [&(dyn ToSql + Sync); 7] = [
                &progress.ws.0,
                &progress.id,
                &progress.from,
                &progress.to,
                &progress.release,
                &retry_at,
                &error,
            ];
            let changed = statements.execute(&mut tx, PROGRESS, &params)? == 1;
            if changed && progress.to > progress.from {
                prune(&mut tx, statements, progress.ws)?;
            }
            tx.commit().map_err(pg)?;
            Ok(changed)
        })
    }
}

fn prune(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
) -> StoreResult<u64> {
    statements.execute(client, PRUNE, &[&ws.0])
}

/// Decodes `webhook_columns!`, in order.
fn webhook_from_row(row: &Row) -> StoreResult<ReportingWebhook> {
    let events: &str = column(row, 4)?;
    let failures: i32 = column(row, 10)?;
    Ok(ReportingWebhook {
        id: column(row, 0)?,
        ws: WorkspaceId(column(row, 1)?),
        settings: WebhookSettings {
            name: column(row, 2)?,
            endpoint: column(row, 3)?,
            events: serde_json::from_str(events)
                .map_err(|e| corrupt("reporting webhook events", e))?,
            disabled: column(row, 5)?,
            full_resolution: column(row, 6)?,
            with_content: column(row, 7)?,
        },
        signing_key: column(row, 8)?,
        cursor: column(row, 9)?,
        failures: u32::try_from(failures).map_err(|e| corrupt("reporting webhook failures", e))?,
        next_attempt_at: column::<Option<i64>>(row, 11)?.map(Timestamp::from_millis),
        last_error: column(row, 12)?,
        created_at: Timestamp::from_millis(column(row, 13)?),
        updated_at: Timestamp::from_millis(column(row, 14)?),
    })
}
