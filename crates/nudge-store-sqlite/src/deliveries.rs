//! [`Deliveries`] on [`SqliteStore`]: the delivery ledger kept in the outbox's own rows.
//! Claims and outcomes are immediate transactions on the writer connection, so one claim is
//! atomic against every other writer; reads use the read pool. Open deliveries are found
//! through the partial `journey_outbox_open` index on `coalesce(due_at, created_at)`, never by
//! a scan (the plan test below checks every statement).

mod recheck;

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    Deliveries, Delivery, DeliveryQuery, DeliveryState, DeliveryUpdate, FinishedDelivery,
    InstanceRow, KeyedDelivery, NewDelivery, OutboxMessage, QueuedDelivery, RecheckQuery,
    RecheckReads, StoreResult,
};
use rusqlite::{params, Connection, OptionalExtension, Params, Row};

use crate::codec::{from_json, millis, to_json};
use crate::errors::{corrupt, from_sqlite};
use crate::read::limit;
use crate::reporting_webhooks::stream;
use crate::SqliteStore;

/// The columns [`DeliveryColumns`] reads, in its order. A NULL `updated_at` is a message
/// nothing has changed since it was queued.
macro_rules! delivery_columns {
    () => {
        "id, workspace_id, message_id, person_key, journey, step, instance, channel, recipient, \
         subject, body, payload, created_at, state, attempts, due_at, reason, \
         provider_message_id, response, coalesce(updated_at, created_at), sent_at"
    };
}

/// Open deliveries whose time has come, earliest first. `state IN (...)` and the due-time
/// expression as the partial index spells them.
const DUE_DELIVERIES: &str = "SELECT id FROM journey_outbox \
     WHERE state IN ('queued', 'attempted') AND coalesce(due_at, created_at) <= ?1 \
     ORDER BY coalesce(due_at, created_at), id LIMIT ?2";
const CLAIM_DELIVERY: &str = concat!(
    "UPDATE journey_outbox SET state = 'attempted', attempts = attempts + 1, due_at = ?2, \
     updated_at = ?3 WHERE id = ?1 RETURNING ",
    delivery_columns!()
);
/// Fenced by the claim: still attempted, with the attempt count the claim gave it.
const FINISH_DELIVERY: &str = "UPDATE journey_outbox SET state = ?4, reason = ?5, \
     provider_message_id = ?6, response = ?7, due_at = ?8, updated_at = ?9, sent_at = ?10 \
     WHERE id = ?2 AND workspace_id = ?1 AND state = 'attempted' AND attempts = ?3";
const NEXT_DELIVERY_DUE: &str = "SELECT min(coalesce(due_at, created_at)) FROM journey_outbox \
     WHERE state IN ('queued', 'attempted')";
const DELIVERY: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM journey_outbox WHERE workspace_id = ?1 AND message_id = ?2"
);
const WORKSPACE_DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM journey_outbox WHERE workspace_id = ?1 AND id > ?2 \
     AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR journey = ?4) \
     AND (?5 IS NULL OR channel = ?5) ORDER BY id LIMIT ?6"
);
const WORKSPACE_DELIVERIES_NEWEST: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM journey_outbox WHERE workspace_id = ?1 AND id < ?2 \
     AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR journey = ?4) \
     AND (?5 IS NULL OR channel = ?5) ORDER BY workspace_id DESC, id DESC LIMIT ?6"
);
const PERSON_DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM journey_outbox WHERE workspace_id = ?1 AND person_key = ?2 AND id > ?3 \
     AND (?4 IS NULL OR state = ?4) AND (?5 IS NULL OR journey = ?5) \
     AND (?6 IS NULL OR channel = ?6) ORDER BY id LIMIT ?7"
);
const PERSON_DELIVERIES_NEWEST: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM journey_outbox WHERE workspace_id = ?1 AND person_key = ?2 AND id < ?3 \
     AND (?4 IS NULL OR state = ?4) AND (?5 IS NULL OR journey = ?5) \
     AND (?6 IS NULL OR channel = ?6) ORDER BY workspace_id DESC, person_key DESC, id DESC LIMIT ?7"
);
const LOG_HEAD: &str = "SELECT coalesce(max(offset), 0) FROM event_log WHERE workspace_id = ?1";

impl Deliveries for SqliteStore {
    fn claim_deliveries(
        &self,
        now: Timestamp,
        claim_until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.in_transaction(|tx| claim(tx, now, claim_until, limit))
    }

    fn finish_deliveries(
        &self,
        finished: &[FinishedDelivery],
        now: Timestamp,
    ) -> StoreResult<Vec<bool>> {
        if finished.is_empty() {
            return Ok(Vec::new());
        }
        self.in_transaction(|tx| {
            let kept: Vec<bool> = (finished.iter())
                .map(|done| finish(tx, done, now))
                .collect::<StoreResult<_>>()?;
            report_finished(tx, finished, &kept, now)?;
            Ok(kept)
        })
    }

    fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>> {
        self.with_reader(next_due)
    }

    fn delivery(&self, ws: WorkspaceId, delivery_id: &str) -> StoreResult<Option<Delivery>> {
        self.with_reader(|conn| by_delivery_id(conn, ws, delivery_id))
    }

    fn deliveries(&self, ws: WorkspaceId, query: &DeliveryQuery) -> StoreResult<Vec<Delivery>> {
        self.with_reader(|conn| list(conn, ws, query))
    }

    fn instances(&self, ws: WorkspaceId, ids: &[i64]) -> StoreResult<Vec<InstanceRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.with_snapshot(|conn| recheck::instances(conn, ws, ids))
    }

    fn recheck_reads(&self, ws: WorkspaceId, query: &RecheckQuery) -> StoreResult<RecheckReads> {
        self.with_snapshot(|conn| recheck::recheck_reads(conn, ws, query))
    }

    fn log_head(&self, ws: WorkspaceId) -> StoreResult<i64> {
        self.with_reader(|conn| {
            conn.prepare_cached(LOG_HEAD)
                .and_then(|mut stmt| stmt.query_row(params![ws.0], |row| row.get(0)))
                .map_err(from_sqlite)
        })
    }

    fn queue_delivery(&self, ws: WorkspaceId, new: &NewDelivery) -> StoreResult<QueuedDelivery> {
        self.queue_transactional(ws, new)
    }

    fn keyed_delivery(&self, ws: WorkspaceId, key: &str) -> StoreResult<Option<KeyedDelivery>> {
        self.keyed_transactional(ws, key)
    }
}

/// Inside one immediate transaction: nothing else writes between finding the due rows and
/// marking them attempted.
fn claim(
    conn: &Connection,
    now: Timestamp,
    claim_until: Timestamp,
    max: usize,
) -> StoreResult<Vec<Delivery>> {
    let due: Vec<i64> = {
        let mut stmt = conn.prepare_cached(DUE_DELIVERIES).map_err(from_sqlite)?;
        let rows = stmt
            .query_map(params![now.millis(), limit(max)], |row| row.get(0))
            .map_err(from_sqlite)?;
        rows.collect::<Result<_, _>>().map_err(from_sqlite)?
    };
    let mut stmt = conn.prepare_cached(CLAIM_DELIVERY).map_err(from_sqlite)?;
    due.into_iter()
        .map(|id| {
            stmt.query_row(
                params![id, claim_until.millis(), now.millis()],
                DeliveryColumns::read,
            )
            .map_err(from_sqlite)?
            .decode()
        })
        .collect()
}

/// Records one update if its claim still holds; `false`, with nothing written, otherwise.
fn finish(conn: &Connection, done: &FinishedDelivery, now: Timestamp) -> StoreResult<bool> {
    let update = &done.update;
    let (provider_message_id, response, sent_at) = match update {
        DeliveryUpdate::Sent {
            provider_message_id,
            response,
            ..
        } => (
            provider_message_id.as_deref(),
            response.as_ref().map(to_json).transpose()?,
            Some(now.millis()),
        ),
        _ => (None, None, None),
    };
    let changed = conn
        .prepare_cached(FINISH_DELIVERY)
        .and_then(|mut stmt| {
            stmt.execute(params![
                done.ws.0,
                done.id,
                i64::from(done.attempts),
                update.state().as_str(),
                update.reason(),
                provider_message_id,
                response,
                millis(update.due_at()),
                now.millis(),
                sent_at,
            ])
        })
        .map_err(from_sqlite)?;
    Ok(changed == 1)
}

/// Appends the reports of the outcomes and retries this transaction wrote, workspace by
/// workspace.
fn report_finished(
    conn: &Connection,
    finished: &[FinishedDelivery],
    kept: &[bool],
    now: Timestamp,
) -> StoreResult<()> {
    for (ws, changes) in nudge_store::finished_changes(finished, kept, now) {
        stream::append_delivery_changes(conn, ws, &changes, now)?;
    }
    Ok(())
}

fn next_due(conn: &Connection) -> StoreResult<Option<Timestamp>> {
    conn.prepare_cached(NEXT_DELIVERY_DUE)
        .and_then(|mut stmt| stmt.query_row([], |row| row.get::<_, Option<i64>>(0)))
        .map(|next| next.map(Timestamp::from_millis))
        .map_err(from_sqlite)
}

fn by_delivery_id(
    conn: &Connection,
    ws: WorkspaceId,
    delivery_id: &str,
) -> StoreResult<Option<Delivery>> {
    let row = conn
        .prepare_cached(DELIVERY)
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, delivery_id], DeliveryColumns::read)
                .optional()
        })
        .map_err(from_sqlite)?;
    row.map(DeliveryColumns::decode).transpose()
}

/// Through `(workspace_id, person_key, id)` when the query names a person, else through
/// `(workspace_id, id)`, up or down; the state, journey and channel filters are checked on the rows
/// walked.
fn list(conn: &Connection, ws: WorkspaceId, query: &DeliveryQuery) -> StoreResult<Vec<Delivery>> {
    let state = query.state.map(DeliveryState::as_str);
    let journey = query.journey.as_deref();
    let channel = query.channel.as_deref();
    let max = limit(query.limit);
    let (by_person, by_workspace, bound) = list_order(query);
    match query.person {
        Some(PersonKey(person)) => deliveries(
            conn,
            by_person,
            params![ws.0, person, bound, state, journey, channel, max],
        ),
        None => deliveries(
            conn,
            by_workspace,
            params![ws.0, bound, state, journey, channel, max],
        ),
    }
}

/// The statements for the query's order (by person, by workspace) and the id bound to pass.
fn list_order(query: &DeliveryQuery) -> (&'static str, &'static str, i64) {
    if query.newest_first {
        let below = if query.after_id == 0 {
            i64::MAX
        } else {
            query.after_id
        };
        (PERSON_DELIVERIES_NEWEST, WORKSPACE_DELIVERIES_NEWEST, below)
    } else {
        (PERSON_DELIVERIES, WORKSPACE_DELIVERIES, query.after_id)
    }
}

fn deliveries(conn: &Connection, sql: &str, params: impl Params) -> StoreResult<Vec<Delivery>> {
    let mut stmt = conn.prepare_cached(sql).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params, DeliveryColumns::read)
        .map_err(from_sqlite)?;
    rows.map(|row| row.map_err(from_sqlite)?.decode()).collect()
}

/// Read from `delivery_columns!`, in order.
struct DeliveryColumns {
    id: i64,
    workspace_id: i64,
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
    state: String,
    attempts: i64,
    due_at: Option<i64>,
    reason: Option<String>,
    provider_message_id: Option<String>,
    response: Option<String>,
    updated_at: i64,
    sent_at: Option<i64>,
}

impl DeliveryColumns {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            id: row.get(0)?,
            workspace_id: row.get(1)?,
            message_id: row.get(2)?,
            person_key: row.get(3)?,
            journey: row.get(4)?,
            step: row.get(5)?,
            instance: row.get(6)?,
            channel: row.get(7)?,
            recipient: row.get(8)?,
            subject: row.get(9)?,
            body: row.get(10)?,
            payload: row.get(11)?,
            created_at: row.get(12)?,
            state: row.get(13)?,
            attempts: row.get(14)?,
            due_at: row.get(15)?,
            reason: row.get(16)?,
            provider_message_id: row.get(17)?,
            response: row.get(18)?,
            updated_at: row.get(19)?,
            sent_at: row.get(20)?,
        })
    }

    fn decode(self) -> StoreResult<Delivery> {
        let state = DeliveryState::parse(&self.state)
            .ok_or_else(|| corrupt("delivery state", format!("unknown state '{}'", self.state)))?;
        let created_at = Timestamp::from_millis(self.created_at);
        // A NULL due time of an open delivery means "at created_at".
        let due_at = (self.due_at.map(Timestamp::from_millis))
            .or_else(|| state.is_open().then_some(created_at));
        Ok(Delivery {
            id: self.id,
            ws: WorkspaceId(self.workspace_id),
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
                created_at,
            },
            state,
            attempts: u32::try_from(self.attempts)
                .map_err(|err| corrupt("delivery attempts", err))?,
            due_at,
            reason: self.reason,
            provider_message_id: self.provider_message_id,
            response: (self.response)
                .map(|text| from_json(&text, "delivery response"))
                .transpose()?,
            updated_at: Timestamp::from_millis(self.updated_at),
            sent_at: self.sent_at.map(Timestamp::from_millis),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each statement and the index it must seek: no scan, no sort in a temporary B-tree.
    #[test]
    fn every_ledger_statement_seeks_its_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::apply(&mut conn).unwrap();
        let expected = [
            (DUE_DELIVERIES, "INDEX journey_outbox_open (<expr><?)"),
            (CLAIM_DELIVERY, "INTEGER PRIMARY KEY (rowid=?)"),
            (FINISH_DELIVERY, "INTEGER PRIMARY KEY (rowid=?)"),
            (NEXT_DELIVERY_DUE, "INDEX journey_outbox_open"),
            (
                DELIVERY,
                "sqlite_autoindex_journey_outbox_1 (workspace_id=? AND message_id=?)",
            ),
            (
                WORKSPACE_DELIVERIES,
                "journey_outbox_workspace (workspace_id=? AND id>?)",
            ),
            (
                PERSON_DELIVERIES,
                "journey_outbox_person (workspace_id=? AND person_key=? AND id>?)",
            ),
            (
                WORKSPACE_DELIVERIES_NEWEST,
                "journey_outbox_workspace (workspace_id=? AND id<?)",
            ),
            (
                PERSON_DELIVERIES_NEWEST,
                "journey_outbox_person (workspace_id=? AND person_key=? AND id<?)",
            ),
            (LOG_HEAD, "INDEX event_log_workspace (workspace_id=?)"),
        ];
        for (sql, index) in expected {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(nulls), |row| row.get(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert!(
                plan.len() == 1 && plan[0].starts_with("SEARCH") && plan[0].ends_with(index),
                "{sql}\n  plan: {plan:?}\n  expected one search of {index}"
            );
        }
    }
}
