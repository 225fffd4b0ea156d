//! Contract checks for devices (a token belongs to one person at a time) and for
//! suppression, which is kept per identifier rather than per person.

use super::{at, device, email, id, ident, map, person, workspace, write};
use crate::Store;
use nudge_core::{Device, IdentifierKind, PersonKey, WorkspaceId};
use serde_json::json;

fn devices(store: &dyn Store, ws: WorkspaceId, key: PersonKey) -> Vec<Device> {
    store
        .person(ws, key)
        .unwrap()
        .expect("person exists")
        .devices
}

pub fn devices_upsert_replace_and_delete(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    let first = Device {
        token: "tok-1".into(),
        platform: "ios".into(),
        last_used: Some(at(1_000)),
        attributes: map(json!({"app_version": "1.0", "push": true})),
    };
    write(store, |tx| tx.upsert_device(ws, ana, &first));
    assert_eq!(devices(store, ws, ana), std::slice::from_ref(&first));

    // The same token again replaces the device whole, attributes included.
    let replaced = Device {
        token: "tok-1".into(),
        platform: "android".into(),
        last_used: None,
        attributes: map(json!({"app_version": "2.0"})),
    };
    write(store, |tx| tx.upsert_device(ws, ana, &replaced));
    assert_eq!(devices(store, ws, ana), std::slice::from_ref(&replaced));

    write(store, |tx| {
        tx.upsert_device(ws, ana, &device("tok-2", "ios"))
    });
    assert_eq!(devices(store, ws, ana).len(), 2);

    assert!(write(store, |tx| tx.delete_device(ws, ana, "tok-1")));
    assert!(
        !write(store, |tx| tx.delete_device(ws, ana, "tok-1")),
        "already gone"
    );
    assert!(!write(store, |tx| tx.delete_device(ws, ana, "never-seen")));
    assert_eq!(devices(store, ws, ana), [device("tok-2", "ios")]);
}

pub fn device_token_moves_between_people(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let elsewhere = person(store, ember, "ana");
    write(store, |tx| {
        tx.upsert_device(lumen, ana, &device("shared", "ios"))?;
        tx.upsert_device(ember, elsewhere, &device("shared", "ios"))
    });

    // Bob signs in on Ana's phone: the token is his now.
    write(store, |tx| {
        tx.upsert_device(lumen, bob, &device("shared", "ios"))
    });
    assert!(devices(store, lumen, ana).is_empty());
    assert_eq!(devices(store, lumen, bob), [device("shared", "ios")]);
    // Deleting through the old owner does nothing; through the new one it works.
    assert!(!write(store, |tx| tx.delete_device(lumen, ana, "shared")));
    assert_eq!(devices(store, lumen, bob).len(), 1);
    // Tokens are per workspace: the other workspace's device never moved.
    assert_eq!(devices(store, ember, elsewhere), [device("shared", "ios")]);
    assert!(write(store, |tx| tx.delete_device(lumen, bob, "shared")));
    assert_eq!(devices(store, ember, elsewhere).len(), 1);
}

pub fn suppression_is_set_unset_and_checked_per_identifier(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let check = |ws: WorkspaceId, kind: IdentifierKind, value: &str| {
        write(store, |tx| tx.is_suppressed(ws, &ident(kind, value)))
    };
    assert!(!check(lumen, IdentifierKind::Id, "ana"));

    // Suppression needs no person: it blocks an identifier from being used again.
    write(store, |tx| {
        tx.set_suppressed(lumen, &id("ana"), true, at(1))
    });
    assert!(check(lumen, IdentifierKind::Id, "ana"));
    write(store, |tx| {
        tx.set_suppressed(lumen, &id("ana"), true, at(2))
    });
    assert!(
        check(lumen, IdentifierKind::Id, "ana"),
        "suppressing twice is harmless"
    );
    assert!(
        !check(lumen, IdentifierKind::Id, "Ana"),
        "values match exactly"
    );
    assert!(!check(ember, IdentifierKind::Id, "ana"), "per workspace");
    assert!(
        !check(lumen, IdentifierKind::AnonymousId, "ana"),
        "per kind"
    );

    write(store, |tx| {
        tx.set_suppressed(lumen, &email("ana@example.com"), true, at(3))
    });
    write(store, |tx| {
        tx.set_suppressed(lumen, &id("ana"), false, at(4))
    });
    assert!(!check(lumen, IdentifierKind::Id, "ana"));
    assert!(check(lumen, IdentifierKind::Email, "ana@example.com"));
    write(store, |tx| {
        tx.set_suppressed(lumen, &id("ana"), false, at(5))
    });
    assert!(
        !check(lumen, IdentifierKind::Id, "ana"),
        "unsuppressing twice is harmless"
    );
}

pub fn identifiers_suppressed_together_are_freed_together(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let group = [
        id("ana"),
        email("ana@example.com"),
        ident(IdentifierKind::Phone, "+15555550100"),
    ];
    write(store, |tx| {
        tx.suppress_together(lumen, &group, at(1))?;
        tx.suppress_together(lumen, &[id("bob")], at(1))
    });
    write(store, |tx| {
        for identifier in &group {
            assert!(tx.is_suppressed(lumen, identifier)?, "{identifier}");
        }
        let mut freed = tx.unsuppress_together(lumen, &email("ana@example.com"))?;
        freed.sort();
        let mut expected = group.to_vec();
        expected.sort();
        assert_eq!(
            freed, expected,
            "every identifier of the group, and only those"
        );
        for identifier in &group {
            assert!(
                !tx.is_suppressed(lumen, identifier)?,
                "{identifier} is free again"
            );
        }
        assert!(
            tx.is_suppressed(lumen, &id("bob"))?,
            "another group stays suppressed"
        );
        // An identifier that is not suppressed frees only itself.
        assert_eq!(
            tx.unsuppress_together(lumen, &id("carol"))?,
            vec![id("carol")]
        );
        Ok(())
    });
}
