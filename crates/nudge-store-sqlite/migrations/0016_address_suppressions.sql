-- Address suppressions: email addresses and phone numbers that hard bounced or drew a spam
-- complaint, per workspace, keyed by the address as `Address` spells it (emails lower-cased).
-- Not derived from the event log: a replay or `reset_derived` keeps them, like the outbox.
CREATE TABLE address_suppressions (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    address TEXT NOT NULL,
    category TEXT NOT NULL,
    reason TEXT,
    delivery_id TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, address)
);

-- One person's sent messages by send time: what a frequency cap counts. Only rows that were
-- sent are in it; a comparison on `sent_at` implies `sent_at IS NOT NULL`, so the planner
-- matches it.
CREATE INDEX journey_outbox_person_sent ON journey_outbox (workspace_id, person_key, sent_at)
    WHERE sent_at IS NOT NULL;

-- Planner statistics in the proportions of 0014_delivery_ledger.sql: five million messages,
-- five per person; a hundred thousand suppressed addresses.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('address_suppressions', 'sqlite_autoindex_address_suppressions_1', '100000 10000 1'),
    ('journey_outbox', 'journey_outbox_person_sent', '5000000 500000 5 1');
ANALYZE sqlite_schema;
