//! What only the PostgreSQL backend has to prove, beyond the shared contract: nodes that
//! start at once migrate once, failures map to the right `StoreError`, a refused statement
//! does not poison the transaction, JSON key order survives, and test databases go away.

use std::sync::Barrier;
use std::thread;

use nudge_core::{
    Activity, ActivityKind, Identifier, IdentifierKind, JsonMap, ObjectRef, Operation, PersonKey,
    Timestamp, WorkspaceId,
};
use nudge_store::{LogEntry, NewWorkspace, Store, StoreError, WriteTx};
use nudge_store_postgres::test_database::TestDatabase;
use nudge_store_postgres::PostgresStore;
use postgres::{Client, NoTls};
use serde_json::json;

fn workspace(store: &dyn Store) -> WorkspaceId {
    store
        .create_workspace(&NewWorkspace {
            name: "lumen".into(),
            env: nudge_core::Env::Production,
            site_id: "site-lumen".into(),
            keys: vec![],
            now: Timestamp::from_millis(1),
        })
        .unwrap()
        .id
}

fn log_entry(ms: i64) -> LogEntry {
    LogEntry {
        source: "track_v1".into(),
        received_at: Timestamp::from_millis(ms),
        operation: Operation::DeletePerson {
            person: Identifier::new(IdentifierKind::Id, "u1").unwrap(),
        },
        raw: None,
    }
}

fn map(value: serde_json::Value) -> JsonMap {
    value.as_object().cloned().unwrap()
}

/// Serialised, so that key order counts (`JsonMap` equality ignores it).
fn text(map: &JsonMap) -> String {
    serde_json::to_string(map).unwrap()
}

#[test]
fn racing_nodes_migrate_once() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let start = Barrier::new(2);
    let outcomes: Vec<_> = thread::scope(|scope| {
        let nodes: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    PostgresStore::connect(database.url())
                })
            })
            .collect();
        nodes.into_iter().map(|node| node.join().unwrap()).collect()
    });
    for outcome in &outcomes {
        assert!(outcome.is_ok(), "a racing connect failed: {outcome:?}");
    }

    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count();
    let mut client = Client::connect(database.url(), NoTls).unwrap();
    let recorded: Vec<(i32, i64)> = client
        .query(
            "SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let expected: Vec<(i32, i64)> = (1..=shipped as i32).map(|v| (v, 1)).collect();
    assert_eq!(recorded, expected);
    drop(outcomes);
}

#[test]
fn connecting_again_applies_nothing_new() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    drop(PostgresStore::connect(database.url()).unwrap());
    let mut client = Client::connect(database.url(), NoTls).unwrap();
    let applied_at = |client: &mut Client| -> Vec<i64> {
        client
            .query(
                "SELECT applied_at FROM schema_migrations ORDER BY version",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    };
    let before = applied_at(&mut client);
    let store = PostgresStore::connect(database.url()).unwrap();
    store.ping().unwrap();
    assert_eq!(applied_at(&mut client), before);
}

#[test]
fn an_unreachable_server_is_unavailable() {
    // Port 1 on loopback refuses at once; no server is needed for this check.
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/nudge").unwrap_err();
    assert!(
        matches!(err, nudge_store::StoreError::Unavailable(_)),
        "{err:?}"
    );
}

#[test]
fn a_refused_insert_leaves_the_transaction_usable() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let store = database.into_store().unwrap();
    let ws = workspace(&store);
    let now = Timestamp::from_millis(5);
    store
        .write(&mut |tx: &mut dyn WriteTx| {
            tx.insert_person(ws, "c1", now)?;
            let again = tx.insert_person(ws, "c1", now);
            assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
            // Unlike a failed INSERT, the conflict did not abort the transaction.
            tx.append_log(ws, &log_entry(6))?;
            Ok(())
        })
        .unwrap();
    assert_eq!(store.read_log(ws, 0, 10).unwrap().len(), 1);
}

#[test]
fn a_database_error_rolls_back_and_later_writes_succeed() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let store = database.into_store().unwrap();
    let ws = workspace(&store);
    let activity = Activity {
        kind: ActivityKind::Event,
        name: "viewed".into(),
        timestamp: Timestamp::from_millis(5),
        data: JsonMap::new(),
        event_id: None,
        can_trigger: true,
    };
    let orphan = store.write(&mut |tx: &mut dyn WriteTx| {
        tx.append_log(ws, &log_entry(5))?;
        // No such person: the reference check refuses the row.
        tx.record_activity(
            ws,
            PersonKey(424_242),
            &activity,
            1,
            Timestamp::from_millis(5),
        )
    });
    assert!(matches!(orphan, Err(StoreError::Conflict(_))), "{orphan:?}");
    assert!(store.read_log(ws, 0, 10).unwrap().is_empty(), "rolled back");
    store
        .write(&mut |tx: &mut dyn WriteTx| tx.append_log(ws, &log_entry(7)).map(drop))
        .unwrap();
    assert_eq!(store.read_log(ws, 0, 10).unwrap().len(), 1);
}

#[test]
fn json_maps_keep_their_key_order() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let store = database.into_store().unwrap();
    let ws = workspace(&store);
    let attributes = map(json!({"zeta": 1, "alpha": {"y": 1, "b": 2}, "mid": [3]}));
    let acme = ObjectRef {
        type_id: "company".into(),
        object_id: "acme".into(),
    };
    let key = store_write(&store, |tx| {
        let key = tx.insert_person(ws, "c1", Timestamp::from_millis(1))?;
        let mut person = tx.load_person(ws, key)?.unwrap();
        person.attributes = attributes.clone();
        tx.save_person(ws, &person)?;
        let first = map(json!({"b": 1, "a": 2, "c": 3, "d": 4}));
        tx.upsert_object(ws, &acme, &first, Timestamp::from_millis(1))?;
        let changes = map(json!({"a": null, "e": 5, "b": 6}));
        tx.upsert_object(ws, &acme, &changes, Timestamp::from_millis(2))?;
        Ok(key)
    });
    let view = store.person(ws, key).unwrap().unwrap();
    assert_eq!(text(&view.state.attributes), text(&attributes));
    let object = store.object(ws, &acme).unwrap().unwrap();
    assert_eq!(text(&object.attributes), r#"{"b":6,"c":3,"d":4,"e":5}"#);
}

fn store_write<T>(
    store: &PostgresStore,
    mut work: impl FnMut(&mut dyn WriteTx) -> nudge_store::StoreResult<T>,
) -> T {
    let mut out = None;
    store
        .write(&mut |tx: &mut dyn WriteTx| {
            out = Some(work(tx)?);
            Ok(())
        })
        .unwrap();
    out.unwrap()
}

#[test]
fn a_test_database_is_dropped_with_its_store() {
    let Some(database) = TestDatabase::create() else {
        return;
    };
    let name = database.name().to_string();
    let store = database.into_store().unwrap();
    store.ping().unwrap();
    drop(store);
    let mut admin = Client::connect("postgres://postgres@127.0.0.1:5432/postgres", NoTls).unwrap();
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "{name} is still there");
}
