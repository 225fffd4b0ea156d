-- What the log processor keeps: segment and computed-attribute definitions with their
-- backfill progress, and per person their segment transitions, computed-attribute fold
-- states and next scheduled check; per workspace how far it has processed the log; one
-- counter that every definition change raises. JSON is TEXT, as everywhere else here.

-- A segment's conditions: NULL for a manual segment, whose `manual` column must agree.
-- Segments created before this migration were all manual, and complete.
ALTER TABLE segments
    ADD COLUMN conditions         TEXT,
    ADD COLUMN version            BIGINT  NOT NULL DEFAULT 1,
    ADD COLUMN updated_at         BIGINT,
    ADD COLUMN backfill_complete  BOOLEAN NOT NULL DEFAULT TRUE,
    ADD COLUMN backfill_after     BIGINT  NOT NULL DEFAULT 0,
    ADD COLUMN backfill_done      BIGINT  NOT NULL DEFAULT 0,
    ADD COLUMN backfill_total     BIGINT  NOT NULL DEFAULT 0;
UPDATE segments SET updated_at = created_at;
ALTER TABLE segments
    ALTER COLUMN updated_at SET NOT NULL,
    ADD CONSTRAINT segments_manual_has_no_conditions CHECK (manual = (conditions IS NULL));

CREATE TABLE computed_definitions (
    workspace_id       BIGINT  NOT NULL REFERENCES workspaces (id),
    name               TEXT    NOT NULL,
    definition         TEXT    NOT NULL,
    version            BIGINT  NOT NULL,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    backfill_complete  BOOLEAN NOT NULL,
    backfill_after     BIGINT  NOT NULL,
    backfill_done      BIGINT  NOT NULL,
    backfill_total     BIGINT  NOT NULL,
    PRIMARY KEY (workspace_id, name)
);

-- History of data-driven memberships, read per person newest first. The second index serves
-- deleting a segment (and its reference check) without walking the workspace's history.
CREATE TABLE segment_transitions (
    id            BIGSERIAL PRIMARY KEY,
    workspace_id  BIGINT  NOT NULL,
    person_key    BIGINT  NOT NULL,
    segment_id    BIGINT  NOT NULL,
    entered       BOOLEAN NOT NULL,
    at            BIGINT  NOT NULL,
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key),
    FOREIGN KEY (workspace_id, segment_id) REFERENCES segments (workspace_id, id)
);
CREATE INDEX segment_transitions_person ON segment_transitions (workspace_id, person_key, id);
CREATE INDEX segment_transitions_segment ON segment_transitions (workspace_id, segment_id);

CREATE TABLE computed_states (
    workspace_id  BIGINT NOT NULL,
    person_key    BIGINT NOT NULL,
    name          TEXT   NOT NULL,
    state         TEXT   NOT NULL,
    PRIMARY KEY (workspace_id, person_key, name),
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key)
);

-- One row per person the processor has evaluated; next_check NULL means "only when their
-- data changes". Due checks are read across workspaces, earliest first, from the partial
-- index, which carries the whole answer.
CREATE TABLE person_schedules (
    workspace_id  BIGINT NOT NULL,
    person_key    BIGINT NOT NULL,
    next_check    BIGINT,
    PRIMARY KEY (workspace_id, person_key),
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key)
);
CREATE INDEX person_schedules_due ON person_schedules (next_check, workspace_id, person_key)
    WHERE next_check IS NOT NULL;

CREATE TABLE processed_offsets (
    workspace_id  BIGINT PRIMARY KEY REFERENCES workspaces (id),
    "offset"      BIGINT NOT NULL
);

-- One row: raised by every definition change, watched by running processors.
CREATE TABLE config_version (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  BIGINT  NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);

-- A person's events of some names since a time: an indexed range read per name.
CREATE INDEX activities_person_name ON activities (workspace_id, person_key, name, "timestamp");
