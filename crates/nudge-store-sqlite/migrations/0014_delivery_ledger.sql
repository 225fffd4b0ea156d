-- The delivery ledger: every outbox message gets a state, its attempts, when it is next looked
-- at, and its outcome. Every column has a default (or is nullable), so a message queued by the
-- unchanged INSERT is `queued`, with no attempt, due at `created_at` (a NULL `due_at` means
-- "at created_at"; statements spell the due time `coalesce(due_at, created_at)`, as the index
-- below does, so the planner can match them), and last updated at `created_at` (a NULL
-- `updated_at`). Messages queued before this migration become `queued` too: until now no
-- worker took them.

ALTER TABLE journey_outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'queued';
ALTER TABLE journey_outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE journey_outbox ADD COLUMN due_at INTEGER;
ALTER TABLE journey_outbox ADD COLUMN reason TEXT;
ALTER TABLE journey_outbox ADD COLUMN provider_message_id TEXT;
ALTER TABLE journey_outbox ADD COLUMN response TEXT;
ALTER TABLE journey_outbox ADD COLUMN updated_at INTEGER;
ALTER TABLE journey_outbox ADD COLUMN sent_at INTEGER;

-- Open deliveries of every workspace by due time (the rowid follows: ties by id). Only open
-- rows are in it, so claiming and the next due time stay index seeks however many messages
-- were ever sent. `state IN ('queued', 'attempted')` is spelled the same in every statement
-- that uses it.
CREATE INDEX journey_outbox_open ON journey_outbox (coalesce(due_at, created_at))
    WHERE state IN ('queued', 'attempted');
-- One person's messages, by id.
CREATE INDEX journey_outbox_person ON journey_outbox (workspace_id, person_key, id);

-- Planner statistics in the proportions of 0012_journeys.sql: five million messages, a few
-- thousand open at a time, five per person.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('journey_outbox', 'journey_outbox_open', '5000 1'),
    ('journey_outbox', 'journey_outbox_person', '5000000 500000 5 1');
ANALYZE sqlite_schema;
