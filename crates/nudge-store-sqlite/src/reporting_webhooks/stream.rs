//! Appending to a workspace's report stream inside the caller's transaction: the gate (no
//! enabled endpoint, nothing appended), the head raised once per append, and the reports of a
//! delivery's outcome or metric built from its ledger row and its person. Every statement is
//! a seek (the plan test in the parent module checks them).

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{
    delivery_report, DeliveryChange, NewReport, ReportedDelivery, ReportedPerson, StoreResult,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::codec::{from_json, to_json};
use crate::errors::from_sqlite;

pub(crate) const GATE: &str = "SELECT EXISTS (SELECT 1 FROM reporting_webhooks \
     WHERE workspace_id = ?1 AND disabled = 0)";
pub(crate) const RAISE_HEAD: &str = "INSERT INTO reporting_streams (workspace_id, head) \
     VALUES (?1, ?2) ON CONFLICT (workspace_id) \
     DO UPDATE SET head = reporting_streams.head + excluded.head RETURNING head";
pub(crate) const APPEND: &str = "INSERT INTO reporting_events \
     (workspace_id, seq, object_type, metric, first, at, appended_at, data) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
pub(crate) const HEAD: &str = "SELECT head FROM reporting_streams WHERE workspace_id = ?1";
pub(crate) const DELIVERY_FACTS: &str = "SELECT o.message_id, o.channel, o.recipient, \
     o.subject, o.body, o.journey, o.step, o.payload, p.id, p.email, p.cio_id \
     FROM journey_outbox o LEFT JOIN people p \
     ON p.workspace_id = o.workspace_id AND p.key = o.person_key WHERE o.id = ?1";

/// Whether the workspace has an enabled endpoint (otherwise nothing is appended: a new
/// endpoint starts at the head anyway).
pub(crate) fn reporting(conn: &Connection, ws: WorkspaceId) -> StoreResult<bool> {
    conn.prepare_cached(GATE)
        .and_then(|mut stmt| stmt.query_row(params![ws.0], |row| row.get(0)))
        .map_err(from_sqlite)
}

/// The stream's head (0 before its first report).
pub(crate) fn head(conn: &Connection, ws: WorkspaceId) -> StoreResult<i64> {
    let head = conn
        .prepare_cached(HEAD)
        .and_then(|mut stmt| stmt.query_row(params![ws.0], |row| row.get(0)).optional())
        .map_err(from_sqlite)?;
    Ok(head.unwrap_or(0))
}

/// Appends `reports` after the head, in order, when the workspace has an enabled endpoint.
pub(crate) fn append(
    conn: &Connection,
    ws: WorkspaceId,
    reports: &[NewReport],
    now: Timestamp,
) -> StoreResult<usize> {
    if reports.is_empty() || !reporting(conn, ws)? {
        return Ok(0);
    }
    let count = reports.len() as i64;
    let head: i64 = conn
        .prepare_cached(RAISE_HEAD)
        .and_then(|mut stmt| stmt.query_row(params![ws.0, count], |row| row.get(0)))
        .map_err(from_sqlite)?;
    let mut stmt = conn.prepare_cached(APPEND).map_err(from_sqlite)?;
    for (n, report) in reports.iter().enumerate() {
        stmt.execute(params![
            ws.0,
            head - count + 1 + n as i64,
            report.object_type,
            report.metric,
            report.first,
            report.at.millis(),
            now.millis(),
            to_json(&report.data)?,
        ])
        .map_err(from_sqlite)?;
    }
    Ok(reports.len())
}

/// Appends the reports of changes made to one workspace's ledger rows in this transaction.
pub(crate) fn append_delivery_changes(
    conn: &Connection,
    ws: WorkspaceId,
    changes: &[DeliveryChange<'_>],
    now: Timestamp,
) -> StoreResult<usize> {
    if changes.is_empty() || !reporting(conn, ws)? {
        return Ok(0);
    }
    let mut stmt = conn.prepare_cached(DELIVERY_FACTS).map_err(from_sqlite)?;
    let mut reports = Vec::with_capacity(changes.len());
    for change in changes {
        type Facts = (
            String,
            String,
            String,
            Option<String>,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let facts: Option<Facts> = stmt
            .query_row(params![change.outbox_id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            })
            .optional()
            .map_err(from_sqlite)?;
        let Some((
            delivery_id,
            channel,
            recipient,
            subject,
            body,
            journey,
            step,
            payload,
            id,
            email,
            cio_id,
        )) = facts
        else {
            continue;
        };
        let payload: serde_json::Value = from_json(&payload, "outbox payload")?;
        let person = cio_id.map(|cio_id| ReportedPerson { id, email, cio_id });
        let delivery = ReportedDelivery {
            delivery_id: &delivery_id,
            channel: &channel,
            recipient: &recipient,
            subject: subject.as_deref(),
            body: &body,
            journey: &journey,
            step: &step,
            payload: &payload,
            person: person.as_ref(),
        };
        reports.push(delivery_report(
            &delivery,
            change.metric,
            change.at,
            change.first,
            change.failure_message,
        ));
    }
    append(conn, ws, &reports, now)
}
