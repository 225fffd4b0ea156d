-- Marks for `nudge replay`: per subject (a person by cio_id, any identifier, an object), the
-- newest log offset that changed it. Ingestion raises them beside each change; a replayed
-- entry whose subjects carry a mark at or past its own offset is already reflected and is
-- skipped. Rows outlive their subject (a deleted person's identifiers keep theirs), so they
-- reference only the workspace. subject is 'identifier' (key = identifier kind) or 'object'
-- (key = object type id).
CREATE TABLE applied_marks (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    subject TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    applied_offset INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, subject, key, value)
) WITHOUT ROWID;

-- What was written before marks existed gets the end of its workspace's log: every entry so
-- far was applied to it, so a replay skips them. (Identifiers of people deleted before this
-- migration left no trace; `nudge replay --rebuild` is the exact way back for those.)
INSERT INTO applied_marks (workspace_id, subject, key, value, applied_offset)
SELECT p.workspace_id, 'identifier', 'cio_id', p.cio_id,
       (SELECT coalesce(max(l.offset), 0) FROM event_log l WHERE l.workspace_id = p.workspace_id)
FROM people p WHERE true;
INSERT INTO applied_marks (workspace_id, subject, key, value, applied_offset)
SELECT s.workspace_id, 'identifier', s.kind, s.value,
       (SELECT coalesce(max(l.offset), 0) FROM event_log l WHERE l.workspace_id = s.workspace_id)
FROM suppressions s WHERE true
ON CONFLICT (workspace_id, subject, key, value) DO NOTHING;
INSERT INTO applied_marks (workspace_id, subject, key, value, applied_offset)
SELECT o.workspace_id, 'object', o.type_id, o.object_id,
       (SELECT coalesce(max(l.offset), 0) FROM event_log l WHERE l.workspace_id = o.workspace_id)
FROM objects o WHERE true;

-- Planner statistics in the proportions of 0002_planner_statistics.sql: ten workspaces.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('applied_marks', 'sqlite_autoindex_applied_marks_1', '3000000 300000 150000 30000 1');
ANALYZE sqlite_schema;
