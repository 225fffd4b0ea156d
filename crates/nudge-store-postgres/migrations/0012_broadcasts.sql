-- Broadcast jobs: an API-triggered broadcast as the log processor works through its audience,
-- a page of people per transaction. Keyed by the trigger id the API answered with; derived
-- from the log like journey instances (a reset wipes them and the processor starts again). The
-- audience filter (JSON TEXT) is NULL for a list of named people. A job references no person:
-- `after_key` is only how far the walk over people has got.

CREATE TABLE broadcasts (
    workspace_id     BIGINT  NOT NULL REFERENCES workspaces (id),
    id               BIGINT  NOT NULL,
    journey          TEXT    NOT NULL,
    data             TEXT    NOT NULL,
    audience_filter  TEXT,
    after_key        BIGINT  NOT NULL,
    visited          BIGINT  NOT NULL,
    started          BIGINT  NOT NULL,
    complete         BOOLEAN NOT NULL,
    created_at       BIGINT  NOT NULL,
    log_offset       BIGINT  NOT NULL,
    PRIMARY KEY (workspace_id, id)
);
-- The open ones of a workspace, oldest first. Complete jobs pile up; open ones are a handful,
-- so this index stays small however many broadcasts were ever sent.
CREATE INDEX broadcasts_open ON broadcasts (workspace_id, id) WHERE NOT complete;
