//! One endpoint's turn: post the reports after its cursor, oldest first, one at a time,
//! moving the cursor after each 2xx; pass rows it does not subscribe to; at the first failure
//! record when to retry that same row and stop. A row that keeps failing past the retention
//! is given up on, with every row appended before the retention's start, and the turn goes
//! on with what follows.

use std::sync::Arc;

use nudge_core::{Clock, Timestamp};
use nudge_store::{
    PendingEndpoint, ReportingFailure, ReportingProgress, ReportingWebhook, Store, StoreResult,
    StoredReport,
};

use super::post::{body, post, retry_delay};
use super::{blocking, millis, ReportingConfig};

/// Metrics whose repeats only `full_resolution` endpoints get.
const UNIQUE_METRICS: [&str; 2] = ["opened", "clicked"];

pub(super) struct Turn {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub http: reqwest::Client,
    pub config: Arc<ReportingConfig>,
}

/// Whether `hook` wants `row`.
pub(super) fn wants(hook: &ReportingWebhook, row: &StoredReport) -> bool {
    let name = row.event_name();
    hook.settings.events.contains(&name)
        && (hook.settings.full_resolution
            || row.report.first
            || !UNIQUE_METRICS.contains(&row.report.metric.as_str()))
}

impl Turn {
    /// Runs the turn of an endpoint this dispatcher has claimed; the lease is let go at its
    /// end (or runs out if the process dies).
    pub async fn run(self, pending: PendingEndpoint) {
        let (ws, id) = (pending.ws, pending.id);
        if let Err(e) = self.post_pending(pending).await {
            tracing::warn!(workspace = ws.0, webhook = id, error = %e,
                "reporting webhook turn failed; the endpoint is tried again");
        }
    }

    async fn post_pending(&self, pending: PendingEndpoint) -> StoreResult<()> {
        let (ws, id) = (pending.ws, pending.id);
        let Some(hook) = blocking(&self.store, move |s| s.reporting_webhook(ws, id)).await? else {
            return Ok(());
        };
        let mut cursor = pending.cursor;
        let batch = self.config.batch;
        let rows = blocking(&self.store, move |s| s.reports_after(ws, cursor, batch)).await?;
        let mut passed = cursor;
        for row in rows {
            if !wants(&hook, &row) {
                passed = row.seq;
                continue;
            }
            let now = self.clock.now();
            let sent = post(
                &self.http,
                &hook.settings.endpoint,
                &hook.signing_key,
                body(ws, &row, hook.settings.with_content),
                now,
                self.config.timeout,
            )
            .await;
            match sent {
                Ok(()) => {
                    metrics::counter!("nudge_reporting_webhook_posts_total", "outcome" => "delivered")
                        .increment(1);
                    if !self
                        .progress(&pending, cursor, row.seq, None, false)
                        .await?
                    {
                        return Ok(());
                    }
                    cursor = row.seq;
                    passed = row.seq;
                }
                Err(failure) => {
                    metrics::counter!("nudge_reporting_webhook_posts_total", "outcome" => "failed")
                        .increment(1);
                    let now = self.clock.now();
                    let retention_start = now.plus_millis(-millis(self.config.retention));
                    if row.appended_at <= retention_start {
                        return self
                            .give_up(&hook, cursor, retention_start, &failure.reason)
                            .await;
                    }
                    // The same row failing again counts on; a new row starts at one.
                    let failures = if passed == pending.cursor {
                        hook.failures + 1
                    } else {
                        1
                    };
                    let wait = retry_delay(
                        failures,
                        failure.slow,
                        self.config.first_retry,
                        self.config.max_retry,
                    );
                    let retry_at = now.plus_millis(millis(wait));
                    tracing::info!(workspace = ws.0, webhook = id, seq = row.seq, failures,
                        retry_at = %retry_at.to_rfc3339(), reason = %failure.reason,
                        "a reporting webhook post failed; later reports wait for it");
                    let failure = ReportingFailure {
                        error: failure.reason,
                        retry_at,
                    };
                    self.progress(&pending, cursor, passed, Some(failure), true)
                        .await?;
                    return Ok(());
                }
            }
        }
        self.progress(&pending, cursor, passed, None, true).await?;
        Ok(())
    }

    /// Drops every row appended before the retention's start, the failing one among them.
    async fn give_up(
        &self,
        hook: &ReportingWebhook,
        cursor: i64,
        retention_start: Timestamp,
        reason: &str,
    ) -> StoreResult<()> {
        let (ws, id) = (hook.ws, hook.id);
        let to = blocking(&self.store, move |s| {
            s.last_report_appended_by(ws, cursor, retention_start)
        })
        .await?;
        tracing::warn!(workspace = ws.0, webhook = id, from = cursor + 1, to, %reason,
            "reporting webhook reports older than the retention were given up");
        metrics::counter!("nudge_reporting_webhook_reports_dropped_total")
            .increment(u64::try_from(to - cursor).unwrap_or(0));
        let pending = PendingEndpoint {
            ws,
            id,
            cursor,
            head: to,
            next_attempt_at: None,
            lease_until: None,
        };
        self.progress(&pending, cursor, to, None, true).await?;
        Ok(())
    }

    async fn progress(
        &self,
        pending: &PendingEndpoint,
        from: i64,
        to: i64,
        failure: Option<ReportingFailure>,
        release: bool,
    ) -> StoreResult<bool> {
        let progress = ReportingProgress {
            ws: pending.ws,
            id: pending.id,
            from,
            to,
            failure,
            release,
        };
        let now = self.clock.now();
        blocking(&self.store, move |s| {
            s.record_reporting_progress(&progress, now)
        })
        .await
    }
}
