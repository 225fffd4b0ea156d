-- Export jobs of the App API (`POST /v1/exports/customers`): what was asked (the audience
-- filter as given), how far it got, and how often its file was fetched. The file itself lives
-- in the data directory. Jobs are read by (workspace_id, id), the unique index below.
CREATE TABLE exports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    kind TEXT NOT NULL,
    filters TEXT NOT NULL,
    status TEXT NOT NULL,
    total INTEGER NOT NULL,
    downloads INTEGER NOT NULL,
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (workspace_id, id)
);

-- Planner statistics in the proportions of 0002_planner_statistics.sql: ten workspaces.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('exports', 'sqlite_autoindex_exports_1', '1000 100 1');
ANALYZE sqlite_schema;
