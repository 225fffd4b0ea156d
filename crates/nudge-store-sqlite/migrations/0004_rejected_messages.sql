-- Messages the Pipelines API refused in permissive mode (answered 200 all the same), kept so
-- nothing is dropped silently: why, which field, and the message as it arrived. Append-only;
-- listed newest first per workspace, so the index is (workspace_id, id).
CREATE TABLE rejected_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    received_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    reason TEXT NOT NULL,
    field TEXT,
    raw TEXT NOT NULL
);
CREATE INDEX rejected_messages_workspace ON rejected_messages (workspace_id, id);

-- Planner statistics in the proportions of 0002_planner_statistics.sql: ten workspaces.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('rejected_messages', 'rejected_messages_workspace', '100000 10000 1');
ANALYZE sqlite_schema;
