-- Messages the Pipelines API refused in permissive mode (answered 200 all the same), kept so
-- nothing is dropped silently: why, which field, and the message as it arrived (TEXT JSON,
-- like every other JSON column here). Append-only; listed newest first per workspace, so the
-- index is (workspace_id, id).
CREATE TABLE rejected_messages (
    id            BIGSERIAL PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces (id),
    received_at   BIGINT NOT NULL,
    source        TEXT   NOT NULL,
    reason        TEXT   NOT NULL,
    field         TEXT,
    raw           TEXT   NOT NULL
);
CREATE INDEX rejected_messages_workspace ON rejected_messages (workspace_id, id);
