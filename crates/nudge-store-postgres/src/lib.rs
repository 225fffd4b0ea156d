//! Nudge's PostgreSQL backend: [`PostgresStore`] implements [`Store`] (with its
//! [`Definitions`](nudge_store::Definitions)) and hands [`WriteTx`](nudge_store::WriteTx)
//! closures one PostgreSQL transaction each, on a pooled synchronous client. It runs on blocking threads and must never be called from an async
//! task. No driver type leaves this crate.

mod address_suppressions;
mod admin;
mod broadcasts;
mod computed_catalogue;
mod definitions;
mod deliveries;
mod derived;
mod documents;
mod errors;
mod event_rows;
mod export;
mod journey_records;
mod journeys;
mod marks;
mod migrations;
mod objects;
mod page;
mod pending_messages;
mod person_data;
#[cfg(test)]
mod plans;
mod prefetched_instances;
mod processing_tx;
mod processor_reads;
mod read;
mod read_ahead;
mod rejections;
mod reporting_webhooks;
mod reserved_ids;
mod segment_catalogue;
mod send_history;
mod suppressions;
pub mod test_database;
mod transactional;
mod write_tx;
mod written_behind;

use std::collections::HashMap;
use std::time::Duration;

use nudge_core::{Activity, Identifier, ObjectRef, PersonKey, Timestamp, Workspace, WorkspaceId};
use nudge_store::{
    ActivityQuery, KeyHash, KeyOwner, KeyRecord, LogEntry, LogRecord, NewWorkspace, ObjectView,
    PersonView, Segment, Store, StoreError, StoreResult, TxWork,
};
use postgres::{Client, Config, GenericClient, NoTls, Statement};
use r2d2_postgres::PostgresConnectionManager;

use crate::errors::pg;
use crate::test_database::TestDatabase;
use crate::write_tx::PgWriteTx;

/// How the connection pool is sized and how long to wait for a connection.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Most connections this process opens. Size it to the blocking threads that use the store.
    pub max_connections: u32,
    /// How long `write` and the queries wait for a free connection before `Unavailable`.
    pub acquire_timeout: Duration,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The PostgreSQL store. Cheap to share: clone the `Arc` it sits in, not the store.
pub struct PostgresStore {
    pool: r2d2::Pool<Manager>,
    /// Set only by [`TestDatabase::into_store`]: the throwaway database under this store,
    /// dropped after the pool (fields drop in declaration order).
    database: Option<TestDatabase>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password, so only the pool's shape is shown.
        f.debug_struct("PostgresStore")
            .field("max_connections", &self.pool.max_size())
            .field(
                "test_database",
                &self.database.as_ref().map(TestDatabase::name),
            )
            .finish()
    }
}

impl PostgresStore {
    /// Opens a pool on `url` (`postgres://user@host:port/db`) and brings the schema up to date.
    pub fn connect(url: &str) -> StoreResult<PostgresStore> {
        Self::connect_with(url, &PoolOptions::default())
    }

    /// [`connect`](Self::connect) with a pool sized and timed by `options`.
    pub fn connect_with(url: &str, options: &PoolOptions) -> StoreResult<PostgresStore> {
        let mut config: Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        // Connections open on demand; one is kept warm. `build_unchecked` does not wait for
        // it, so an unreachable server is reported by the migration step below, at once and
        // with the driver's own reason.
        let pool = r2d2::Pool::builder()
            .max_size(options.max_connections)
            .min_idle(Some(1))
            .connection_timeout(options.acquire_timeout)
            .build_unchecked(Manager(PostgresConnectionManager::new(
                config.clone(),
                NoTls,
            )));
        migrations::run(&config)?;
        Ok(PostgresStore {
            pool,
            database: None,
        })
    }

    /// Benchmark baseline: the event-log row and the activity row per item, plain INSERTs in
    /// one transaction, none of the checks `write` callers perform.
    pub fn raw_insert_baseline(
        &self,
        rows: &[(WorkspaceId, LogEntry, PersonKey, Activity)],
    ) -> StoreResult<()> {
        let mut conn = self.conn()?;
        let Connection { client, statements } = &mut *conn;
        let mut tx = client.transaction().map_err(pg)?;
        for (ws, entry, key, activity) in rows {
            let offset = event_rows::insert_log(&mut tx, statements, *ws, entry)?;
            event_rows::insert_activity(
                &mut tx,
                statements,
                *ws,
                *key,
                activity,
                nudge_store::activity_seq(offset, 0),
                entry.received_at,
            )?;
        }
        tx.commit().map_err(pg)
    }

    /// Every derived table of `ws` as canonical JSON (people named by cio_id, rows in a stable
    /// order), read in one snapshot: what replay tests compare before and after a replay.
    pub fn derived_snapshot(&self, ws: WorkspaceId) -> StoreResult<serde_json::Value> {
        self.snapshot(|tx, _| derived::snapshot(tx, ws))
    }

    fn conn(&self) -> StoreResult<r2d2::PooledConnection<Manager>> {
        self.pool.get().map_err(errors::pool)
    }

    /// Runs `f` on a pooled connection with its statement cache.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Client, &mut Statements) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut conn = self.conn()?;
        let Connection { client, statements } = &mut *conn;
        f(client, statements)
    }

    /// Runs `f` in a read-only snapshot, so a view assembled from several queries is
    /// consistent.
    fn snapshot<T>(
        &self,
        f: impl FnOnce(&mut postgres::Transaction<'_>, &mut Statements) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.with_conn(|client, statements| {
            let mut tx = client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(pg)?;
            let value = f(&mut tx, statements)?;
            tx.commit().map_err(pg)?;
            Ok(value)
        })
    }
}

impl Store for PostgresStore {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn ping(&self) -> StoreResult<()> {
        self.with_conn(|client, _| client.simple_query("SELECT 1").map(drop).map_err(pg))
    }

    fn write(&self, work: &mut TxWork<'_>) -> StoreResult<()> {
        let mut conn = self.conn()?;
        let Connection { client, statements } = &mut *conn;
        let mut tx = client.transaction().map_err(pg)?;
        let outcome = {
            let mut writer = PgWriteTx::new(&mut tx, statements);
            work(&mut writer).and_then(|()| writer.write_behind())
        };
        match outcome {
            Ok(()) => tx.commit().map_err(pg),
            Err(err) => {
                // The caller's error is the one worth reporting; a failed rollback leaves a
                // closed connection, which the pool discards.
                let _ = tx.rollback();
                Err(err)
            }
        }
    }

    fn create_workspace(&self, new: &NewWorkspace) -> StoreResult<Workspace> {
        self.with_conn(|client, statements| {
            let mut tx = client.transaction().map_err(pg)?;
            let workspace = admin::insert_workspace(&mut tx, statements, new)?;
            admin::insert_keys(&mut tx, statements, workspace.id, &new.keys)?;
            tx.commit().map_err(pg)?;
            Ok(workspace)
        })
    }

    fn workspaces(&self) -> StoreResult<Vec<Workspace>> {
        self.with_conn(read::workspaces)
    }

    fn workspace_by_name(&self, name: &str) -> StoreResult<Option<Workspace>> {
        self.with_conn(|client, statements| read::workspace_by_name(client, statements, name))
    }

    fn replace_keys(&self, workspace: WorkspaceId, keys: &[KeyRecord]) -> StoreResult<()> {
        self.with_conn(|client, statements| {
            let mut tx = client.transaction().map_err(pg)?;
            admin::delete_keys(&mut tx, statements, workspace)?;
            admin::insert_keys(&mut tx, statements, workspace, keys)?;
            tx.commit().map_err(pg)
        })
    }

    fn find_key(&self, hash: &KeyHash) -> StoreResult<Option<KeyOwner>> {
        self.with_conn(|client, statements| read::find_key(client, statements, hash))
    }

    fn resolve(&self, ws: WorkspaceId, identifier: &Identifier) -> StoreResult<Option<PersonKey>> {
        self.with_conn(|client, statements| read::resolve(client, statements, ws, identifier))
    }

    fn person(&self, ws: WorkspaceId, key: PersonKey) -> StoreResult<Option<PersonView>> {
        self.snapshot(|tx, statements| read::person_view(tx, statements, ws, key))
    }

    fn activities(
        &self,
        ws: WorkspaceId,
        key: PersonKey,
        query: &ActivityQuery,
    ) -> StoreResult<Vec<nudge_core::person::StoredActivity>> {
        self.with_conn(|client, statements| read::activities(client, statements, ws, key, query))
    }

    fn person_segments(&self, ws: WorkspaceId, key: PersonKey) -> StoreResult<Vec<Segment>> {
        self.with_conn(|client, statements| read::person_segments(client, statements, ws, key))
    }

    fn object(&self, ws: WorkspaceId, object: &ObjectRef) -> StoreResult<Option<ObjectView>> {
        self.snapshot(|tx, statements| read::object_view(tx, statements, ws, object))
    }

    fn read_log(&self, ws: WorkspaceId, after: i64, limit: usize) -> StoreResult<Vec<LogRecord>> {
        self.with_conn(|client, statements| read::log(client, statements, ws, after, limit))
    }

    fn log_extent(&self, ws: WorkspaceId, after: i64) -> StoreResult<nudge_store::LogExtent> {
        self.with_conn(|c, s| derived::log_extent(c, s, ws, after))
    }

    fn reset_derived(&self, ws: WorkspaceId) -> StoreResult<()> {
        self.with_conn(|client, statements| {
            let mut tx = client.transaction().map_err(pg)?;
            derived::reset(&mut tx, statements, ws)?;
            tx.commit().map_err(pg)
        })
    }

    fn rejections(
        &self,
        ws: WorkspaceId,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<nudge_store::RejectionRecord>> {
        self.with_conn(|client, statements| {
            rejections::list(client, statements, ws, before_id, limit)
        })
    }

    fn people_page(
        &self,
        ws: WorkspaceId,
        after: Option<PersonKey>,
        limit: usize,
        scope: &nudge_store::ExportScope,
    ) -> StoreResult<Vec<nudge_core::PersonState>> {
        self.with_conn(|c, s| export::people_page(c, s, ws, after, limit, scope))
    }

    fn events_page(
        &self,
        ws: WorkspaceId,
        after_seq: i64,
        limit: usize,
        scope: &nudge_store::ExportScope,
    ) -> StoreResult<Vec<nudge_store::ExportedEvent>> {
        self.with_conn(|c, s| export::events_page(c, s, ws, after_seq, limit, scope))
    }

    fn create_export(
        &self,
        ws: WorkspaceId,
        new: &nudge_store::NewExport,
    ) -> StoreResult<nudge_store::ExportJob> {
        self.with_conn(|c, s| export::create_export(c, s, ws, new))
    }

    fn export_job(&self, ws: WorkspaceId, id: i64) -> StoreResult<Option<nudge_store::ExportJob>> {
        self.with_conn(|c, s| export::export_job(c, s, ws, id))
    }

    fn finish_export(
        &self,
        ws: WorkspaceId,
        id: i64,
        end: &nudge_store::ExportEnd,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.with_conn(|c, s| export::finish_export(c, s, ws, id, end, now))
    }

    fn record_export_download(&self, ws: WorkspaceId, id: i64, now: Timestamp) -> StoreResult<()> {
        self.with_conn(|c, s| export::record_download(c, s, ws, id, now))
    }
}

/// A pooled connection and the statements prepared on it. Prepared statements belong to
/// one server session, so the cache lives with the connection.
struct Connection {
    client: Client,
    statements: Statements,
}

/// Statements prepared on one connection, by their SQL text.
#[derive(Default)]
pub(crate) struct Statements(HashMap<&'static str, Statement>);

impl Statements {
    /// The prepared form of `sql`, preparing it on first use.
    pub(crate) fn get(
        &mut self,
        client: &mut impl GenericClient,
        sql: &'static str,
    ) -> StoreResult<Statement> {
        if let Some(statement) = self.0.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql).map_err(pg)?;
        self.0.insert(sql, statement.clone());
        Ok(statement)
    }

    /// Runs the prepared `sql` and returns its rows.
    pub(crate) fn query(
        &mut self,
        client: &mut impl GenericClient,
        sql: &'static str,
        params: &Params<'_>,
    ) -> StoreResult<Vec<postgres::Row>> {
        let statement = self.get(client, sql)?;
        client.query(&statement, params).map_err(pg)
    }

    /// Runs the prepared `sql` and returns how many rows it changed.
    pub(crate) fn execute(
        &mut self,
        client: &mut impl GenericClient,
        sql: &'static str,
        params: &Params<'_>,
    ) -> StoreResult<u64> {
        let statement = self.get(client, sql)?;
        client.execute(&statement, params).map_err(pg)
    }
}

/// Statement parameters.
pub(crate) type Params<'p> = [&'p (dyn postgres::types::ToSql + Sync)];

/// `r2d2_postgres`'s manager, with a statement cache attached to every connection.
struct Manager(PostgresConnectionManager<NoTls>);

impl r2d2::ManageConnection for Manager {
    type Connection = Connection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Connection, postgres::Error> {
        Ok(Connection {
            client: self.0.connect()?,
            statements: Statements::default(),
        })
    }

    fn is_valid(&self, conn: &mut Connection) -> Result<(), postgres::Error> {
        self.0.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        self.0.has_broken(&mut conn.client)
    }
}
