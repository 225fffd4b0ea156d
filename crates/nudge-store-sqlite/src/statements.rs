//! The SQL of the ingest hot path, one named statement per domain step, and the test that
//! proves none of it (nor the read side's per-person and per-object queries) scans a table.
//! Statements only; running them is `write_tx`'s job.

pub(crate) const APPEND_LOG: &str = "INSERT INTO event_log (workspace_id, source, received_at, \
     operation, raw) VALUES (?1, ?2, ?3, ?4, ?5)";
pub(crate) const RECORD_DEDUPE: &str = "INSERT INTO dedupe_keys (workspace_id, key, recorded_at) \
     VALUES (?1, ?2, ?3) ON CONFLICT (workspace_id, key) DO NOTHING";
pub(crate) const PRUNE_DEDUPE: &str = "DELETE FROM dedupe_keys WHERE recorded_at < ?1";
pub(crate) const INSERT_PERSON: &str = "INSERT INTO people (workspace_id, cio_id, attributes, \
     attribute_times, created_at, updated_at) VALUES (?1, ?2, '{}', '{}', ?3, ?3)";
// cio_id is immutable once inserted, so it is not rewritten.
pub(crate) const SAVE_PERSON: &str =
    "UPDATE people SET id = ?3, email = ?4, phone = ?5, attributes = ?6, \
     attribute_times = ?7, created_at = ?8, updated_at = ?9 \
     WHERE key = ?2 AND workspace_id = ?1";
/// Children first, the person's row last, so foreign keys hold at every step.
pub(crate) const DELETE_PERSON: [&str; 10] = [
    "DELETE FROM segment_transitions WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM journey_instances WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM computed_states WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM person_schedules WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM identifiers WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM devices WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM activities WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM segment_members WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM relationships WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM people WHERE key = ?2 AND workspace_id = ?1",
];
pub(crate) const LINK_IDENTIFIER: &str =
    "INSERT INTO identifiers (workspace_id, kind, value, person_key) \
     VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (workspace_id, kind, value) DO UPDATE SET person_key = excluded.person_key";
pub(crate) const UNLINK_IDENTIFIER: &str =
    "DELETE FROM identifiers WHERE workspace_id = ?1 AND kind = ?2 AND value = ?3";
pub(crate) const RECORD_ACTIVITY: &str = "INSERT INTO activities (workspace_id, person_key, \
     kind, name, timestamp, data, event_id, can_trigger, recorded_at, seq) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (seq) DO NOTHING";
pub(crate) const UPSERT_DEVICE: &str =
    "INSERT INTO devices (workspace_id, token, person_key, platform, \
     last_used, attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (workspace_id, token) DO UPDATE SET person_key = excluded.person_key, \
     platform = excluded.platform, last_used = excluded.last_used, \
     attributes = excluded.attributes";
pub(crate) const DELETE_DEVICE: &str =
    "DELETE FROM devices WHERE workspace_id = ?1 AND token = ?2 AND person_key = ?3";
/// What the processor derived for `from` alone and re-derives for the merged person: its
/// data-driven memberships, fold states and schedule. Dropped before anything moves.
pub(crate) const DROP_REEVALUATED: [&str; 3] = [
    "DELETE FROM segment_members WHERE workspace_id = ?1 AND person_key = ?2 \
     AND EXISTS (SELECT 1 FROM segments s WHERE s.id = segment_members.segment_id \
     AND s.manual = 0)",
    "DELETE FROM computed_states WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM person_schedules WHERE workspace_id = ?1 AND person_key = ?2",
];
/// Tables where `from` and `to` cannot clash (the moved column is not part of a key, or the
/// key makes a clash impossible: a device token belongs to one person) move by one UPDATE;
/// the others move what does not clash, then [`DROP_CLASHING`] removes `from`'s leftovers,
/// keeping `to`'s own.
pub(crate) const MOVE_PERSON_DATA: [&str; 5] = [
    "UPDATE identifiers SET person_key = ?3 WHERE workspace_id = ?1 AND person_key = ?2",
    "UPDATE activities SET person_key = ?3 WHERE workspace_id = ?1 AND person_key = ?2",
    "UPDATE devices SET person_key = ?3 WHERE workspace_id = ?1 AND person_key = ?2",
    "UPDATE OR IGNORE segment_members SET person_key = ?3 \
     WHERE workspace_id = ?1 AND person_key = ?2",
    "UPDATE OR IGNORE relationships SET person_key = ?3 \
     WHERE workspace_id = ?1 AND person_key = ?2",
];
/// A transition is history, kept in its order: it moves whole and never clashes.
pub(crate) const MOVE_TRANSITIONS: &str = "UPDATE segment_transitions SET person_key = ?3 \
     WHERE workspace_id = ?1 AND person_key = ?2";
pub(crate) const DROP_CLASHING: [&str; 2] = [
    "DELETE FROM segment_members WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM relationships WHERE workspace_id = ?1 AND person_key = ?2",
];
pub(crate) const SEGMENT_IS_MANUAL: &str =
    "SELECT manual FROM segments WHERE id = ?2 AND workspace_id = ?1";
pub(crate) const ADD_MEMBER: &str =
    "INSERT INTO segment_members (workspace_id, segment_id, person_key, \
     added_at) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (workspace_id, segment_id, person_key) DO NOTHING";
pub(crate) const REMOVE_MEMBER: &str = "DELETE FROM segment_members \
     WHERE workspace_id = ?1 AND segment_id = ?2 AND person_key = ?3";
pub(crate) const UPSERT_OBJECT: &str =
    "INSERT INTO objects (workspace_id, type_id, object_id, attributes, \
     created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
     ON CONFLICT (workspace_id, type_id, object_id) DO UPDATE \
     SET attributes = excluded.attributes, updated_at = excluded.updated_at";
pub(crate) const ENSURE_OBJECT: &str =
    "INSERT INTO objects (workspace_id, type_id, object_id, attributes, \
     created_at, updated_at) VALUES (?1, ?2, ?3, '{}', ?4, ?4) \
     ON CONFLICT (workspace_id, type_id, object_id) DO NOTHING";
pub(crate) const DELETE_OBJECT: [&str; 2] = [
    "DELETE FROM relationships WHERE workspace_id = ?1 AND type_id = ?2 AND object_id = ?3",
    "DELETE FROM objects WHERE workspace_id = ?1 AND type_id = ?2 AND object_id = ?3",
];
pub(crate) const SET_RELATIONSHIP: &str =
    "INSERT INTO relationships (workspace_id, person_key, type_id, \
     object_id, attributes, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (workspace_id, person_key, type_id, object_id) DO UPDATE \
     SET attributes = excluded.attributes, updated_at = excluded.updated_at";
pub(crate) const REMOVE_RELATIONSHIP: &str = "DELETE FROM relationships \
     WHERE workspace_id = ?1 AND person_key = ?2 AND type_id = ?3 AND object_id = ?4";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read;
    use rusqlite::Connection;

    /// Every statement that reads or changes existing rows: the hot path's, and the read
    /// side's per-person and per-object views.
    fn statements() -> Vec<String> {
        let mut all: Vec<String> = [
            PRUNE_DEDUPE,
            SAVE_PERSON,
            UNLINK_IDENTIFIER,
            DELETE_DEVICE,
            SEGMENT_IS_MANUAL,
            MOVE_TRANSITIONS,
            REMOVE_MEMBER,
            REMOVE_RELATIONSHIP,
        ]
        .into_iter()
        .chain(DELETE_PERSON)
        .chain(DROP_REEVALUATED)
        .chain(MOVE_PERSON_DATA)
        .chain(DROP_CLASHING)
        .chain(DELETE_OBJECT)
        .map(String::from)
        .collect();
        all.extend(
            [
                read::RESOLVE,
                read::LOAD_PERSON,
                read::OBJECT_ATTRIBUTES,
                read::PERSON_IDENTIFIERS,
                read::PERSON_DEVICES,
                read::ACTIVITIES,
                read::PERSON_SEGMENTS,
                read::OBJECT_RELATIONSHIPS,
                read::READ_LOG,
            ]
            .map(String::from),
        );
        all.extend(crate::export::STATEMENTS.map(String::from));
        all.extend(crate::marks::STATEMENTS.map(String::from));
        all.extend(crate::suppressions::STATEMENTS.map(String::from));
        all.extend(crate::processing::STATEMENTS.map(String::from));
        all.extend(crate::page::STATEMENTS.map(String::from));
        all.extend(crate::segment_catalogue::statements());
        all.extend(crate::computed_catalogue::statements());
        all.extend(crate::documents::statements());
        all.extend(crate::journeys::STATEMENTS.map(String::from));
        all.extend(crate::journey_records::STATEMENTS.map(String::from));
        all.extend(crate::broadcasts::STATEMENTS.map(String::from));
        all
    }

    /// Statements that search on the workspace alone on purpose, each with the partial index
    /// that makes this cheap: it holds only rows its predicate keeps, a handful per workspace
    /// (the open broadcasts, however many were ever sent).
    const BOUNDED_BY_PARTIAL_INDEX: [(&str, &str); 1] =
        [(crate::broadcasts::OPEN_BROADCASTS, "broadcasts_open")];

    #[test]
    fn no_hot_path_statement_scans_a_table() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::apply(&mut conn).unwrap();
        let mut scanning = Vec::new();
        for sql in statements() {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(nulls), |row| {
                    row.get::<_, String>(3)
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            // Searching on the workspace alone walks the whole workspace: a scan by another
            // name, unless it goes through the partial index that keeps that walk short.
            let partial_index = BOUNDED_BY_PARTIAL_INDEX
                .iter()
                .find(|(bounded, _)| *bounded == sql)
                .map(|(_, index)| format!(" INDEX {index} (workspace_id=?)"));
            let scans = plan.iter().any(|step| {
                (step.starts_with("SCAN")
                    && step != "SCAN CONSTANT ROW"
                    && !step.contains("json_each"))
                    || (step.ends_with("(workspace_id=?)")
                        && !partial_index
                            .as_ref()
                            .is_some_and(|through| step.ends_with(through.as_str())))
            });
            let searches = plan.iter().any(|step| step.starts_with("SEARCH"));
            if scans || !searches {
                scanning.push(format!("{sql}\n  plan: {plan:?}"));
            }
        }
        assert!(scanning.is_empty(), "{}", scanning.join("\n"));
    }
}
