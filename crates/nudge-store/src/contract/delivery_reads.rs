//! Contract checks for reading the delivery ledger: a delivery by its id, per workspace; the
//! workspace's deliveries by id with each filter; and the head of a workspace's log, which a
//! delivery worker waits for the processor to reach (its re-check reads are in
//! [`deliveries_recheck`](super::deliveries_recheck)).

use super::deliveries::{claim, enqueue, failed, finish, ids, queued_message, read, sent};
use super::journey_records::message;
use super::{at, person, workspace, write};
use crate::{DeliveryQuery, DeliveryState, LogEntry, OutboxMessage, Store};
use nudge_core::{ObjectRef, Operation};
use serde_json::json;

pub fn a_delivery_is_read_by_its_id_per_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let carol = person(store, ember, "carol");
    let plain = OutboxMessage {
        subject: None,
        payload: json!({}),
        ..message("m-1", ana, 3, 10)
    };
    enqueue(store, lumen, std::slice::from_ref(&plain));
    enqueue(store, ember, &[message("m-1", carol, 9, 20)]);
    let ours = read(store, lumen, "m-1");
    assert_eq!(ours.message, plain);
    assert_eq!(ours.ws, lumen);
    let theirs = read(store, ember, "m-1");
    assert_eq!(theirs.message, message("m-1", carol, 9, 20));
    assert_eq!(theirs.ws, ember);
    assert_ne!(ours.id, theirs.id);
    assert_eq!(store.delivery(lumen, "m-2").unwrap(), None);
    assert_eq!(
        store.delivery(lumen, "M-1").unwrap(),
        None,
        "ids match exactly"
    );
    let outbox = store.outbox(lumen, 0, 10).unwrap();
    assert_eq!(outbox[0].id, ours.id, "the outbox row's id");
}

/// What a goal's attribution reads: the state of a message, by id, per workspace, inside the
/// processor's transaction.
pub fn the_processor_reads_a_delivery_state_in_its_transaction(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    enqueue(store, lumen, &[message("m-1", ana, 3, 10)]);
    let state = |ws, id: &'static str| write(store, |tx| tx.delivery_state(ws, id));
    assert_eq!(state(lumen, "m-1"), Some(DeliveryState::Queued));
    assert_eq!(state(lumen, "m-2"), None);
    assert_eq!(state(ember, "m-1"), None, "per workspace");
    let claimed = claim(store, 1000, 5000, 10);
    finish(store, &claimed[0], &sent("p-1"), 1100);
    assert_eq!(state(lumen, "m-1"), Some(DeliveryState::Sent));
    let report = crate::MetricReport {
        delivery_id: "m-1".into(),
        metric: crate::DeliveryMetric::Clicked,
        at: super::at(1200),
        reason: None,
    };
    store.record_delivery_metric(lumen, &report).unwrap();
    assert_eq!(state(lumen, "m-1"), Some(DeliveryState::Clicked));
}

pub fn deliveries_are_listed_by_id_with_each_filter(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let carol = person(store, ember, "carol");
    enqueue(
        store,
        lumen,
        &[
            queued_message("m-1", ana, "cart", "email", 10),
            queued_message("m-2", bob, "cart", "email", 20),
            queued_message("m-3", ana, "browse", "sms", 30),
            queued_message("m-4", bob, "browse", "email", 40),
            queued_message("m-5", ana, "cart", "sms", 50),
        ],
    );
    enqueue(
        store,
        ember,
        &[queued_message("m-1", carol, "cart", "sms", 60)],
    );
    let held = claim(store, 100, 1_000, 10);
    assert_eq!(held.len(), 6);
    for held in &held {
        let id = held.message.message_id.as_str();
        match (held.ws == lumen, id) {
            (true, "m-2" | "m-5") => assert!(finish(store, held, &sent("p"), 200)),
            (true, "m-3") => assert!(finish(store, held, &failed("no"), 200)),
            _ => {}
        }
    }
    enqueue(
        store,
        lumen,
        &[queued_message("m-6", ana, "cart", "email", 2_000)],
    );

    let list = |query: DeliveryQuery| -> Vec<String> {
        let found = store.deliveries(lumen, &query).unwrap();
        for delivery in &found {
            assert_eq!(read(store, lumen, &delivery.message.message_id), *delivery);
        }
        found.into_iter().map(|d| d.message.message_id).collect()
    };
    let query = DeliveryQuery {
        limit: 100,
        ..DeliveryQuery::default()
    };
    let id_of = |id: &str| read(store, lumen, id).id;
    assert_eq!(
        list(query.clone()),
        ["m-1", "m-2", "m-3", "m-4", "m-5", "m-6"]
    );
    assert_eq!(
        list(DeliveryQuery {
            limit: 2,
            ..query.clone()
        }),
        ["m-1", "m-2"]
    );
    assert_eq!(
        list(DeliveryQuery {
            after_id: id_of("m-2"),
            limit: 2,
            ..query.clone()
        }),
        ["m-3", "m-4"]
    );
    assert!(list(DeliveryQuery {
        after_id: id_of("m-6"),
        ..query.clone()
    })
    .is_empty());

    let in_state = |state| DeliveryQuery {
        state: Some(state),
        ..query.clone()
    };
    assert_eq!(list(in_state(DeliveryState::Sent)), ["m-2", "m-5"]);
    assert_eq!(list(in_state(DeliveryState::Queued)), ["m-6"]);
    assert_eq!(list(in_state(DeliveryState::Attempted)), ["m-1", "m-4"]);
    assert_eq!(list(in_state(DeliveryState::Failed)), ["m-3"]);
    assert!(list(in_state(DeliveryState::Skipped)).is_empty());

    let of_person = |person| DeliveryQuery {
        person: Some(person),
        ..query.clone()
    };
    assert_eq!(list(of_person(ana)), ["m-1", "m-3", "m-5", "m-6"]);
    assert_eq!(list(of_person(bob)), ["m-2", "m-4"]);
    assert_eq!(
        list(DeliveryQuery {
            after_id: id_of("m-3"),
            ..of_person(ana)
        }),
        ["m-5", "m-6"]
    );
    assert_eq!(
        list(DeliveryQuery {
            limit: 1,
            ..of_person(ana)
        }),
        ["m-1"]
    );
    assert!(list(of_person(carol)).is_empty(), "another workspace's");

    let newest = DeliveryQuery {
        newest_first: true,
        ..query.clone()
    };
    assert_eq!(
        list(newest.clone()),
        ["m-6", "m-5", "m-4", "m-3", "m-2", "m-1"]
    );
    assert_eq!(
        list(DeliveryQuery {
            after_id: id_of("m-5"),
            limit: 2,
            ..newest.clone()
        }),
        ["m-4", "m-3"],
        "newest first continues below the cursor"
    );
    assert_eq!(
        list(DeliveryQuery {
            person: Some(ana),
            limit: 3,
            ..newest.clone()
        }),
        ["m-6", "m-5", "m-3"]
    );
    assert_eq!(
        list(DeliveryQuery {
            state: Some(DeliveryState::Sent),
            ..newest
        }),
        ["m-5", "m-2"]
    );

    let of_journey = |journey: &str| DeliveryQuery {
        journey: Some(journey.into()),
        ..query.clone()
    };
    assert_eq!(list(of_journey("browse")), ["m-3", "m-4"]);
    assert_eq!(list(of_journey("cart")), ["m-1", "m-2", "m-5", "m-6"]);
    assert!(list(of_journey("welcome")).is_empty());

    let on_channel = |channel: &str| DeliveryQuery {
        channel: Some(channel.into()),
        ..query.clone()
    };
    assert_eq!(list(on_channel("sms")), ["m-3", "m-5"]);
    assert_eq!(list(on_channel("email")), ["m-1", "m-2", "m-4", "m-6"]);
    assert!(list(on_channel("push")).is_empty());

    // Filters combine.
    assert_eq!(
        list(DeliveryQuery {
            person: Some(ana),
            ..of_journey("browse")
        }),
        ["m-3"]
    );
    assert_eq!(
        list(DeliveryQuery {
            state: Some(DeliveryState::Sent),
            ..of_person(bob)
        }),
        ["m-2"]
    );
    assert_eq!(
        list(DeliveryQuery {
            state: Some(DeliveryState::Sent),
            ..of_journey("cart")
        }),
        ["m-2", "m-5"]
    );
    assert_eq!(
        list(DeliveryQuery {
            state: Some(DeliveryState::Attempted),
            person: Some(bob),
            ..of_journey("browse")
        }),
        ["m-4"]
    );
    assert_eq!(
        list(DeliveryQuery {
            state: Some(DeliveryState::Sent),
            ..on_channel("sms")
        }),
        ["m-5"]
    );
    assert_eq!(
        list(DeliveryQuery {
            person: Some(bob),
            ..on_channel("sms")
        }),
        Vec::<String>::new()
    );
    assert_eq!(
        list(DeliveryQuery {
            person: Some(ana),
            after_id: id_of("m-3"),
            ..on_channel("sms")
        }),
        ["m-5"]
    );
    assert_eq!(
        list(DeliveryQuery {
            journey: Some("cart".into()),
            ..on_channel("email")
        }),
        ["m-1", "m-2", "m-6"]
    );

    let theirs = store.deliveries(ember, &query).unwrap();
    assert_eq!(ids(&theirs), ["m-1"]);
    assert_eq!(theirs[0].message.person, carol);
}

fn log_entry(n: i64) -> LogEntry {
    LogEntry {
        source: "track_v1".into(),
        received_at: at(n),
        operation: Operation::DeleteObject {
            object: ObjectRef {
                type_id: "1".into(),
                object_id: format!("o-{n}"),
            },
        },
        raw: None,
    }
}

pub fn log_head_is_the_last_offset_of_the_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    assert_eq!(store.log_head(lumen).unwrap(), 0, "an empty log");
    let ours = write(store, |tx| {
        (1..=3)
            .map(|n| tx.append_log(lumen, &log_entry(n)))
            .collect::<Result<Vec<i64>, _>>()
    });
    assert_eq!(store.log_head(lumen).unwrap(), ours[2]);
    assert_eq!(store.log_head(ember).unwrap(), 0, "another workspace's");
    let theirs = write(store, |tx| tx.append_log(ember, &log_entry(4)));
    assert_eq!(store.log_head(ember).unwrap(), theirs);
    assert_eq!(store.log_head(lumen).unwrap(), ours[2]);
    let later = write(store, |tx| tx.append_log(lumen, &log_entry(5)));
    assert_eq!(store.log_head(lumen).unwrap(), later);
}
