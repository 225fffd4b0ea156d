-- The first schema: workspaces and keys, the event log, dedupe keys, people and everything that
-- hangs off them, segments and objects. Times are milliseconds since the Unix epoch; JSON is
-- TEXT. Children reference people by (workspace_id, person_key) so a row can never point at a
-- person of another workspace, and every such reference has an index that starts with those
-- columns, so deleting a person checks its children by index, never by scan.

CREATE TABLE workspaces (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    env TEXT NOT NULL,
    site_id TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    hash BLOB PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    kind TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX api_keys_workspace ON api_keys (workspace_id);

CREATE TABLE event_log (
    offset INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    source TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    operation TEXT NOT NULL
);
CREATE INDEX event_log_workspace ON event_log (workspace_id, offset);

CREATE TABLE dedupe_keys (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    key TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, key)
) WITHOUT ROWID;
CREATE INDEX dedupe_keys_recorded_at ON dedupe_keys (recorded_at);

-- AUTOINCREMENT: a deleted person's key is never handed to someone else.
CREATE TABLE people (
    key INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    cio_id TEXT NOT NULL,
    id TEXT,
    email TEXT,
    phone TEXT,
    attributes TEXT NOT NULL,
    attribute_times TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (workspace_id, key),
    UNIQUE (workspace_id, cio_id)
);

CREATE TABLE identifiers (
    workspace_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    person_key INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, kind, value),
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key)
) WITHOUT ROWID;
CREATE INDEX identifiers_person ON identifiers (workspace_id, person_key);

CREATE TABLE activities (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL,
    person_key INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    data TEXT NOT NULL,
    event_id TEXT,
    can_trigger INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key)
);
CREATE INDEX activities_person ON activities (workspace_id, person_key, seq);

CREATE TABLE devices (
    workspace_id INTEGER NOT NULL,
    token TEXT NOT NULL,
    person_key INTEGER NOT NULL,
    platform TEXT NOT NULL,
    last_used INTEGER,
    attributes TEXT NOT NULL,
    PRIMARY KEY (workspace_id, token),
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key)
) WITHOUT ROWID;
CREATE INDEX devices_person ON devices (workspace_id, person_key, token);

-- Suppression is by identifier, not by person: it outlives the person it deleted.
CREATE TABLE suppressions (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    suppressed_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, kind, value)
) WITHOUT ROWID;

CREATE TABLE segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    manual INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace_id, id)
);

CREATE TABLE segment_members (
    workspace_id INTEGER NOT NULL,
    segment_id INTEGER NOT NULL,
    person_key INTEGER NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, segment_id, person_key),
    FOREIGN KEY (workspace_id, segment_id) REFERENCES segments (workspace_id, id),
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key)
) WITHOUT ROWID;
CREATE INDEX segment_members_person ON segment_members (workspace_id, person_key, segment_id);

CREATE TABLE objects (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    type_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    attributes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, type_id, object_id)
) WITHOUT ROWID;

CREATE TABLE relationships (
    workspace_id INTEGER NOT NULL,
    person_key INTEGER NOT NULL,
    type_id TEXT NOT NULL,
    object_id TEXT NOT NULL,
    attributes TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, person_key, type_id, object_id),
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key),
    FOREIGN KEY (workspace_id, type_id, object_id)
        REFERENCES objects (workspace_id, type_id, object_id)
) WITHOUT ROWID;
CREATE INDEX relationships_object ON relationships (workspace_id, type_id, object_id, person_key);
