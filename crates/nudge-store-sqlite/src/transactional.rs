//! Queuing a delivery outside the processor on [`SqliteStore`] (the transactional API): one
//! immediate transaction on the writer connection inserts the row unless its idempotency key
//! already queued one, so a key queues at most one delivery however many requests race. The
//! key is found through the partial `journey_outbox_idempotency` index (the plan test below
//! checks the lookup).

use nudge_core::WorkspaceId;
use nudge_store::{
    Deliveries, KeyedDelivery, NewDelivery, QueuedDelivery, StoreError, StoreResult,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::codec::to_json;
use crate::errors::{corrupt, from_sqlite};
use crate::SqliteStore;

/// A delivery of no journey, due at `due_at`. Nothing is written when the delivery id or the
/// idempotency key is already taken.
const QUEUE_DELIVERY: &str = "INSERT INTO journey_outbox (workspace_id, message_id, person_key, \
     journey, step, instance, channel, recipient, subject, body, payload, created_at, due_at, \
     idempotency_key, request_fingerprint) \
     VALUES (?1, ?2, ?3, '', '', 0, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
     ON CONFLICT DO NOTHING";
const KEYED_DELIVERY: &str = "SELECT message_id, request_fingerprint FROM journey_outbox \
     WHERE workspace_id = ?1 AND idempotency_key = ?2";

impl SqliteStore {
    pub(crate) fn queue_transactional(
        &self,
        ws: WorkspaceId,
        new: &NewDelivery,
    ) -> StoreResult<QueuedDelivery> {
        let payload = to_json(&new.payload)?;
        let earlier = self.in_transaction(|tx| {
            let (key, fingerprint) = match &new.idempotency {
                Some(key) => (Some(key.key.as_str()), Some(key.fingerprint.as_str())),
                None => (None, None),
            };
            let inserted = tx
                .prepare_cached(QUEUE_DELIVERY)
                .and_then(|mut stmt| {
                    stmt.execute(params![
                        ws.0,
                        new.delivery_id,
                        new.person.0,
                        new.channel,
                        new.recipient,
                        new.subject,
                        new.body,
                        payload,
                        new.queued_at.millis(),
                        new.due_at.millis(),
                        key,
                        fingerprint,
                    ])
                })
                .map_err(from_sqlite)?;
            if inserted == 1 {
                return Ok(None);
            }
            let earlier = match key {
                Some(key) => by_key(tx, ws, key)?,
                None => None,
            };
            earlier.map(Some).ok_or_else(|| {
                StoreError::Conflict(format!("delivery id '{}' is taken", new.delivery_id))
            })
        })?;
        match earlier {
            None => self
                .delivery(ws, &new.delivery_id)?
                .map(QueuedDelivery::Queued)
                .ok_or_else(|| corrupt("queued delivery", "not found after its commit")),
            Some((delivery_id, fingerprint)) => self
                .keyed(ws, &delivery_id, fingerprint)
                .map(QueuedDelivery::AlreadyQueued),
        }
    }

    pub(crate) fn keyed_transactional(
        &self,
        ws: WorkspaceId,
        key: &str,
    ) -> StoreResult<Option<KeyedDelivery>> {
        match self.with_reader(|conn| by_key(conn, ws, key))? {
            Some((delivery_id, fingerprint)) => self.keyed(ws, &delivery_id, fingerprint).map(Some),
            None => Ok(None),
        }
    }

    fn keyed(
        &self,
        ws: WorkspaceId,
        delivery_id: &str,
        fingerprint: String,
    ) -> StoreResult<KeyedDelivery> {
        // Ledger rows are never deleted: the row a key names is there.
        let delivery = self
            .delivery(ws, delivery_id)?
            .ok_or_else(|| corrupt("keyed delivery", format!("'{delivery_id}' is missing")))?;
        Ok(KeyedDelivery {
            delivery,
            fingerprint,
        })
    }
}

/// The delivery id and request fingerprint the key was used with.
fn by_key(conn: &Connection, ws: WorkspaceId, key: &str) -> StoreResult<Option<(String, String)>> {
    conn.prepare_cached(KEYED_DELIVERY)
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, key], |row| {
                Ok((row.get(0)?, row.get::<_, Option<String>>(1)?))
            })
            .optional()
        })
        .map_err(from_sqlite)
        .map(|found| found.map(|(id, fingerprint)| (id, fingerprint.unwrap_or_default())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lookup seeks the partial key index; the insert prepares against the schema.
    #[test]
    fn the_key_lookup_seeks_its_partial_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::apply(&mut conn).unwrap();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {KEYED_DELIVERY}"))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map(params![1, "k"], |row| row.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            plan,
            [
                "SEARCH journey_outbox USING INDEX journey_outbox_idempotency \
              (workspace_id=? AND idempotency_key=?)"
            ],
        );
        conn.prepare(QUEUE_DELIVERY).unwrap();
    }
}
