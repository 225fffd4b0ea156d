-- Address suppressions: email addresses and phone numbers that hard bounced or drew a spam
-- complaint, per workspace, keyed by the address as `Address` spells it (emails lower-cased).
-- Not derived from the event log: a replay or `reset_derived` keeps them, like the outbox.
CREATE TABLE address_suppressions (
    workspace_id  BIGINT NOT NULL REFERENCES workspaces (id),
    address       TEXT   NOT NULL,
    category      TEXT   NOT NULL,
    reason        TEXT,
    delivery_id   TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, address)
);

-- One person's sent messages by send time: what a frequency cap counts. Only rows that were
-- sent are in it.
CREATE INDEX journey_outbox_person_sent ON journey_outbox (workspace_id, person_key, sent_at)
    WHERE sent_at IS NOT NULL;
