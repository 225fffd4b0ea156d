-- A person's computed-attribute fold states in one row, a JSON object by attribute name,
-- instead of one row per attribute: an evaluation reads them once and writes them once.

CREATE TABLE computed_states_by_person (
    workspace_id  BIGINT NOT NULL,
    person_key    BIGINT NOT NULL,
    states        TEXT   NOT NULL,
    PRIMARY KEY (workspace_id, person_key),
    FOREIGN KEY (workspace_id, person_key) REFERENCES people (workspace_id, key)
);
INSERT INTO computed_states_by_person (workspace_id, person_key, states)
    SELECT workspace_id, person_key, json_object_agg(name, state::json ORDER BY name)::text
    FROM computed_states GROUP BY workspace_id, person_key;
DROP TABLE computed_states;
ALTER TABLE computed_states_by_person RENAME TO computed_states;
