//! Queuing a delivery outside the processor on [`PostgresStore`] (the transactional API): one
//! `INSERT … ON CONFLICT DO NOTHING`, its own transaction, so a request racing another with the
//! same idempotency key waits for that one's commit and then writes nothing; the delivery the
//! key queued is then read back. Keys are found through the partial
//! `journey_outbox_idempotency` index (the plan test below checks it).

use nudge_core::WorkspaceId;
use nudge_store::{
    Deliveries, KeyedDelivery, NewDelivery, QueuedDelivery, StoreError, StoreResult,
};
use postgres::types::ToSql;

use crate::errors::{column, corrupt};
use crate::event_rows::to_json;
use crate::PostgresStore;

/// A delivery of no journey, due at `due_at`. Nothing is written (and no row returned) when
/// the delivery id or the idempotency key is already taken.
const QUEUE_DELIVERY: &str = "INSERT INTO journey_outbox (workspace_id, message_id, person_key, \
     journey, step, instance, channel, recipient, subject, body, payload, created_at, due_at, \
     idempotency_key, request_fingerprint) \
     VALUES ($1, $2, $3, '', '', 0, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT DO NOTHING RETURNING id";
const KEYED_DELIVERY: &str = "SELECT message_id, request_fingerprint FROM journey_outbox \
     WHERE workspace_id = $1 AND idempotency_key = $2";

impl PostgresStore {
    pub(crate) fn queue_transactional(
        &self,
        ws: WorkspaceId,
        new: &NewDelivery,
    ) -> StoreResult<QueuedDelivery> {
        let payload = to_json(&new.payload)?;
        let key = new.idempotency.as_ref().map(|k| k.key.as_str());
        let fingerprint = new.idempotency.as_ref().map(|k| k.fingerprint.as_str());
        let params: [&(dyn ToSql + Sync); 12] = [
            &ws.0,
            &new.delivery_id,
            &new.person.0,
            &new.channel,
            &new.recipient,
            &new.subject,
            &new.body,
            &payload,
            &new.queued_at.millis(),
            &new.due_at.millis(),
            &key,
            &fingerprint,
        ];
        let inserted = self.with_conn(|c, s| s.query(c, QUEUE_DELIVERY, &params))?;
        if !inserted.is_empty() {
            return self
                .delivery(ws, &new.delivery_id)?
                .map(QueuedDelivery::Queued)
                .ok_or_else(|| corrupt("queued delivery", "not found after its commit"));
        }
        match key {
            Some(key) => match self.keyed_transactional(ws, key)? {
                Some(earlier) => Ok(QueuedDelivery::AlreadyQueued(earlier)),
                None => Err(taken(new)),
            },
            None => Err(taken(new)),
        }
    }

    pub(crate) fn keyed_transactional(
        &self,
        ws: WorkspaceId,
        key: &str,
    ) -> StoreResult<Option<KeyedDelivery>> {
        let rows = self.with_conn(|c, s| s.query(c, KEYED_DELIVERY, &[&ws.0, &key]))?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let delivery_id: String = column(row, 0)?;
        let fingerprint: Option<String> = column(row, 1)?;
        // Ledger rows are never deleted: the row a key names is there.
        let delivery = self
            .delivery(ws, &delivery_id)?
            .ok_or_else(|| corrupt("keyed delivery", format!("'{delivery_id}' is missing")))?;
        Ok(Some(KeyedDelivery {
            delivery,
            fingerprint: fingerprint.unwrap_or_default(),
        }))
    }
}

fn taken(new: &NewDelivery) -> StoreError {
    StoreError::Conflict(format!("delivery id '{}' is taken", new.delivery_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres::{Client, NoTls};

    use crate::test_database::TestDatabase;

    /// With many keyed rows analysed, the lookup seeks the partial key index.
    #[test]
    fn the_key_lookup_seeks_its_partial_index() {
        let Some(db) = TestDatabase::create() else {
            return;
        };
        PostgresStore::connect(db.url()).unwrap();
        let mut client = Client::connect(db.url(), NoTls).unwrap();
        client
            .batch_execute(
                "INSERT INTO workspaces (id, name, env, site_id, created_at) \
                 SELECT n, 'w-' || n, 'production', 's-' || n, 0 FROM generate_series(1, 100) AS n; \
                 INSERT INTO journey_outbox (workspace_id, message_id, person_key, journey, step, \
                 instance, channel, recipient, body, payload, created_at, idempotency_key) \
                 SELECT 1 + n % 100, 'm-' || n, n, '', '', 0, 'email', 'a@example.com', 'b', \
                 '{}', n, CASE WHEN n % 2 = 0 THEN 'k-' || n END \
                 FROM generate_series(1, 20000) AS n; \
                 ANALYZE; SET enable_seqscan = off",
            )
            .unwrap();
        let plan: serde_json::Value = client
            .query_one(
                &format!("EXPLAIN (FORMAT JSON) {KEYED_DELIVERY}"),
                &[&1_i64, &"k-100"],
            )
            .unwrap()
            .get(0);
        let node = &plan[0]["Plan"];
        assert_eq!(node["Index Name"], "journey_outbox_idempotency", "{plan}");
        assert!(
            node["Node Type"].as_str().unwrap().contains("Index"),
            "{plan}"
        );
    }
}
