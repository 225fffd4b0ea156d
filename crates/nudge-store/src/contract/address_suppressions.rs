//! Contract checks for address suppressions and delivery metrics
//! ([`AddressSuppressions`](crate::AddressSuppressions)), and for a person's marketing sends
//! ([`SendHistory`](crate::SendHistory)): suppressions are per workspace and per address
//! (emails matched lower-cased), listed by address and lifted; a bounce or a spam complaint
//! reported for a delivery records it on the ledger and suppresses the address it went to;
//! the marketing sends of a person are their sent email, SMS and push that are not
//! transactional, since a time, oldest first.

use serde_json::json;

use super::deliveries::{claim, enqueue, finish, queued_message, read, sent};
use super::{at, person, workspace};
use crate::{
    Address, AddressSuppression, Delivery, DeliveryMetric, DeliveryState, MetricReport,
    OutboxMessage, Store, SuppressionCategory, SuppressionQuery,
};
use nudge_core::{PersonKey, WorkspaceId};

fn address(text: &str) -> Address {
    Address::new(text).expect("a valid address")
}

fn suppression(text: &str, category: SuppressionCategory, ms: i64) -> AddressSuppression {
    AddressSuppression {
        address: address(text),
        category,
        reason: Some(format!("{} reported", category.as_str())),
        delivery_id: None,
        created_at: at(ms),
    }
}

fn listed(store: &dyn Store, ws: WorkspaceId, query: &SuppressionQuery) -> Vec<String> {
    store
        .address_suppressions(ws, query)
        .expect("list suppressions")
        .into_iter()
        .map(|s| s.address.as_str().to_string())
        .collect()
}

fn report(
    delivery_id: &str,
    metric: DeliveryMetric,
    ms: i64,
    reason: Option<&str>,
) -> MetricReport {
    MetricReport {
        delivery_id: delivery_id.into(),
        metric,
        at: at(ms),
        reason: reason.map(String::from),
    }
}

/// Queues `messages`, claims them all at 1000 and records each as sent at the time paired
/// with it.
fn send_all(store: &dyn Store, ws: WorkspaceId, messages: &[(OutboxMessage, i64)]) {
    let queued: Vec<OutboxMessage> = messages.iter().map(|(m, _)| m.clone()).collect();
    enqueue(store, ws, &queued);
    let claimed = claim(store, 1000, 9000, 100);
    for (message, sent_at) in messages {
        let delivery = claimed
            .iter()
            .find(|d| d.message.message_id == message.message_id)
            .expect("every queued message is claimed");
        assert!(finish(store, delivery, &sent("p"), *sent_at));
    }
}

fn to(message: OutboxMessage, recipient: &str) -> OutboxMessage {
    OutboxMessage {
        recipient: recipient.into(),
        ..message
    }
}

pub fn suppressions_are_added_once_read_listed_and_removed(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let bounce = suppression("Ana@Example.com", SuppressionCategory::Bounces, 10);
    assert!(store.suppress_address(lumen, &bounce).unwrap());
    let again = suppression("ana@example.com", SuppressionCategory::SpamReports, 20);
    assert!(
        !store.suppress_address(lumen, &again).unwrap(),
        "the first suppression of an address stays"
    );
    for (text, category) in [
        ("carol@example.com", SuppressionCategory::SpamReports),
        ("+15555550100", SuppressionCategory::Bounces),
        ("bob@example.com", SuppressionCategory::Blocks),
    ] {
        assert!(store
            .suppress_address(lumen, &suppression(text, category, 30))
            .unwrap());
    }
    let found = store
        .address_suppression(lumen, &address("ANA@example.com"))
        .unwrap()
        .expect("matched lower-cased");
    assert_eq!(found, bounce);
    assert_eq!(found.address.as_str(), "ana@example.com");
    assert_eq!(
        store
            .address_suppression(ember, &address("ana@example.com"))
            .unwrap(),
        None,
        "suppressions belong to one workspace"
    );

    let all = SuppressionQuery {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        listed(store, lumen, &all),
        [
            "+15555550100",
            "ana@example.com",
            "bob@example.com",
            "carol@example.com"
        ]
    );
    let first_page = SuppressionQuery {
        limit: 2,
        ..Default::default()
    };
    assert_eq!(
        listed(store, lumen, &first_page),
        ["+15555550100", "ana@example.com"]
    );
    let next_page = SuppressionQuery {
        after: Some(address("ana@example.com")),
        limit: 2,
        ..Default::default()
    };
    assert_eq!(
        listed(store, lumen, &next_page),
        ["bob@example.com", "carol@example.com"]
    );
    let bounces = SuppressionQuery {
        category: Some(SuppressionCategory::Bounces),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        listed(store, lumen, &bounces),
        ["+15555550100", "ana@example.com"]
    );
    assert!(listed(store, ember, &all).is_empty());

    assert!(store
        .remove_address_suppression(lumen, &address("Ana@example.com"))
        .unwrap());
    assert!(!store
        .remove_address_suppression(lumen, &address("ana@example.com"))
        .unwrap());
    assert_eq!(
        store
            .address_suppression(lumen, &address("ana@example.com"))
            .unwrap(),
        None
    );
    assert_eq!(
        listed(store, lumen, &all),
        ["+15555550100", "bob@example.com", "carol@example.com"]
    );
}

pub fn a_bounce_marks_the_delivery_and_suppresses_its_address(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let email = to(
        queued_message("m-1", ana, "cart", "email", 5),
        "Ana@Example.com",
    );
    send_all(store, lumen, &[(email, 1100)]);

    let bounce = report(
        "m-1",
        DeliveryMetric::Bounced,
        2000,
        Some("550 5.1.1 unknown"),
    );
    assert_eq!(
        store.record_delivery_metric(ember, &bounce).unwrap(),
        None,
        "another workspace has no such delivery"
    );
    assert_eq!(
        store
            .record_delivery_metric(lumen, &report("m-404", DeliveryMetric::Bounced, 2000, None))
            .unwrap(),
        None
    );
    let recorded = store
        .record_delivery_metric(lumen, &bounce)
        .unwrap()
        .expect("the delivery exists");
    assert_eq!(recorded.suppressed, Some(address("ana@example.com")));
    let delivery: Delivery = recorded.delivery;
    assert_eq!(delivery.state, DeliveryState::Bounced);
    assert_eq!(
        delivery.reason.as_deref(),
        Some("bounced: 550 5.1.1 unknown")
    );
    assert_eq!(delivery.updated_at, at(2000));
    assert_eq!(delivery.sent_at, Some(at(1100)), "the send stays recorded");
    assert_eq!(read(store, lumen, "m-1"), delivery);
    let suppressed = store
        .address_suppression(lumen, &address("ana@example.com"))
        .unwrap()
        .expect("the address is suppressed");
    assert_eq!(suppressed.category, SuppressionCategory::Bounces);
    assert_eq!(suppressed.delivery_id.as_deref(), Some("m-1"));
    assert_eq!(suppressed.reason.as_deref(), Some("550 5.1.1 unknown"));
    assert_eq!(suppressed.created_at, at(2000));
}

pub fn metrics_move_deliveries_forward_and_leave_notes(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ana = person(store, lumen, "ana");
    let delivered = to(
        queued_message("m-1", ana, "cart", "email", 5),
        "ana@example.com",
    );
    let spammed = to(
        queued_message("m-2", ana, "cart", "email", 6),
        "spam@example.com",
    );
    let pushed = to(
        queued_message("m-3", ana, "cart", "push", 7),
        "device-token",
    );
    send_all(
        store,
        lumen,
        &[(delivered, 1100), (spammed, 1200), (pushed, 1300)],
    );
    let record = |id: &str, metric: DeliveryMetric, ms: i64| {
        store
            .record_delivery_metric(lumen, &report(id, metric, ms, None))
            .unwrap()
            .expect("the delivery exists")
    };
    assert_eq!(
        record("m-1", DeliveryMetric::Delivered, 2000)
            .delivery
            .state,
        DeliveryState::Delivered
    );
    assert_eq!(
        record("m-1", DeliveryMetric::Clicked, 2100).delivery.state,
        DeliveryState::Clicked
    );
    let back = record("m-1", DeliveryMetric::Opened, 2200);
    assert_eq!(back.delivery.state, DeliveryState::Clicked, "never back");
    assert_eq!(back.delivery.updated_at, at(2100), "nothing written");
    assert_eq!(back.suppressed, None);

    let spam = record("m-2", DeliveryMetric::Spammed, 2300);
    assert_eq!(spam.delivery.state, DeliveryState::Sent);
    assert_eq!(spam.delivery.reason.as_deref(), Some("spammed"));
    assert_eq!(spam.suppressed, Some(address("spam@example.com")));
    let twice = record("m-2", DeliveryMetric::Spammed, 2400);
    assert_eq!(
        twice.delivery.reason.as_deref(),
        Some("spammed"),
        "noted once"
    );
    let category = store
        .address_suppression(lumen, &address("spam@example.com"))
        .unwrap()
        .map(|s| s.category);
    assert_eq!(category, Some(SuppressionCategory::SpamReports));

    let push = record("m-3", DeliveryMetric::Spammed, 2500);
    assert_eq!(push.suppressed, None, "a device token is not an address");
    assert_eq!(push.delivery.reason.as_deref(), Some("spammed"));

    // A delivery still queued is left to its attempt, but its address is suppressed.
    let queued = to(
        queued_message("m-4", ana, "cart", "sms", 8000),
        "+15555550100",
    );
    enqueue(store, lumen, &[queued]);
    let open = record("m-4", DeliveryMetric::Bounced, 2600);
    assert_eq!(open.delivery.state, DeliveryState::Queued);
    assert_eq!(open.delivery.reason, None);
    assert_eq!(open.suppressed, Some(address("+15555550100")));
}

pub fn marketing_sends_are_the_persons_sent_marketing_messages_since(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let carol = person(store, ember, "carol");
    let of =
        |id: &str, person: PersonKey, channel: &str| queued_message(id, person, "cart", channel, 5);
    let transactional = OutboxMessage {
        payload: json!({"transactional": true, "send_to_unsubscribed": false}),
        ..of("ana-receipt", ana, "email")
    };
    let marked_false = OutboxMessage {
        payload: json!({"transactional": false}),
        ..of("ana-promo", ana, "email")
    };
    send_all(
        store,
        lumen,
        &[
            (of("ana-early", ana, "email"), 1050),
            (of("ana-email", ana, "email"), 1100),
            (of("ana-hook", ana, "webhook"), 1150),
            (of("ana-sms", ana, "sms"), 1200),
            (transactional, 1250),
            (of("ana-push", ana, "push"), 1300),
            (marked_false, 1350),
            (of("bob-email", bob, "email"), 1100),
        ],
    );
    enqueue(store, lumen, &[of("ana-waiting", ana, "email")]);
    send_all(store, ember, &[(of("carol-email", carol, "email"), 1100)]);

    let sends = store
        .marketing_sends_since(lumen, ana, at(1100))
        .expect("read sends");
    let got: Vec<(&str, i64)> = sends
        .iter()
        .map(|s| (s.delivery_id.as_str(), s.sent_at.millis()))
        .collect();
    assert_eq!(
        got,
        [
            ("ana-email", 1100),
            ("ana-sms", 1200),
            ("ana-push", 1300),
            ("ana-promo", 1350)
        ]
    );
    // A bounce after the send still counts: the message went out.
    store
        .record_delivery_metric(
            lumen,
            &report("ana-sms", DeliveryMetric::Bounced, 1400, None),
        )
        .unwrap();
    assert_eq!(
        store
            .marketing_sends_since(lumen, ana, at(1100))
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        store
            .marketing_sends_since(lumen, ana, at(1301))
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .marketing_sends_since(ember, ana, at(0))
        .unwrap()
        .is_empty());
}
