-- Transactional messages: deliveries queued by the App API outside any journey carry the
-- client's Idempotency-Key and a fingerprint of the request that used it. The key is unique
-- per workspace among the rows that have one, so a retried request finds the delivery its
-- first attempt queued, and two racing requests with one key queue one delivery. Journey
-- messages have no key (NULL), and the partial index holds none of them.

ALTER TABLE journey_outbox ADD COLUMN idempotency_key TEXT;
ALTER TABLE journey_outbox ADD COLUMN request_fingerprint TEXT;

CREATE UNIQUE INDEX journey_outbox_idempotency ON journey_outbox (workspace_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Planner statistics in the proportions of 0014_delivery_ledger.sql: a share of the messages
-- are transactional, each key names one.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('journey_outbox', 'journey_outbox_idempotency', '500000 50000 1');
ANALYZE sqlite_schema;
