//! What the SQLite backend promises beyond the shared contract: the file's journal mode,
//! migrations applied once across reopenings, errors a caller can act on, and the raw-insert
//! benchmark baseline.

use std::path::Path;
use std::time::Duration;

use nudge_core::{
    Activity, ActivityKind, Env, Identifier, IdentifierKind, Operation, PersonKey, Timestamp,
    WorkspaceId,
};
use nudge_store::{ActivityQuery, LogEntry, NewWorkspace, Store, StoreError};
use nudge_store_sqlite::{migrations::MIGRATIONS, SqliteOptions, SqliteStore};

fn create_workspace(store: &SqliteStore, name: &str) -> WorkspaceId {
    store
        .create_workspace(&NewWorkspace {
            name: name.into(),
            env: Env::Production,
            site_id: format!("site-{name}"),
            keys: vec![],
            now: Timestamp::from_millis(1),
        })
        .unwrap()
        .id
}

fn ana() -> Identifier {
    Identifier::new(IdentifierKind::Id, "ana").unwrap()
}

fn insert_ana(store: &SqliteStore, ws: WorkspaceId) -> PersonKey {
    let mut key = None;
    store
        .write(&mut |tx| {
            let k = tx.insert_person(ws, "cio-ana", Timestamp::from_millis(2))?;
            tx.link_identifier(ws, &ana(), k)?;
            key = Some(k);
            Ok(())
        })
        .unwrap();
    key.unwrap()
}

fn journal_mode(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_query_value(None, "journal_mode", |row| row.get(0))
        .unwrap()
}

#[test]
fn the_database_file_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nudge.db");
    let store = SqliteStore::open(&path).unwrap();
    create_workspace(&store, "lumen");
    // WAL is a property of the file: any other connection sees it too.
    assert_eq!(journal_mode(&path), "wal");
    assert!(dir.path().join("nudge.db-wal").exists());
    assert_eq!(store.path(), path);
    assert_eq!(store.backend_name(), "sqlite");
}

#[test]
fn reopening_keeps_data_and_applies_no_migration_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nudge.db");
    let (ws, key, first_history) = {
        let store = SqliteStore::open(&path).unwrap();
        let ws = create_workspace(&store, "lumen");
        let key = insert_ana(&store, ws);
        (ws, key, store.applied_migrations().unwrap())
    };
    let versions: Vec<i64> = first_history.iter().map(|m| m.version).collect();
    let known: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
    assert_eq!(versions, known, "a new file gets every migration, in order");

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.applied_migrations().unwrap(),
        first_history,
        "nothing re-applied: same versions, same application times"
    );
    assert_eq!(store.workspace_by_name("lumen").unwrap().unwrap().id, ws);
    assert_eq!(store.resolve(ws, &ana()).unwrap(), Some(key));
    assert_eq!(
        store.person(ws, key).unwrap().unwrap().state.cio_id,
        "cio-ana"
    );
    // Keys keep counting up from where they were: a deleted person's key is never reused.
    store.write(&mut |tx| tx.delete_person(ws, key)).unwrap();
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert!(insert_ana(&store, ws) > key);
}

#[test]
fn a_path_that_cannot_be_opened_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let err = SqliteStore::open(&dir.path().join("missing-dir").join("nudge.db")).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[test]
fn a_file_that_is_not_a_database_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nudge.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
}

#[test]
fn a_write_blocked_by_another_process_lock_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nudge.db");
    let options = SqliteOptions {
        busy_timeout: Duration::from_millis(20),
        ..SqliteOptions::default()
    };
    let store = SqliteStore::open_with(&path, &options).unwrap();
    let ws = create_workspace(&store, "lumen");

    // Another connection (as another process would) holds the write lock.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let err = store
        .write(&mut |tx| {
            tx.record_dedupe_key(ws, "k", Timestamp::from_millis(1))
                .map(drop)
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    // Readers are not blocked by a writer in WAL mode.
    assert!(store.workspace_by_name("lumen").unwrap().is_some());

    other.execute_batch("ROLLBACK").unwrap();
    store
        .write(&mut |tx| {
            tx.record_dedupe_key(ws, "k", Timestamp::from_millis(1))
                .map(drop)
        })
        .expect("writes resume once the lock is released");
}

#[test]
fn raw_insert_baseline_writes_the_same_rows_as_ingestion() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("nudge.db")).unwrap();
    let ws = create_workspace(&store, "lumen");
    let key = insert_ana(&store, ws);
    let rows: Vec<_> = (0..3)
        .map(|n| {
            let entry = LogEntry {
                source: "track_v1".into(),
                received_at: Timestamp::from_millis(100 + n),
                operation: Operation::Suppress { person: ana() },
                raw: None,
            };
            let activity = Activity {
                kind: ActivityKind::Event,
                name: format!("e{n}"),
                timestamp: Timestamp::from_millis(n),
                data: Default::default(),
                event_id: None,
                can_trigger: true,
            };
            (ws, entry, key, activity)
        })
        .collect();
    store.raw_insert_baseline(&rows).unwrap();

    let log = store.read_log(ws, 0, 10).unwrap();
    let logged: Vec<&LogEntry> = log.iter().map(|r| &r.entry).collect();
    let expected: Vec<&LogEntry> = rows.iter().map(|(_, entry, _, _)| entry).collect();
    assert_eq!(logged, expected);
    let query = ActivityQuery {
        limit: 10,
        ..ActivityQuery::default()
    };
    let timeline = store.activities(ws, key, &query).unwrap();
    let names: Vec<&str> = timeline.iter().map(|a| a.activity.name.as_str()).collect();
    assert_eq!(names, ["e2", "e1", "e0"]);
    assert_eq!(timeline[0].recorded_at, Timestamp::from_millis(102));

    // All or nothing: a row for a person that does not exist refuses the whole batch.
    let mut bad = rows.clone();
    bad[1].2 = PersonKey(key.0 + 1_000);
    assert!(store.raw_insert_baseline(&bad).is_err());
    assert_eq!(store.read_log(ws, 0, 10).unwrap().len(), 3);
}
