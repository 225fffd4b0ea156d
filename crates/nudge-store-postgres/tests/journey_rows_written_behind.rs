//! Journey rows the PostgreSQL backend writes behind (timeline entries and instances already
//! finished when inserted take their ids when recorded and reach their tables in a few
//! statements per transaction): what a caller sees must not change. Ids come back in the
//! order rows were recorded, across writes too; counters add up when many entries share one;
//! a finished instance is there for every read of the same transaction; and a merge or a
//! deletion in the same transaction finds the rows recorded before it.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    Definitions, InstanceRow, JourneyCounter, JourneyEvent, NewWorkspace, Store, StoreResult,
    WriteTx,
};
use nudge_store_postgres::test_database::TestDatabase;
use nudge_store_postgres::PostgresStore;
use serde_json::json;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn workspace(store: &dyn Store) -> WorkspaceId {
    store
        .create_workspace(&NewWorkspace {
            name: "lumen".into(),
            env: nudge_core::Env::Production,
            site_id: "site-lumen".into(),
            keys: vec![],
            now: at(1),
        })
        .unwrap()
        .id
}

fn write<T>(store: &dyn Store, mut work: impl FnMut(&mut dyn WriteTx) -> StoreResult<T>) -> T {
    let mut out = None;
    store
        .write(&mut |tx| {
            out = Some(work(tx)?);
            Ok(())
        })
        .unwrap();
    out.unwrap()
}

fn person(store: &dyn Store, ws: WorkspaceId, cio_id: &str) -> PersonKey {
    write(store, |tx| tx.insert_person(ws, cio_id, at(1)))
}

/// An entry of the `cart` journey for `person`: `kind` at step `step`, at `ms`.
fn entry(person: PersonKey, step: &str, kind: &str, ms: i64) -> JourneyEvent {
    JourneyEvent {
        at: at(ms),
        person,
        journey: "cart".into(),
        version: 1,
        instance: 7,
        step: (!step.is_empty()).then(|| step.to_string()),
        kind: kind.into(),
        reason: (kind == "exited").then(|| "completed".to_string()),
        detail: json!({"n": ms}),
    }
}

fn live(person: PersonKey) -> InstanceRow {
    InstanceRow {
        id: 0,
        journey: "cart".into(),
        version: 1,
        person,
        key: "c-1".into(),
        active: true,
        step: Some("wait".into()),
        wake_at: None,
        watch_until: None,
        entered_at: at(100),
        state: json!({"status": "Active"}),
    }
}

fn store() -> Option<(PostgresStore, WorkspaceId)> {
    let database = TestDatabase::create()?;
    let store = database.into_store().unwrap();
    let ws = workspace(&store);
    Some((store, ws))
}

#[test]
fn entries_keep_the_ids_they_were_given_in_the_order_they_were_recorded() {
    let Some((store, ws)) = store() else {
        return;
    };
    let ana = person(&store, ws, "ana");
    // Enough entries in one write to need several blocks of ids.
    let kinds = ["entered", "step_reached", "message_sent", "exited"];
    let entries: Vec<JourneyEvent> = (0..90)
        .map(|n| {
            let kind = kinds[n % kinds.len()];
            let step = if kind == "entered" { "" } else { "mail" };
            entry(ana, step, kind, n as i64)
        })
        .collect();
    let first: Vec<i64> = write(&store, |tx| {
        entries[..60]
            .iter()
            .map(|e| tx.record_journey_event(ws, e))
            .collect()
    });
    let second: Vec<i64> = write(&store, |tx| {
        entries[60..]
            .iter()
            .map(|e| tx.record_journey_event(ws, e))
            .collect()
    });
    let ids: Vec<i64> = first.iter().chain(&second).copied().collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");

    let stored = store.journey_events(ws, 0, 1_000).unwrap();
    let stored_ids: Vec<i64> = stored.iter().map(|s| s.id).collect();
    assert_eq!(stored_ids, ids);
    let stored_entries: Vec<JourneyEvent> = stored.into_iter().map(|s| s.event).collect();
    assert_eq!(stored_entries, entries);

    let counter = |step: &str, kind: &str, reason: &str, count| JourneyCounter {
        journey: "cart".into(),
        step: step.into(),
        kind: kind.into(),
        reason: reason.into(),
        count,
    };
    assert_eq!(
        store.journey_counters(ws, "cart").unwrap(),
        [
            counter("", "entered", "", 23),
            counter("mail", "exited", "completed", 22),
            counter("mail", "message_sent", "", 22),
            counter("mail", "step_reached", "", 23),
        ]
    );
}

#[test]
fn a_merge_moves_the_rows_recorded_before_it_in_the_same_write() {
    let Some((store, ws)) = store() else {
        return;
    };
    let ana = person(&store, ws, "ana");
    let bob = person(&store, ws, "bob");
    // Both run the cart with the same key, so the merge finishes Bob's and records it.
    write(&store, |tx| {
        tx.insert_instance(ws, &live(ana))?;
        tx.insert_instance(ws, &live(bob))
    });
    let (before, after) = write(&store, |tx| {
        let before = tx.record_journey_event(ws, &entry(bob, "mail", "message_sent", 10))?;
        tx.insert_instance(ws, &finished(bob, Some(900)))?;
        tx.move_person_data(ws, bob, ana, at(20))?;
        let after = tx.record_journey_event(ws, &entry(ana, "mail", "message_sent", 30))?;
        Ok((before, after))
    });

    let stored = store.journey_events(ws, 0, 100).unwrap();
    let listed: Vec<(i64, PersonKey, &str)> = stored
        .iter()
        .map(|s| (s.id, s.event.person, s.event.kind.as_str()))
        .collect();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(
        listed[0],
        (before, ana, "message_sent"),
        "moved with Bob's data"
    );
    assert_eq!(
        (listed[1].1, listed[1].2),
        (ana, "exited"),
        "the merge's own"
    );
    assert_eq!(listed[2], (after, ana, "message_sent"), "after the merge's");
    assert!(store
        .person_journey_events(ws, bob, None, 10)
        .unwrap()
        .is_empty());
    assert!(store.person_instances_view(ws, bob).unwrap().is_empty());
    assert_eq!(
        store.person_instances_view(ws, ana).unwrap().len(),
        3,
        "hers, and both of Bob's"
    );
}

#[test]
fn entries_of_a_write_that_fails_are_not_written() {
    let Some((store, ws)) = store() else {
        return;
    };
    let ana = person(&store, ws, "ana");
    let failed = store.write(&mut |tx| {
        tx.record_journey_event(ws, &entry(ana, "", "entered", 1))?;
        Err(nudge_store::StoreError::Backend("the work failed".into()))
    });
    assert!(failed.is_err());
    let kept = write(&store, |tx| {
        tx.record_journey_event(ws, &entry(ana, "", "entered", 2))
    });
    let stored = store.journey_events(ws, 0, 10).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].id, stored[0].event.at), (kept, at(2)));
    assert_eq!(
        store.journey_counters(ws, "cart").unwrap()[0].count,
        1,
        "counted once"
    );
}

/// `live(person)` already finished, watched until `watch_until`.
fn finished(person: PersonKey, watch_until: Option<i64>) -> InstanceRow {
    InstanceRow {
        active: false,
        step: None,
        watch_until: watch_until.map(at),
        state: json!({"status": {"Finished": {"reason": "completed", "at": 100}}}),
        ..live(person)
    }
}

#[test]
fn a_finished_instance_is_there_for_every_read_of_its_own_write() {
    let Some((store, ws)) = store() else {
        return;
    };
    let [ana, bob, cy, dee] = ["ana", "bob", "cy", "dee"].map(|name| person(&store, ws, name));
    // Each read in a write of its own, right after the insert it must see.
    let row = finished(ana, Some(900));
    let (id, of_person) = write(&store, |tx| {
        let id = tx.insert_instance(ws, &row)?;
        Ok((id, tx.person_instances(ws, ana, at(500))?))
    });
    let stored = InstanceRow { id, ..row.clone() };
    assert_eq!(
        of_person,
        std::slice::from_ref(&stored),
        "still watched at 500"
    );
    assert_eq!(store.person_instances_view(ws, ana).unwrap(), [stored]);

    let last = write(&store, |tx| {
        tx.insert_instance(ws, &finished(bob, None))?;
        tx.last_entry(ws, "cart", bob)
    });
    assert_eq!(last, Some(at(100)));

    let row = finished(cy, None);
    let (id, by_id) = write(&store, |tx| {
        let id = tx.insert_instance(ws, &row)?;
        Ok((id, tx.instance(ws, id)?))
    });
    assert_eq!(by_id, Some(InstanceRow { id, ..row }));

    let updated = write(&store, |tx| {
        let id = tx.insert_instance(ws, &finished(dee, None))?;
        let converted = InstanceRow {
            id,
            ..finished(dee, Some(2_000))
        };
        tx.update_instance(ws, &converted)?;
        Ok(converted)
    });
    assert_eq!(store.person_instances_view(ws, dee).unwrap(), [updated]);
}

#[test]
fn instance_ids_keep_the_order_instances_were_inserted_in() {
    let Some((store, ws)) = store() else {
        return;
    };
    let ana = person(&store, ws, "ana");
    let bob = person(&store, ws, "bob");
    let ids: Vec<i64> = write(&store, |tx| {
        let rows = [
            finished(ana, None),
            finished(bob, None),
            live(ana),
            finished(ana, None),
            live(bob),
            finished(bob, None),
        ];
        rows.iter().map(|row| tx.insert_instance(ws, row)).collect()
    });
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    let mut stored: Vec<i64> = [ana, bob]
        .iter()
        .flat_map(|p| store.person_instances_view(ws, *p).unwrap())
        .map(|row| row.id)
        .collect();
    stored.sort();
    assert_eq!(stored, ids);
}

#[test]
fn ids_keep_their_order_when_one_table_needs_more_than_the_other() {
    let Some((store, ws)) = store() else {
        return;
    };
    let ana = person(&store, ws, "ana");
    // Many entries before the first instance, then many instances: each table's ids run out
    // at a different moment.
    let (entries, instances) = write(&store, |tx| {
        let entries = (0..40)
            .map(|n| tx.record_journey_event(ws, &entry(ana, "", "entered", n)))
            .collect::<StoreResult<Vec<i64>>>()?;
        let instances = (0..100)
            .map(|_| tx.insert_instance(ws, &finished(ana, None)))
            .collect::<StoreResult<Vec<i64>>>()?;
        Ok((entries, instances))
    });
    for ids in [&entries, &instances] {
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    }
    let stored: Vec<i64> = store
        .journey_events(ws, 0, 1_000)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(stored, entries);
    let mut stored: Vec<i64> = store
        .person_instances_view(ws, ana)
        .unwrap()
        .iter()
        .map(|row| row.id)
        .collect();
    stored.reverse();
    assert_eq!(stored, instances);
}

#[test]
fn a_deletion_takes_the_finished_instances_recorded_before_it() {
    let Some((store, ws)) = store() else {
        return;
    };
    let ana = person(&store, ws, "ana");
    let bob = person(&store, ws, "bob");
    write(&store, |tx| {
        tx.insert_instance(ws, &finished(ana, Some(900)))?;
        tx.insert_instance(ws, &finished(bob, Some(900)))?;
        tx.delete_person(ws, ana)
    });
    assert!(store.person_instances_view(ws, ana).unwrap().is_empty());
    assert_eq!(store.person_instances_view(ws, bob).unwrap().len(), 1);
}
