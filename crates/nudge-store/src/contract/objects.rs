//! Contract checks for objects (companies, accounts ...) and their relationships to people:
//! attribute merging, deletion, and adding, replacing and removing relationships.

use super::{at, map, person, workspace, write};
use crate::{ObjectView, Store};
use nudge_core::{ObjectRef, PersonKey};
use serde_json::json;

fn object(type_id: &str, object_id: &str) -> ObjectRef {
    ObjectRef {
        type_id: type_id.into(),
        object_id: object_id.into(),
    }
}

fn sorted(mut view: ObjectView) -> ObjectView {
    view.relationships.sort_by_key(|(key, _)| *key);
    view
}

pub fn objects_upsert_merges_attributes(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let acme = object("company", "acme");
    assert_eq!(store.object(lumen, &acme).unwrap(), None);

    write(store, |tx| {
        let first = map(json!({"name": "Acme", "plan": "pro", "seats": 3, "beta": true}));
        tx.upsert_object(lumen, &acme, &first, at(1))
    });
    write(store, |tx| {
        let changes = map(json!({"plan": null, "seats": "", "name": "Acme Inc", "region": "eu"}));
        tx.upsert_object(lumen, &acme, &changes, at(2))
    });
    let view = store.object(lumen, &acme).unwrap().expect("created");
    assert_eq!(view.object, acme);
    assert_eq!(
        view.attributes,
        map(json!({"name": "Acme Inc", "beta": true, "region": "eu"})),
        "merged; null and \"\" removed"
    );
    assert!(view.relationships.is_empty());

    // Creating with only removals still creates the object, with no attributes.
    let empty = object("company", "empty");
    write(store, |tx| {
        tx.upsert_object(lumen, &empty, &map(json!({"x": null})), at(3))
    });
    assert!(store
        .object(lumen, &empty)
        .unwrap()
        .unwrap()
        .attributes
        .is_empty());

    // Objects are addressed by type and id, per workspace.
    assert_eq!(
        store.object(lumen, &object("account", "acme")).unwrap(),
        None
    );
    assert_eq!(store.object(ember, &acme).unwrap(), None);
}

pub fn delete_object_removes_its_relationships(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    let bob = person(store, ws, "bob");
    let acme = object("company", "acme");
    let initech = object("company", "initech");
    write(store, |tx| {
        tx.upsert_object(ws, &acme, &map(json!({"name": "Acme"})), at(1))?;
        for key in [ana, bob] {
            tx.set_relationship(ws, key, &acme, Some(&map(json!({"role": "admin"}))), at(1))?;
        }
        tx.set_relationship(ws, ana, &initech, Some(&map(json!({}))), at(1))
    });

    assert!(write(store, |tx| tx.delete_object(ws, &acme)));
    assert_eq!(store.object(ws, &acme).unwrap(), None);
    assert!(
        !write(store, |tx| tx.delete_object(ws, &acme)),
        "already gone"
    );

    // Re-created, it starts bare: the old relationships were deleted, not hidden.
    write(store, |tx| {
        tx.upsert_object(ws, &acme, &map(json!({})), at(2))
    });
    let fresh = store.object(ws, &acme).unwrap().unwrap();
    assert!(fresh.attributes.is_empty() && fresh.relationships.is_empty());
    let other = store.object(ws, &initech).unwrap().unwrap();
    assert_eq!(
        other.relationships,
        [(ana, map(json!({})))],
        "other objects untouched"
    );
}

pub fn set_relationship_adds_replaces_and_removes(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    let bob = person(store, ws, "bob");
    let acme = object("company", "acme");
    let relate = |key: PersonKey, attributes: Option<serde_json::Value>, ms: i64| {
        let attributes = attributes.map(map);
        write(store, |tx| {
            tx.set_relationship(ws, key, &acme, attributes.as_ref(), at(ms))
        });
    };

    relate(ana, Some(json!({"role": "admin"})), 1);
    let view = store
        .object(ws, &acme)
        .unwrap()
        .expect("relating creates the object");
    assert!(view.attributes.is_empty());
    assert_eq!(view.relationships, [(ana, map(json!({"role": "admin"})))]);

    relate(ana, Some(json!({"seat": 4})), 2);
    relate(bob, Some(json!({"role": "member"})), 3);
    let mut expected = vec![
        (ana, map(json!({"seat": 4}))),
        (bob, map(json!({"role": "member"}))),
    ];
    expected.sort_by_key(|(key, _)| *key);
    let view = sorted(store.object(ws, &acme).unwrap().unwrap());
    assert_eq!(
        view.relationships, expected,
        "attributes replaced, not merged"
    );

    relate(ana, None, 4);
    let view = store
        .object(ws, &acme)
        .unwrap()
        .expect("the object outlives relationships");
    assert_eq!(view.relationships, [(bob, map(json!({"role": "member"})))]);
    relate(ana, None, 5);
    relate(bob, None, 6);
    assert!(store
        .object(ws, &acme)
        .unwrap()
        .unwrap()
        .relationships
        .is_empty());

    // Relating to an existing object leaves its attributes alone.
    write(store, |tx| {
        tx.upsert_object(ws, &acme, &map(json!({"name": "Acme"})), at(7))
    });
    relate(bob, Some(json!({})), 8);
    let view = store.object(ws, &acme).unwrap().unwrap();
    assert_eq!(view.attributes, map(json!({"name": "Acme"})));
    assert_eq!(view.relationships.len(), 1);
}
