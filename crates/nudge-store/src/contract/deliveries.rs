//! Contract checks for claiming in the delivery ledger ([`Deliveries`](crate::Deliveries)):
//! messages queued by the processor are claimed when due, earliest first, across workspaces,
//! by one claimer at a time until the claim runs out; the next due time is the earliest open
//! one. Also the fixtures the other ledger checks share.

use std::collections::BTreeSet;
use std::sync::Barrier;

use super::journey_records::message;
use super::{at, person, workspace, write};
use crate::{Delivery, DeliveryState, DeliveryUpdate, FinishedDelivery, OutboxMessage, Store};
use nudge_core::{PersonKey, WorkspaceId};

/// Queues each message in one processing write; each must be new.
pub(crate) fn enqueue(store: &dyn Store, ws: WorkspaceId, messages: &[OutboxMessage]) {
    let queued = write(store, |tx| {
        messages
            .iter()
            .map(|m| tx.enqueue_message(ws, m))
            .collect::<Result<Vec<bool>, _>>()
    });
    assert!(queued.iter().all(|new| *new), "every message is new");
}

/// A message with id `id` for `person`, of `journey` on `channel`, queued at `ms`.
pub(crate) fn queued_message(
    id: &str,
    person: PersonKey,
    journey: &str,
    channel: &str,
    ms: i64,
) -> OutboxMessage {
    OutboxMessage {
        journey: journey.into(),
        channel: channel.into(),
        ..message(id, person, 1, ms)
    }
}

pub(crate) fn claim(store: &dyn Store, now: i64, until: i64, limit: usize) -> Vec<Delivery> {
    store
        .claim_deliveries(at(now), at(until), limit)
        .expect("claim deliveries")
}

pub(crate) fn ids(deliveries: &[Delivery]) -> Vec<&str> {
    deliveries
        .iter()
        .map(|d| d.message.message_id.as_str())
        .collect()
}

pub(crate) fn read(store: &dyn Store, ws: WorkspaceId, delivery_id: &str) -> Delivery {
    store
        .delivery(ws, delivery_id)
        .expect("read the delivery")
        .expect("the delivery exists")
}

/// `update` for the delivery as `claimed` holds it (its workspace, id and attempts).
pub(crate) fn finished_by(claimed: &Delivery, update: &DeliveryUpdate) -> FinishedDelivery {
    FinishedDelivery {
        ws: claimed.ws,
        id: claimed.id,
        attempts: claimed.attempts,
        update: update.clone(),
    }
}

/// Finishes one delivery on its own; whether the claim still held.
pub(crate) fn finish(
    store: &dyn Store,
    claimed: &Delivery,
    update: &DeliveryUpdate,
    now: i64,
) -> bool {
    let written = store
        .finish_deliveries(&[finished_by(claimed, update)], at(now))
        .expect("finish the delivery");
    assert_eq!(written.len(), 1, "one flag per update");
    written[0]
}

pub(crate) fn failed(reason: &str) -> DeliveryUpdate {
    DeliveryUpdate::Failed {
        reason: reason.into(),
    }
}

pub(crate) fn sent(provider_message_id: &str) -> DeliveryUpdate {
    DeliveryUpdate::Sent {
        provider_message_id: Some(provider_message_id.into()),
        response: None,
        note: None,
    }
}

pub(crate) fn retry(ms: i64, reason: &str) -> DeliveryUpdate {
    DeliveryUpdate::Retry {
        at: at(ms),
        reason: reason.into(),
    }
}

pub fn claims_take_due_deliveries_earliest_first_across_workspaces(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let carol = person(store, ember, "carol");
    let m30 = message("m-30", ana, 1, 30);
    let m10 = message("m-10", ana, 1, 10);
    enqueue(
        store,
        lumen,
        &[m30.clone(), m10.clone(), message("m-future", ana, 1, 500)],
    );
    enqueue(store, ember, &[message("m-20", carol, 7, 20)]);
    enqueue(store, lumen, &[message("m-10b", ana, 1, 10)]);

    let before = read(store, lumen, "m-30");
    assert_eq!(
        before,
        Delivery {
            id: before.id,
            ws: lumen,
            message: m30.clone(),
            state: DeliveryState::Queued,
            attempts: 0,
            due_at: Some(at(30)),
            reason: None,
            provider_message_id: None,
            response: None,
            updated_at: at(30),
            sent_at: None,
        },
        "a queued message is due when it was created"
    );

    let first = claim(store, 100, 1_000, 3);
    assert_eq!(
        ids(&first),
        ["m-10", "m-10b", "m-20"],
        "by due time, then id"
    );
    assert_eq!(
        first[0],
        Delivery {
            id: first[0].id,
            ws: lumen,
            message: m10,
            state: DeliveryState::Attempted,
            attempts: 1,
            due_at: Some(at(1_000)),
            reason: None,
            provider_message_id: None,
            response: None,
            updated_at: at(100),
            sent_at: None,
        }
    );
    assert_eq!(first[2].ws, ember);
    for claimed in &first {
        assert_eq!(
            read(store, claimed.ws, &claimed.message.message_id),
            *claimed
        );
    }

    let second = claim(store, 100, 1_000, 10);
    assert_eq!(ids(&second), ["m-30"], "not the one due later");
    assert_eq!(second[0].id, before.id);
    assert!(claim(store, 499, 1_000, 10).is_empty());
    let future = claim(store, 500, 1_500, 10);
    assert_eq!(ids(&future), ["m-future"], "due at exactly now");
    assert!(claim(store, 999, 1_500, 0).is_empty(), "a limit of 0");
}

pub fn a_claim_hides_its_deliveries_until_it_runs_out(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    enqueue(
        store,
        ws,
        &[message("m-1", ana, 1, 10), message("m-2", ana, 1, 20)],
    );
    let held = claim(store, 100, 1_000, 10);
    assert_eq!(ids(&held), ["m-1", "m-2"]);
    assert!(held.iter().all(|d| d.attempts == 1));
    assert!(claim(store, 100, 2_000, 10).is_empty());
    assert!(claim(store, 999, 2_000, 10).is_empty());

    // The worker holding them died: at the end of its claim they are due again.
    let again = claim(store, 1_000, 2_000, 10);
    assert_eq!(ids(&again), ["m-1", "m-2"]);
    for (retaken, lost) in again.iter().zip(&held) {
        assert_eq!(retaken.id, lost.id);
        assert_eq!(retaken.state, DeliveryState::Attempted);
        assert_eq!(retaken.attempts, 2);
        assert_eq!(retaken.due_at, Some(at(2_000)));
        assert_eq!(retaken.updated_at, at(1_000));
    }
    assert!(
        !finish(store, &held[0], &sent("late"), 1_100),
        "the lost claim records nothing"
    );
    assert_eq!(read(store, ws, "m-1"), again[0]);
    assert!(finish(store, &again[0], &sent("p-1"), 1_100));
}

pub fn next_delivery_due_is_the_earliest_open_time_of_any_workspace(store: &dyn Store) {
    assert_eq!(store.next_delivery_due().unwrap(), None, "an empty ledger");
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let carol = person(store, ember, "carol");
    enqueue(store, lumen, &[message("m-50", ana, 1, 50)]);
    assert_eq!(store.next_delivery_due().unwrap(), Some(at(50)));
    enqueue(store, ember, &[message("m-20", carol, 1, 20)]);
    assert_eq!(store.next_delivery_due().unwrap(), Some(at(20)));

    let held = claim(store, 20, 40, 10);
    assert_eq!(ids(&held), ["m-20"]);
    assert_eq!(
        store.next_delivery_due().unwrap(),
        Some(at(40)),
        "the end of a claim counts"
    );
    assert!(finish(store, &held[0], &sent("p"), 30));
    assert_eq!(
        store.next_delivery_due().unwrap(),
        Some(at(50)),
        "an outcome does not"
    );
    let held = claim(store, 50, 90, 10);
    assert_eq!(store.next_delivery_due().unwrap(), Some(at(90)));
    assert!(finish(store, &held[0], &retry(70, "later"), 60));
    assert_eq!(store.next_delivery_due().unwrap(), Some(at(70)));
    let held = claim(store, 70, 90, 10);
    assert!(finish(store, &held[0], &failed("no"), 80));
    assert_eq!(store.next_delivery_due().unwrap(), None, "nothing open");
}

pub fn concurrent_claimers_never_share_a_delivery(store: &dyn Store) {
    const MESSAGES: i64 = 60;
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    let messages: Vec<OutboxMessage> = (1..=MESSAGES)
        .map(|n| message(&format!("m-{n:02}"), ana, 1, n))
        .collect();
    enqueue(store, ws, &messages);

    let start = Barrier::new(2);
    let claimer = || {
        start.wait();
        let mut mine = Vec::new();
        // Bounded, so a claim that never hides what it took fails instead of spinning.
        for _ in 0..MESSAGES {
            let batch = claim(store, 100, 1_000, 3);
            if batch.is_empty() {
                break;
            }
            mine.extend(batch);
        }
        mine
    };
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(claimer);
        let second = scope.spawn(claimer);
        (first.join().unwrap(), second.join().unwrap())
    });
    let all: Vec<&Delivery> = first.iter().chain(&second).collect();
    let distinct: BTreeSet<i64> = all.iter().map(|d| d.id).collect();
    assert_eq!(
        all.len(),
        distinct.len(),
        "a delivery was claimed twice: {:?} and {:?}",
        ids(&first),
        ids(&second)
    );
    assert_eq!(distinct.len(), messages.len(), "every delivery was claimed");
    assert!(all.iter().all(|d| d.attempts == 1));
    assert!(claim(store, 100, 1_000, 10).is_empty());
}
