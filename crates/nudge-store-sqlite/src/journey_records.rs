//! The journey timeline, its counters and the outbox on SQLite: appended inside the writer's
//! transaction (an entry and its counter together; a message once per id), paged per
//! workspace through `(workspace_id, id)` and per person through
//! `(workspace_id, person_key, id)`. Nothing here rewrites an entry or a message except a
//! merge moving a person's timeline.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    JourneyCounter, JourneyEvent, OutboxMessage, StoreResult, StoredJourneyEvent, StoredMessage,
};
use rusqlite::{params, Connection, Params, Row};

use crate::codec::{from_json, to_json};
use crate::errors::from_sqlite;
use crate::read::limit;

/// The columns [`EventColumns`] reads, in its order.
macro_rules! event_columns {
    () => {
        "id, at, person_key, journey, version, instance, step, kind, reason, detail"
    };
}

/// The columns [`MessageColumns`] reads, in its order.
macro_rules! message_columns {
    () => {
        "id, message_id, person_key, journey, step, instance, channel, recipient, subject, \
         body, payload, created_at"
    };
}

const RECORD_EVENT: &str = "INSERT INTO journey_events (workspace_id, at, person_key, \
     journey, version, instance, step, kind, reason, detail) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const COUNT_EVENT: &str = "INSERT INTO journey_counters (workspace_id, journey, step, kind, \
     reason, count) VALUES (?1, ?2, ?3, ?4, ?5, 1) \
     ON CONFLICT (workspace_id, journey, step, kind, reason) DO UPDATE SET count = count + 1";
const JOURNEY_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM journey_events WHERE workspace_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
);
const PERSON_JOURNEY_EVENTS: &str = concat!(
    "SELECT ",
    event_columns!(),
    " FROM journey_events WHERE workspace_id = ?1 AND person_key = ?2 AND id < ?3 \
     ORDER BY id DESC LIMIT ?4"
);
const COUNTERS: &str = "SELECT journey, step, kind, reason, count FROM journey_counters \
     WHERE workspace_id = ?1 AND journey = ?2";
const MOVE_TIMELINE: &str = "UPDATE journey_events SET person_key = ?3 \
     WHERE workspace_id = ?1 AND person_key = ?2";
const ENQUEUE_MESSAGE: &str = "INSERT INTO journey_outbox (workspace_id, message_id, \
     person_key, journey, step, instance, channel, recipient, subject, body, payload, \
     created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
     ON CONFLICT (workspace_id, message_id) DO NOTHING";
const OUTBOX: &str = concat!(
    "SELECT ",
    message_columns!(),
    " FROM journey_outbox WHERE workspace_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
);

/// The statements that read or change existing rows, for the plan test.
#[cfg(test)]
pub(crate) const STATEMENTS: [&str; 5] = [
    JOURNEY_EVENTS,
    PERSON_JOURNEY_EVENTS,
    COUNTERS,
    MOVE_TIMELINE,
    OUTBOX,
];

fn run(conn: &Connection, sql: &str, params: impl Params) -> StoreResult<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut stmt| stmt.execute(params))
        .map_err(from_sqlite)
}

/// Appends `event` to the timeline and counts it; returns its id.
pub(crate) fn record(conn: &Connection, ws: WorkspaceId, event: &JourneyEvent) -> StoreResult<i64> {
    run(
        conn,
        RECORD_EVENT,
        params![
            ws.0,
            event.at.millis(),
            event.person.0,
            event.journey,
            event.version,
            event.instance,
            event.step,
            event.kind,
            event.reason,
            to_json(&event.detail)?,
        ],
    )?;
    let id = conn.last_insert_rowid();
    let (step, kind, reason) = JourneyCounter::key_of(event);
    run(
        conn,
        COUNT_EVENT,
        params![ws.0, event.journey, step, kind, reason],
    )?;
    Ok(id)
}

fn events(
    conn: &Connection,
    sql: &str,
    params: impl Params,
) -> StoreResult<Vec<StoredJourneyEvent>> {
    let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params, EventColumns::read)
        .map_err(from_sqlite)?;
    rows.map(|row| row.map_err(from_sqlite)?.decode()).collect()
}

pub(crate) fn journey_events(
    conn: &Connection,
    ws: WorkspaceId,
    after_id: i64,
    max: usize,
) -> StoreResult<Vec<StoredJourneyEvent>> {
    events(conn, JOURNEY_EVENTS, params![ws.0, after_id, limit(max)])
}

pub(crate) fn person_journey_events(
    conn: &Connection,
    ws: WorkspaceId,
    person: PersonKey,
    before_id: Option<i64>,
    max: usize,
) -> StoreResult<Vec<StoredJourneyEvent>> {
    let before = before_id.unwrap_or(i64::MAX);
    let params = params![ws.0, person.0, before, limit(max)];
    events(conn, PERSON_JOURNEY_EVENTS, params)
}

/// By step, kind and reason (in byte order, as on every backend).
pub(crate) fn counters(
    conn: &Connection,
    ws: WorkspaceId,
    journey: &str,
) -> StoreResult<Vec<JourneyCounter>> {
    let mut stmt = conn.prepare_cached(COUNTERS).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params![ws.0, journey], |row| {
            Ok(JourneyCounter {
                journey: row.get(0)?,
                step: row.get(1)?,
                kind: row.get(2)?,
                reason: row.get(3)?,
                count: row.get::<_, i64>(4)?.unsigned_abs(),
            })
        })
        .map_err(from_sqlite)?;
    let mut counters: Vec<JourneyCounter> = rows.collect::<Result<_, _>>().map_err(from_sqlite)?;
    counters.sort_by(|a, b| (&a.step, &a.kind, &a.reason).cmp(&(&b.step, &b.kind, &b.reason)));
    Ok(counters)
}

/// A merge's share of the timeline: `from`'s entries become `to`'s.
pub(crate) fn move_timeline(
    conn: &Connection,
    ws: WorkspaceId,
    from: PersonKey,
    to: PersonKey,
) -> StoreResult<()> {
    run(conn, MOVE_TIMELINE, params![ws.0, from.0, to.0]).map(drop)
}

/// `false`, with nothing written, when the workspace already queued this message id.
pub(crate) fn enqueue(
    conn: &Connection,
    ws: WorkspaceId,
    message: &OutboxMessage,
) -> StoreResult<bool> {
    let queued = run(
        conn,
        ENQUEUE_MESSAGE,
        params![
            ws.0,
            message.message_id,
            message.person.0,
            message.journey,
            message.step,
            message.instance,
            message.channel,
            message.recipient,
            message.subject,
            message.body,
            to_json(&message.payload)?,
            message.created_at.millis(),
        ],
    )?;
    Ok(queued == 1)
}

pub(crate) fn outbox(
    conn: &Connection,
    ws: WorkspaceId,
    after_id: i64,
    max: usize,
) -> StoreResult<Vec<StoredMessage>> {
    let mut stmt = conn.prepare_cached(OUTBOX).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params![ws.0, after_id, limit(max)], MessageColumns::read)
        .map_err(from_sqlite)?;
    rows.map(|row| row.map_err(from_sqlite)?.decode()).collect()
}

/// Read from `event_columns!`, in order.
struct EventColumns {
    id: i64,
    at: i64,
    person_key: i64,
    journey: String,
    version: i64,
    instance: i64,
    step: Option<String>,
    kind: String,
    reason: Option<String>,
    detail: String,
}

impl EventColumns {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            at: row.get(1)?,
            person_key: row.get(2)?,
            journey: row.get(3)?,
            version: row.get(4)?,
            instance: row.get(5)?,
            step: row.get(6)?,
            kind: row.get(7)?,
            reason: row.get(8)?,
            detail: row.get(9)?,
        })
    }

    fn decode(self) -> StoreResult<StoredJourneyEvent> {
        Ok(StoredJourneyEvent {
            id: self.id,
            event: JourneyEvent {
                at: Timestamp::from_millis(self.at),
                person: PersonKey(self.person_key),
                journey: self.journey,
                version: self.version,
                instance: self.instance,
                step: self.step,
                kind: self.kind,
                reason: self.reason,
                detail: from_json(&self.detail, "journey event detail")?,
            },
        })
    }
}

/// Read from `message_columns!`, in order.
struct MessageColumns {
    id: i64,
    message_id: String,
    person_key: i64,
    journey: String,
    step: String,
    instance: i64,
    channel: String,
    recipient: String,
    subject: Option<String>,
    body: String,
    payload: String,
    created_at: i64,
}

impl MessageColumns {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            message_id: row.get(1)?,
            person_key: row.get(2)?,
            journey: row.get(3)?,
            step: row.get(4)?,
            instance: row.get(5)?,
            channel: row.get(6)?,
            recipient: row.get(7)?,
            subject: row.get(8)?,
            body: row.get(9)?,
            payload: row.get(10)?,
            created_at: row.get(11)?,
        })
    }

    fn decode(self) -> StoreResult<StoredMessage> {
        Ok(StoredMessage {
            id: self.id,
            message: OutboxMessage {
                message_id: self.message_id,
                person: PersonKey(self.person_key),
                journey: self.journey,
                step: self.step,
                instance: self.instance,
                channel: self.channel,
                recipient: self.recipient,
                subject: self.subject,
                body: self.body,
                payload: from_json(&self.payload, "outbox payload")?,
                created_at: Timestamp::from_millis(self.created_at),
            },
        })
    }
}
