//! Contract checks for recording outcomes in the delivery ledger: an update, alone or in a
//! batch, is written only while the claim it names still holds; each update leaves its state
//! and fields; a retry makes the delivery due again at its time.

use super::deliveries::{claim, enqueue, failed, finish, finished_by, ids, read, retry, sent};
use super::journey_records::message;
use super::{at, person, workspace};
use crate::{Delivery, DeliveryState, DeliveryUpdate, FinishedDelivery, OutboxMessage, Store};
use serde_json::json;

pub fn finishing_is_fenced_by_the_claim(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    enqueue(store, lumen, &[message("m-1", ana, 1, 10)]);
    let queued = read(store, lumen, "m-1");
    for attempts in [0, 1] {
        let unclaimed = Delivery {
            attempts,
            ..queued.clone()
        };
        assert!(
            !finish(store, &unclaimed, &sent("p"), 50),
            "a queued delivery is nobody's to finish"
        );
    }
    assert_eq!(read(store, lumen, "m-1"), queued, "nothing written");

    let claimed = claim(store, 100, 1_000, 10).remove(0);
    let wrong_attempts = Delivery {
        attempts: 2,
        ..claimed.clone()
    };
    let wrong_workspace = Delivery {
        ws: ember,
        ..claimed.clone()
    };
    for update in [sent("p"), failed("no"), retry(500, "again")] {
        assert!(!finish(store, &wrong_attempts, &update, 200));
        assert!(!finish(store, &wrong_workspace, &update, 200));
    }
    assert_eq!(read(store, lumen, "m-1"), claimed, "nothing written");

    assert!(finish(store, &claimed, &failed("smtp 550"), 200));
    let done = read(store, lumen, "m-1");
    assert_eq!(done.state, DeliveryState::Failed);
    assert!(
        !finish(store, &claimed, &sent("p"), 300),
        "an outcome is final"
    );
    assert_eq!(read(store, lumen, "m-1"), done, "nothing written");
}

/// What a delivery reads back as after an update: its state, due time, reason, provider
/// message id, response and sent time.
type Recorded = (
    DeliveryState,
    Option<i64>,
    Option<&'static str>,
    Option<&'static str>,
    Option<serde_json::Value>,
    Option<i64>,
);

pub fn each_update_records_its_state_and_fields(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    let response = json!({"id": "wh-1", "nested": {"ok": true, "list": [1, 2.5, "x"]}});
    let reason = |text: &str| text.to_string();
    let cases: [(&str, DeliveryUpdate, Recorded); 7] = [
        (
            "m-sent",
            DeliveryUpdate::Sent {
                provider_message_id: Some("SM123".into()),
                response: Some(response.clone()),
                note: None,
            },
            (
                DeliveryState::Sent,
                None,
                None,
                Some("SM123"),
                Some(response.clone()),
                Some(200),
            ),
        ),
        (
            "m-sent-noted",
            DeliveryUpdate::Sent {
                provider_message_id: None,
                response: None,
                note: Some(reason("no provider configured")),
            },
            (
                DeliveryState::Sent,
                None,
                Some("no provider configured"),
                None,
                None,
                Some(200),
            ),
        ),
        (
            "m-failed",
            failed("twilio 400 code 21211"),
            (
                DeliveryState::Failed,
                None,
                Some("twilio 400 code 21211"),
                None,
                None,
                None,
            ),
        ),
        (
            "m-skipped",
            DeliveryUpdate::Skipped {
                reason: reason("exited"),
            },
            (
                DeliveryState::Skipped,
                None,
                Some("exited"),
                None,
                None,
                None,
            ),
        ),
        (
            "m-undeliverable",
            DeliveryUpdate::Undeliverable {
                reason: reason("frequency cap"),
            },
            (
                DeliveryState::Undeliverable,
                None,
                Some("frequency cap"),
                None,
                None,
                None,
            ),
        ),
        (
            "m-retry",
            retry(400, "smtp 451 try later"),
            (
                DeliveryState::Queued,
                Some(400),
                Some("smtp 451 try later"),
                None,
                None,
                None,
            ),
        ),
        (
            "m-retry-now",
            retry(200, "429"),
            (
                DeliveryState::Queued,
                Some(200),
                Some("429"),
                None,
                None,
                None,
            ),
        ),
    ];
    let messages: Vec<OutboxMessage> = (cases.iter().enumerate())
        .map(|(n, (id, _, _))| message(id, ana, 1, 10 + n as i64))
        .collect();
    enqueue(store, ws, &messages);
    let claimed = claim(store, 100, 1_000, 10);
    assert_eq!(claimed.len(), cases.len());

    for ((id, update, recorded), held) in cases.iter().zip(&claimed) {
        assert_eq!(held.message.message_id, *id);
        assert!(finish(store, held, update, 200), "{id}");
        let (state, due_at, reason, provider_message_id, response, sent_at) = recorded.clone();
        assert_eq!(update.state(), state, "{id}");
        assert_eq!(
            read(store, ws, id),
            Delivery {
                state,
                attempts: 1,
                due_at: due_at.map(at),
                reason: reason.map(String::from),
                provider_message_id: provider_message_id.map(String::from),
                response,
                updated_at: at(200),
                sent_at: sent_at.map(at),
                ..held.clone()
            },
            "{id}"
        );
    }
    let again = claim(store, 200, 1_000, 10);
    assert_eq!(ids(&again), ["m-retry-now"], "a retry due at once");
    assert_eq!(store.next_delivery_due().unwrap(), Some(at(400)));
}

pub fn a_batch_of_updates_writes_each_one_its_claim_still_holds(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    assert!(store.finish_deliveries(&[], at(50)).unwrap().is_empty());
    enqueue(
        store,
        ws,
        &[
            message("m-1", ana, 1, 10),
            message("m-2", ana, 1, 20),
            message("m-3", ana, 1, 30),
        ],
    );
    let held = claim(store, 100, 1_000, 2);
    let m3_lost = claim(store, 100, 200, 1).remove(0);
    let m3 = claim(store, 200, 1_000, 1).remove(0);
    assert_eq!(
        ids(&[held.clone(), vec![m3.clone()]].concat()),
        ["m-1", "m-2", "m-3"]
    );
    let unknown = FinishedDelivery {
        id: held[0].id.max(held[1].id).max(m3.id) + 1,
        ..finished_by(&held[0], &sent("p"))
    };

    let batch = [
        finished_by(&held[0], &sent("p-1")),
        finished_by(&m3_lost, &sent("p-3")),
        finished_by(&held[1], &retry(700, "timed out")),
        finished_by(&held[0], &failed("twice")),
        unknown,
    ];
    let written = store.finish_deliveries(&batch, at(300)).unwrap();
    assert_eq!(written, [true, false, true, false, false]);

    let m1 = read(store, ws, "m-1");
    assert_eq!(
        (m1.state, m1.provider_message_id.as_deref(), m1.sent_at),
        (DeliveryState::Sent, Some("p-1"), Some(at(300))),
        "the first update of a delivery named twice"
    );
    let m2 = read(store, ws, "m-2");
    assert_eq!(
        (m2.state, m2.due_at, m2.reason.as_deref()),
        (DeliveryState::Queued, Some(at(700)), Some("timed out"))
    );
    assert_eq!(read(store, ws, "m-3"), m3, "the lost claim wrote nothing");
    assert_eq!(
        store
            .finish_deliveries(&[finished_by(&m3, &sent("p-3"))], at(400))
            .unwrap(),
        [true]
    );
}

pub fn a_retry_is_due_again_at_its_time(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    enqueue(store, ws, &[message("m-1", ana, 1, 10)]);
    let first = claim(store, 100, 1_000, 10).remove(0);
    assert!(finish(store, &first, &retry(400, "503 unavailable"), 150));
    assert!(
        claim(store, 399, 1_000, 10).is_empty(),
        "not before its time"
    );
    assert_eq!(store.next_delivery_due().unwrap(), Some(at(400)));

    let second = claim(store, 400, 900, 10);
    assert_eq!(ids(&second), ["m-1"]);
    assert_eq!(second[0].id, first.id);
    assert_eq!(second[0].attempts, 2);
    assert_eq!(second[0].due_at, Some(at(900)));
    assert_eq!(
        second[0].reason.as_deref(),
        Some("503 unavailable"),
        "the last failure stays while the next attempt runs"
    );
    assert!(!finish(store, &first, &sent("p"), 450), "the first claim");
    assert!(finish(store, &second[0], &sent("p"), 450));
    assert_eq!(read(store, ws, "m-1").attempts, 2);
}
