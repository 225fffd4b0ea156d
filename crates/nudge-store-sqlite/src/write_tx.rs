//! The ingest hot path: [`WriteTx`] on the writer connection inside one immediate
//! transaction (suppressions and marks delegate to their modules; the processor's operations
//! are `processing`'s). Every statement is cached, and the plan test in `statements` proves
//! each reaches its rows through a key or an index. Commit and rollback belong to
//! `SqliteStore::write`, never to this type.

use nudge_core::{
    Activity, Device, Identifier, JsonMap, ObjectRef, PersonKey, PersonState, Timestamp,
    WorkspaceId,
};
use nudge_store::{LogEntry, MovedData, StoreError, StoreResult, WriteTx};
use rusqlite::{params, Connection, OptionalExtension, Params};

use crate::codec::{merge_attributes, millis, to_json};
use crate::errors::from_sqlite;
use crate::statements::*;
use crate::{read, suppressions};

/// [`WriteTx`] over the writer connection while `SqliteStore::write` holds a transaction.
pub(crate) struct SqliteWriteTx<'c> {
    conn: &'c Connection,
}

impl<'c> SqliteWriteTx<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Self { conn }
    }

    /// The transaction's connection, for the operations other modules implement.
    pub(crate) fn conn(&self) -> &'c Connection {
        self.conn
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
    let raw = entry.raw.as_ref().map(to_json).transpose()?;
    conn.prepare_cached(APPEND_LOG)
        .and_then(|mut stmt| {
            stmt.execute(params![
                ws.0,
                entry.source,
                entry.received_at.millis(),
                operation,
                raw
            ])
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
    seq: i64,
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
                seq,
            ])
        })
        .map_err(from_sqlite)?;
    Ok(())
}

impl WriteTx for SqliteWriteTx<'_> {
    fn mark(
        &mut self,
        ws: WorkspaceId,
        subject: nudge_store::Marked<'_>,
        offset: i64,
    ) -> StoreResult<()> {
        crate::marks::mark(self.conn, ws, subject, offset)
    }

    fn marked(&mut self, ws: WorkspaceId, subject: nudge_store::Marked<'_>) -> StoreResult<i64> {
        crate::marks::marked(self.conn, ws, subject)
    }

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

    fn record_rejection(
        &mut self,
        ws: WorkspaceId,
        rejection: &nudge_store::Rejection,
    ) -> StoreResult<i64> {
        crate::rejections::record(self.conn, ws, rejection)
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
        self.run(
            LINK_IDENTIFIER,
            params![ws.0, kind, identifier.value(), key.0],
        )?;
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
        seq: i64,
        now: Timestamp,
    ) -> StoreResult<()> {
        insert_activity(self.conn, ws, key, activity, seq, now)
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
        suppressions::set_suppressed(self.conn, ws, identifier, suppressed, now)
    }

    fn suppress_together(
        &mut self,
        ws: WorkspaceId,
        identifiers: &[Identifier],
        now: Timestamp,
    ) -> StoreResult<()> {
        suppressions::suppress_together(self.conn, ws, identifiers, now)
    }

    fn unsuppress_together(
        &mut self,
        ws: WorkspaceId,
        identifier: &Identifier,
    ) -> StoreResult<Vec<Identifier>> {
        suppressions::unsuppress_together(self.conn, ws, identifier)
    }

    fn is_suppressed(&mut self, ws: WorkspaceId, identifier: &Identifier) -> StoreResult<bool> {
        suppressions::is_suppressed(self.conn, ws, identifier)
    }

    fn move_person_data(
        &mut self,
        ws: WorkspaceId,
        from: PersonKey,
        to: PersonKey,
        now: Timestamp,
    ) -> StoreResult<MovedData> {
        // Moving onto oneself must not run the clash clean-up, which would delete everything.
        if from == to {
            return Ok(MovedData::default());
        }
        for sql in DROP_REEVALUATED {
            self.run(sql, params![ws.0, from.0])?;
        }
        let mut moved = [0u64; 5];
        for (n, sql) in MOVE_PERSON_DATA.iter().enumerate() {
            moved[n] = self.run(sql, params![ws.0, from.0, to.0])? as u64;
        }
        self.run(MOVE_TRANSITIONS, params![ws.0, from.0, to.0])?;
        for sql in DROP_CLASHING {
            self.run(sql, params![ws.0, from.0])?;
        }
        let (instances, instances_closed) =
            crate::journeys::move_journeys(self.conn, ws, from, to, now)?;
        let [identifiers, activities, devices, segment_memberships, relationships] = moved;
        Ok(MovedData {
            identifiers,
            activities,
            devices,
            segment_memberships,
            relationships,
            instances,
            instances_closed,
        })
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
                self.run(
                    ENSURE_OBJECT,
                    params![ws.0, type_id, object_id, now.millis()],
                )?;
                let attributes = to_json(attributes)?;
                self.run(
                    SET_RELATIONSHIP,
                    params![ws.0, key.0, type_id, object_id, attributes, now.millis()],
                )?;
            }
            None => {
                self.run(
                    REMOVE_RELATIONSHIP,
                    params![ws.0, key.0, type_id, object_id],
                )?;
            }
        }
        Ok(())
    }
}
