//! Contract checks for computed-attribute definitions in [`Definitions`](crate::Definitions)
//! (versions, backfills, identical puts that change nothing, deletes per workspace) and for the
//! config version that every definition change, segment or computed, raises.

use super::segment_definitions::{create, data_driven_segment};
use super::{at, person, workspace, write};
use crate::{Backfill, ComputedDefinition, Store};
use serde_json::json;

pub fn computed_definitions_are_versioned_and_identical_puts_change_nothing(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    let orders = json!({"count": {"event": "purchase"}, "window": [1, 2.5, "days"]});
    let created = store
        .put_computed_definition(ws, "orders", &orders, at(10))
        .unwrap();
    assert_eq!(
        created,
        ComputedDefinition {
            name: "orders".into(),
            definition: orders.clone(),
            version: 1,
            created_at: at(10),
            updated_at: at(10),
            backfill: Backfill::starting(1),
        }
    );
    let done = Backfill {
        complete: true,
        after: ana.0,
        done: 1,
        total: 1,
    };
    write(store, |tx| tx.set_computed_backfill(ws, "orders", &done));
    let settled = ComputedDefinition {
        backfill: done,
        ..created
    };
    assert_eq!(
        store.computed_definitions(ws).unwrap(),
        std::slice::from_ref(&settled)
    );

    let version = store.config_version().unwrap();
    let same = store
        .put_computed_definition(ws, "orders", &orders, at(20))
        .unwrap();
    assert_eq!(same, settled, "an identical definition is left as it is");
    assert_eq!(store.config_version().unwrap(), version);
    assert_eq!(
        store.computed_definitions(ws).unwrap(),
        std::slice::from_ref(&settled)
    );

    person(store, ws, "bob");
    let spend = json!({"sum": {"event": "purchase", "property": "amount"}});
    let changed = store
        .put_computed_definition(ws, "orders", &spend, at(30))
        .unwrap();
    let expected = ComputedDefinition {
        name: "orders".into(),
        definition: spend,
        version: 2,
        created_at: at(10),
        updated_at: at(30),
        backfill: Backfill::starting(2),
    };
    assert_eq!(changed, expected);
    let other = store
        .put_computed_definition(ws, "last_seen", &orders, at(40))
        .unwrap();
    assert_eq!(other.version, 1);
    assert_eq!(
        store.computed_definitions(ws).unwrap(),
        [other, expected],
        "by name"
    );
}

pub fn computed_definitions_are_deleted_and_kept_per_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let first = json!({"count": {"event": "purchase"}});
    let second = json!({"count": {"event": "refund"}});
    store
        .put_computed_definition(lumen, "orders", &first, at(10))
        .unwrap();
    let theirs = store
        .put_computed_definition(ember, "orders", &second, at(10))
        .unwrap();
    assert_eq!(theirs.version, 1, "names are per workspace");
    let progress = Backfill {
        complete: false,
        after: 1,
        done: 1,
        total: 5,
    };
    write(store, |tx| {
        tx.set_computed_backfill(ember, "orders", &progress)
    });
    assert_eq!(
        store.computed_definitions(lumen).unwrap()[0].backfill,
        Backfill::starting(0),
        "another workspace's progress"
    );

    assert!(store.delete_computed_definition(lumen, "orders").unwrap());
    assert!(!store.delete_computed_definition(lumen, "orders").unwrap());
    assert!(!store.delete_computed_definition(lumen, "unknown").unwrap());
    assert!(store.computed_definitions(lumen).unwrap().is_empty());
    let kept = ComputedDefinition {
        backfill: progress,
        ..theirs
    };
    assert_eq!(store.computed_definitions(ember).unwrap(), [kept]);

    let recreated = store
        .put_computed_definition(lumen, "orders", &first, at(20))
        .unwrap();
    assert_eq!(
        (recreated.version, recreated.created_at),
        (1, at(20)),
        "a new definition"
    );
}

pub fn config_version_rises_with_every_definition_change(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let mut last = store.config_version().unwrap();
    let mut rose = |what: &str| {
        let now = store.config_version().unwrap();
        assert!(now > last, "{what}: {now} after {last}");
        last = now;
    };
    let segment = create(store, lumen, &data_driven_segment("a"));
    rose("create_segment");
    store
        .update_segment(lumen, segment.id, &data_driven_segment("b"), at(2))
        .unwrap();
    rose("update_segment");
    store.create_manual_segment(ember, "m", "", at(3)).unwrap();
    rose("create_manual_segment in another workspace");
    assert!(store.delete_segment(lumen, segment.id).unwrap());
    rose("delete_segment");
    store
        .put_computed_definition(ember, "orders", &json!({"count": 1}), at(4))
        .unwrap();
    rose("put_computed_definition (new)");
    store
        .put_computed_definition(ember, "orders", &json!({"count": 2}), at(5))
        .unwrap();
    rose("put_computed_definition (changed)");
    assert!(store.delete_computed_definition(ember, "orders").unwrap());
    rose("delete_computed_definition");
}
