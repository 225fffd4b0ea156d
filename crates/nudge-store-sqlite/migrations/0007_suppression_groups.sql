-- Identifiers suppressed together (one person's id, email and phone) are freed together.
ALTER TABLE suppressions ADD COLUMN suppression_group TEXT;
CREATE INDEX suppressions_group ON suppressions (workspace_id, suppression_group);

-- Planner statistics in the proportions of 0002_planner_statistics.sql: ten workspaces.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('suppressions', 'suppressions_group', '100000 10000 2');
ANALYZE sqlite_schema;
