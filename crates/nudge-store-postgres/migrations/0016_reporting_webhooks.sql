-- Reporting webhooks: endpoints a workspace registers to be told what happened to its
-- messages and its people's subscriptions, and the ordered stream of reports they are given.
-- Neither is derived from the event log: a replay or `reset_derived` keeps them.

-- One endpoint. `cursor_seq` is the last stream row it was given (or passed); `failures`,
-- `next_attempt_at` and `last_error` describe the row after it while that row keeps failing;
-- `lease_until` is how long a dispatcher (of any node) holds it. `events` is a JSON array of
-- event names.
CREATE TABLE reporting_webhooks (
    id               BIGSERIAL PRIMARY KEY,
    workspace_id     BIGINT  NOT NULL REFERENCES workspaces (id),
    name             TEXT    NOT NULL,
    endpoint         TEXT    NOT NULL,
    events           TEXT    NOT NULL,
    disabled         BOOLEAN NOT NULL,
    full_resolution  BOOLEAN NOT NULL,
    with_content     BOOLEAN NOT NULL,
    signing_key      TEXT    NOT NULL,
    cursor_seq       BIGINT  NOT NULL,
    failures         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT,
    last_error       TEXT,
    lease_until      BIGINT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL
);
CREATE INDEX reporting_webhooks_workspace ON reporting_webhooks (workspace_id, id);

-- Each workspace's stream head: the number of its last report. Appending raises it with an
-- upsert that holds the row's lock until the appending transaction commits, so concurrent
-- appends to one workspace take turns and reports are numbered without gaps in commit order:
-- a dispatcher that read up to N never misses a row N' < N committed later.
CREATE TABLE reporting_streams (
    workspace_id  BIGINT PRIMARY KEY REFERENCES workspaces (id),
    head          BIGINT NOT NULL
);

-- The reports, by workspace and number. `first` is true when the metric happened to its
-- message for the first time; `at` is when it happened, `appended_at` when it was appended
-- (what the retention counts from); `data` is the JSON `data` object of the body.
CREATE TABLE reporting_events (
    workspace_id  BIGINT  NOT NULL,
    seq           BIGINT  NOT NULL,
    object_type   TEXT    NOT NULL,
    metric        TEXT    NOT NULL,
    first         BOOLEAN NOT NULL,
    at            BIGINT  NOT NULL,
    appended_at   BIGINT  NOT NULL,
    data          TEXT    NOT NULL,
    PRIMARY KEY (workspace_id, seq)
);
