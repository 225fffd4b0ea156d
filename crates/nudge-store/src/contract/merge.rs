//! Contract checks for `move_person_data`, the storage half of merging two people: everything
//! hanging off the secondary moves to the primary, and the primary's own data wins a clash.

use super::{
    activity, at, device, email, id, map, new_person, next_seq, workspace, write, MERGED_AT,
};
use crate::{ActivityQuery, Store};
use nudge_core::{ActivityKind, ObjectRef, PersonKey, WorkspaceId};
use serde_json::json;

fn object(id: &str) -> ObjectRef {
    ObjectRef {
        type_id: "company".into(),
        object_id: id.into(),
    }
}

fn timeline(store: &dyn Store, ws: WorkspaceId, key: PersonKey) -> Vec<String> {
    let all = ActivityQuery {
        limit: 100,
        ..ActivityQuery::default()
    };
    let mut names: Vec<String> = store
        .activities(ws, key, &all)
        .unwrap()
        .into_iter()
        .map(|a| a.activity.name)
        .collect();
    names.sort();
    names
}

fn segment_ids(store: &dyn Store, ws: WorkspaceId, key: PersonKey) -> Vec<i64> {
    let mut ids: Vec<i64> = store
        .person_segments(ws, key)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    ids.sort();
    ids
}

pub fn move_person_data_moves_everything(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let only_old = store
        .create_manual_segment(ws, "old", "", at(1))
        .unwrap()
        .id;
    let only_new = store
        .create_manual_segment(ws, "new", "", at(1))
        .unwrap()
        .id;
    let (from, to) = write(store, |tx| {
        let from = new_person(tx, ws, "anon-visitor")?;
        let to = new_person(tx, ws, "ana")?;
        tx.link_identifier(ws, &email("ana@example.com"), from)?;
        tx.record_activity(
            ws,
            from,
            &activity(ActivityKind::Page, "from-1", 1),
            next_seq(),
            at(1),
        )?;
        tx.record_activity(
            ws,
            to,
            &activity(ActivityKind::Event, "to-1", 2),
            next_seq(),
            at(2),
        )?;
        tx.record_activity(
            ws,
            from,
            &activity(ActivityKind::Event, "from-2", 3),
            next_seq(),
            at(3),
        )?;
        tx.upsert_device(ws, from, &device("tok-from", "ios"))?;
        tx.upsert_device(ws, to, &device("tok-to", "android"))?;
        tx.set_segment_membership(ws, only_old, from, true, at(4))?;
        tx.set_segment_membership(ws, only_new, to, true, at(4))?;
        tx.set_relationship(
            ws,
            from,
            &object("acme"),
            Some(&map(json!({"r": 1}))),
            at(5),
        )?;
        tx.set_relationship(
            ws,
            to,
            &object("initech"),
            Some(&map(json!({"r": 2}))),
            at(5),
        )?;
        Ok((from, to))
    });

    let moved = write(store, |tx| tx.move_person_data(ws, from, to, MERGED_AT));
    assert_eq!(
        moved,
        crate::MovedData {
            identifiers: 3,
            activities: 2,
            devices: 1,
            segment_memberships: 1,
            relationships: 1,
            instances: 0,
            instances_closed: 0,
        },
        "cio_id, id and email; two activities; one of each of the rest"
    );

    for moved in [id("anon-visitor"), email("ana@example.com"), id("ana")] {
        assert_eq!(store.resolve(ws, &moved).unwrap(), Some(to), "{moved}");
    }
    assert_eq!(timeline(store, ws, to), ["from-1", "from-2", "to-1"]);
    assert!(timeline(store, ws, from).is_empty());
    let to_view = store.person(ws, to).unwrap().unwrap();
    let tokens: Vec<&str> = to_view.devices.iter().map(|d| d.token.as_str()).collect();
    assert_eq!(tokens, ["tok-from", "tok-to"]);
    let mut both = vec![only_old, only_new];
    both.sort();
    assert_eq!(segment_ids(store, ws, to), both);
    assert!(segment_ids(store, ws, from).is_empty());
    let acme = store.object(ws, &object("acme")).unwrap().unwrap();
    assert_eq!(acme.relationships, [(to, map(json!({"r": 1})))]);

    // `from`'s row is left for the caller, now bare, and deleting it takes nothing of `to`'s.
    let from_view = store.person(ws, from).unwrap().expect("row left in place");
    assert!(from_view.identifiers.is_empty() && from_view.devices.is_empty());
    write(store, |tx| tx.delete_person(ws, from));
    assert_eq!(store.person(ws, to).unwrap().unwrap(), to_view);
    assert_eq!(timeline(store, ws, to).len(), 3);
    assert_eq!(segment_ids(store, ws, to).len(), 2);
    assert_eq!(store.object(ws, &object("acme")).unwrap().unwrap(), acme);
}

pub fn move_person_data_keeps_the_targets_own_on_a_clash(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let both = store
        .create_manual_segment(ws, "both", "", at(1))
        .unwrap()
        .id;
    let (from, to) = write(store, |tx| {
        let from = new_person(tx, ws, "old")?;
        let to = new_person(tx, ws, "new")?;
        for key in [from, to] {
            tx.set_segment_membership(ws, both, key, true, at(2))?;
        }
        let acme = object("acme");
        tx.set_relationship(ws, from, &acme, Some(&map(json!({"role": "from"}))), at(3))?;
        tx.set_relationship(ws, to, &acme, Some(&map(json!({"role": "to"}))), at(3))?;
        Ok((from, to))
    });

    write(store, |tx| tx.move_person_data(ws, from, to, MERGED_AT));

    assert_eq!(segment_ids(store, ws, to), [both]);
    assert!(segment_ids(store, ws, from).is_empty());
    let acme = store.object(ws, &object("acme")).unwrap().unwrap();
    assert_eq!(
        acme.relationships,
        [(to, map(json!({"role": "to"})))],
        "the target's own relationship wins and the loser's is gone"
    );
    write(store, |tx| tx.delete_person(ws, from));
    assert_eq!(segment_ids(store, ws, to), [both]);
    assert_eq!(store.object(ws, &object("acme")).unwrap().unwrap(), acme);
}

pub fn move_person_data_onto_itself_changes_nothing(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let segment = store.create_manual_segment(ws, "vip", "", at(1)).unwrap();
    let key = write(store, |tx| {
        let key = new_person(tx, ws, "ana")?;
        tx.record_activity(
            ws,
            key,
            &activity(ActivityKind::Event, "e", 1),
            next_seq(),
            at(1),
        )?;
        tx.upsert_device(ws, key, &device("tok", "ios"))?;
        tx.set_segment_membership(ws, segment.id, key, true, at(1))?;
        tx.set_relationship(ws, key, &object("acme"), Some(&map(json!({}))), at(1))?;
        Ok(key)
    });
    let before = store.person(ws, key).unwrap().unwrap();

    let moved = write(store, |tx| tx.move_person_data(ws, key, key, MERGED_AT));
    assert_eq!(moved, crate::MovedData::default());

    assert_eq!(store.person(ws, key).unwrap().unwrap(), before);
    assert_eq!(timeline(store, ws, key), ["e"]);
    assert_eq!(store.person_segments(ws, key).unwrap(), [segment]);
    let acme = store.object(ws, &object("acme")).unwrap().unwrap();
    assert_eq!(acme.relationships, [(key, map(json!({})))]);
}
