//! The shared storage contract on PostgreSQL, each check on a fresh store in a fresh
//! database, plus what only this backend has to prove: nodes that start at once migrate once.

use std::sync::Barrier;
use std::thread;

use nudge_store::Store;
use nudge_store_postgres::test_database::TestDatabase;
use nudge_store_postgres::PostgresStore;
use postgres::{Client, NoTls};

nudge_store::contract_tests!(match TestDatabase::create() {
    Some(database) => database.into_store().expect("connect to the test database"),
    // TestDatabase::create has printed the SKIPPED notice.
    None => return,
});

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
