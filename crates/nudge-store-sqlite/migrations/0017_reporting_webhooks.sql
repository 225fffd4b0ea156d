-- Reporting webhooks: endpoints a workspace registers to be told what happened to its
-- messages and its people's subscriptions, and the ordered stream of reports they are given.
-- Neither is derived from the event log: a replay or `reset_derived` keeps them.

-- One endpoint. `cursor_seq` is the last stream row it was given (or passed); `failures`,
-- `next_attempt_at` and `last_error` describe the row after it while that row keeps failing;
-- `lease_until` is how long a dispatcher holds it. Booleans are 0 or 1; `events` is a JSON
-- array of event names.
CREATE TABLE reporting_webhooks (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    events TEXT NOT NULL,
    disabled INTEGER NOT NULL,
    full_resolution INTEGER NOT NULL,
    with_content INTEGER NOT NULL,
    signing_key TEXT NOT NULL,
    cursor_seq INTEGER NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER,
    last_error TEXT,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX reporting_webhooks_workspace ON reporting_webhooks (workspace_id, id);

-- Each workspace's stream head: the number of its last report. Appending raises it in the
-- appending transaction, so reports are numbered without gaps in commit order.
CREATE TABLE reporting_streams (
    workspace_id INTEGER PRIMARY KEY REFERENCES workspaces (id),
    head INTEGER NOT NULL
);

-- The reports, by workspace and number. `first` is 1 when the metric happened to its message
-- for the first time; `at` is when it happened, `appended_at` when it was appended (what the
-- retention counts from); `data` is the JSON `data` object of the body.
CREATE TABLE reporting_events (
    workspace_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    metric TEXT NOT NULL,
    first INTEGER NOT NULL,
    at INTEGER NOT NULL,
    appended_at INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (workspace_id, seq)
) WITHOUT ROWID;

-- Planner statistics: a few endpoints per workspace.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('reporting_webhooks', 'reporting_webhooks_workspace', '100 3 1');
ANALYZE sqlite_schema;
