//! Contract checks for the reads a delivery worker re-checks a claimed batch with
//! ([`Deliveries::instances`](crate::Deliveries::instances) and
//! [`Deliveries::recheck_reads`](crate::Deliveries::recheck_reads)): each answers, for a whole
//! batch of one workspace, exactly what the single reads answer one at a time.

use std::collections::HashMap;

use super::deliveries::{claim, enqueue, finish, queued_message, sent};
use super::journeys::{finished, insert, live};
use super::{activity, at, ident, next_seq, person, workspace, write};
use crate::{
    Address, AddressSuppression, EventsQuery, OutboxMessage, RecheckQuery, SendsQuery, Store,
    SuppressionCategory,
};
use nudge_core::person::ActivityKind;
use nudge_core::{Device, IdentifierKind, PersonKey, WorkspaceId};
use serde_json::json;

pub fn instances_are_read_by_id_in_one_call_active_or_finished(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let carol = person(store, ember, "carol");
    let rows = insert(
        store,
        lumen,
        &[live("cart", ana, "k1"), live("browse", ana, "k2")],
    );
    let theirs = insert(store, ember, &[live("cart", carol, "k1")]);
    let done = finished(rows[0].clone(), Some(5_000));
    write(store, |tx| tx.update_instance(lumen, &done));
    let unknown = rows[0].id.max(rows[1].id).max(theirs[0].id) + 1;
    let asked = [rows[1].id, unknown, theirs[0].id, done.id, rows[1].id];
    let mut expected = vec![done, rows[1].clone()];
    expected.sort_by_key(|row| row.id);
    assert_eq!(
        store.instances(lumen, &asked).unwrap(),
        expected,
        "by id, once each, finished or not, without unknown ids or another workspace's"
    );
    assert_eq!(store.instances(ember, &asked).unwrap(), theirs);
    assert!(store.instances(lumen, &[]).unwrap().is_empty());
}

/// A suppression of `text` from `ms`.
fn suppression(text: &str, category: SuppressionCategory, ms: i64) -> AddressSuppression {
    AddressSuppression {
        address: Address::new(text).expect("an address"),
        category,
        reason: Some("550 5.1.1 mailbox unknown".into()),
        delivery_id: Some(format!("d-{ms}")),
        created_at: at(ms),
    }
}

/// Queues each message and records it sent at its time.
fn sent_at(store: &dyn Store, ws: WorkspaceId, messages: &[(OutboxMessage, i64)]) {
    let queued: Vec<OutboxMessage> = messages.iter().map(|(m, _)| m.clone()).collect();
    enqueue(store, ws, &queued);
    let claimed = claim(store, 1000, 9000, 100);
    for (message, ms) in messages {
        let delivery = (claimed.iter())
            .find(|d| d.message.message_id == message.message_id)
            .expect("every queued message is claimed");
        assert!(finish(store, delivery, &sent("p"), *ms));
    }
}

pub fn recheck_reads_answer_each_read_as_the_single_reads_do(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let carol = person(store, ember, "carol");
    write(store, |tx| {
        tx.link_identifier(lumen, &ident(IdentifierKind::Email, "ana@example.com"), ana)?;
        for (token, ms) in [("tok-b", 20), ("tok-a", 30)] {
            let device = Device {
                token: token.into(),
                platform: "ios".into(),
                last_used: Some(at(ms)),
                attributes: super::map(json!({"app_version": "1.2"})),
            };
            tx.upsert_device(lumen, ana, &device)?;
        }
        let recorded = [
            (ana, ActivityKind::Event, "purchase", 300),
            (ana, ActivityKind::Page, "pricing", 100),
            (ana, ActivityKind::Event, "purchase", 150),
            (ana, ActivityKind::Event, "signup", 50),
            (ana, ActivityKind::AttributeChange, "purchase", 250),
            (bob, ActivityKind::Event, "purchase", 175),
        ];
        for (key, kind, name, ms) in recorded {
            let event = activity(kind, name, ms);
            tx.record_activity(lumen, key, &event, next_seq(), event.timestamp)?;
        }
        let theirs = activity(ActivityKind::Event, "purchase", 120);
        tx.record_activity(ember, carol, &theirs, next_seq(), theirs.timestamp)
    });
    let bounce = suppression("ana@example.com", SuppressionCategory::Bounces, 10);
    assert!(store.suppress_address(lumen, &bounce).unwrap());
    let spam = suppression("+15555550100", SuppressionCategory::SpamReports, 11);
    assert!(store.suppress_address(lumen, &spam).unwrap());
    let elsewhere = suppression("bob@example.com", SuppressionCategory::Blocks, 12);
    assert!(store.suppress_address(ember, &elsewhere).unwrap());
    let of =
        |id: &str, person: PersonKey, channel: &str| queued_message(id, person, "cart", channel, 5);
    let transactional = OutboxMessage {
        payload: json!({"transactional": true}),
        ..of("ana-receipt", ana, "email")
    };
    sent_at(
        store,
        lumen,
        &[
            (of("ana-sms", ana, "sms"), 1300),
            (of("ana-early", ana, "email"), 1050),
            (of("ana-email", ana, "email"), 1100),
            (of("ana-hook", ana, "webhook"), 1150),
            (transactional, 1250),
            (of("bob-push", bob, "push"), 1200),
        ],
    );
    sent_at(store, ember, &[(of("carol-email", carol, "email"), 1100)]);

    let nobody = PersonKey(carol.0.max(bob.0).max(ana.0) + 1);
    let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let address = |text: &str| Address::new(text).expect("an address");
    let query = RecheckQuery {
        people: vec![bob, ana, carol, nobody, ana],
        addresses: [
            "ana@example.com",
            "bob@example.com",
            "+15555550100",
            "x@example.com",
        ]
        .map(address)
        .to_vec(),
        sends: Some(SendsQuery {
            people: vec![ana, bob, carol, nobody],
            since: at(1100),
        }),
        events: vec![
            EventsQuery {
                person: ana,
                names: names(&["purchase", "pricing"]),
                since: Some(at(120)),
            },
            EventsQuery {
                person: bob,
                names: names(&["purchase"]),
                since: None,
            },
            EventsQuery {
                person: ana,
                names: names(&["signup"]),
                since: None,
            },
            EventsQuery {
                person: carol,
                names: names(&["purchase"]),
                since: None,
            },
            EventsQuery {
                person: nobody,
                names: vec![],
                since: None,
            },
        ],
    };
    let reads = store.recheck_reads(lumen, &query).expect("recheck reads");

    let people: HashMap<PersonKey, _> = [ana, bob]
        .map(|key| (key, store.person(lumen, key).unwrap().expect("a person")))
        .into_iter()
        .collect();
    assert_eq!(
        reads.people, people,
        "each person of the workspace, as read alone"
    );
    assert_eq!(reads.people[&ana].devices.len(), 2);
    assert_eq!(reads.people[&ana].identifiers.len(), 3);

    let suppressions: HashMap<Address, AddressSuppression> = [bounce, spam]
        .map(|s| (s.address.clone(), s))
        .into_iter()
        .collect();
    assert_eq!(
        reads.suppressions, suppressions,
        "the workspace's suppressed ones"
    );
    for address in &query.addresses {
        let alone = store.address_suppression(lumen, address).unwrap();
        assert_eq!(reads.suppressions.get(address), alone.as_ref(), "{address}");
    }

    let ids = |key: PersonKey| -> Vec<&str> {
        (reads.sends.get(&key).into_iter().flatten())
            .map(|s| s.delivery_id.as_str())
            .collect()
    };
    assert_eq!(
        ids(ana),
        ["ana-email", "ana-sms"],
        "marketing since the start, oldest first"
    );
    assert_eq!(ids(bob), ["bob-push"]);
    assert_eq!(
        reads.sends.len(),
        2,
        "nobody without sends: {:?}",
        reads.sends
    );
    for key in [ana, bob] {
        let alone = store.marketing_sends_since(lumen, key, at(1100)).unwrap();
        assert_eq!(reads.sends[&key], alone);
    }

    assert_eq!(
        reads.events.len(),
        query.events.len(),
        "one answer per query"
    );
    for (asked, answer) in query.events.iter().zip(&reads.events) {
        let alone = (store.person_events(lumen, asked.person, &asked.names, asked.since)).unwrap();
        assert_eq!(answer, &alone, "{asked:?}");
    }
    let timeline = |n: usize| -> Vec<(&str, i64)> {
        (reads.events[n].iter())
            .map(|e| (e.name.as_str(), e.timestamp.millis()))
            .collect()
    };
    assert_eq!(timeline(0), [("purchase", 150), ("purchase", 300)]);
    assert_eq!(timeline(1), [("purchase", 175)]);
    assert_eq!(timeline(2), [("signup", 50)]);
    assert!(timeline(3).is_empty(), "another workspace's person");
    assert!(timeline(4).is_empty());

    let nothing = store
        .recheck_reads(lumen, &RecheckQuery::default())
        .unwrap();
    assert_eq!(nothing, Default::default());
}
