//! [`WriteTx`] on one PostgreSQL transaction: the domain operations ingestion performs. Every
//! statement is prepared once per connection and reaches its rows through a primary key or
//! an index (the test in `plans.rs` guards that); none scans a table. Commit and
//! rollback belong to `PostgresStore::write`, never to this type.

use nudge_core::{
    Activity, Device, Identifier, JsonMap, ObjectRef, PersonKey, PersonState, Timestamp,
    WorkspaceId,
};
use nudge_store::{LogEntry, MovedData, StoreError, StoreResult, WriteTx};
use postgres::types::ToSql;
use postgres::{Row, Transaction};

use crate::errors::{column, pg};
use crate::event_rows::{self, to_json};
use crate::prefetched_instances::PrefetchedInstances;
use crate::written_behind::WrittenBehind;
use crate::{objects, person_data, read, suppressions, Statements};

/// Advisory lock class for appending to one workspace's log (two-integer form; the second
/// key is derived from the workspace id).
const LOCK_CLASS_EVENT_LOG: i32 = 0x6e75_0002;

const LOCK_LOG: &str = "SELECT pg_advisory_xact_lock($1, $2)";
const RECORD_DEDUPE: &str = "INSERT INTO dedupe_keys (workspace_id, key, recorded_at) \
     VALUES ($1, $2, $3) ON CONFLICT (workspace_id, key) DO NOTHING";
const PRUNE_DEDUPE: &str = "DELETE FROM dedupe_keys WHERE recorded_at < $1";
// ON CONFLICT rather than a failing INSERT: a failed statement aborts the whole PostgreSQL
// transaction, where SQLite would let the caller carry on.
const INSERT_PERSON: &str = "INSERT INTO people (workspace_id, cio_id, attributes, \
     attribute_times, created_at, updated_at) VALUES ($1, $2, '{}', '{}', $3, $3) \
     ON CONFLICT (workspace_id, cio_id) DO NOTHING RETURNING key";
// cio_id is immutable once inserted, so it is not rewritten.
const SAVE_PERSON: &str = "UPDATE people SET id = $3, email = $4, phone = $5, attributes = $6, \
     attribute_times = $7, created_at = $8, updated_at = $9 \
     WHERE key = $2 AND workspace_id = $1";
const LINK_IDENTIFIER: &str = "INSERT INTO identifiers (workspace_id, kind, value, person_key) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (workspace_id, kind, value) DO UPDATE SET person_key = excluded.person_key";
const UNLINK_IDENTIFIER: &str =
    "DELETE FROM identifiers WHERE workspace_id = $1 AND kind = $2 AND value = $3";
const UPSERT_DEVICE: &str = "INSERT INTO devices (workspace_id, token, person_key, platform, \
     last_used, attributes) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (workspace_id, token) DO UPDATE SET person_key = excluded.person_key, \
     platform = excluded.platform, last_used = excluded.last_used, \
     attributes = excluded.attributes";
const DELETE_DEVICE: &str =
    "DELETE FROM devices WHERE workspace_id = $1 AND token = $2 AND person_key = $3";
const SEGMENT_IS_MANUAL: &str = "SELECT manual FROM segments WHERE id = $2 AND workspace_id = $1";
const ADD_MEMBER: &str = "INSERT INTO segment_members (workspace_id, segment_id, person_key, \
     added_at) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (workspace_id, segment_id, person_key) DO NOTHING";
const REMOVE_MEMBER: &str = "DELETE FROM segment_members \
     WHERE workspace_id = $1 AND segment_id = $2 AND person_key = $3";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        LOCK_LOG,
        RECORD_DEDUPE,
        PRUNE_DEDUPE,
        INSERT_PERSON,
        SAVE_PERSON,
        LINK_IDENTIFIER,
        UNLINK_IDENTIFIER,
        UPSERT_DEVICE,
        DELETE_DEVICE,
        SEGMENT_IS_MANUAL,
        ADD_MEMBER,
        REMOVE_MEMBER,
    ]
}

type Params<'p> = [&'p (dyn ToSql + Sync)];

/// [`WriteTx`] over the transaction `PostgresStore::write` opened.
pub(crate) struct PgWriteTx<'a, 'conn> {
    pub(crate) tx: &'a mut Transaction<'conn>,
    pub(crate) statements: &'a mut Statements,
    /// Workspaces whose log this transaction already holds the append lock for.
    log_locks: Vec<WorkspaceId>,
    /// Journey rows recorded and not written yet.
    pub(crate) behind: WrittenBehind,
    /// Instances read ahead for the people of a batch.
    pub(crate) prefetched: Option<PrefetchedInstances>,
}

impl<'a, 'conn> PgWriteTx<'a, 'conn> {
    pub(crate) fn new(tx: &'a mut Transaction<'conn>, statements: &'a mut Statements) -> Self {
        Self {
            tx,
            statements,
            log_locks: Vec::new(),
            behind: WrittenBehind::default(),
            prefetched: None,
        }
    }

    /// Runs one cached statement; returns how many rows it changed.
    pub(crate) fn run(&mut self, sql: &'static str, params: &Params<'_>) -> StoreResult<u64> {
        let statement = self.statements.get(self.tx, sql)?;
        self.tx.execute(&statement, params).map_err(pg)
    }

    pub(crate) fn query_opt(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
    ) -> StoreResult<Option<Row>> {
        let statement = self.statements.get(self.tx, sql)?;
        self.tx.query_opt(&statement, params).map_err(pg)
    }

    pub(crate) fn query(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
    ) -> StoreResult<Vec<Row>> {
        let statement = self.statements.get(self.tx, sql)?;
        self.tx.query(&statement, params).map_err(pg)
    }

    /// Serialises appends to `ws`'s log until this transaction ends. A sequence hands out
    /// offsets when rows are inserted, not when they commit: without the lock a reader could
    /// see offset 8 committed while 7 is still in flight, move its watermark past 7 and never
    /// process it. Under the lock a workspace's offsets commit in order, as on SQLite.
    fn lock_log(&mut self, ws: WorkspaceId) -> StoreResult<()> {
        if self.log_locks.contains(&ws) {
            return Ok(());
        }
        self.run(LOCK_LOG, &[&LOCK_CLASS_EVENT_LOG, &log_lock_key(ws)])?;
        self.log_locks.push(ws);
        Ok(())
    }
}

/// The second advisory-lock key for `ws`'s log. Folding 64 bits into 32 can only make two
/// workspaces share a lock, never let one escape it.
fn log_lock_key(ws: WorkspaceId) -> i32 {
    (ws.0 ^ (ws.0 >> 32)) as i32
}

/// The lock class and key `append_log` holds for `ws` until commit.
#[cfg(test)]
pub(crate) fn log_lock(ws: WorkspaceId) -> (i32, i32) {
    (LOCK_CLASS_EVENT_LOG, log_lock_key(ws))
}

impl WriteTx for PgWriteTx<'_, '_> {
    fn mark(
        &mut self,
        ws: WorkspaceId,
        subject: nudge_store::Marked<'_>,
        offset: i64,
    ) -> StoreResult<()> {
        crate::marks::mark(self.tx, self.statements, ws, subject, offset)
    }

    fn marked(&mut self, ws: WorkspaceId, subject: nudge_store::Marked<'_>) -> StoreResult<i64> {
        crate::marks::marked(self.tx, self.statements, ws, subject)
    }

    fn append_log(&mut self, ws: WorkspaceId, entry: &LogEntry) -> StoreResult<i64> {
        self.lock_log(ws)?;
        event_rows::insert_log(self.tx, self.statements, ws, entry)
    }

    fn record_dedupe_key(
        &mut self,
        ws: WorkspaceId,
        key: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        Ok(self.run(RECORD_DEDUPE, &[&ws.0, &key, &now.millis()])? == 1)
    }

    fn prune_dedupe_keys(&mut self, before: Timestamp) -> StoreResult<u64> {
        self.run(PRUNE_DEDUPE, &[&before.millis()])
    }

    fn record_rejection(
        &mut self,
        ws: WorkspaceId,
        rejection: &nudge_store::Rejection,
    ) -> StoreResult<i64> {
        crate::rejections::record(self.tx, self.statements, ws, rejection)
    }

    fn resolve(
        &mut self,
        ws: WorkspaceId,
        identifier: &Identifier,
    ) -> StoreResult<Option<PersonKey>> {
        read::resolve(self.tx, self.statements, ws, identifier)
    }

    fn load_person(&mut self, ws: WorkspaceId, key: PersonKey) -> StoreResult<Option<PersonState>> {
        read::load_person(self.tx, self.statements, ws, key)
    }

    fn insert_person(
        &mut self,
        ws: WorkspaceId,
        cio_id: &str,
        now: Timestamp,
    ) -> StoreResult<PersonKey> {
        match self.query_opt(INSERT_PERSON, &[&ws.0, &cio_id, &now.millis()])? {
            Some(row) => Ok(PersonKey(column(&row, 0)?)),
            None => Err(StoreError::Conflict(format!(
                "cio_id '{cio_id}' already names a person in workspace {ws}"
            ))),
        }
    }

    fn save_person(&mut self, ws: WorkspaceId, person: &PersonState) -> StoreResult<()> {
        let changed = self.run(
            SAVE_PERSON,
            &[
                &ws.0,
                &person.key.0,
                &person.id,
                &person.email,
                &person.phone,
                &to_json(&person.attributes)?,
                &to_json(&person.attribute_times)?,
                &person.created_at.millis(),
                &person.updated_at.millis(),
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
        // The person's instances go with them, those recorded before included.
        self.write_behind()?;
        person_data::delete(self, ws, key)
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
            &[&ws.0, &kind, &identifier.value(), &key.0],
        )?;
        Ok(())
    }

    fn unlink_identifier(&mut self, ws: WorkspaceId, identifier: &Identifier) -> StoreResult<()> {
        let kind = identifier.kind().as_str();
        self.run(UNLINK_IDENTIFIER, &[&ws.0, &kind, &identifier.value()])?;
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
        event_rows::insert_activity(self.tx, self.statements, ws, key, activity, seq, now)
    }

    fn upsert_device(
        &mut self,
        ws: WorkspaceId,
        key: PersonKey,
        device: &Device,
    ) -> StoreResult<()> {
        let last_used = device.last_used.map(Timestamp::millis);
        let attributes = to_json(&device.attributes)?;
        self.run(
            UPSERT_DEVICE,
            &[
                &ws.0,
                &device.token,
                &key.0,
                &device.platform,
                &last_used,
                &attributes,
            ],
        )?;
        Ok(())
    }

    fn delete_device(&mut self, ws: WorkspaceId, key: PersonKey, token: &str) -> StoreResult<bool> {
        Ok(self.run(DELETE_DEVICE, &[&ws.0, &token, &key.0])? > 0)
    }

    fn set_suppressed(
        &mut self,
        ws: WorkspaceId,
        identifier: &Identifier,
        suppressed: bool,
        now: Timestamp,
    ) -> StoreResult<()> {
        suppressions::set(self, ws, identifier, suppressed, now)
    }

    fn suppress_together(
        &mut self,
        ws: WorkspaceId,
        identifiers: &[Identifier],
        now: Timestamp,
    ) -> StoreResult<()> {
        suppressions::suppress_together(self, ws, identifiers, now)
    }

    fn unsuppress_together(
        &mut self,
        ws: WorkspaceId,
        identifier: &Identifier,
    ) -> StoreResult<Vec<Identifier>> {
        suppressions::unsuppress_together(self, ws, identifier)
    }

    fn is_suppressed(&mut self, ws: WorkspaceId, identifier: &Identifier) -> StoreResult<bool> {
        suppressions::is_suppressed(self, ws, identifier)
    }

    fn move_person_data(
        &mut self,
        ws: WorkspaceId,
        from: PersonKey,
        to: PersonKey,
        now: Timestamp,
    ) -> StoreResult<MovedData> {
        // A merge moves journey rows: those recorded before it must be there to move.
        self.write_behind()?;
        person_data::move_to(self, ws, from, to, now)
    }

    fn segment_is_manual(&mut self, ws: WorkspaceId, segment_id: i64) -> StoreResult<Option<bool>> {
        let row = self.query_opt(SEGMENT_IS_MANUAL, &[&ws.0, &segment_id])?;
        row.map(|row| column(&row, 0)).transpose()
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
            self.run(ADD_MEMBER, &[&ws.0, &segment_id, &key.0, &now.millis()])?;
        } else {
            self.run(REMOVE_MEMBER, &[&ws.0, &segment_id, &key.0])?;
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
        objects::upsert(self.tx, self.statements, ws, object, attributes, now)
    }

    fn delete_object(&mut self, ws: WorkspaceId, object: &ObjectRef) -> StoreResult<bool> {
        objects::delete(self.tx, self.statements, ws, object)
    }

    fn set_relationship(
        &mut self,
        ws: WorkspaceId,
        key: PersonKey,
        object: &ObjectRef,
        attributes: Option<&JsonMap>,
        now: Timestamp,
    ) -> StoreResult<()> {
        objects::set_relationship(self.tx, self.statements, ws, key, object, attributes, now)
    }
}
