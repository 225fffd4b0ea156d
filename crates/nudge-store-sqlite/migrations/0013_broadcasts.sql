-- Broadcast jobs: an API-triggered broadcast as the log processor works through its audience,
-- a page of people per transaction. Keyed by the trigger id the API answered with; derived
-- from the log like journey instances (a reset wipes them and the processor starts again). The
-- audience filter is NULL for a list of named people. A job references no person: `after_key`
-- is only how far the walk over people has got.

CREATE TABLE broadcasts (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    id INTEGER NOT NULL,
    journey TEXT NOT NULL,
    data TEXT NOT NULL,
    audience_filter TEXT,
    after_key INTEGER NOT NULL,
    visited INTEGER NOT NULL,
    started INTEGER NOT NULL,
    complete INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    log_offset INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, id)
) WITHOUT ROWID;
-- The open ones of a workspace, oldest first. Complete jobs pile up; open ones are a handful,
-- so this index stays small however many broadcasts were ever sent. `complete = 0` is spelled
-- the same in the statement that reads it, so the planner can match them.
CREATE INDEX broadcasts_open ON broadcasts (workspace_id, id) WHERE complete = 0;

-- Planner statistics in the proportions of 0002_planner_statistics.sql: ten workspaces, a
-- thousand broadcasts each over time, two open at a time.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('broadcasts', 'sqlite_autoindex_broadcasts_1', '10000 1000 1'),
    ('broadcasts', 'broadcasts_open', '20 2 1');
ANALYZE sqlite_schema;
