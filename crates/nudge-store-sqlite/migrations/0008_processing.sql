-- What the log processor stores: data-driven segments (conditions on the segment row; NULL is
-- a manual segment, and `manual` says the same), computed-attribute definitions, and per
-- person its transitions, fold states and next scheduled check; its watermark per workspace;
-- and one counter every definition change raises so running processors reload.

ALTER TABLE segments ADD COLUMN conditions TEXT
    CHECK ((conditions IS NULL) = (manual = 1));
ALTER TABLE segments ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE segments ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE segments ADD COLUMN backfill_complete INTEGER NOT NULL DEFAULT 1;
ALTER TABLE segments ADD COLUMN backfill_after INTEGER NOT NULL DEFAULT 0;
ALTER TABLE segments ADD COLUMN backfill_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE segments ADD COLUMN backfill_total INTEGER NOT NULL DEFAULT 0;
UPDATE segments SET updated_at = created_at WHERE true;

CREATE TABLE computed_definitions (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL,
    definition TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    backfill_complete INTEGER NOT NULL,
    backfill_after INTEGER NOT NULL,
    backfill_done INTEGER NOT NULL,
    backfill_total INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, name)
) WITHOUT ROWID;

-- Append-only per person; the id orders them. Deleting a segment finds its transitions by
-- the second index.
CREATE TABLE segment_transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL,
    person_key INTEGER NOT NULL,
    segment_id INTEGER NOT NULL,
    entered INTEGER NOT NULL,
    at INTEGER NOT NULL,
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key),
    FOREIGN KEY (workspace_id, segment_id) REFERENCES segments (workspace_id, id)
);
CREATE INDEX segment_transitions_person ON segment_transitions (workspace_id, person_key, id);
CREATE INDEX segment_transitions_segment ON segment_transitions (workspace_id, segment_id);

CREATE TABLE computed_states (
    workspace_id INTEGER NOT NULL,
    person_key INTEGER NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (workspace_id, person_key, name),
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key)
) WITHOUT ROWID;

-- One row per evaluated person; next_check NULL means "only when their data changes". The
-- partial index holds only the scheduled ones, earliest first (the primary key follows each
-- entry, so due checks come out in (next_check, workspace_id, person_key) order).
CREATE TABLE person_schedules (
    workspace_id INTEGER NOT NULL,
    person_key INTEGER NOT NULL,
    next_check INTEGER,
    PRIMARY KEY (workspace_id, person_key),
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key)
) WITHOUT ROWID;
CREATE INDEX person_schedules_due ON person_schedules (next_check)
    WHERE next_check IS NOT NULL;

CREATE TABLE processed_offsets (
    workspace_id INTEGER PRIMARY KEY REFERENCES workspaces (id),
    offset INTEGER NOT NULL
);

CREATE TABLE config_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);

-- A person's events by name from a time on, as one range read.
CREATE INDEX activities_person_name ON activities (workspace_id, person_key, name, timestamp);

-- Planner statistics in the proportions of 0002_planner_statistics.sql: ten workspaces.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('computed_definitions', 'sqlite_autoindex_computed_definitions_1', '1000 100 1'),
    ('segment_transitions', 'segment_transitions_person', '1000000 100000 5 1'),
    ('segment_transitions', 'segment_transitions_segment', '1000000 100000 1000'),
    ('computed_states', 'sqlite_autoindex_computed_states_1', '3000000 300000 3 1'),
    ('person_schedules', 'sqlite_autoindex_person_schedules_1', '1000000 100000 1'),
    ('person_schedules', 'person_schedules_due', '100000 2'),
    ('activities', 'activities_person_name', '50000000 5000000 50 5 1');
ANALYZE sqlite_schema;
