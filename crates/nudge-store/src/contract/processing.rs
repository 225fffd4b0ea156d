//! Contract checks for [`ProcessingTx`](crate::ProcessingTx), the processor's per-person
//! state inside a write: its watermark, memberships, events, computed-attribute fold states,
//! backfill pages and progress, each kept to its workspace (schedules are `schedules`).

use std::collections::BTreeMap;

use super::segment_definitions::{data_driven_segment, manual_segment};
use super::{activity, at, next_seq, person, workspace, write};
use crate::{Backfill, EventRead, Store, StoredEvent};
use nudge_core::{ActivityKind, PersonKey, Timestamp};
use serde_json::json;

pub fn processed_offset_is_kept_per_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    assert_eq!(store.processed_offset(lumen).unwrap(), 0, "before anything");
    assert_eq!(write(store, |tx| tx.processed_offset(lumen)), 0);
    let inside = write(store, |tx| {
        tx.set_processed_offset(lumen, 42)?;
        tx.set_processed_offset(ember, 7)?;
        tx.processed_offset(lumen)
    });
    assert_eq!(inside, 42, "visible inside the same transaction");
    assert_eq!(store.processed_offset(lumen).unwrap(), 42);
    assert_eq!(store.processed_offset(ember).unwrap(), 7);
    write(store, |tx| tx.set_processed_offset(lumen, 50));
    assert_eq!(store.processed_offset(lumen).unwrap(), 50);
    assert_eq!(write(store, |tx| tx.processed_offset(ember)), 7);
}

pub fn person_segment_ids_list_manual_and_data_driven_memberships(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let manual = store
        .create_segment(lumen, &manual_segment("m"), at(1))
        .unwrap()
        .id;
    let dynamic = store
        .create_segment(lumen, &data_driven_segment("d"), at(1))
        .unwrap()
        .id;
    let other = store
        .create_segment(lumen, &data_driven_segment("o"), at(1))
        .unwrap()
        .id;
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let carol = person(store, lumen, "carol");
    let ember_ana = person(store, ember, "ana");
    let ids = write(store, |tx| {
        tx.set_segment_membership(lumen, dynamic, ana, true, at(2))?;
        tx.set_segment_membership(lumen, manual, ana, true, at(2))?;
        tx.set_segment_membership(lumen, other, bob, true, at(2))?;
        Ok([
            tx.person_segment_ids(lumen, ana)?,
            tx.person_segment_ids(lumen, bob)?,
            tx.person_segment_ids(lumen, carol)?,
            tx.person_segment_ids(ember, ember_ana)?,
            tx.person_segment_ids(ember, ana)?,
        ])
    });
    let mut both = vec![manual, dynamic];
    both.sort();
    assert_eq!(ids, [both, vec![other], vec![], vec![], vec![]]);
}

pub fn person_events_filter_by_name_and_since_in_timestamp_order(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let ember_ana = person(store, ember, "ana");
    let recorded = [
        // Recorded out of timestamp order on purpose.
        (lumen, ana, ActivityKind::Event, "purchase", 300),
        (lumen, ana, ActivityKind::Page, "pricing", 100),
        (lumen, ana, ActivityKind::Event, "signup", 50),
        (lumen, ana, ActivityKind::Screen, "checkout", 200),
        (lumen, ana, ActivityKind::Event, "purchase", 150),
        (lumen, ana, ActivityKind::AttributeChange, "purchase", 250),
        (lumen, ana, ActivityKind::Merged, "pricing", 260),
        (lumen, bob, ActivityKind::Event, "purchase", 175),
        (ember, ember_ana, ActivityKind::Event, "purchase", 120),
    ]
    .map(|(ws, key, kind, name, ms)| (ws, key, activity(kind, name, ms), next_seq()));
    write(store, |tx| {
        for (ws, key, activity, seq) in &recorded {
            tx.record_activity(*ws, *key, activity, *seq, activity.timestamp)?;
        }
        Ok(())
    });
    let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    // The event as recorded for `key`, named and timed so.
    let event = |key: PersonKey, name: &str, ms: i64| {
        let (_, _, activity, seq) = recorded
            .iter()
            .find(|(_, k, a, _)| *k == key && a.name == name && a.timestamp == at(ms))
            .expect("a recorded activity");
        StoredEvent {
            seq: *seq,
            name: name.into(),
            timestamp: at(ms),
            data: activity.data.clone(),
        }
    };
    let watched = names(&["purchase", "pricing", "checkout"]);
    let check = |ws, key, names: &[String], since: Option<Timestamp>, expected: &[StoredEvent]| {
        let read = |with_data| EventRead {
            names: names.to_vec(),
            since,
            with_data,
        };
        let inside = write(store, |tx| tx.person_events(ws, key, &read(true)));
        assert_eq!(inside, expected, "{names:?} since {since:?}, in a write");
        let times = write(store, |tx| tx.person_events(ws, key, &read(false)));
        let without_data: Vec<StoredEvent> = expected
            .iter()
            .map(|e| StoredEvent {
                data: Default::default(),
                ..e.clone()
            })
            .collect();
        assert_eq!(times, without_data, "{names:?} since {since:?}, no data");
        let outside = store.person_events(ws, key, names, since).unwrap();
        assert_eq!(outside, expected, "{names:?} since {since:?}, outside");
    };

    let all = [
        event(ana, "pricing", 100),
        event(ana, "purchase", 150),
        event(ana, "checkout", 200),
        event(ana, "purchase", 300),
    ];
    check(lumen, ana, &watched, None, &all);
    check(lumen, ana, &watched, Some(at(150)), &all[1..]);
    check(lumen, ana, &watched, Some(at(301)), &[]);
    check(
        lumen,
        ana,
        &names(&["purchase"]),
        None,
        &[event(ana, "purchase", 150), event(ana, "purchase", 300)],
    );
    check(
        lumen,
        ana,
        &names(&["signup"]),
        None,
        &[event(ana, "signup", 50)],
    );
    check(lumen, ana, &names(&["nothing"]), None, &[]);
    check(lumen, ana, &[], None, &[]);
    check(lumen, bob, &watched, None, &[event(bob, "purchase", 175)]);
    check(ember, ana, &watched, None, &[]);
    check(
        ember,
        ember_ana,
        &watched,
        None,
        &[event(ember_ana, "purchase", 120)],
    );
}

pub fn computed_states_are_set_replaced_and_forgotten(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let states = |ws, key| write(store, |tx| tx.computed_states(ws, key));
    let of = |pairs: &[(&str, serde_json::Value)]| -> BTreeMap<String, serde_json::Value> {
        pairs
            .iter()
            .map(|(name, state)| (name.to_string(), state.clone()))
            .collect()
    };
    assert!(states(lumen, ana).is_empty());
    let expected = of(&[
        ("ltv", json!({"sum": 10, "n": [1, 2]})),
        ("orders", json!(3)),
    ]);
    let inside = write(store, |tx| {
        tx.set_computed_states(lumen, ana, &expected)?;
        tx.set_computed_states(lumen, bob, &of(&[("ltv", json!({"sum": 1}))]))?;
        tx.computed_states(lumen, ana)
    });
    assert_eq!(inside, expected, "visible inside the same transaction");
    assert_eq!(states(lumen, ana), expected);

    let replaced = of(&[("ltv", json!({"sum": 25.5}))]);
    write(store, |tx| tx.set_computed_states(lumen, ana, &replaced));
    assert_eq!(states(lumen, ana), replaced, "the whole set is replaced");
    assert_eq!(states(lumen, bob), of(&[("ltv", json!({"sum": 1}))]));
    assert!(
        states(ember, ana).is_empty(),
        "states belong to one workspace"
    );
    write(store, |tx| {
        tx.set_computed_states(lumen, ana, &BTreeMap::new())?;
        tx.set_computed_states(lumen, ana, &BTreeMap::new())
    });
    assert!(states(lumen, ana).is_empty(), "an empty set forgets them");
    assert_eq!(states(lumen, bob), of(&[("ltv", json!({"sum": 1}))]));
}

pub fn backfill_progress_is_stored_per_definition(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let segment = store
        .create_segment(lumen, &data_driven_segment("d"), at(1))
        .unwrap();
    let theirs = store
        .create_segment(ember, &data_driven_segment("d"), at(1))
        .unwrap();
    let definition = json!({"count": {"event": "purchase"}});
    for ws in [lumen, ember] {
        store
            .put_computed_definition(ws, "orders", &definition, at(1))
            .unwrap();
    }
    let halfway = Backfill {
        complete: false,
        after: ana.0,
        done: 1,
        total: 2,
    };
    write(store, |tx| {
        tx.set_segment_backfill(lumen, segment.id, &halfway)?;
        tx.set_computed_backfill(lumen, "orders", &halfway)
    });
    let segment_backfill = |ws, id| {
        let found = store.segment_definition(ws, id).unwrap().unwrap();
        assert_eq!(found.version, 1, "progress is not a new version");
        found.backfill
    };
    let computed_backfill = |ws| {
        let found = store.computed_definitions(ws).unwrap().remove(0);
        assert_eq!(found.version, 1, "progress is not a new version");
        found.backfill
    };
    assert_eq!(segment_backfill(lumen, segment.id), halfway);
    assert_eq!(computed_backfill(lumen), halfway);
    assert_eq!(segment_backfill(ember, theirs.id), Backfill::starting(0));
    assert_eq!(computed_backfill(ember), Backfill::starting(0));

    let finished = Backfill {
        complete: true,
        after: bob.0,
        done: 2,
        total: 2,
    };
    write(store, |tx| {
        tx.set_segment_backfill(lumen, segment.id, &finished)?;
        tx.set_computed_backfill(lumen, "orders", &finished)?;
        // Another workspace's ids and names do not reach these.
        tx.set_segment_backfill(ember, segment.id, &halfway)
    });
    assert_eq!(segment_backfill(lumen, segment.id), finished);
    assert_eq!(computed_backfill(lumen), finished);
    assert_eq!(segment_backfill(ember, theirs.id), Backfill::starting(0));
}

pub fn person_identifiers_list_every_identifier_of_the_person_sorted(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let (ana, bob) = write(store, |tx| {
        Ok((
            super::new_person(tx, lumen, "ana")?,
            super::new_person(tx, lumen, "bob")?,
        ))
    });
    let other = write(store, |tx| super::new_person(tx, ember, "ana"));
    let anon = super::ident(nudge_core::IdentifierKind::AnonymousId, "anon-7");
    write(store, |tx| {
        tx.link_identifier(lumen, &super::email("ana@example.com"), ana)?;
        tx.link_identifier(lumen, &anon, ana)
    });
    let listed = write(store, |tx| tx.person_identifiers(lumen, ana));
    let mut expected = store.person(lumen, ana).unwrap().unwrap().identifiers;
    expected.sort();
    assert_eq!(listed, expected, "the same list the person view shows");
    assert_eq!(
        listed.len(),
        4,
        "cio_id, id, email and anonymous id: {listed:?}"
    );
    assert!(listed.contains(&anon));
    assert!(listed.windows(2).all(|w| w[0] <= w[1]), "sorted");
    let bobs = write(store, |tx| tx.person_identifiers(lumen, bob));
    assert_eq!(bobs.len(), 2, "bob's own only: {bobs:?}");
    assert_eq!(
        write(store, |tx| tx.person_identifiers(ember, other)).len(),
        2
    );
    assert!(write(store, |tx| tx.person_identifiers(lumen, PersonKey(999_999))).is_empty());
}

pub fn entry_attribute_changes_read_only_that_entrys_changes(store: &dyn Store) {
    use crate::activity_seq;
    let lumen = workspace(store, "lumen");
    let (ana, bob) = write(store, |tx| {
        Ok((
            super::new_person(tx, lumen, "ana")?,
            super::new_person(tx, lumen, "bob")?,
        ))
    });
    let change = |data: serde_json::Value| nudge_core::Activity {
        data: super::map(data),
        ..activity(ActivityKind::AttributeChange, "", 5)
    };
    write(store, |tx| {
        let plan = change(json!({"plan": {"from": "basic", "to": "pro"}}));
        tx.record_activity(lumen, ana, &plan, activity_seq(700, 0), at(5))?;
        let event = activity(ActivityKind::Event, "plan", 5);
        tx.record_activity(lumen, ana, &event, activity_seq(700, 1), at(5))?;
        let country = change(json!({"country": {"from": null, "to": "PT"}}));
        tx.record_activity(lumen, ana, &country, activity_seq(700, 2), at(5))?;
        let later = change(json!({"plan": {"from": "pro", "to": "team"}}));
        tx.record_activity(lumen, ana, &later, activity_seq(701, 0), at(6))?;
        let other = change(json!({"plan": {"from": null, "to": "basic"}}));
        tx.record_activity(lumen, bob, &other, activity_seq(700, 0) + 3, at(5))
    });
    let changes = write(store, |tx| tx.entry_attribute_changes(lumen, ana, 700));
    assert_eq!(
        serde_json::Value::Object(changes),
        json!({"plan": {"from": "basic", "to": "pro"}, "country": {"from": null, "to": "PT"}}),
        "that entry's changes, not its event, not the next entry's, not bob's"
    );
    let next = write(store, |tx| tx.entry_attribute_changes(lumen, ana, 701));
    assert_eq!(next["plan"]["to"], json!("team"));
    assert!(write(store, |tx| tx.entry_attribute_changes(lumen, ana, 699)).is_empty());
}
