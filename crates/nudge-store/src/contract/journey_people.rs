//! Contract checks for what deleting, merging and resetting people do to journeys: a deleted
//! person's instances go while their timeline and outbox stay; a merge moves instances and
//! timeline, finishing a live instance whose key the kept person already runs; a reset wipes
//! instances, timeline and counters and keeps documents and the outbox.

use super::journey_records::{counter, journey_event, message, record};
use super::journeys::{finished, insert, live, read_instance, waking};
use super::{at, new_person, person, workspace, write, MERGED_AT};
use crate::{
    DocumentKind, InstanceRow, JourneyEvent, MovedData, Store, StoredJourneyEvent, MERGED_EXIT,
};
use nudge_core::WorkspaceId;
use serde_json::json;

pub fn delete_person_removes_instances_and_keeps_timeline_and_outbox(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    let bob = person(store, ws, "bob");
    let ana_rows = insert(
        store,
        ws,
        &[
            waking(live("cart", ana, "a"), 500),
            finished(live("cart", ana, "b"), None),
        ],
    );
    let bob_rows = insert(store, ws, &[waking(live("cart", bob, "a"), 600)]);
    let timeline = record(
        store,
        ws,
        &[journey_event(ana, ana_rows[0].id, None, "entered", None, 1)],
    );
    let sent = message("m-1", ana, ana_rows[0].id, 2);
    write(store, |tx| tx.enqueue_message(ws, &sent));

    write(store, |tx| tx.delete_person(ws, ana));

    for row in &ana_rows {
        assert_eq!(read_instance(store, ws, row.id), None);
    }
    assert!(store.person_instances_view(ws, ana).unwrap().is_empty());
    assert_eq!(write(store, |tx| tx.last_entry(ws, "cart", ana)), None);
    assert_eq!(
        write(store, |tx| tx.due_instances(at(1_000), 10))
            .iter()
            .map(|due| due.id)
            .collect::<Vec<_>>(),
        [bob_rows[0].id]
    );
    assert_eq!(store.next_instance_wake().unwrap(), Some(at(600)));
    assert_eq!(
        read_instance(store, ws, bob_rows[0].id).as_ref(),
        Some(&bob_rows[0])
    );
    assert_eq!(
        store.person_journey_events(ws, ana, None, 10).unwrap(),
        timeline,
        "the record of what happened stays"
    );
    assert_eq!(
        store.journey_counters(ws, "cart").unwrap(),
        [counter("", "entered", "", 1)]
    );
    let outbox = store.outbox(ws, 0, 10).unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].message, sent);
}

pub fn move_person_data_moves_instances_and_finishes_a_clashing_live_one(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let (from, to) = write(store, |tx| {
        Ok((new_person(tx, ws, "anon")?, new_person(tx, ws, "ana")?))
    });
    let from_rows = insert(
        store,
        ws,
        &[
            // Clashes with `to`'s live "cart"/"c-1".
            InstanceRow {
                version: 2,
                step: Some("email".into()),
                ..waking(live("cart", from, "c-1"), 800)
            },
            live("cart", from, "c-2"),
            // Finished: a key is only taken by live instances.
            finished(live("browse", from, "c-1"), Some(900)),
        ],
    );
    let to_rows = insert(
        store,
        ws,
        &[
            waking(live("cart", to, "c-1"), 700),
            live("browse", to, "c-1"),
        ],
    );
    let from_timeline = record(
        store,
        ws,
        &[
            journey_event(from, from_rows[0].id, None, "entered", None, 10),
            journey_event(from, from_rows[1].id, None, "entered", None, 11),
        ],
    );

    let moved = write(store, |tx| tx.move_person_data(ws, from, to, MERGED_AT));
    assert_eq!(
        (moved.instances, moved.instances_closed),
        (3, 1),
        "all three move; the clashing live one is finished"
    );

    let closed = InstanceRow {
        person: to,
        active: false,
        wake_at: None,
        ..from_rows[0].clone()
    };
    assert_eq!(
        read_instance(store, ws, closed.id),
        Some(closed.clone()),
        "finished, its state left for the processor"
    );
    let moved_as_is = |row: &InstanceRow| InstanceRow {
        person: to,
        ..row.clone()
    };
    assert_eq!(
        read_instance(store, ws, from_rows[1].id),
        Some(moved_as_is(&from_rows[1]))
    );
    assert_eq!(
        read_instance(store, ws, from_rows[2].id),
        Some(moved_as_is(&from_rows[2]))
    );
    assert_eq!(
        write(store, |tx| tx.live_instance(ws, "cart", to, "c-1")),
        Some(to_rows[0].clone()),
        "the kept person's own live instance stays live"
    );
    let mut view_ids: Vec<i64> = store
        .person_instances_view(ws, to)
        .unwrap()
        .iter()
        .map(|row| row.id)
        .collect();
    view_ids.sort();
    let mut expected_ids: Vec<i64> = from_rows.iter().chain(&to_rows).map(|r| r.id).collect();
    expected_ids.sort();
    assert_eq!(view_ids, expected_ids);
    assert!(store.person_instances_view(ws, from).unwrap().is_empty());
    assert_eq!(
        write(store, |tx| tx.due_instances(at(10_000), 10))
            .iter()
            .map(|due| due.id)
            .collect::<Vec<_>>(),
        [to_rows[0].id],
        "the finished instance no longer wakes"
    );

    // The timeline moved, and records the exit.
    let timeline = store.person_journey_events(ws, to, None, 10).unwrap();
    assert_eq!(timeline.len(), 3, "{timeline:?}");
    let (kind, reason) = MERGED_EXIT;
    let exit = JourneyEvent {
        at: MERGED_AT,
        person: to,
        journey: "cart".into(),
        version: 2,
        instance: closed.id,
        step: Some("email".into()),
        kind: kind.into(),
        reason: Some(reason.into()),
        detail: json!({"kept_instance": to_rows[0].id}),
    };
    assert_eq!(timeline[0].event, exit, "the newest entry");
    let moved_timeline: Vec<StoredJourneyEvent> = from_timeline
        .iter()
        .rev()
        .map(|stored| StoredJourneyEvent {
            id: stored.id,
            event: JourneyEvent {
                person: to,
                ..stored.event.clone()
            },
        })
        .collect();
    assert_eq!(timeline[1..], moved_timeline);
    assert!(store
        .person_journey_events(ws, from, None, 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        store.journey_counters(ws, "cart").unwrap(),
        [
            counter("", "entered", "", 2),
            counter("email", "exited", "merged", 1)
        ]
    );

    // Deleting the merged-away row takes nothing of what moved.
    write(store, |tx| tx.delete_person(ws, from));
    assert_eq!(store.person_instances_view(ws, to).unwrap().len(), 5);
    assert_eq!(
        store.person_journey_events(ws, to, None, 10).unwrap(),
        timeline
    );
}

pub fn move_person_data_without_journeys_moves_no_instances(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let (from, to) = write(store, |tx| {
        Ok((new_person(tx, ws, "anon")?, new_person(tx, ws, "ana")?))
    });
    let kept = insert(store, ws, &[live("cart", to, "c-1")]);
    let moved = write(store, |tx| tx.move_person_data(ws, from, to, MERGED_AT));
    assert_eq!(
        moved,
        MovedData {
            identifiers: 2,
            ..MovedData::default()
        }
    );
    assert_eq!(store.person_instances_view(ws, to).unwrap(), kept);
    assert!(store.journey_events(ws, 0, 10).unwrap().is_empty());
}

/// A workspace with a journey and a template, an instance, a timeline entry and a message.
fn journeyed_workspace(store: &dyn Store, name: &str) -> (WorkspaceId, InstanceRow) {
    let ws = workspace(store, name);
    let ana = person(store, ws, "ana");
    store
        .put_document(
            ws,
            DocumentKind::Journey,
            "cart",
            &json!({"steps": []}),
            at(1),
        )
        .unwrap();
    store
        .put_document(
            ws,
            DocumentKind::Template,
            "cart",
            &json!({"body": "hi"}),
            at(1),
        )
        .unwrap();
    let [row] = insert(store, ws, &[waking(live("cart", ana, "c-1"), 500)])
        .try_into()
        .unwrap();
    record(
        store,
        ws,
        &[journey_event(ana, row.id, None, "entered", None, 1)],
    );
    write(store, |tx| {
        tx.enqueue_message(ws, &message("m-1", ana, row.id, 2))
    });
    (ws, row)
}

pub fn reset_derived_wipes_journey_state_and_keeps_documents_and_outbox(store: &dyn Store) {
    let (lumen, lumen_row) = journeyed_workspace(store, "lumen");
    let (ember, ember_row) = journeyed_workspace(store, "ember");
    let documents = |ws| {
        [DocumentKind::Journey, DocumentKind::Template]
            .map(|kind| store.all_document_versions(ws, kind).unwrap())
    };
    let lumen_documents = documents(lumen);
    let lumen_outbox = store.outbox(lumen, 0, 10).unwrap();
    let ember_timeline = store.journey_events(ember, 0, 10).unwrap();
    let config = store.config_version().unwrap();

    store.reset_derived(lumen).unwrap();

    assert_eq!(read_instance(store, lumen, lumen_row.id), None);
    assert!(store.journey_events(lumen, 0, 10).unwrap().is_empty());
    assert!(store.journey_counters(lumen, "cart").unwrap().is_empty());
    assert!(store.waiting_instances(lumen, "cart").unwrap().is_empty());
    assert_eq!(documents(lumen), lumen_documents, "documents stay");
    assert_eq!(
        store.outbox(lumen, 0, 10).unwrap(),
        lumen_outbox,
        "so does the outbox"
    );
    assert_eq!(store.config_version().unwrap(), config);

    assert_eq!(
        read_instance(store, ember, ember_row.id),
        Some(ember_row.clone())
    );
    assert_eq!(store.journey_events(ember, 0, 10).unwrap(), ember_timeline);
    assert_eq!(
        store.journey_counters(ember, "cart").unwrap(),
        [counter("", "entered", "", 1)]
    );
    assert_eq!(store.next_instance_wake().unwrap(), Some(at(500)));
    let due: Vec<i64> = write(store, |tx| tx.due_instances(at(1_000), 10))
        .iter()
        .map(|due| due.id)
        .collect();
    assert_eq!(due, [ember_row.id]);

    // The processor can start over; a message id already sent stays sent.
    let again = person(store, lumen, "ana");
    let [row] = insert(store, lumen, &[live("cart", again, "c-1")])
        .try_into()
        .unwrap();
    assert_eq!(read_instance(store, lumen, row.id).as_ref(), Some(&row));
    assert!(!write(store, |tx| tx
        .enqueue_message(lumen, &message("m-1", again, row.id, 3))));
}
