//! Contract checks for deliveries queued outside the processor (the transactional API): such a
//! delivery belongs to no journey, waits for its send time like any other, and its idempotency
//! key (per workspace) queues it once however often, and however concurrently, it is retried.

use std::sync::Barrier;

use super::deliveries::{claim, enqueue, ids, read};
use super::journey_records::message;
use super::{at, person, workspace};
use crate::{
    DeliveryQuery, DeliveryState, IdempotencyKey, KeyedDelivery, NewDelivery, QueuedDelivery,
    Store, StoreError,
};
use nudge_core::{PersonKey, WorkspaceId};
use serde_json::json;

/// A transactional email `id` to `person`, queued at `queued_ms` and due at `due_ms`, with
/// `key` (and `fingerprint`) when given.
fn new_delivery(
    id: &str,
    person: PersonKey,
    queued_ms: i64,
    due_ms: i64,
    key: Option<(&str, &str)>,
) -> NewDelivery {
    NewDelivery {
        delivery_id: id.into(),
        person,
        channel: "email".into(),
        recipient: "ana@example.com".into(),
        subject: Some("Your receipt".into()),
        body: format!("receipt {id}"),
        payload: json!({"transactional": true, "send_to_unsubscribed": true,
                        "attachments": {"r.pdf": "JVBERi0="}}),
        queued_at: at(queued_ms),
        due_at: at(due_ms),
        idempotency: key.map(|(key, fingerprint)| IdempotencyKey {
            key: key.into(),
            fingerprint: fingerprint.into(),
        }),
    }
}

fn queue(store: &dyn Store, ws: WorkspaceId, new: &NewDelivery) -> QueuedDelivery {
    store.queue_delivery(ws, new).expect("queue the delivery")
}

pub fn a_queued_delivery_belongs_to_no_journey_and_waits_for_its_time(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    let new = new_delivery("txn-1", ana, 100, 5_000, None);
    let QueuedDelivery::Queued(queued) = queue(store, ws, &new) else {
        panic!("a new delivery is queued");
    };
    assert_eq!(queued, read(store, ws, "txn-1"), "what the ledger holds");
    let message = &queued.message;
    assert_eq!(
        (
            message.journey.as_str(),
            message.step.as_str(),
            message.instance
        ),
        ("", "", 0)
    );
    assert_eq!(message.person, ana);
    assert_eq!(message.channel, "email");
    assert_eq!(message.recipient, "ana@example.com");
    assert_eq!(message.subject.as_deref(), Some("Your receipt"));
    assert_eq!(message.body, "receipt txn-1");
    assert_eq!(message.payload, new.payload);
    assert_eq!(message.created_at, at(100));
    assert_eq!(queued.state, DeliveryState::Queued);
    assert_eq!(queued.attempts, 0);
    assert_eq!(queued.due_at, Some(at(5_000)));
    assert_eq!(store.next_delivery_due().unwrap(), Some(at(5_000)));

    assert!(claim(store, 4_999, 10_000, 10).is_empty(), "not due yet");
    let claimed = claim(store, 5_000, 10_000, 10);
    assert_eq!(ids(&claimed), ["txn-1"]);
    assert_eq!(claimed[0].attempts, 1);

    // A send time already past is due at once, in due order with the processor's messages.
    enqueue(store, ws, &[message_at("m-1", ana, 300)]);
    queue(store, ws, &new_delivery("txn-2", ana, 200, 200, None));
    assert_eq!(ids(&claim(store, 400, 10_000, 10)), ["txn-2", "m-1"]);
}

fn message_at(id: &str, person: PersonKey, ms: i64) -> crate::OutboxMessage {
    message(id, person, 1, ms)
}

pub fn an_idempotency_key_queues_once_and_returns_the_first_delivery(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let carol = person(store, ember, "carol");
    assert_eq!(store.keyed_delivery(lumen, "order-7").unwrap(), None);

    let first = new_delivery("txn-1", ana, 100, 100, Some(("order-7", "fp-a")));
    let QueuedDelivery::Queued(queued) = queue(store, lumen, &first) else {
        panic!("the key's first delivery is queued");
    };
    let keyed = KeyedDelivery {
        delivery: queued.clone(),
        fingerprint: "fp-a".into(),
    };
    assert_eq!(
        store.keyed_delivery(lumen, "order-7").unwrap(),
        Some(keyed.clone())
    );

    // A retry (a new delivery id, the same key) writes nothing and names the first, whatever
    // its own fingerprint says: the caller decides what a different request means.
    let retry = new_delivery("txn-2", ana, 900, 900, Some(("order-7", "fp-b")));
    assert_eq!(
        queue(store, lumen, &retry),
        QueuedDelivery::AlreadyQueued(keyed)
    );
    assert_eq!(store.delivery(lumen, "txn-2").unwrap(), None);
    let all = store
        .deliveries(
            lumen,
            &DeliveryQuery {
                limit: 10,
                ..DeliveryQuery::default()
            },
        )
        .unwrap();
    assert_eq!(ids(&all), ["txn-1"]);

    // Keys are per workspace, and keys match exactly.
    let theirs = new_delivery("txn-1", carol, 100, 100, Some(("order-7", "fp-c")));
    assert!(matches!(
        queue(store, ember, &theirs),
        QueuedDelivery::Queued(_)
    ));
    assert_eq!(store.keyed_delivery(lumen, "ORDER-7").unwrap(), None);
    let other_key = new_delivery("txn-3", ana, 100, 100, Some(("ORDER-7", "fp-a")));
    assert!(matches!(
        queue(store, lumen, &other_key),
        QueuedDelivery::Queued(_)
    ));

    // Deliveries without a key never collide with each other.
    for id in ["txn-4", "txn-5"] {
        assert!(matches!(
            queue(store, lumen, &new_delivery(id, ana, 100, 100, None)),
            QueuedDelivery::Queued(_)
        ));
    }
}

pub fn a_taken_delivery_id_is_a_conflict(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    enqueue(store, ws, &[message_at("m-1", ana, 100)]);
    let clash = new_delivery("m-1", ana, 200, 200, None);
    assert!(matches!(
        store.queue_delivery(ws, &clash),
        Err(StoreError::Conflict(_))
    ));
    let keyed_clash = new_delivery("m-1", ana, 200, 200, Some(("k-1", "fp")));
    assert!(matches!(
        store.queue_delivery(ws, &keyed_clash),
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.keyed_delivery(ws, "k-1").unwrap(),
        None,
        "a refused delivery leaves its key free"
    );
    assert_eq!(read(store, ws, "m-1").message.journey, "cart", "untouched");
}

pub fn requests_racing_with_one_key_queue_one_delivery(store: &dyn Store) {
    const RACERS: usize = 6;
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    let start = Barrier::new(RACERS);
    let outcomes: Vec<QueuedDelivery> = std::thread::scope(|scope| {
        let racers: Vec<_> = (0..RACERS)
            .map(|n| {
                let start = &start;
                scope.spawn(move || {
                    let new = new_delivery(&format!("txn-{n}"), ana, 100, 100, Some(("k", "fp")));
                    start.wait();
                    queue(store, ws, &new)
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let winners: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| match o {
            QueuedDelivery::Queued(d) => Some(d.message.message_id.as_str()),
            QueuedDelivery::AlreadyQueued(_) => None,
        })
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for outcome in &outcomes {
        let named = match outcome {
            QueuedDelivery::Queued(d) => &d.message.message_id,
            QueuedDelivery::AlreadyQueued(k) => &k.delivery.message.message_id,
        };
        assert_eq!(named, winners[0], "every racer names the one delivery");
    }
    let all = store
        .deliveries(
            ws,
            &DeliveryQuery {
                limit: 100,
                ..DeliveryQuery::default()
            },
        )
        .unwrap();
    assert_eq!(all.len(), 1);
}
