-- Transactional messages: deliveries queued by the App API outside any journey carry the
-- client's Idempotency-Key and a fingerprint of the request that used it. The key is unique
-- per workspace among the rows that have one, so a retried request finds the delivery its
-- first attempt queued, and two racing requests with one key queue one delivery (the second
-- insert waits for the first and then does nothing). Journey messages have no key (NULL),
-- and the partial index holds none of them. Nullable columns without defaults make this a
-- catalogue change, not a table rewrite.

ALTER TABLE journey_outbox
    ADD COLUMN idempotency_key      TEXT,
    ADD COLUMN request_fingerprint  TEXT;

CREATE UNIQUE INDEX journey_outbox_idempotency ON journey_outbox (workspace_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
