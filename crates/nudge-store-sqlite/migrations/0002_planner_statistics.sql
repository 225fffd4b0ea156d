-- Tells the query planner the shape of a busy store, so it picks the right index from the
-- first row on. Without statistics SQLite assumes an equality on an index's first column
-- leaves about ten rows; every index here starts with workspace_id, so it would happily
-- "search" a whole workspace by primary-key prefix (and does so for foreign-key checks too)
-- instead of using the (workspace_id, person_key) index. The numbers describe a store with
-- ten workspaces: workspace_id is not selective, person keys and object ids are. Format per
-- index: rows, then average rows per distinct prefix of 1, 2, ... columns. A later ANALYZE
-- replaces these with measured numbers, which keep the same proportions.
-- Every new index needs a row here (in its own migration); a unit test checks it.

ANALYZE sqlite_schema;
DELETE FROM sqlite_stat1;
INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES
    ('workspaces', 'sqlite_autoindex_workspaces_1', '10 1'),
    ('workspaces', 'sqlite_autoindex_workspaces_2', '10 1'),
    ('api_keys', 'sqlite_autoindex_api_keys_1', '100 1'),
    ('api_keys', 'api_keys_workspace', '100 10'),
    ('event_log', 'event_log_workspace', '10000000 1000000 1'),
    ('dedupe_keys', 'sqlite_autoindex_dedupe_keys_1', '1000000 100000 1'),
    ('dedupe_keys', 'dedupe_keys_recorded_at', '1000000 2'),
    ('people', 'sqlite_autoindex_people_1', '1000000 100000 1'),
    ('people', 'sqlite_autoindex_people_2', '1000000 100000 1'),
    ('identifiers', 'sqlite_autoindex_identifiers_1', '3000000 300000 60000 1'),
    ('identifiers', 'identifiers_person', '3000000 300000 3'),
    ('activities', 'activities_person', '50000000 5000000 50 1'),
    ('devices', 'sqlite_autoindex_devices_1', '500000 50000 1'),
    ('devices', 'devices_person', '500000 50000 2 1'),
    ('suppressions', 'sqlite_autoindex_suppressions_1', '10000 1000 300 1'),
    ('segments', 'sqlite_autoindex_segments_1', '1000 100 1'),
    ('segment_members', 'sqlite_autoindex_segment_members_1', '2000000 200000 2000 1'),
    ('segment_members', 'segment_members_person', '2000000 200000 2 1'),
    ('objects', 'sqlite_autoindex_objects_1', '100000 10000 2000 1'),
    ('relationships', 'sqlite_autoindex_relationships_1', '1000000 100000 3 2 1'),
    ('relationships', 'relationships_object', '1000000 100000 20000 20 1');
-- Loads the rows above into this connection's planner.
ANALYZE sqlite_schema;
