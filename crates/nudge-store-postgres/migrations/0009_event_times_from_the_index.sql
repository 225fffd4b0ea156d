-- The processor's per-person event index carries the kind and position, so reads that need
-- an event's name, time and position but not its data (counts, last times) can be answered
-- by index-only scans.

DROP INDEX activities_person_name;
CREATE INDEX activities_person_name
    ON activities (workspace_id, person_key, name, "timestamp") INCLUDE (kind, seq);
