-- The delivery ledger: every outbox message gets a state, its attempts, when it is next looked
-- at, and its outcome. Every column has a default (or is nullable), so a message queued by the
-- unchanged INSERT is `queued`, with no attempt, due at `created_at` (a NULL `due_at` means
-- "at created_at"; statements spell the due time `COALESCE(due_at, created_at)`, as the index
-- below does, so the planner can match them), and last updated at `created_at` (a NULL
-- `updated_at`). The provider's response is JSON TEXT, like every JSON column here. Messages
-- queued before this migration become `queued` too: until now no worker took them. Constant
-- defaults make the new columns a catalogue change, not a table rewrite.

ALTER TABLE journey_outbox
    ADD COLUMN state                TEXT   NOT NULL DEFAULT 'queued',
    ADD COLUMN attempts             BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN due_at               BIGINT,
    ADD COLUMN reason               TEXT,
    ADD COLUMN provider_message_id  TEXT,
    ADD COLUMN response             TEXT,
    ADD COLUMN updated_at           BIGINT,
    ADD COLUMN sent_at              BIGINT;

-- Open deliveries of every workspace by due time, ties by id. Only open rows are in it, so
-- claiming and the next due time stay index seeks however many messages were ever sent.
-- `state IN ('queued', 'attempted')` is spelled the same in every statement that uses it.
CREATE INDEX journey_outbox_open ON journey_outbox ((COALESCE(due_at, created_at)), id)
    WHERE state IN ('queued', 'attempted');
-- One person's messages, by id.
CREATE INDEX journey_outbox_person ON journey_outbox (workspace_id, person_key, id);
