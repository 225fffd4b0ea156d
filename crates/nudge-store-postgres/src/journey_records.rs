//! The journey timeline, its counters and the outbox on PostgreSQL: appended inside the write
//! transaction (an entry and its counter together; a message once per id), paged per
//! workspace through `(workspace_id, id)` and per person through
//! `(workspace_id, person_key, id)`. Nothing here rewrites an entry or a message except a
//! merge moving a person's timeline.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    JourneyCounter, JourneyEvent, OutboxMessage, StoreResult, StoredJourneyEvent, StoredMessage,
};
use postgres::types::ToSql;
use postgres::{GenericClient, Row};

use crate::errors::{column, corrupt, pg};
use crate::event_rows::to_json;
use crate::segment_catalogue::as_limit;
use crate::Statements;

/// The columns `event_from_row` decodes, in its order.
macro_rules! event_columns {
    () => {
        "id, at, person_key, journey, version, instance, step, kind, reason, detail"
    };
}

/// The columns `message_from_row` decodes, in its order.
macro_rules! message_columns {
    () => {
        "id, message_id, person_key, journey, step, instance, channel, recipient, subject, \
         body, payload, created_at"
    };
}

const RECORD_EVENT: &str = "INSERT INTO journey_events (workspace_id, at, person_key, \
     journey, version, instance, step, kind, reason, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";
const COUNT_EVENT: &str = "INSERT INTO journey_counters (workspace_id, journey, step, kind, \
     reason, count) VALUES ($1, $2, $3, $4, $5, 1) \
     ON CONFLICT (workspace_id, journey, step, kind, reason) \
     DO UPDATE SET count = journey_counters.count + 1";
const JOURNEY_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM journey_events WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3"
);
const PERSON_JOURNEY_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM journey_events WHERE workspace_id = $1 AND person_key = $2 AND id < $3 \
     ORDER BY id DESC LIMIT $4"
);
const COUNTERS: &str = "SELECT journey, step, kind, reason, count FROM journey_counters \
     WHERE workspace_id = $1 AND journey = $2";
const MOVE_TIMELINE: &str = "UPDATE journey_events SET person_key = $3 \
     WHERE workspace_id = $1 AND person_key = $2";
const ENQUEUE_MESSAGE: &str = "INSERT INTO journey_outbox (workspace_id, message_id, \
     person_key, journey, step, instance, channel, recipient, subject, body, payload, \
     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (workspace_id, message_id) DO NOTHING";
const OUTBOX: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM journey_outbox WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3"
);

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        RECORD_EVENT,
        COUNT_EVENT,
        JOURNEY_EVENTS,
        PERSON_JOURNEY_EVENTS,
        COUNTERS,
        MOVE_TIMELINE,
        ENQUEUE_MESSAGE,
        OUTBOX,
    ]
}

/// Appends `event` to the timeline and counts it; returns its id.
pub(crate) fn record(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    event: &JourneyEvent,
) -> StoreResult<i64> {
    let detail = to_json(&event.detail)?;
    let params: [&(dyn ToSql + Sync); 10] = [
        &ws.0,
        &event.at.millis(),
        &event.person.0,
        &event.journey,
        &event.version,
        &event.instance,
        &event.step,
        &event.kind,
        &event.reason,
        &detail,
    ];
    let statement = statements.get(client, RECORD_EVENT)?;
    let row = client.query_one(&statement, &params).map_err(pg)?;
    let (step, kind, reason) = JourneyCounter::key_of(event);
    let key: [&(dyn ToSql + Sync); 5] = [&ws.0, &event.journey, &step, &kind, &reason];
    statements.execute(client, COUNT_EVENT, &key)?;
    column(&row, 0)
}

pub(crate) fn journey_events(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    after_id: i64,
    limit: usize,
) -> StoreResult<Vec<StoredJourneyEvent>> {
    let params: [&(dyn ToSql + Sync); 3] = [&ws.0, &after_id, &as_limit(limit)];
    let rows = statements.query(client, JOURNEY_EVENTS, &params)?;
    rows.iter().map(event_from_row).collect()
}

pub(crate) fn person_journey_events(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    person: PersonKey,
    before_id: Option<i64>,
    limit: usize,
) -> StoreResult<Vec<StoredJourneyEvent>> {
    let before = before_id.unwrap_or(i64::MAX);
    let params: [&(dyn ToSql + Sync); 4] = [&ws.0, &person.0, &before, &as_limit(limit)];
    let rows = statements.query(client, PERSON_JOURNEY_EVENTS, &params)?;
    rows.iter().map(event_from_row).collect()
}

/// By step, kind and reason (in byte order, as on every backend, whatever the collation).
pub(crate) fn counters(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    journey: &str,
) -> StoreResult<Vec<JourneyCounter>> {
    let rows = statements.query(client, COUNTERS, &[&ws.0, &journey])?;
    let mut counters = rows
        .iter()
        .map(|row| {
            let count: i64 = column(row, 4)?;
            Ok(JourneyCounter {
                journey: column(row, 0)?,
                step: column(row, 1)?,
                kind: column(row, 2)?,
                reason: column(row, 3)?,
                count: u64::try_from(count).map_err(|e| corrupt("journey counter", e))?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    counters.sort_by(|a, b| (&a.step, &a.kind, &a.reason).cmp(&(&b.step, &b.kind, &b.reason)));
    Ok(counters)
}

/// A merge's share of the timeline: `from`'s entries become `to`'s.
pub(crate) fn move_timeline(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    from: PersonKey,
    to: PersonKey,
) -> StoreResult<()> {
    statements
        .execute(client, MOVE_TIMELINE, &[&ws.0, &from.0, &to.0])
        .map(drop)
}

/// `false`, with nothing written, when the workspace already queued this message id.
pub(crate) fn enqueue(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    message: &OutboxMessage,
) -> StoreResult<bool> {
    let payload = to_json(&message.payload)?;
    let params: [&(dyn ToSql + Sync); 12] = [
        &ws.0,
        &message.message_id,
        &message.person.0,
        &message.journey,
        &message.step,
        &message.instance,
        &message.channel,
        &message.recipient,
        &message.subject,
        &message.body,
        &payload,
        &message.created_at.millis(),
    ];
    Ok(statements.execute(client, ENQUEUE_MESSAGE, &params)? == 1)
}

pub(crate) fn outbox(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    after_id: i64,
    limit: usize,
) -> StoreResult<Vec<StoredMessage>> {
    let params: [&(dyn ToSql + Sync); 3] = [&ws.0, &after_id, &as_limit(limit)];
    let rows = statements.query(client, OUTBOX, &params)?;
    rows.iter().map(message_from_row).collect()
}

/// Decodes the columns of `event_columns!`.
fn event_from_row(row: &Row) -> StoreResult<StoredJourneyEvent> {
    let detail: &str = column(row, 9)?;
    Ok(StoredJourneyEvent {
        id: column(row, 0)?,
        event: JourneyEvent {
            at: Timestamp::from_millis(column(row, 1)?),
            person: PersonKey(column(row, 2)?),
            journey: column(row, 3)?,
            version: column(row, 4)?,
            instance: column(row, 5)?,
            step: column(row, 6)?,
            kind: column(row, 7)?,
            reason: column(row, 8)?,
            detail: serde_json::from_str(detail).map_err(|e| corrupt("journey event detail", e))?,
        },
    })
}

/// Decodes the columns of `message_columns!`.
fn message_from_row(row: &Row) -> StoreResult<StoredMessage> {
    let payload: &str = column(row, 10)?;
    Ok(StoredMessage {
        id: column(row, 0)?,
        message: OutboxMessage {
            message_id: column(row, 1)?,
            person: PersonKey(column(row, 2)?),
            journey: column(row, 3)?,
            step: column(row, 4)?,
            instance: column(row, 5)?,
            channel: column(row, 6)?,
            recipient: column(row, 7)?,
            subject: column(row, 8)?,
            body: column(row, 9)?,
            payload: serde_json::from_str(payload).map_err(|e| corrupt("outbox payload", e))?,
            created_at: Timestamp::from_millis(column(row, 11)?),
        },
    })
}
