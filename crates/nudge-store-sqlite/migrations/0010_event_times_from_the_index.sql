-- The processor's per-person event index carries the kind, so reads that need an event's
-- name, time and position but not its data (counts, last times) never touch the event rows.

DROP INDEX activities_person_name;
CREATE INDEX activities_person_name
    ON activities (workspace_id, person_key, name, timestamp, kind);
DELETE FROM sqlite_stat1 WHERE tbl = 'activities' AND idx = 'activities_person_name';
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('activities', 'activities_person_name', '50000000 5000000 50 5 1 1');
ANALYZE sqlite_schema;
