//! Contract checks for people and their identifiers: resolving, relinking, the person row's
//! round trip, the person view, and deleting a person with everything hanging off them.

use std::collections::BTreeMap;

use super::{
    activity, at, cio_id, device, email, id, ident, map, new_person, next_seq, person, workspace,
    write,
};
use crate::{ActivityQuery, Store, StoreResult, WriteTx};
use nudge_core::{ActivityKind, IdentifierKind, ObjectRef, PersonKey, PersonState};
use serde_json::json;

pub fn identifiers_resolve_relink_and_unlink(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    let bob = person(store, ws, "bob");
    assert_ne!(ana, bob);
    let shared = email("family@example.com");

    write(store, |tx| tx.link_identifier(ws, &shared, ana));
    assert_eq!(store.resolve(ws, &shared).unwrap(), Some(ana));
    assert_eq!(write(store, |tx| tx.resolve(ws, &shared)), Some(ana));

    // Relinking moves the identifier: it never resolves to two people.
    write(store, |tx| tx.link_identifier(ws, &shared, bob));
    assert_eq!(store.resolve(ws, &shared).unwrap(), Some(bob));
    let ana_view = store.person(ws, ana).unwrap().unwrap();
    assert!(!ana_view.identifiers.contains(&shared));
    assert!(store
        .person(ws, bob)
        .unwrap()
        .unwrap()
        .identifiers
        .contains(&shared));

    write(store, |tx| tx.unlink_identifier(ws, &shared));
    assert_eq!(store.resolve(ws, &shared).unwrap(), None);
    assert_eq!(write(store, |tx| tx.resolve(ws, &shared)), None);
    // Unlinking what is not linked is harmless.
    write(store, |tx| tx.unlink_identifier(ws, &shared));
    assert_eq!(
        store.resolve(ws, &id("bob")).unwrap(),
        Some(bob),
        "others untouched"
    );
    assert_eq!(store.resolve(ws, &id("nobody")).unwrap(), None);
}

pub fn identifiers_are_per_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let in_lumen = person(store, lumen, "ana");
    let in_ember = person(store, ember, "ana");
    assert_eq!(store.resolve(lumen, &id("ana")).unwrap(), Some(in_lumen));
    assert_eq!(store.resolve(ember, &id("ana")).unwrap(), Some(in_ember));
    assert_ne!(in_lumen, in_ember);

    write(store, |tx| tx.unlink_identifier(lumen, &id("ana")));
    assert_eq!(store.resolve(lumen, &id("ana")).unwrap(), None);
    assert_eq!(store.resolve(ember, &id("ana")).unwrap(), Some(in_ember));
    // A person is only visible in their own workspace.
    assert_eq!(store.person(ember, in_lumen).unwrap(), None);
    assert_eq!(write(store, |tx| tx.load_person(ember, in_lumen)), None);
}

pub fn identifier_values_match_exactly_as_given(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let upper = person(store, ws, "A1");
    let lower = person(store, ws, "a1");
    assert_ne!(upper, lower, "ids are case-sensitive");
    assert_eq!(store.resolve(ws, &id("A1")).unwrap(), Some(upper));
    assert_eq!(store.resolve(ws, &id("a1")).unwrap(), Some(lower));

    // Emails arrive lower-cased by the core; the store matches them as given.
    let given = email("Ana@Example.COM");
    assert_eq!(given.value(), "ana@example.com");
    write(store, |tx| tx.link_identifier(ws, &given, upper));
    assert_eq!(
        store.resolve(ws, &email("ANA@example.com")).unwrap(),
        Some(upper)
    );
    // The kind is part of the identifier: an id that looks like an email is another one.
    assert_eq!(store.resolve(ws, &id("ana@example.com")).unwrap(), None);
    let view = store.person(ws, upper).unwrap().unwrap();
    assert!(view.identifiers.contains(&given));
}

pub fn person_insert_load_save_round_trip(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let (key, other, fresh) = write(store, |tx| {
        let key = tx.insert_person(ws, "cio-1", at(1_000))?;
        let other = tx.insert_person(ws, "cio-2", at(1_000))?;
        Ok((key, other, tx.load_person(ws, key)?))
    });
    assert_ne!(key, other);
    let fresh = fresh.expect("an inserted person loads in the same transaction");
    let expected = PersonState {
        key,
        cio_id: "cio-1".into(),
        id: None,
        email: None,
        phone: None,
        attributes: Default::default(),
        attribute_times: BTreeMap::new(),
        created_at: at(1_000),
        updated_at: at(1_000),
    };
    assert_eq!(fresh, expected);

    let saved = PersonState {
        id: Some("ana".into()),
        email: Some("ana@example.com".into()),
        phone: Some("+15555550100".into()),
        attributes: map(json!({"plan": "pro", "seats": 3, "tags": ["a", "b"], "vip": true})),
        attribute_times: BTreeMap::from([("plan".to_string(), 1_500), ("seats".into(), 1_600)]),
        updated_at: at(2_000),
        ..expected.clone()
    };
    write(store, |tx| tx.save_person(ws, &saved));
    assert_eq!(
        write(store, |tx| tx.load_person(ws, key)),
        Some(saved.clone())
    );
    assert_eq!(store.person(ws, key).unwrap().unwrap().state, saved);
    let untouched = store.person(ws, other).unwrap().unwrap().state;
    assert_eq!(untouched.cio_id, "cio-2");
    assert!(untouched.attributes.is_empty());

    // Saving again replaces the row's values, removed attributes included.
    let trimmed = PersonState {
        email: None,
        attributes: map(json!({"plan": "free"})),
        updated_at: at(3_000),
        ..saved
    };
    write(store, |tx| tx.save_person(ws, &trimmed));
    assert_eq!(store.person(ws, key).unwrap().unwrap().state, trimmed);
}

pub fn delete_person_removes_everything_hanging_off_them(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let segment = store.create_manual_segment(ws, "vip", "", at(1)).unwrap();
    let company = ObjectRef {
        type_id: "company".into(),
        object_id: "acme".into(),
    };
    let setup = |tx: &mut dyn WriteTx, name: &str, token: &str| -> StoreResult<PersonKey> {
        let key = new_person(tx, ws, name)?;
        tx.link_identifier(ws, &email(&format!("{name}@example.com")), key)?;
        tx.record_activity(
            ws,
            key,
            &activity(ActivityKind::Event, "viewed", 5),
            next_seq(),
            at(5),
        )?;
        tx.upsert_device(ws, key, &device(token, "ios"))?;
        tx.set_segment_membership(ws, segment.id, key, true, at(5))?;
        tx.set_relationship(ws, key, &company, Some(&map(json!({"role": name}))), at(5))?;
        Ok(key)
    };
    let (ana, bob) = write(store, |tx| {
        Ok((setup(tx, "ana", "t-ana")?, setup(tx, "bob", "t-bob")?))
    });

    write(store, |tx| tx.delete_person(ws, ana));

    assert_eq!(store.person(ws, ana).unwrap(), None);
    assert_eq!(write(store, |tx| tx.load_person(ws, ana)), None);
    let cio = ident(IdentifierKind::CioId, &cio_id(ws, "ana"));
    for gone in [id("ana"), email("ana@example.com"), cio] {
        assert_eq!(store.resolve(ws, &gone).unwrap(), None, "{gone} unlinked");
    }
    let all = ActivityQuery {
        limit: 10,
        ..ActivityQuery::default()
    };
    assert!(store.activities(ws, ana, &all).unwrap().is_empty());
    assert!(store.person_segments(ws, ana).unwrap().is_empty());
    assert!(
        !write(store, |tx| tx.delete_device(ws, ana, "t-ana")),
        "device gone"
    );
    let related = store
        .object(ws, &company)
        .unwrap()
        .expect("the object stays");
    assert_eq!(related.relationships, [(bob, map(json!({"role": "bob"})))]);

    // Bob is untouched.
    let bob_view = store.person(ws, bob).unwrap().unwrap();
    assert_eq!(bob_view.devices, [device("t-bob", "ios")]);
    assert_eq!(bob_view.identifiers.len(), 3);
    assert_eq!(store.activities(ws, bob, &all).unwrap().len(), 1);
    assert_eq!(store.person_segments(ws, bob).unwrap(), [segment]);

    // The freed token and identifiers can be taken by someone new.
    let carol = write(store, |tx| {
        let carol = new_person(tx, ws, "carol")?;
        tx.upsert_device(ws, carol, &device("t-ana", "android"))?;
        tx.link_identifier(ws, &email("ana@example.com"), carol)?;
        Ok(carol)
    });
    assert_eq!(store.person(ws, carol).unwrap().unwrap().devices.len(), 1);
}

pub fn person_view_sorts_identifiers_and_devices(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let key = write(store, |tx| {
        let key = tx.insert_person(ws, "cio-z", at(1))?;
        for identifier in [
            ident(IdentifierKind::Phone, "+15555550100"),
            ident(IdentifierKind::AnonymousId, "anon-2"),
            email("zed@example.com"),
            ident(IdentifierKind::CioId, "cio-z"),
            id("zed"),
            ident(IdentifierKind::AnonymousId, "anon-1"),
        ] {
            tx.link_identifier(ws, &identifier, key)?;
        }
        for token in ["tok-c", "tok-a", "tok-b"] {
            tx.upsert_device(ws, key, &device(token, "ios"))?;
        }
        Ok(key)
    });
    let view = store.person(ws, key).unwrap().unwrap();
    let mut sorted = view.identifiers.clone();
    sorted.sort();
    assert_eq!(view.identifiers, sorted);
    assert_eq!(view.identifiers.len(), 6);
    let tokens: Vec<&str> = view.devices.iter().map(|d| d.token.as_str()).collect();
    assert_eq!(tokens, ["tok-a", "tok-b", "tok-c"]);
}
