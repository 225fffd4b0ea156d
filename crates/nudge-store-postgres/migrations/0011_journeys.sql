-- Journeys: versioned documents (journeys and templates, every version kept, a deletion being a
-- version of its own), journey instances (the engine's state as JSON TEXT, with the fields the
-- store indexes copied beside it), the journey timeline with its counters, and the outbox of
-- messages to send. Instances hang off a person like every other per-person table; the
-- timeline and the outbox are the record of what happened and outlive the person, so they
-- reference only the workspace.

CREATE TABLE documents (
    workspace_id  BIGINT  NOT NULL REFERENCES workspaces (id),
    kind          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    version       BIGINT  NOT NULL,
    body          TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    deleted       BOOLEAN NOT NULL,
    PRIMARY KEY (workspace_id, kind, name, version)
);

CREATE TABLE journey_instances (
    id            BIGSERIAL PRIMARY KEY,
    workspace_id  BIGINT  NOT NULL,
    journey       TEXT    NOT NULL,
    version       BIGINT  NOT NULL,
    person_key    BIGINT  NOT NULL,
    key           TEXT    NOT NULL,
    active        BOOLEAN NOT NULL,
    step          TEXT,
    wake_at       BIGINT,
    watch_until   BIGINT,
    entered_at    BIGINT  NOT NULL,
    state         TEXT    NOT NULL,
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key)
);
-- Due instances of every workspace, earliest first, ties by id.
CREATE INDEX journey_instances_due ON journey_instances (wake_at, id)
    WHERE active AND wake_at IS NOT NULL;
-- One live instance per person, journey and key.
CREATE UNIQUE INDEX journey_instances_live_key
    ON journey_instances (workspace_id, journey, person_key, key) WHERE active;
CREATE INDEX journey_instances_person ON journey_instances (workspace_id, person_key, id);
CREATE INDEX journey_instances_entries
    ON journey_instances (workspace_id, journey, person_key, entered_at);
-- Waiting counts per (version, step).
CREATE INDEX journey_instances_waiting ON journey_instances (workspace_id, journey, version, step)
    WHERE active;

CREATE TABLE journey_events (
    id            BIGSERIAL PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces (id),
    at            BIGINT NOT NULL,
    person_key    BIGINT NOT NULL,
    journey       TEXT   NOT NULL,
    version       BIGINT NOT NULL,
    instance      BIGINT NOT NULL,
    step          TEXT,
    kind          TEXT   NOT NULL,
    reason        TEXT,
    detail        TEXT   NOT NULL
);
CREATE INDEX journey_events_workspace ON journey_events (workspace_id, id);
CREATE INDEX journey_events_person ON journey_events (workspace_id, person_key, id);

-- step and reason are '' when an entry has none, so they can be part of the key.
CREATE TABLE journey_counters (
    workspace_id  BIGINT NOT NULL REFERENCES workspaces (id),
    journey       TEXT   NOT NULL,
    step          TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    reason        TEXT   NOT NULL,
    count         BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, journey, step, kind, reason)
);

CREATE TABLE journey_outbox (
    id            BIGSERIAL PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces (id),
    message_id    TEXT   NOT NULL,
    person_key    BIGINT NOT NULL,
    journey       TEXT   NOT NULL,
    step          TEXT   NOT NULL,
    instance      BIGINT NOT NULL,
    channel       TEXT   NOT NULL,
    recipient     TEXT   NOT NULL,
    subject       TEXT,
    body          TEXT   NOT NULL,
    payload       TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (workspace_id, message_id)
);
CREATE INDEX journey_outbox_workspace ON journey_outbox (workspace_id, id);
