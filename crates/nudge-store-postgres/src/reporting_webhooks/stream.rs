//! Appending to a workspace's report stream inside the caller's transaction: the gate (no
//! enabled endpoint, nothing appended), the head raised once per append with an upsert whose
//! row lock lasts until commit (appends to one workspace take turns, so numbers follow commit
//! order), and the reports of a delivery's outcome or metric built from its ledger row and
//! its person.

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{
    delivery_report, DeliveryChange, NewReport, ReportedDelivery, ReportedPerson, StoreResult,
};
use postgres::types::ToSql;
use postgres::GenericClient;

use crate::errors::{column, corrupt};
use crate::event_rows::to_json;
use crate::Statements;

pub(crate) const GATE: &str = "SELECT EXISTS (SELECT 1 FROM reporting_webhooks \
     WHERE workspace_id = $1 AND NOT disabled)";
pub(crate) const RAISE_HEAD: &str = "INSERT INTO reporting_streams (workspace_id, head) \
     VALUES ($1, $2) ON CONFLICT (workspace_id) \
     DO UPDATE SET head = reporting_streams.head + EXCLUDED.head RETURNING head";
pub(crate) const APPEND: &str = "INSERT INTO reporting_events \
     (workspace_id, seq, object_type, metric, first, at, appended_at, data) \
     SELECT $1, seq, object_type, metric, first, at, $7, data \
     FROM unnest($2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::BOOL[], $6::BIGINT[], $8::TEXT[]) \
     AS r (seq, object_type, metric, first, at, data)";
pub(crate) const HEAD: &str = "SELECT head FROM reporting_streams WHERE workspace_id = $1";
pub(crate) const DELIVERY_FACTS: &str = "SELECT o.message_id, o.channel, o.recipient, \
     o.subject, o.body, o.journey, o.step, o.payload, p.id, p.email, p.cio_id \
     FROM journey_outbox o LEFT JOIN people p \
     ON p.workspace_id = o.workspace_id AND p.key = o.person_key WHERE o.id = $1";

#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![GATE, RAISE_HEAD, APPEND, HEAD, DELIVERY_FACTS]
}

/// Whether the workspace has an enabled endpoint (otherwise nothing is appended: a new
/// endpoint starts at the head anyway).
pub(crate) fn reporting(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
) -> StoreResult<bool> {
    let rows = statements.query(client, GATE, &[&ws.0])?;
    match rows.first() {
        Some(row) => column(row, 0),
        None => Ok(false),
    }
}

/// The stream's head as committed (0 before its first report).
pub(crate) fn head(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
) -> StoreResult<i64> {
    let rows = statements.query(client, HEAD, &[&ws.0])?;
    match rows.first() {
        Some(row) => column(row, 0),
        None => Ok(0),
    }
}

/// Appends `reports` after the head, in order, when the workspace has an enabled endpoint.
pub(crate) fn append(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    reports: &[NewReport],
    now: Timestamp,
) -> StoreResult<usize> {
    if reports.is_empty() || !reporting(client, statements, ws)? {
        return Ok(0);
    }
    let count = reports.len() as i64;
    let rows = statements.query(client, RAISE_HEAD, &[&ws.0, &count])?;
    let head: i64 = column(
        rows.first()
            .ok_or_else(|| corrupt("reporting stream", "no head returned"))?,
        0,
    )?;
    let seqs: Vec<i64> = (0..count).map(|n| head - count + 1 + n).collect();
    let object_types: Vec<&str> = reports.iter().map(|r| r.object_type.as_str()).collect();
    let metrics: Vec<&str> = reports.iter().map(|r| r.metric.as_str()).collect();
    let firsts: Vec<bool> = reports.iter().map(|r| r.first).collect();
    let ats: Vec<i64> = reports.iter().map(|r| r.at.millis()).collect();
    let data = (reports.iter())
        .map(|r| to_json(&r.data))
        .collect::<StoreResult<Vec<_>>>()?;
    let now = now.millis();
    let params: [&(dyn ToSql + Sync); 8] = [
        &ws.0,
        &seqs,
        &object_types,
        &metrics,
        &firsts,
        &ats,
        &now,
        &data,
    ];
    statements.execute(client, APPEND, &params)?;
    Ok(reports.len())
}

/// Appends the reports of changes made to one workspace's ledger rows in this transaction.
pub(crate) fn append_delivery_changes(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    changes: &[DeliveryChange<'_>],
    now: Timestamp,
) -> StoreResult<usize> {
    if changes.is_empty() || !reporting(client, statements, ws)? {
        return Ok(0);
    }
    let mut reports = Vec::with_capacity(changes.len());
    for change in changes {
        let rows = statements.query(client, DELIVERY_FACTS, &[&change.outbox_id])?;
        let Some(row) = rows.first() else {
            continue;
        };
        let payload: &str = column(row, 7)?;
        let payload: serde_json::Value =
            serde_json::from_str(payload).map_err(|e| corrupt("outbox payload", e))?;
        let cio_id: Option<String> = column(row, 10)?;
        let person = match cio_id {
            Some(cio_id) => Some(ReportedPerson {
                id: column(row, 8)?,
                email: column(row, 9)?,
                cio_id,
            }),
            None => None,
        };
        let subject: Option<&str> = column(row, 3)?;
        let delivery = ReportedDelivery {
            delivery_id: column(row, 0)?,
            channel: column(row, 1)?,
            recipient: column(row, 2)?,
            subject,
            body: column(row, 4)?,
            journey: column(row, 5)?,
            step: column(row, 6)?,
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
    append(client, statements, ws, &reports, now)
}
