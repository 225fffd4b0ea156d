-- Export jobs of the App API (`POST /v1/exports/customers`): what was asked (the audience
-- filter as given, TEXT JSON like every other JSON column here), how far it got, and how
-- often its file was fetched. The file itself lives in the data directory of the node that
-- ran the job. Jobs are read by (workspace_id, id), the unique index below.
CREATE TABLE exports (
    id            BIGSERIAL PRIMARY KEY,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces (id),
    kind          TEXT   NOT NULL,
    filters       TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    total         BIGINT NOT NULL,
    downloads     BIGINT NOT NULL,
    error         TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (workspace_id, id)
);
