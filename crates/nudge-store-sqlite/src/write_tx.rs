//! The ingest hot path: [`WriteTx`] on the writer connection inside one immediate
//! transaction. Every statement is cached and reaches its rows through a primary key or an
//! index (the plan test below guards that); none scans a table. Commit and rollback belong to
//! `SqliteStore::write`, never to this type.

use nudge_core::{
    Activity, Device, Identifier, JsonMap, ObjectRef, PersonKey, PersonState, Timestamp,
    WorkspaceId,
};
use nudge_store::{LogEntry, StoreError, StoreResult, WriteTx};
use rusqlite::{params, Connection, OptionalExtension, Params};

use crate::codec::{merge_attributes, millis, to_json};
use crate::errors::from_sqlite;
use crate::read;

pub(crate) const APPEND_LOG: &str = "INSERT INTO event_log (workspace_id, source, received_at, \
     operation) VALUES (?1, ?2, ?3, ?4)";
const RECORD_DEDUPE: &str = "INSERT INTO dedupe_keys (workspace_id, key, recorded_at) \
     VALUES (?1, ?2, ?3) ON CONFLICT (workspace_id, key) DO NOTHING";
const PRUNE_DEDUPE: &str = "DELETE FROM dedupe_keys WHERE recorded_at < ?1";
const INSERT_PERSON: &str = "INSERT INTO people (workspace_id, cio_id, attributes, \
     attribute_times, created_at, updated_at) VALUES (?1, ?2, '{}', '{}', ?3, ?3)";
// cio_id is immutable once inserted, so it is not rewritten.
const SAVE_PERSON: &str = "UPDATE people SET id = ?3, email = ?4, phone = ?5, attributes = ?6, \
     attribute_times = ?7, created_at = ?8, updated_at = ?9 \
     WHERE key = ?2 AND workspace_id = ?1";
/// Children first, the person's row last, so foreign keys hold at every step.
const DELETE_PERSON: [&str; 6] = [
    "DELETE FROM identifiers WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM devices WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM activities WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM segment_members WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM relationships WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM people WHERE key = ?2 AND workspace_id = ?1",
];
const LINK_IDENTIFIER: &str = "INSERT INTO identifiers (workspace_id, kind, value, person_key) \
     VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (workspace_id, kind, value) DO UPDATE SET person_key = excluded.person_key";
const UNLINK_IDENTIFIER: &str =
    "DELETE FROM identifiers WHERE workspace_id = ?1 AND kind = ?2 AND value = ?3";
pub(crate) const RECORD_ACTIVITY: &str = "INSERT INTO activities (workspace_id, person_key, \
     kind, name, timestamp, data, event_id, can_trigger, recorded_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const UPSERT_DEVICE: &str = "INSERT INTO devices (workspace_id, token, person_key, platform, \
     last_used, attributes) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (workspace_id, token) DO UPDATE SET person_key = excluded.person_key, \
     platform = excluded.platform, last_used = excluded.last_used, \
     attributes = excluded.attributes";
const DELETE_DEVICE: &str =
    "DELETE FROM devices WHERE workspace_id = ?1 AND token = ?2 AND person_key = ?3";
const SUPPRESS: &str = "INSERT INTO suppressions (workspace_id, kind, value, suppressed_at) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (workspace_id, kind, value) DO NOTHING";
const UNSUPPRESS: &str =
    "DELETE FROM suppressions WHERE workspace_id = ?1 AND kind = ?2 AND value = ?3";
const IS_SUPPRESSED: &str = "SELECT EXISTS (SELECT 1 FROM suppressions \
     WHERE workspace_id = ?1 AND kind = ?2 AND value = ?3)";
/// Tables where `from` and `to` cannot clash (the moved column is not part of a key, or the
/// key makes a clash impossible: a device token belongs to one person) move by one UPDATE;
/// the others move what does not clash, then [`DROP_CLASHING`] removes `from`'s leftovers,
/// keeping `to`'s own.
const MOVE_PERSON_DATA: [&str; 5] = [
    "UPDATE identifiers SET person_key = ?3 WHERE workspace_id = ?1 AND person_key = ?2",
    "UPDATE activities SET person_key = ?3 WHERE workspace_id = ?1 AND person_key = ?2",
    "UPDATE devices SET person_key = ?3 WHERE workspace_id = ?1 AND person_key = ?2",
    "UPDATE OR IGNORE segment_members SET person_key = ?3 \
     WHERE workspace_id = ?1 AND person_key = ?2",
    "UPDATE OR IGNORE relationships SET person_key = ?3 \
     WHERE workspace_id = ?1 AND person_key = ?2",
];
const DROP_CLASHING: [&str; 2] = [
    "DELETE FROM segment_members WHERE workspace_id = ?1 AND person_key = ?2",
    "DELETE FROM relationships WHERE workspace_id = ?1 AND person_key = ?2",
];
const SEGMENT_IS_MANUAL: &str = "SELECT manual FROM segments WHERE id = ?2 AND workspace_id = ?1";
const ADD_MEMBER: &str = "INSERT INTO segment_members (workspace_id, segment_id, person_key, \
     added_at) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (workspace_id, segment_id, person_key) DO NOTHING";
const REMOVE_MEMBER: &str = "DELETE FROM segment_members \
     WHERE workspace_id = ?1 AND segment_id = ?2 AND person_key = ?3";
const UPSERT_OBJECT: &str = "INSERT INTO objects (workspace_id, type_id, object_id, attributes, \
     created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
     ON CONFLICT (workspace_id, type_id, object_id) DO UPDATE \
     SET attributes = excluded.attributes, updated_at = excluded.updated_at";
const ENSURE_OBJECT: &str = "INSERT INTO objects (workspace_id, type_id, object_id, attributes, \
     created_at, updated_at) VALUES (?1, ?2, ?3, '{}', ?4, ?4) \
     ON CONFLICT (workspace_id, type_id, object_id) DO NOTHING";
const DELETE_OBJECT: [&str; 2] = [
    "DELETE FROM relationships WHERE workspace_id = ?1 AND type_id = ?2 AND object_id = ?3",
    "DELETE FROM objects WHERE workspace_id = ?1 AND type_id = ?2 AND object_id = ?3",
];
const SET_RELATIONSHIP: &str = "INSERT INTO relationships (workspace_id, person_key, type_id, \
     object_id, attributes, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
     ON CONFLICT (workspace_id, person_key, type_id, object_id) DO UPDATE \
     SET attributes = excluded.attributes, updated_at = excluded.updated_at";
const REMOVE_RELATIONSHIP: &str = "DELETE FROM relationships \
     WHERE workspace_id = ?1 AND person_key = ?2 AND type_id = ?3 AND object_id = ?4";

/// [`WriteTx`] over the writer connection while `SqliteStore::write` holds a transaction.
pub(crate) struct SqliteWriteTx<'c> {
    conn: &'c Connection,
}

impl<'c> SqliteWriteTx<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Self { conn }
    }

    /// Runs one cached statement; returns how many rows it changed.
    fn run(&self, sql: &str, params: impl Params) -> StoreResult<usize> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params))
            .map_err(from_sqlite)
    }
}

/// Appends one log row; shared with the raw-insert baseline so both write the same row.
pub(crate) fn insert_log(conn: &Connection, ws: WorkspaceId, entry: &LogEntry) -> StoreResult<i64> {
    let operation = to_json(&entry.operation)?;
    conn.prepare_cached(APPEND_LOG)
        .and_then(|mut stmt| {
            stmt.execute(params![ws.0, entry.source, entry.received_at.millis(), operation])
        })
        .map_err(from_sqlite)?;
    Ok(conn.last_insert_rowid())
}

/// Inserts one activity row; shared with the raw-insert baseline.
pub(crate) fn insert_activity(
    conn: &Connection,
    ws: WorkspaceId,
    key: PersonKey,
    activity: &Activity,
    now: Timestamp,
) -> StoreResult<()> {
    let data = to_json(&activity.data)?;
    conn.prepare_cached(RECORD_ACTIVITY)
        .and_then(|mut stmt| {
            stmt.execute(params![
                ws.0,
                key.0,
                activity.kind.as_str(),
                activity.name,
                activity.timestamp.millis(),
                data,
                activity.event_id,
                activity.can_trigger,
                now.millis(),
            ])
        })
        .map_err(from_sqlite)?;
    Ok(())
}

impl WriteTx for SqliteWriteTx<'_> {
    fn append_log(&mut self, ws: WorkspaceId, entry: &LogEntry) -> StoreResult<i64> {
        insert_log(self.conn, ws, entry)
    }

    fn record_dedupe_key(
        &mut self,
        ws: WorkspaceId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        Ok(self.run(RECORD_DEDUPE, params![ws.0, key, now.millis()])? == 1)
    }

    fn prune_dedupe_keys(&mut self, before: Timestamp) -> StoreResult<u64> {
        Ok(self.run(PRUNE_DEDUPE, [before.millis()])? as u64)
    }

    fn resolve(
        &mut self,
        ws: WorkspaceId,
        identifier: &Identifier,
    ) -> StoreResult<Option<PersonKey>> {
        read::resolve(self.conn, ws, identifier)
    }

    fn load_person(&mut self, ws: WorkspaceId, key: PersonKey) -> StoreResult<Option<PersonState>> {
        read::load_person(self.conn, ws, key)
    }

    fn insert_person(
        &mut self,
        ws: WorkspaceId,
        cio_id: &str,
        now: Timestamp,
    ) -> StoreResult<PersonKey> {
        self.run(INSERT_PERSON, params![ws.0, cio_id, now.millis()])?;
        Ok(PersonKey(self.conn.last_insert_rowid()))
    }

    fn save_person(&mut self, ws: WorkspaceId, person: &PersonState) -> StoreResult<()> {
        let changed = self.run(
            SAVE_PERSON,
            params![
                ws.0,
                person.key.0,
                person.id,
                person.email,
                person.phone,
                to_json(&person.attributes)?,
                to_json(&person.attribute_times)?,
                person.created_at.millis(),
                person.updated_at.millis(),
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::Backend(format!(
                "cannot save person {} of workspace {ws}: there is no such person",
                person.key.0
            )));
        }
        Ok(())
    }

    fn delete_person(&mut self, ws: WorkspaceId, key: PersonKey) -> StoreResult<()> {
        for sql in DELETE_PERSON {
            self.run(sql, params![ws.0, key.0])?;
        }
        Ok(())
    }

    fn link_identifier(
        &mut self,
        ws: WorkspaceId,
        identifier: &Identifier,
        key: PersonKey,
    ) -> StoreResult<()> {
        let kind = identifier.kind().as_str();
        self.run(LINK_IDENTIFIER, params![ws.0, kind, identifier.value(), key.0])?;
        Ok(())
    }

    fn unlink_identifier(&mut self, ws: WorkspaceId, identifier: &Identifier) -> StoreResult<()> {
        let kind = identifier.kind().as_str();
        self.run(UNLINK_IDENTIFIER, params![ws.0, kind, identifier.value()])?;
        Ok(())
    }

    fn record_activity(
        &mut self,
        ws: WorkspaceId,
        key: PersonKey,
        activity: &Activity,
        now: Timestamp,
    ) -> StoreResult<()> {
        insert_activity(self.conn, ws, key, activity, now)
    }

    fn upsert_device(
        &mut self,
        ws: WorkspaceId,
        key: PersonKey,
        device: &Device,
    ) -> StoreResult<()> {
        let attributes = to_json(&device.attributes)?;
        self.run(
            UPSERT_DEVICE,
            params![
                ws.0,
                device.token,
                key.0,
                device.platform,
                millis(device.last_used),
                attributes,
            ],
        )?;
        Ok(())
    }

    fn delete_device(&mut self, ws: WorkspaceId, key: PersonKey, token: &str) -> StoreResult<bool> {
        Ok(self.run(DELETE_DEVICE, params![ws.0, token, key.0])? > 0)
    }

    fn set_suppressed(
        &mut self,
        ws: WorkspaceId,
        identifier: &Identifier,
        suppressed: bool,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (kind, value) = (identifier.kind().as_str(), identifier.value());
        if suppressed {
            self.run(SUPPRESS, params![ws.0, kind, value, now.millis()])?;
        } else {
            self.run(UNSUPPRESS, params![ws.0, kind, value])?;
        }
        Ok(())
    }

    fn is_suppressed(&mut self, ws: WorkspaceId, identifier: &Identifier) -> StoreResult<bool> {
        let kind = identifier.kind().as_str();
        self.conn
            .prepare_cached(IS_SUPPRESSED)
            .and_then(|mut stmt| {
                stmt.query_row(params![ws.0, kind, identifier.value()], |row| row.get(0))
            })
            .map_err(from_sqlite)
    }

    fn move_person_data(
        &mut self,
        ws: WorkspaceId,
        from: PersonKey,
        to: PersonKey,
    ) -> StoreResult<()> {
        // Moving onto oneself must not run the clash clean-up, which would delete everything.
        if from == to {
            return Ok(());
        }
        for sql in MOVE_PERSON_DATA {
            self.run(sql, params![ws.0, from.0, to.0])?;
        }
        for sql in DROP_CLASHING {
            self.run(sql, params![ws.0, from.0])?;
        }
        Ok(())
    }

    fn segment_is_manual(&mut self, ws: WorkspaceId, segment_id: i64) -> StoreResult<Option<bool>> {
        self.conn
            .prepare_cached(SEGMENT_IS_MANUAL)
            .and_then(|mut stmt| {
                stmt.query_row(params![ws.0, segment_id], |row| row.get(0))
                    .optional()
            })
            .map_err(from_sqlite)
    }

    fn set_segment_membership(
        &mut self,
        ws: WorkspaceId,
        segment_id: i64,
        key: PersonKey,
        member: bool,
        now: Timestamp,
    ) -> StoreResult<()> {
        if member {
            self.run(ADD_MEMBER, params![ws.0, segment_id, key.0, now.millis()])?;
        } else {
            self.run(REMOVE_MEMBER, params![ws.0, segment_id, key.0])?;
        }
        Ok(())
    }

    fn upsert_object(
        &mut self,
        ws: WorkspaceId,
        object: &ObjectRef,
        attributes: &JsonMap,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut merged = read::object_attributes(self.conn, ws, object)?.unwrap_or_default();
        merge_attributes(&mut merged, attributes);
        self.run(
            UPSERT_OBJECT,
            params![
                ws.0,
                object.type_id,
                object.object_id,
                to_json(&merged)?,
                now.millis()
            ],
        )?;
        Ok(())
    }

    fn delete_object(&mut self, ws: WorkspaceId, object: &ObjectRef) -> StoreResult<bool> {
        let [relationships, objects] = DELETE_OBJECT;
        let ids = params![ws.0, object.type_id, object.object_id];
        self.run(relationships, ids)?;
        Ok(self.run(objects, ids)? > 0)
    }

    fn set_relationship(
        &mut self,
        ws: WorkspaceId,
        key: PersonKey,
        object: &ObjectRef,
        attributes: Option<&JsonMap>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (type_id, object_id) = (&object.type_id, &object.object_id);
        match attributes {
            Some(attributes) => {
                self.run(ENSURE_OBJECT, params![ws.0, type_id, object_id, now.millis()])?;
                let attributes = to_json(attributes)?;
                self.run(
                    SET_RELATIONSHIP,
                    params![ws.0, key.0, type_id, object_id, attributes, now.millis()],
                )?;
            }
            None => {
                self.run(REMOVE_RELATIONSHIP, params![ws.0, key.0, type_id, object_id])?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement that reads or changes existing rows: the hot path's, and the read
    /// side's per-person and per-object views.
    fn statements() -> Vec<String> {
        let mut all: Vec<String> = [
            PRUNE_DEDUPE,
            SAVE_PERSON,
            UNLINK_IDENTIFIER,
            DELETE_DEVICE,
            UNSUPPRESS,
            IS_SUPPRESSED,
            SEGMENT_IS_MANUAL,
            REMOVE_MEMBER,
            REMOVE_RELATIONSHIP,
        ]
        .into_iter()
        .chain(DELETE_PERSON)
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
        all
    }

    #[test]
    fn no_hot_path_statement_scans_a_table() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::apply(&mut conn).unwrap();
        let mut scanning = Vec::new();
        for sql in statements() {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(nulls), |row| row.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            // Searching on the workspace alone walks the whole workspace: a scan by another name.
            let scans = plan.iter().any(|step| {
                (step.starts_with("SCAN") && step != "SCAN CONSTANT ROW" && !step.contains("json_each"))
                    || step.ends_with("(workspace_id=?)")
            });
            let searches = plan.iter().any(|step| step.starts_with("SEARCH"));
            if scans || !searches {
                scanning.push(format!("{sql}\n  plan: {plan:?}"));
            }
        }
        assert!(scanning.is_empty(), "{}", scanning.join("\n"));
    }
}
