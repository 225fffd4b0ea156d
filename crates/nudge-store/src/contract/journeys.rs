//! Contract checks for journey instances in [`ProcessingTx`](crate::ProcessingTx) and the
//! reads of them outside the writer: the insert/read/update round trip, one live instance per
//! person, journey and key, the person's active and watched instances, due instances across
//! workspaces, the next wake, the latest entry and the waiting counts.

use super::segment_definitions::is_conflict;
use super::{at, person, workspace, write};
use crate::{DueInstance, InstanceRow, Store, StoreResult, WriteTx};
use nudge_core::{PersonKey, WorkspaceId};
use serde_json::json;

/// An active instance of `journey` for `person` with `key`, waiting at step "wait" with no
/// wake time, entered at 100.
pub(crate) fn live(journey: &str, person: PersonKey, key: &str) -> InstanceRow {
    InstanceRow {
        id: 0,
        journey: journey.into(),
        version: 1,
        person,
        key: key.into(),
        active: true,
        step: Some("wait".into()),
        wake_at: None,
        watch_until: None,
        entered_at: at(100),
        state: json!({"status": "Active", "key": key, "visits": {"wait": 1}}),
    }
}

/// `row` finished: inactive, no step, no wake time, watched until `watch_until`.
pub(crate) fn finished(row: InstanceRow, watch_until: Option<i64>) -> InstanceRow {
    InstanceRow {
        active: false,
        step: None,
        wake_at: None,
        watch_until: watch_until.map(at),
        ..row
    }
}

pub(crate) fn waking(row: InstanceRow, wake_at: i64) -> InstanceRow {
    InstanceRow {
        wake_at: Some(at(wake_at)),
        ..row
    }
}

/// Inserts each row in one write and returns them with their ids.
pub(crate) fn insert(store: &dyn Store, ws: WorkspaceId, rows: &[InstanceRow]) -> Vec<InstanceRow> {
    write(store, |tx| {
        rows.iter()
            .map(|row| {
                let id = tx.insert_instance(ws, row)?;
                Ok(InstanceRow { id, ..row.clone() })
            })
            .collect::<StoreResult<Vec<_>>>()
    })
}

pub(crate) fn read_instance(store: &dyn Store, ws: WorkspaceId, id: i64) -> Option<InstanceRow> {
    write(store, |tx| tx.instance(ws, id))
}

fn due(ws: WorkspaceId, row: &InstanceRow) -> DueInstance {
    DueInstance {
        ws,
        id: row.id,
        person: row.person,
        wake_at: row.wake_at.expect("a waking instance"),
    }
}

fn update(store: &dyn Store, ws: WorkspaceId, row: &InstanceRow) {
    write(store, |tx| tx.update_instance(ws, row));
}

pub fn instances_round_trip_through_insert_read_and_update(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let row = InstanceRow {
        id: -5,
        watch_until: Some(at(900)),
        ..waking(live("cart", ana, "c-1"), 400)
    };
    let (id, inside) = write(store, |tx| {
        let id = tx.insert_instance(lumen, &row)?;
        Ok((id, tx.instance(lumen, id)?))
    });
    let stored = InstanceRow { id, ..row.clone() };
    assert_eq!(inside, Some(stored.clone()), "visible in the same write");
    assert_eq!(read_instance(store, lumen, id), Some(stored.clone()));
    assert_eq!(read_instance(store, ember, id), None, "one workspace's");
    assert_eq!(read_instance(store, lumen, id + 1_000), None);

    let rewritten = InstanceRow {
        id,
        journey: "cart-v2".into(),
        version: 3,
        person: bob,
        key: "c-2".into(),
        active: false,
        step: None,
        wake_at: None,
        watch_until: Some(at(5_000)),
        entered_at: at(150),
        state: json!({"status": {"Finished": {"reason": "converted", "at": 4_000}}}),
    };
    update(store, lumen, &rewritten);
    assert_eq!(
        read_instance(store, lumen, id),
        Some(InstanceRow {
            person: ana,
            ..rewritten.clone()
        }),
        "every field but id and person"
    );
    let again = InstanceRow {
        active: true,
        step: Some("email".into()),
        wake_at: Some(at(6_000)),
        watch_until: None,
        person: ana,
        ..rewritten
    };
    update(store, lumen, &again);
    assert_eq!(read_instance(store, lumen, id), Some(again.clone()));

    let missing = InstanceRow {
        id: id + 1_000,
        ..again.clone()
    };
    assert!(store
        .write(&mut |tx: &mut dyn WriteTx| tx.update_instance(lumen, &missing))
        .is_err());
    assert!(store
        .write(&mut |tx: &mut dyn WriteTx| tx.update_instance(ember, &again))
        .is_err());
    assert_eq!(read_instance(store, lumen, id), Some(again));
}

pub fn a_second_live_instance_with_the_same_key_is_a_conflict(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let ember_ana = person(store, ember, "ana");
    let [first] = insert(store, lumen, &[live("cart", ana, "c-1")])
        .try_into()
        .unwrap();

    let (refused, others) = write(store, |tx| {
        let refused = tx.insert_instance(lumen, &live("cart", ana, "c-1"));
        // The transaction goes on after the refusal.
        let mut others = Vec::new();
        for row in [
            live("cart", ana, "c-2"),
            live("browse", ana, "c-1"),
            live("cart", bob, "c-1"),
            finished(live("cart", ana, "c-1"), None),
        ] {
            let id = tx.insert_instance(lumen, &row)?;
            others.push(InstanceRow { id, ..row });
        }
        others.push({
            let row = live("cart", ember_ana, "c-1");
            InstanceRow {
                id: tx.insert_instance(ember, &row)?,
                ..row
            }
        });
        Ok((refused, others))
    });
    assert!(
        is_conflict(refused),
        "same person, journey and key, both live"
    );
    let mut ids: Vec<i64> = others.iter().map(|row| row.id).collect();
    ids.push(first.id);
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        6,
        "every other instance was stored, each with its own id"
    );
    for row in &others[..4] {
        assert_eq!(read_instance(store, lumen, row.id).as_ref(), Some(row));
    }

    let find = |ws, journey: &str, person, key: &str| {
        write(store, |tx| tx.live_instance(ws, journey, person, key))
    };
    assert_eq!(find(lumen, "cart", ana, "c-1"), Some(first.clone()));
    assert_eq!(find(lumen, "cart", bob, "c-1"), Some(others[2].clone()));
    assert_eq!(
        find(ember, "cart", ember_ana, "c-1"),
        Some(others[4].clone())
    );
    assert_eq!(find(lumen, "cart", ana, "c-9"), None);
    assert_eq!(find(ember, "cart", ana, "c-1"), None);

    // Finished, the key is free again.
    update(store, lumen, &finished(first.clone(), Some(900)));
    assert_eq!(find(lumen, "cart", ana, "c-1"), None, "only live instances");
    let [next] = insert(store, lumen, &[live("cart", ana, "c-1")])
        .try_into()
        .unwrap();
    assert_eq!(find(lumen, "cart", ana, "c-1"), Some(next.clone()));
    let revived = store.write(&mut |tx: &mut dyn WriteTx| tx.update_instance(lumen, &first));
    assert!(
        is_conflict(revived),
        "an update cannot make a second live instance either"
    );
    assert_eq!(find(lumen, "cart", ana, "c-1"), Some(next));
}

pub fn person_instances_are_the_active_and_the_still_watched(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let rows = insert(
        store,
        lumen,
        &[
            waking(live("cart", ana, "a"), 700),
            finished(live("cart", ana, "b"), Some(500)),
            finished(live("cart", ana, "c"), None),
            finished(live("browse", ana, "d"), Some(300)),
            live("cart", bob, "a"),
            live("browse", ana, "e"),
        ],
    );
    let of = |indexes: &[usize]| -> Vec<InstanceRow> {
        indexes.iter().map(|&i| rows[i].clone()).collect()
    };
    let instances = |ws, key, now| write(store, |tx| tx.person_instances(ws, key, at(now)));
    assert_eq!(instances(lumen, ana, 299), of(&[0, 1, 3, 5]), "by id");
    assert_eq!(
        instances(lumen, ana, 300),
        of(&[0, 1, 5]),
        "watched until 300 is no longer watched at 300"
    );
    assert_eq!(instances(lumen, ana, 10_000), of(&[0, 5]));
    assert_eq!(instances(lumen, bob, 0), of(&[4]));
    assert!(instances(ember, ana, 0).is_empty());

    let view = store.person_instances_view(lumen, ana).unwrap();
    assert_eq!(
        view,
        of(&[5, 3, 2, 1, 0]),
        "every one of them, newest first"
    );
    assert!(store.person_instances_view(ember, ana).unwrap().is_empty());
}

pub fn due_instances_are_earliest_first_across_workspaces_with_a_limit(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let carol = person(store, ember, "carol");
    assert!(write(store, |tx| tx.due_instances(at(i64::MAX), 10)).is_empty());
    assert_eq!(store.next_instance_wake().unwrap(), None);
    let ours = insert(
        store,
        lumen,
        &[
            waking(live("cart", ana, "a"), 300),
            waking(live("cart", bob, "b"), 100),
            waking(live("browse", ana, "c"), 900),
            // Finished with a wake time left over: never due.
            waking(finished(live("cart", ana, "d"), None), 50),
            live("cart", ana, "e"),
        ],
    );
    let theirs = insert(store, ember, &[waking(live("cart", carol, "a"), 200)]);
    let expected = [
        due(lumen, &ours[1]),
        due(ember, &theirs[0]),
        due(lumen, &ours[0]),
    ];
    let due_at = |now, limit| write(store, |tx| tx.due_instances(at(now), limit));
    assert_eq!(due_at(300, 10), expected, "due at or before now");
    assert_eq!(due_at(300, 2), expected[..2]);
    assert_eq!(due_at(300, 10), expected, "reading changes nothing");
    assert!(due_at(99, 10).is_empty());
    assert!(due_at(300, 0).is_empty());
    assert_eq!(store.next_instance_wake().unwrap(), Some(at(100)));

    update(store, lumen, &waking(ours[1].clone(), 1_000));
    assert_eq!(due_at(300, 10), expected[1..]);
    assert_eq!(store.next_instance_wake().unwrap(), Some(at(200)));
    update(store, ember, &finished(theirs[0].clone(), Some(5_000)));
    assert_eq!(store.next_instance_wake().unwrap(), Some(at(300)));
    assert_eq!(
        due_at(1_000, 10),
        [
            due(lumen, &ours[0]),
            due(lumen, &ours[2]),
            due(lumen, &waking(ours[1].clone(), 1_000))
        ]
    );
    for row in [&ours[0], &ours[1], &ours[2]] {
        update(
            store,
            lumen,
            &InstanceRow {
                wake_at: None,
                ..row.clone()
            },
        );
    }
    assert!(due_at(i64::MAX, 10).is_empty());
    assert_eq!(store.next_instance_wake().unwrap(), None);
}

pub fn last_entry_is_the_latest_entry_into_the_journey(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let last = |ws, journey: &str, key| write(store, |tx| tx.last_entry(ws, journey, key));
    assert_eq!(last(lumen, "cart", ana), None);
    let entered = |row: InstanceRow, ms| InstanceRow {
        entered_at: at(ms),
        ..row
    };
    insert(
        store,
        lumen,
        &[
            finished(entered(live("cart", ana, "a"), 400), None),
            entered(live("cart", ana, "b"), 250),
            entered(live("browse", ana, "a"), 900),
            entered(live("cart", bob, "a"), 700),
        ],
    );
    assert_eq!(
        last(lumen, "cart", ana),
        Some(at(400)),
        "finished ones count"
    );
    assert_eq!(last(lumen, "browse", ana), Some(at(900)));
    assert_eq!(last(lumen, "cart", bob), Some(at(700)));
    assert_eq!(last(lumen, "welcome", ana), None);
    assert_eq!(last(ember, "cart", ana), None);
}

pub fn waiting_instances_count_live_ones_by_version_and_step(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let carol = person(store, ember, "carol");
    let at_step = |version, step: Option<&str>, key: &str| InstanceRow {
        version,
        step: step.map(String::from),
        ..live("cart", ana, key)
    };
    insert(
        store,
        lumen,
        &[
            at_step(2, Some("wait"), "a"),
            at_step(1, Some("wait"), "b"),
            at_step(1, Some("email"), "c"),
            at_step(1, Some("wait"), "d"),
            at_step(1, None, "e"),
            finished(at_step(1, Some("wait"), "f"), Some(9_000)),
            InstanceRow {
                journey: "browse".into(),
                ..at_step(1, Some("wait"), "g")
            },
        ],
    );
    insert(store, ember, &[live("cart", carol, "a")]);
    assert_eq!(
        store.waiting_instances(lumen, "cart").unwrap(),
        [
            (1, None, 1),
            (1, Some("email".to_string()), 1),
            (1, Some("wait".to_string()), 2),
            (2, Some("wait".to_string()), 1),
        ]
    );
    assert_eq!(
        store.waiting_instances(ember, "cart").unwrap(),
        [(1, Some("wait".to_string()), 1)]
    );
    assert!(store
        .waiting_instances(lumen, "welcome")
        .unwrap()
        .is_empty());
}
