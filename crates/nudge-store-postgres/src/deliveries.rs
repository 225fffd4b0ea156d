//! [`Deliveries`] on [`PostgresStore`]: the delivery ledger kept in the outbox's own rows.
//! Each call is one statement on a pooled connection, its own transaction. A claim is one
//! `UPDATE` over the due rows it locks with `FOR UPDATE SKIP LOCKED`, so any number of nodes
//! claim at once and never the same delivery; a batch of outcomes is one `UPDATE` too, each
//! row fenced by its claim. Open deliveries are found through the partial
//! `journey_outbox_open` index on `COALESCE(due_at, created_at)`, never by a scan (the plan
//! test below checks every statement).

mod recheck;

use std::collections::HashSet;

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    Deliveries, Delivery, DeliveryQuery, DeliveryState, DeliveryUpdate, FinishedDelivery,
    InstanceRow, KeyedDelivery, NewDelivery, OutboxMessage, QueuedDelivery, RecheckQuery,
    RecheckReads, StoreResult,
};
use postgres::types::ToSql;
use postgres::Row;

use crate::errors::{column, corrupt, pg};
use crate::event_rows::to_json;
use crate::reporting_webhooks::stream;
use crate::segment_catalogue::as_limit;
use crate::{PostgresStore, Statements};

/// The columns `delivery_from_row` decodes, in its order. A NULL `updated_at` is a message
/// nothing has changed since it was queued.
macro_rules! delivery_columns {
    () => {
        "id, workspace_id, message_id, person_key, journey, step, instance, channel, recipient, \
         subject, body, payload, created_at, state, attempts, due_at, reason, \
         provider_message_id, response, COALESCE(updated_at, created_at), sent_at"
    };
}

/// Locks the due open rows no other claim holds, earliest first, and marks them attempted;
/// returns each with the due time it was claimed at (after the columns), to order them.
/// `state IN (...)` and the due-time expression as the partial index spells them.
const CLAIM_DELIVERIES: &str = concat!(
    "UPDATE journey_outbox SET state = 'attempted', attempts = attempts + 1, due_at = $2, \
     updated_at = $1 \
     FROM (SELECT id AS claimed_id, COALESCE(due_at, created_at) AS claimed_due \
     FROM journey_outbox \
     WHERE state IN ('queued', 'attempted') AND COALESCE(due_at, created_at) <= $1 \
     ORDER BY COALESCE(due_at, created_at), id LIMIT $3 FOR UPDATE SKIP LOCKED) AS claimed \
     WHERE id = claimed.claimed_id RETURNING ",
    delivery_columns!(),
    ", claimed.claimed_due"
);
/// A batch of updates, one element of each array per update ([`FinishBatch`]), each fenced by
/// its claim: still attempted, with the attempt count the claim gave it. Returns the rows it
/// wrote.
const FINISH_DELIVERIES: &str = "UPDATE journey_outbox SET state = done.state, \
     reason = done.reason, provider_message_id = done.provider_message_id, \
     response = done.response, due_at = done.due_at, updated_at = $10, sent_at = done.sent_at \
     FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[], \
     $6::TEXT[], $7::TEXT[], $8::BIGINT[], $9::BIGINT[]) AS done (workspace_id, id, attempts, \
     state, reason, provider_message_id, response, due_at, sent_at) \
     WHERE journey_outbox.id = done.id AND journey_outbox.workspace_id = done.workspace_id \
     AND journey_outbox.state = 'attempted' AND journey_outbox.attempts = done.attempts \
     RETURNING journey_outbox.workspace_id, journey_outbox.id";
const NEXT_DELIVERY_DUE: &str = "SELECT min(COALESCE(due_at, created_at)) FROM journey_outbox \
     WHERE state IN ('queued', 'attempted')";
const DELIVERY: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM journey_outbox WHERE workspace_id = $1 AND message_id = $2"
);
const WORKSPACE_DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM journey_outbox WHERE workspace_id = $1 AND id > $2 \
     AND ($3::TEXT IS NULL OR state = $3) AND ($4::TEXT IS NULL OR journey = $4) \
     AND ($5::TEXT IS NULL OR channel = $5) ORDER BY id LIMIT $6"
);
const WORKSPACE_DELIVERIES_NEWEST: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM journey_outbox WHERE workspace_id = $1 AND id < $2 \
     AND ($3::TEXT IS NULL OR state = $3) AND ($4::TEXT IS NULL OR journey = $4) \
     AND ($5::TEXT IS NULL OR channel = $5) ORDER BY workspace_id DESC, id DESC LIMIT $6"
);
const PERSON_DELIVERIES: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM journey_outbox WHERE workspace_id = $1 AND person_key = $2 AND id > $3 \
     AND ($4::TEXT IS NULL OR state = $4) AND ($5::TEXT IS NULL OR journey = $5) \
     AND ($6::TEXT IS NULL OR channel = $6) ORDER BY id LIMIT $7"
);
const PERSON_DELIVERIES_NEWEST: &str = concat!(
    "SELECT ",
    delivery_columns!(),
    " FROM journey_outbox WHERE workspace_id = $1 AND person_key = $2 AND id < $3 \
     AND ($4::TEXT IS NULL OR state = $4) AND ($5::TEXT IS NULL OR journey = $5) \
     AND ($6::TEXT IS NULL OR channel = $6) ORDER BY workspace_id DESC, person_key DESC, id DESC LIMIT $7"
);
const LOG_HEAD: &str = "SELECT COALESCE(max(\"offset\"), 0) FROM event_log WHERE workspace_id = $1";

/// Where the claimed-at due time follows the columns in a claim's rows.
const CLAIMED_DUE: usize = 21;

impl Deliveries for PostgresStore {
    fn claim_deliveries(
        &self,
        now: Timestamp,
        claim_until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        let params: [&(dyn ToSql + Sync); 3] =
            [&now.millis(), &claim_until.millis(), &as_limit(limit)];
        let rows = self.with_conn(|c, s| s.query(c, CLAIM_DELIVERIES, &params))?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                let due: i64 = column(row, CLAIMED_DUE)?;
                Ok((due, delivery_from_row(row)?))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        claimed.sort_by_key(|(due, delivery)| (*due, delivery.id));
        Ok(claimed.into_iter().map(|(_, delivery)| delivery).collect())
    }

    fn finish_deliveries(
        &self,
        finished: &[FinishedDelivery],
        now: Timestamp,
    ) -> StoreResult<Vec<bool>> {
        if finished.is_empty() {
            return Ok(Vec::new());
        }
        let mut batch = FinishBatch::default();
        // A delivery named twice is written by its first update: that one ends the claim, so
        // the fence refuses the later ones, as one statement per update in order would.
        let mut named = HashSet::new();
        let first: Vec<bool> = (finished.iter())
            .map(|done| {
                let new = named.insert((done.ws, done.id));
                if new {
                    batch.push(done, now)?;
                }
                Ok(new)
            })
            .collect::<StoreResult<_>>()?;
        let at = now;
        let now = now.millis();
        let params: [&(dyn ToSql + Sync); 10] = [
            &batch.workspace_id,
            &batch.id,
            &batch.attempts,
            &batch.state,
            &batch.reason,
            &batch.provider_message_id,
            &batch.response,
            &batch.due_at,
            &batch.sent_at,
            &now,
        ];
        self.with_conn(|c, s| {
            let mut tx = c.transaction().map_err(pg)?;
            let rows = s.query(&mut tx, FINISH_DELIVERIES, &params)?;
            let written = (rows.iter())
                .map(|row| Ok((WorkspaceId(column(row, 0)?), column::<i64>(row, 1)?)))
                .collect::<StoreResult<HashSet<_>>>()?;
            let kept: Vec<bool> = (finished.iter().zip(first))
                .map(|(done, first)| first && written.contains(&(done.ws, done.id)))
                .collect();
            report_finished(&mut tx, s, finished, &kept, at)?;
            tx.commit().map_err(pg)?;
            Ok(kept)
        })
    }

    fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>> {
        let rows = self.with_conn(|c, s| s.query(c, NEXT_DELIVERY_DUE, &[]))?;
        let next: Option<i64> = match rows.first() {
            Some(row) => column(row, 0)?,
            None => None,
        };
        Ok(next.map(Timestamp::from_millis))
    }

    fn delivery(&self, ws: WorkspaceId, delivery_id: &str) -> StoreResult<Option<Delivery>> {
        let rows = self.with_conn(|c, s| s.query(c, DELIVERY, &[&ws.0, &delivery_id]))?;
        rows.first().map(delivery_from_row).transpose()
    }

    /// Through `(workspace_id, person_key, id)` when the query names a person, else through
    /// `(workspace_id, id)`; the state, journey and channel filters are checked on the rows
    /// walked.
    fn deliveries(&self, ws: WorkspaceId, query: &DeliveryQuery) -> StoreResult<Vec<Delivery>> {
        let state = query.state.map(DeliveryState::as_str);
        let journey = query.journey.as_deref();
        let channel = query.channel.as_deref();
        let limit = as_limit(query.limit);
        let (by_person, by_workspace, bound) = if query.newest_first {
            let below = if query.after_id == 0 {
                i64::MAX
            } else {
                query.after_id
            };
            (PERSON_DELIVERIES_NEWEST, WORKSPACE_DELIVERIES_NEWEST, below)
        } else {
            (PERSON_DELIVERIES, WORKSPACE_DELIVERIES, query.after_id)
        };
        let rows = self.with_conn(|c, s| match query.person {
            Some(PersonKey(person)) => {
                let params: [&(dyn ToSql + Sync); 7] =
                    [&ws.0, &person, &bound, &state, &journey, &channel, &limit];
                s.query(c, by_person, &params)
            }
            None => {
                let params: [&(dyn ToSql + Sync); 6] =
                    [&ws.0, &bound, &state, &journey, &channel, &limit];
                s.query(c, by_workspace, &params)
            }
        })?;
        rows.iter().map(delivery_from_row).collect()
    }

    fn instances(&self, ws: WorkspaceId, ids: &[i64]) -> StoreResult<Vec<InstanceRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.with_conn(|c, s| recheck::instances(c, s, ws, ids))
    }

    fn recheck_reads(&self, ws: WorkspaceId, query: &RecheckQuery) -> StoreResult<RecheckReads> {
        self.snapshot(|tx, s| recheck::recheck_reads(tx, s, ws, query))
    }

    fn log_head(&self, ws: WorkspaceId) -> StoreResult<i64> {
        let rows = self.with_conn(|c, s| s.query(c, LOG_HEAD, &[&ws.0]))?;
        match rows.first() {
            Some(row) => column(row, 0),
            None => Ok(0),
        }
    }

    fn queue_delivery(&self, ws: WorkspaceId, new: &NewDelivery) -> StoreResult<QueuedDelivery> {
        self.queue_transactional(ws, new)
    }

    fn keyed_delivery(&self, ws: WorkspaceId, key: &str) -> StoreResult<Option<KeyedDelivery>> {
        self.keyed_transactional(ws, key)
    }
}

/// The arrays [`FINISH_DELIVERIES`] unnests: element `i` of each is update `i`'s.
#[derive(Default)]
struct FinishBatch {
    workspace_id: Vec<i64>,
    id: Vec<i64>,
    attempts: Vec<i64>,
    state: Vec<&'static str>,
    reason: Vec<Option<String>>,
    provider_message_id: Vec<Option<String>>,
    response: Vec<Option<String>>,
    due_at: Vec<Option<i64>>,
    sent_at: Vec<Option<i64>>,
}

impl FinishBatch {
    fn push(&mut self, done: &FinishedDelivery, now: Timestamp) -> StoreResult<()> {
        let update = &done.update;
        let (provider_message_id, response, sent_at) = match update {
            DeliveryUpdate::Sent {
                provider_message_id,
                response,
                ..
            } => (
                provider_message_id.clone(),
                response.as_ref().map(to_json).transpose()?,
                Some(now.millis()),
            ),
            _ => (None, None, None),
        };
        self.workspace_id.push(done.ws.0);
        self.id.push(done.id);
        self.attempts.push(i64::from(done.attempts));
        self.state.push(update.state().as_str());
        self.reason.push(update.reason().map(String::from));
        self.provider_message_id.push(provider_message_id);
        self.response.push(response);
        self.due_at.push(update.due_at().map(Timestamp::millis));
        self.sent_at.push(sent_at);
        Ok(())
    }
}

/// Decodes the columns of `delivery_columns!`.
fn delivery_from_row(row: &Row) -> StoreResult<Delivery> {
    let state_name: &str = column(row, 13)?;
    let state = DeliveryState::parse(state_name)
        .ok_or_else(|| corrupt("delivery state", format!("unknown state '{state_name}'")))?;
    let created_at = Timestamp::from_millis(column(row, 12)?);
    let payload: &str = column(row, 11)?;
    let attempts: i64 = column(row, 14)?;
    let due_at: Option<i64> = column(row, 15)?;
    let response: Option<&str> = column(row, 18)?;
    let sent_at: Option<i64> = column(row, 20)?;
    Ok(Delivery {
        id: column(row, 0)?,
        ws: WorkspaceId(column(row, 1)?),
        message: OutboxMessage {
            message_id: column(row, 2)?,
            person: PersonKey(column(row, 3)?),
            journey: column(row, 4)?,
            step: column(row, 5)?,
            instance: column(row, 6)?,
            channel: column(row, 7)?,
            recipient: column(row, 8)?,
            subject: column(row, 9)?,
            body: column(row, 10)?,
            payload: serde_json::from_str(payload).map_err(|e| corrupt("outbox payload", e))?,
            created_at,
        },
        state,
        attempts: u32::try_from(attempts).map_err(|e| corrupt("delivery attempts", e))?,
        // A NULL due time of an open delivery means "at created_at".
        due_at: (due_at.map(Timestamp::from_millis))
            .or_else(|| state.is_open().then_some(created_at)),
        reason: column(row, 16)?,
        provider_message_id: column(row, 17)?,
        response: response
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| corrupt("delivery response", e))?,
        updated_at: Timestamp::from_millis(column(row, 19)?),
        sent_at: sent_at.map(Timestamp::from_millis),
    })
}

/// Appends the reports of the outcomes and retries this transaction wrote, workspace by
/// workspace (in workspace order, so concurrent batches take the streams' locks alike).
fn report_finished(
    tx: &mut postgres::Transaction<'_>,
    statements: &mut Statements,
    finished: &[FinishedDelivery],
    kept: &[bool],
    now: Timestamp,
) -> StoreResult<()> {
    for (ws, changes) in nudge_store::finished_changes(finished, kept, now) {
        stream::append_delivery_changes(tx, statements, ws, &changes, now)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres::types::Type;
    use postgres::{Client, NoTls};

    use crate::test_database::TestDatabase;

    /// Every node of `node` and below that reads a table or an index, or sorts: (node type,
    /// index name, index condition).
    fn scans(node: &serde_json::Value, found: &mut Vec<(String, String, String)>) {
        let text = |key: &str| node[key].as_str().unwrap_or_default().to_string();
        let kind = text("Node Type");
        if kind == "Seq Scan" || kind == "Sort" || !node["Index Name"].is_null() {
            found.push((kind, text("Index Name"), text("Index Cond")));
        }
        for child in node["Plans"].as_array().into_iter().flatten() {
            scans(child, found);
        }
    }

    /// A ledger of many workspaces, analysed: five messages per person, mostly outcomes and
    /// a backlog of open deliveries. On empty tables every index costs the same (a fence on
    /// `state = 'attempted'` may as well walk the open index by id), and when one workspace
    /// holds a large share of the rows, walking the primary key and skipping the others' is
    /// the cheaper plan.
    const LEDGER: &str = "INSERT INTO workspaces (id, name, env, site_id, created_at) \
         SELECT n, 'w-' || n, 'production', 's-' || n, 0 FROM generate_series(1, 1000) AS n; \
         INSERT INTO journey_outbox (workspace_id, message_id, person_key, journey, step, \
         instance, channel, recipient, body, payload, created_at, state) \
         SELECT 1 + n % 1000, 'm-' || n, n % 20000, 'cart', 'email', n, 'email', \
         'a@example.com', 'b', '{}', n, CASE WHEN n % 50 = 0 THEN 'queued' ELSE 'sent' END \
         FROM generate_series(1, 100000) AS n; \
         ANALYZE";

    /// A statement, the text its text parameters get, and the (index names, condition) each of
    /// its scans must have.
    type Expectation = (
        &'static str,
        Option<&'static str>,
        &'static [(&'static str, &'static str)],
    );

    /// Each statement, the text its text parameters get (the listings unfiltered: a state,
    /// journey or channel filter is checked on the rows the index walk reads), and the index
    /// each of its scans must seek (one of `|`-separated names, with a condition on the
    /// index's leading expression): no sequential scan, no sort.
    #[test]
    fn every_ledger_statement_seeks_its_index() {
        let Some(db) = TestDatabase::create() else {
            return;
        };
        PostgresStore::connect(db.url()).unwrap();
        let mut client = Client::connect(db.url(), NoTls).unwrap();
        client.batch_execute(LEDGER).unwrap();
        client.batch_execute("SET enable_seqscan = off").unwrap();
        const DUE: &str = "(COALESCE(due_at, created_at) ";
        let expected: [Expectation; 9] = [
            (
                CLAIM_DELIVERIES,
                None,
                &[
                    ("journey_outbox_open", DUE),
                    ("journey_outbox_pkey", "(id = "),
                ],
            ),
            (
                FINISH_DELIVERIES,
                None,
                &[(
                    "journey_outbox_pkey|journey_outbox_workspace",
                    "(id = done.id)",
                )],
            ),
            (NEXT_DELIVERY_DUE, None, &[("journey_outbox_open", DUE)]),
            (
                DELIVERY,
                Some("m-10"),
                &[(
                    "journey_outbox_workspace_id_message_id_key",
                    "(message_id = ",
                )],
            ),
            (
                WORKSPACE_DELIVERIES,
                None,
                &[("journey_outbox_workspace", "(workspace_id = ")],
            ),
            (
                PERSON_DELIVERIES,
                None,
                &[("journey_outbox_person", "(workspace_id = ")],
            ),
            (
                WORKSPACE_DELIVERIES_NEWEST,
                None,
                &[("journey_outbox_workspace", "(workspace_id = ")],
            ),
            (
                PERSON_DELIVERIES_NEWEST,
                None,
                &[("journey_outbox_person", "(workspace_id = ")],
            ),
            (
                LOG_HEAD,
                None,
                &[("event_log_workspace", "(workspace_id = ")],
            ),
        ];
        for (sql, text, seeks) in expected {
            let statement = client.prepare(sql).unwrap();
            // Newest-first lists start below the largest id and read a page: a bound of 1
            // would let the planner pick any index for an empty range.
            let newest_first = sql.contains(" DESC");
            let last = statement.params().len().saturating_sub(1);
            let args: Vec<Box<dyn ToSql + Sync>> = (statement.params().iter().enumerate())
                .map(|(n, ty)| -> Box<dyn ToSql + Sync> {
                    match *ty {
                        Type::INT8 if newest_first && n == last => Box::new(50_i64),
                        Type::INT8 if newest_first && n > 0 => Box::new(i64::MAX),
                        Type::INT8 => Box::new(1_i64),
                        Type::TEXT => Box::new(text),
                        Type::INT8_ARRAY => Box::new(vec![1_i64]),
                        Type::TEXT_ARRAY => Box::new(vec!["x"]),
                        ref other => panic!("no sample argument for {other}"),
                    }
                })
                .collect();
            let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
            let plan: serde_json::Value = client
                .query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), &refs)
                .unwrap()
                .get(0);
            let mut found = Vec::new();
            scans(&plan[0]["Plan"], &mut found);
            let matches = found.len() == seeks.len()
                && found
                    .iter()
                    .zip(seeks)
                    .all(|((kind, index, cond), (want, on))| {
                        kind.contains("Index")
                            && want.split('|').any(|w| w == index)
                            && cond.contains(on)
                    });
            assert!(matches, "{sql}\nscans {found:?}\nexpected {seeks:?}");
        }
    }
}
