//! Contract checks for what journeys leave behind: the timeline (recorded in the writer, paged
//! per workspace and per person), the counters each entry increments in the same transaction,
//! and the outbox, where a message id is queued once per workspace.

use super::{at, person, workspace, write};
use crate::{
    JourneyCounter, JourneyEvent, OutboxMessage, Store, StoredJourneyEvent, StoredMessage,
};
use nudge_core::{PersonKey, WorkspaceId};
use serde_json::json;

pub(crate) fn journey_event(
    person: PersonKey,
    instance: i64,
    step: Option<&str>,
    kind: &str,
    reason: Option<&str>,
    ms: i64,
) -> JourneyEvent {
    JourneyEvent {
        at: at(ms),
        person,
        journey: "cart".into(),
        version: 1,
        instance,
        step: step.map(String::from),
        kind: kind.into(),
        reason: reason.map(String::from),
        detail: json!({"at": ms, "nested": {"list": [1, 2.5]}}),
    }
}

/// Records each event in one write and returns them with their ids.
pub(crate) fn record(
    store: &dyn Store,
    ws: WorkspaceId,
    events: &[JourneyEvent],
) -> Vec<StoredJourneyEvent> {
    write(store, |tx| {
        let mut stored = Vec::new();
        for event in events {
            let id = tx.record_journey_event(ws, event)?;
            stored.push(StoredJourneyEvent {
                id,
                event: event.clone(),
            });
        }
        Ok(stored)
    })
}

pub(crate) fn counter(step: &str, kind: &str, reason: &str, count: u64) -> JourneyCounter {
    JourneyCounter {
        journey: "cart".into(),
        step: step.into(),
        kind: kind.into(),
        reason: reason.into(),
        count,
    }
}

pub(crate) fn message(id: &str, person: PersonKey, instance: i64, ms: i64) -> OutboxMessage {
    OutboxMessage {
        message_id: id.into(),
        person,
        journey: "cart".into(),
        step: "email".into(),
        instance,
        channel: "email".into(),
        recipient: "ana@example.com".into(),
        subject: Some("Your cart".into()),
        body: format!("<p>message {id}</p>"),
        payload: json!({"from": "shop@example.com", "headers": {"X-Tag": ["cart", 1]}}),
        created_at: at(ms),
    }
}

pub fn journey_events_are_recorded_counted_and_paged(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let carol = person(store, ember, "carol");
    let events = [
        journey_event(ana, 1, None, "entered", None, 10),
        journey_event(ana, 1, Some("wait"), "step_reached", None, 11),
        journey_event(bob, 2, None, "entered", None, 12),
        journey_event(ana, 1, Some("email"), "message_sent", None, 13),
        journey_event(bob, 2, Some("wait"), "exited", Some("converted"), 14),
        journey_event(ana, 1, Some("wait"), "exited", Some("converted"), 15),
        journey_event(
            ana,
            1,
            Some("email"),
            "message_skipped",
            Some("suppressed"),
            16,
        ),
    ];
    let stored = record(store, lumen, &events[..4]);
    let mut all = stored.clone();
    all.extend(record(store, lumen, &events[4..]));
    let other = JourneyEvent {
        journey: "browse".into(),
        ..journey_event(ana, 3, None, "entered", None, 17)
    };
    let browse = record(store, lumen, std::slice::from_ref(&other));
    let theirs = record(
        store,
        ember,
        &[journey_event(carol, 9, None, "entered", None, 18)],
    );
    all.extend(browse.clone());
    assert!(
        all.windows(2).all(|pair| pair[0].id < pair[1].id),
        "ids increase"
    );

    // Counters: one per (step, kind, reason), by step, kind and reason.
    assert_eq!(
        store.journey_counters(lumen, "cart").unwrap(),
        [
            counter("", "entered", "", 2),
            counter("email", "message_sent", "", 1),
            counter("email", "message_skipped", "suppressed", 1),
            counter("wait", "exited", "converted", 2),
            counter("wait", "step_reached", "", 1),
        ]
    );
    assert_eq!(
        store.journey_counters(lumen, "browse").unwrap(),
        [JourneyCounter {
            journey: "browse".into(),
            ..counter("", "entered", "", 1)
        }]
    );
    assert_eq!(
        store.journey_counters(ember, "cart").unwrap(),
        [counter("", "entered", "", 1)]
    );
    assert!(store.journey_counters(lumen, "welcome").unwrap().is_empty());

    // The workspace's timeline, oldest first from an id on.
    assert_eq!(store.journey_events(lumen, 0, 100).unwrap(), all);
    assert_eq!(store.journey_events(lumen, 0, 3).unwrap(), all[..3]);
    assert_eq!(
        store.journey_events(lumen, all[2].id, 3).unwrap(),
        all[3..6]
    );
    assert!(store
        .journey_events(lumen, all[all.len() - 1].id, 10)
        .unwrap()
        .is_empty());
    assert_eq!(store.journey_events(ember, 0, 100).unwrap(), theirs);

    // One person's, newest first, below an id.
    let ana_newest_first: Vec<StoredJourneyEvent> = all
        .iter()
        .rev()
        .filter(|stored| stored.event.person == ana)
        .cloned()
        .collect();
    assert_eq!(ana_newest_first.len(), 6);
    let person_events = |before, limit| {
        store
            .person_journey_events(lumen, ana, before, limit)
            .unwrap()
    };
    assert_eq!(person_events(None, 100), ana_newest_first);
    assert_eq!(person_events(None, 2), ana_newest_first[..2]);
    assert_eq!(
        person_events(Some(ana_newest_first[1].id), 3),
        ana_newest_first[2..5]
    );
    assert!(person_events(Some(ana_newest_first[5].id), 10).is_empty());
    assert!(store
        .person_journey_events(ember, ana, None, 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        store.person_journey_events(lumen, bob, None, 10).unwrap(),
        [all[4].clone(), all[2].clone()]
    );
}

pub fn journey_events_roll_back_with_their_counters(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    record(
        store,
        ws,
        &[journey_event(ana, 1, None, "entered", None, 1)],
    );
    let failed = store.write(&mut |tx| {
        tx.record_journey_event(ws, &journey_event(ana, 1, None, "entered", None, 2))?;
        Err(crate::StoreError::Backend("the work failed".into()))
    });
    assert!(failed.is_err());
    assert_eq!(store.journey_events(ws, 0, 10).unwrap().len(), 1);
    assert_eq!(
        store.journey_counters(ws, "cart").unwrap(),
        [counter("", "entered", "", 1)]
    );
}

pub fn enqueue_message_is_idempotent_on_the_message_id(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let carol = person(store, ember, "carol");
    let first = message("m-1", ana, 1, 10);
    let (queued, again) = write(store, |tx| {
        Ok((
            tx.enqueue_message(lumen, &first)?,
            tx.enqueue_message(lumen, &first)?,
        ))
    });
    assert_eq!((queued, again), (true, false), "in the same write too");
    let changed = OutboxMessage {
        body: "another body".into(),
        ..message("m-1", ana, 2, 20)
    };
    assert!(!write(store, |tx| tx.enqueue_message(lumen, &changed)));
    let plain = OutboxMessage {
        subject: None,
        payload: json!({}),
        ..message("m-2", ana, 1, 30)
    };
    let third = message("m-3", ana, 1, 40);
    assert!(write(store, |tx| tx.enqueue_message(lumen, &plain)));
    assert!(write(store, |tx| tx.enqueue_message(lumen, &third)));
    assert!(
        write(store, |tx| tx
            .enqueue_message(ember, &message("m-1", carol, 7, 50))),
        "message ids are per workspace"
    );

    let outbox = store.outbox(lumen, 0, 100).unwrap();
    let queued: Vec<&OutboxMessage> = outbox.iter().map(|stored| &stored.message).collect();
    assert_eq!(queued, [&first, &plain, &third], "the first of m-1 stays");
    assert!(outbox.windows(2).all(|pair| pair[0].id < pair[1].id));
    assert_eq!(store.outbox(lumen, 0, 1).unwrap(), outbox[..1]);
    assert_eq!(store.outbox(lumen, outbox[0].id, 10).unwrap(), outbox[1..]);
    assert!(store.outbox(lumen, outbox[2].id, 10).unwrap().is_empty());
    let theirs: Vec<StoredMessage> = store.outbox(ember, 0, 100).unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].message, message("m-1", carol, 7, 50));
}
