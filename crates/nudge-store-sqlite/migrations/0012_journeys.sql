-- Journeys: versioned documents (journeys and templates, every version kept, a deletion being a
-- version of its own), journey instances (the engine's state as JSON, with the fields the store
-- indexes copied beside it), the journey timeline with its counters, and the outbox of
-- messages to send. Instances hang off a person like every other per-person table; the
-- timeline and the outbox are the record of what happened and outlive the person, so they
-- reference only the workspace.

CREATE TABLE documents (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, kind, name, version)
) WITHOUT ROWID;

-- `active = 1` spelled the same in every partial index and every statement that uses one, so
-- the planner can match them.
CREATE TABLE journey_instances (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL,
    journey TEXT NOT NULL,
    version INTEGER NOT NULL,
    person_key INTEGER NOT NULL,
    key TEXT NOT NULL,
    active INTEGER NOT NULL,
    step TEXT,
    wake_at INTEGER,
    watch_until INTEGER,
    entered_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key)
);
-- Due instances of every workspace, earliest first (the rowid follows: ties by id).
CREATE INDEX journey_instances_due ON journey_instances (wake_at)
    WHERE active = 1 AND wake_at IS NOT NULL;
-- One live instance per person, journey and key.
CREATE UNIQUE INDEX journey_instances_live_key
    ON journey_instances (workspace_id, journey, person_key, key) WHERE active = 1;
CREATE INDEX journey_instances_person ON journey_instances (workspace_id, person_key, id);
CREATE INDEX journey_instances_entries
    ON journey_instances (workspace_id, journey, person_key, entered_at);
-- Waiting counts per (version, step), read in that order.
CREATE INDEX journey_instances_waiting ON journey_instances (workspace_id, journey, version, step)
    WHERE active = 1;

CREATE TABLE journey_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    at INTEGER NOT NULL,
    person_key INTEGER NOT NULL,
    journey TEXT NOT NULL,
    version INTEGER NOT NULL,
    instance INTEGER NOT NULL,
    step TEXT,
    kind TEXT NOT NULL,
    reason TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX journey_events_workspace ON journey_events (workspace_id, id);
CREATE INDEX journey_events_person ON journey_events (workspace_id, person_key, id);

-- step and reason are '' when an entry has none, so they can be part of the key.
CREATE TABLE journey_counters (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    journey TEXT NOT NULL,
    step TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, journey, step, kind, reason)
) WITHOUT ROWID;

CREATE TABLE journey_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    message_id TEXT NOT NULL,
    person_key INTEGER NOT NULL,
    journey TEXT NOT NULL,
    step TEXT NOT NULL,
    instance INTEGER NOT NULL,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT,
    body TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace_id, message_id)
);
CREATE INDEX journey_outbox_workspace ON journey_outbox (workspace_id, id);

-- Planner statistics in the proportions of 0002_planner_statistics.sql: ten workspaces, a few
-- live instances per person, a handful of journeys.
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('documents', 'sqlite_autoindex_documents_1', '1000 100 50 5 1'),
    ('journey_instances', 'journey_instances_due', '500000 2'),
    ('journey_instances', 'journey_instances_live_key', '1000000 100000 20000 1 1'),
    ('journey_instances', 'journey_instances_person', '2000000 200000 2 1'),
    ('journey_instances', 'journey_instances_entries', '2000000 200000 40000 2 1'),
    ('journey_instances', 'journey_instances_waiting', '1000000 100000 20000 10000 2000'),
    ('journey_events', 'journey_events_workspace', '20000000 2000000 1'),
    ('journey_events', 'journey_events_person', '20000000 2000000 20 1'),
    ('journey_counters', 'sqlite_autoindex_journey_counters_1', '10000 1000 200 20 4 1'),
    ('journey_outbox', 'sqlite_autoindex_journey_outbox_1', '5000000 500000 1'),
    ('journey_outbox', 'journey_outbox_workspace', '5000000 500000 1');
ANALYZE sqlite_schema;
