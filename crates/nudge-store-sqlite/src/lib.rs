//! Nudge's embedded storage backend: [`nudge_store::Store`] on one SQLite file in WAL mode.
//! All writes go through one writer connection behind a mutex, one immediate transaction per
//! [`Store::write`], committed with `synchronous=FULL` so an acknowledged write survives a
//! crash or power loss; reads use a pool of query-only connections that never block the
//! writer. No rusqlite type leaves this crate.

mod address_suppressions;
mod admin;
mod broadcasts;
mod checkpoint;
mod codec;
mod computed_catalogue;
mod definitions;
mod deliveries;
mod derived;
mod documents;
mod errors;
mod export;
mod journey_records;
mod journeys;
mod marks;
pub mod migrations;
mod page;
mod processing;
mod read;
mod read_ahead;
mod rejections;
mod reporting_webhooks;
mod segment_catalogue;
mod send_history;
mod statements;
mod suppressions;
mod transactional;
mod write_tx;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use nudge_core::{
    person::StoredActivity, Activity, Identifier, ObjectRef, PersonKey, Timestamp, Workspace,
    WorkspaceId,
};
use nudge_store::{
    ActivityQuery, KeyHash, KeyOwner, KeyRecord, LogEntry, LogRecord, NewWorkspace, ObjectView,
    PersonView, Segment, Store, StoreError, StoreResult, TxWork,
};
use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::errors::{from_pool, from_sqlite};
pub use crate::migrations::AppliedMigration;

/// The writer connection's page cache, in KiB.
const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// Enough cached statements for every hot-path statement to stay prepared.
const STATEMENT_CACHE: usize = 256;

/// Tuning for [`SqliteStore::open_with`]; [`SqliteStore::open`] uses the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How long a statement waits for another process's lock before failing as
    /// `StoreError::Unavailable`.
    pub busy_timeout: Duration,
    /// Read connections in the pool behind the read methods.
    pub read_connections: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(5),
            read_connections: 4,
        }
    }
}

/// A Nudge store in one SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Pool<SqliteConnectionManager>,
    checkpointer: checkpoint::Checkpointer,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        Self::open_with(path, &SqliteOptions::default())
    }

    pub fn open_with(path: &Path, options: &SqliteOptions) -> StoreResult<SqliteStore> {
        let mut writer = Connection::open(path).map_err(from_sqlite)?;
        configure_writer(&writer, options.busy_timeout)?;
        migrations::apply(&mut writer)?;
        let busy_timeout = options.busy_timeout;
        let manager = SqliteConnectionManager::file(path)
            .with_init(move |conn| configure_reader(conn, busy_timeout));
        let readers = Pool::builder()
            .max_size(options.read_connections.max(1))
            .min_idle(Some(1))
            .build(manager)
            .map_err(from_pool)?;
        let checkpointer = checkpoint::Checkpointer::start(path, options.busy_timeout)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers,
            checkpointer,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every derived table of `ws` as canonical JSON (people named by cio_id, rows in a stable
    /// order), read in one snapshot: what replay tests compare before and after a replay.
    pub fn derived_snapshot(&self, ws: WorkspaceId) -> StoreResult<serde_json::Value> {
        self.with_snapshot(|conn| derived::snapshot(conn, ws))
    }

    /// The migrations recorded in this database, oldest first.
    pub fn applied_migrations(&self) -> StoreResult<Vec<AppliedMigration>> {
        self.with_reader(migrations::applied)
    }

    /// A benchmark baseline: the same log row and activity row per item that ingestion
    /// writes, inserted in one transaction with plain prepared INSERTs and nothing else (no
    /// dedupe, no identity, no person update). Each activity's `recorded_at` is its log
    /// entry's `received_at`.
    pub fn raw_insert_baseline(
        &self,
        rows: &[(WorkspaceId, LogEntry, PersonKey, Activity)],
    ) -> StoreResult<()> {
        self.in_transaction(|tx| {
            for (ws, entry, key, activity) in rows {
                let offset = write_tx::insert_log(tx, *ws, entry)?;
                let seq = nudge_store::activity_seq(offset, 0);
                write_tx::insert_activity(tx, *ws, *key, activity, seq, entry.received_at)?;
            }
            Ok(())
        })
    }

    fn reader(&self) -> StoreResult<PooledConnection<SqliteConnectionManager>> {
        self.readers.get().map_err(from_pool)
    }

    /// Runs `work` in one immediate transaction on the writer connection: committed if it
    /// returns `Ok`, rolled back (when the transaction is dropped) otherwise.
    fn in_transaction<T>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut writer = self.lock_writer()?;
        let tx = writer
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(from_sqlite)?;
        let out = work(&tx)?;
        tx.commit().map_err(from_sqlite)?;
        self.checkpointer.committed();
        Ok(out)
    }

    /// The writer, outside any transaction. A panic inside a write poisons the mutex, but the
    /// dropped `Transaction` already rolled back during the unwind, so the connection is
    /// still usable; if a rollback ever failed, finish it here before handing it out.
    fn lock_writer(&self) -> StoreResult<MutexGuard<'_, Connection>> {
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if !writer.is_autocommit() {
            writer.execute_batch("ROLLBACK").map_err(from_sqlite)?;
        }
        Ok(writer)
    }

    fn with_reader<T>(&self, read: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let conn = self.reader()?;
        read(&conn)
    }

    /// One read snapshot across several queries.
    fn with_snapshot<T>(&self, read: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut conn = self.reader()?;
        let tx = conn.transaction().map_err(from_sqlite)?;
        let out = read(&tx)?;
        tx.commit().map_err(from_sqlite)?;
        Ok(out)
    }
}

fn configure_writer(conn: &Connection, busy_timeout: Duration) -> StoreResult<()> {
    conn.busy_timeout(busy_timeout).map_err(from_sqlite)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(from_sqlite)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Unavailable(format!(
            "the database would not switch to WAL mode (it reports '{mode}')"
        )));
    }
    // FULL: in WAL mode, NORMAL may lose the last commits on power loss; a 2xx must not.
    // A 64 MiB page cache (the default is 2 MiB) holds the index pages a group commit of
    // thousands of rows touches, instead of spilling and re-reading them mid-transaction.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = {}; \
         PRAGMA cache_size = -{};",
        checkpoint::WRITER_AUTOCHECKPOINT_PAGES,
        WRITER_CACHE_KIB
    ))
    .map_err(from_sqlite)
}

fn configure_reader(conn: &mut Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch("PRAGMA foreign_keys = ON; PRAGMA query_only = ON;")
}

impl Store for SqliteStore {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    fn ping(&self) -> StoreResult<()> {
        self.reader()?
            .query_row("SELECT 1", [], |_| Ok(()))
            .map_err(from_sqlite)
    }

    fn write(&self, work: &mut TxWork<'_>) -> StoreResult<()> {
        self.in_transaction(|tx| work(&mut write_tx::SqliteWriteTx::new(tx)))
    }

    fn create_workspace(&self, new: &NewWorkspace) -> StoreResult<Workspace> {
        self.in_transaction(|tx| admin::create_workspace(tx, new))
    }

    fn workspaces(&self) -> StoreResult<Vec<Workspace>> {
        self.with_reader(read::workspaces)
    }

    fn workspace_by_name(&self, name: &str) -> StoreResult<Option<Workspace>> {
        self.with_reader(|conn| read::workspace_by_name(conn, name))
    }

    fn replace_keys(&self, workspace: WorkspaceId, keys: &[KeyRecord]) -> StoreResult<()> {
        self.in_transaction(|tx| admin::replace_keys(tx, workspace, keys))
    }

    fn find_key(&self, hash: &KeyHash) -> StoreResult<Option<KeyOwner>> {
        self.with_reader(|conn| read::find_key(conn, hash))
    }

    fn resolve(&self, ws: WorkspaceId, identifier: &Identifier) -> StoreResult<Option<PersonKey>> {
        self.with_reader(|conn| read::resolve(conn, ws, identifier))
    }

    fn person(&self, ws: WorkspaceId, key: PersonKey) -> StoreResult<Option<PersonView>> {
        self.with_snapshot(|conn| read::person(conn, ws, key))
    }

    fn activities(
        &self,
        ws: WorkspaceId,
        key: PersonKey,
        query: &ActivityQuery,
    ) -> StoreResult<Vec<StoredActivity>> {
        self.with_reader(|conn| read::activities(conn, ws, key, query))
    }

    fn person_segments(&self, ws: WorkspaceId, key: PersonKey) -> StoreResult<Vec<Segment>> {
        self.with_reader(|conn| read::person_segments(conn, ws, key))
    }

    fn object(&self, ws: WorkspaceId, object: &ObjectRef) -> StoreResult<Option<ObjectView>> {
        self.with_snapshot(|conn| read::object(conn, ws, object))
    }

    fn read_log(&self, ws: WorkspaceId, after: i64, limit: usize) -> StoreResult<Vec<LogRecord>> {
        self.with_reader(|conn| read::read_log(conn, ws, after, limit))
    }

    fn log_extent(&self, ws: WorkspaceId, after: i64) -> StoreResult<nudge_store::LogExtent> {
        self.with_reader(|conn| derived::log_extent(conn, ws, after))
    }

    fn reset_derived(&self, ws: WorkspaceId) -> StoreResult<()> {
        self.in_transaction(|tx| derived::reset(tx, ws))
    }

    fn rejections(
        &self,
        ws: WorkspaceId,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<nudge_store::RejectionRecord>> {
        self.with_reader(|conn| rejections::list(conn, ws, before_id, limit))
    }

    fn people_page(
        &self,
        ws: WorkspaceId,
        after: Option<PersonKey>,
        limit: usize,
        scope: &nudge_store::ExportScope,
    ) -> StoreResult<Vec<nudge_core::PersonState>> {
        self.with_reader(|conn| export::people_page(conn, ws, after, limit, scope))
    }

    fn events_page(
        &self,
        ws: WorkspaceId,
        after_seq: i64,
        limit: usize,
        scope: &nudge_store::ExportScope,
    ) -> StoreResult<Vec<nudge_store::ExportedEvent>> {
        self.with_reader(|conn| export::events_page(conn, ws, after_seq, limit, scope))
    }

    fn create_export(
        &self,
        ws: WorkspaceId,
        new: &nudge_store::NewExport,
    ) -> StoreResult<nudge_store::ExportJob> {
        self.in_transaction(|tx| export::create_export(tx, ws, new))
    }

    fn export_job(&self, ws: WorkspaceId, id: i64) -> StoreResult<Option<nudge_store::ExportJob>> {
        self.with_reader(|conn| export::export_job(conn, ws, id))
    }

    fn finish_export(
        &self,
        ws: WorkspaceId,
        id: i64,
        end: &nudge_store::ExportEnd,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.in_transaction(|tx| export::finish_export(tx, ws, id, end, now))
    }

    fn record_export_download(&self, ws: WorkspaceId, id: i64, now: Timestamp) -> StoreResult<()> {
        self.in_transaction(|tx| export::record_download(tx, ws, id, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(conn: &Connection, name: &str) -> i64 {
        conn.pragma_query_value(None, name, |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn writer_commits_durably_and_readers_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("nudge.db")).unwrap();
        {
            let writer = store.writer.lock().unwrap();
            assert_eq!(pragma(&writer, "synchronous"), 2, "FULL");
            assert_eq!(pragma(&writer, "foreign_keys"), 1);
        }
        let reader = store.reader().unwrap();
        assert_eq!(pragma(&reader, "query_only"), 1);
        assert!(reader.execute("DELETE FROM workspaces", []).is_err());
    }

    #[test]
    fn a_panic_inside_a_write_rolls_back_and_leaves_the_store_usable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("nudge.db")).unwrap();
        let ws = store
            .create_workspace(&NewWorkspace {
                name: "lumen".into(),
                env: nudge_core::Env::Production,
                site_id: "site".into(),
                keys: vec![],
                now: Timestamp::from_millis(0),
            })
            .unwrap()
            .id;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _: StoreResult<()> = store.in_transaction(|tx| {
                let new = nudge_store::NewSegment {
                    id: None,
                    name: "vip".into(),
                    description: String::new(),
                    conditions: None,
                };
                segment_catalogue::create(tx, ws, &new, Timestamp::from_millis(0)).unwrap();
                panic!("work panicked")
            });
        }));
        assert!(outcome.is_err());
        assert!(store.writer.is_poisoned());
        let segments: i64 = store
            .reader()
            .unwrap()
            .query_row("SELECT count(*) FROM segments", [], |row| row.get(0))
            .unwrap();
        assert_eq!(segments, 0, "the panicking transaction was rolled back");
        store
            .create_manual_segment(ws, "vip", "", Timestamp::from_millis(0))
            .expect("the writer still works after a panic");
    }
}
