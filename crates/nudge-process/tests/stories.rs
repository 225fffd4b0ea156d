//! The processor through the real writer and store, on SQLite and PostgreSQL, under a virtual
//! clock: the d2c brand's win-back segment entered at the exact second 90 days pass with no
//! event sent, the VIP story with a refund, computed attributes refusing identify writes,
//! backfills of new definitions, and merges recomputing what moved.

mod common;

use common::{d2c_computed, Backend, Engine, DAY, T0};
use nudge_ingest::Outcome;
use nudge_process::ProcessorConfig;
use serde_json::json;

fn engines() -> Vec<Engine> {
    [Backend::Sqlite, Backend::Postgres]
        .into_iter()
        .filter_map(Engine::start)
        .collect()
}

fn winback() -> serde_json::Value {
    json!({"and": [
        {"attribute": {"field": "last_order_date", "operator": "more_than_ago", "value": "90d"}},
        {"not": {"attribute": {"field": "last_site_activity", "operator": "within_last", "value": "90d"}}}
    ]})
}

#[test]
fn inactive_90_days_is_entered_at_the_exact_second_with_no_event() {
    for mut engine in engines() {
        for definition in d2c_computed() {
            engine.computed(definition);
        }
        let segment = engine.segment("inactive 90 days", winback());
        engine.identify("c-1001", json!({"email": "ana@example.com"}));
        engine.track(
            "c-1001",
            "Order Completed",
            json!({"order_id": "o-1", "revenue": 84.0}),
        );
        engine.process();
        engine.at(T0.plus_millis(10 * DAY));
        engine.track("c-1001", "Product Viewed", json!({"product_id": "serum"}));
        engine.process();
        assert!(!engine.is_member("c-1001", segment));

        // The order turns 90 days old first (one half of the condition flips, a check is
        // due then); she enters 90 days after her last site activity.
        let order_turns_90 = T0.plus_millis(90 * DAY);
        assert_eq!(
            engine.store.next_scheduled_check().unwrap(),
            Some(order_turns_90)
        );
        engine.at(order_turns_90);
        engine.process();
        assert!(!engine.is_member("c-1001", segment));
        let flip = T0.plus_millis(100 * DAY);
        assert_eq!(engine.store.next_scheduled_check().unwrap(), Some(flip));
        engine.at(flip.minus_millis(1000));
        engine.process();
        assert!(!engine.is_member("c-1001", segment), "one second early");
        engine.at(flip);
        engine.process();
        assert!(engine.is_member("c-1001", segment));
        let transitions = engine.transitions("c-1001");
        assert_eq!(transitions.len(), 1, "{transitions:?}");
        assert_eq!(
            (
                transitions[0].segment_id,
                transitions[0].entered,
                transitions[0].at
            ),
            (segment, true, flip)
        );

        // Coming back takes her out at once.
        engine.at(flip.plus_millis(DAY));
        engine.track("c-1001", "Product Viewed", json!({"product_id": "toner"}));
        engine.process();
        assert!(!engine.is_member("c-1001", segment));
        let last = engine.transitions("c-1001").pop().unwrap();
        assert_eq!((last.entered, last.at), (false, flip.plus_millis(DAY)));
    }
}

#[test]
fn a_refund_takes_a_vip_out() {
    for mut engine in engines() {
        for definition in d2c_computed() {
            engine.computed(definition);
        }
        let vip = engine.segment(
            "VIP",
            json!({"attribute": {"field": "lifetime_value", "operator": "gte", "value": 500}}),
        );
        engine.process();
        engine.identify("c-1001", json!({"first_name": "Ana"}));
        engine.track(
            "c-1001",
            "Order Completed",
            json!({"order_id": "o-1", "revenue": 300}),
        );
        engine.process();
        assert!(!engine.is_member("c-1001", vip));
        engine.at(T0.plus_millis(DAY));
        engine.track(
            "c-1001",
            "Order Completed",
            json!({"order_id": "o-2", "revenue": 220}),
        );
        engine.process();
        assert_eq!(
            engine.attribute("c-1001", "lifetime_value"),
            Some(json!(520))
        );
        assert_eq!(engine.attribute("c-1001", "order_count"), Some(json!(2)));
        assert!(engine.is_member("c-1001", vip));

        engine.at(T0.plus_millis(2 * DAY));
        engine.track(
            "c-1001",
            "Order Refunded",
            json!({"order_id": "o-2", "amount": 84}),
        );
        engine.process();
        assert_eq!(
            engine.attribute("c-1001", "lifetime_value"),
            Some(json!(436))
        );
        assert!(!engine.is_member("c-1001", vip));
        let moves: Vec<_> = engine
            .transitions("c-1001")
            .iter()
            .map(|t| (t.segment_id, t.entered, t.at))
            .collect();
        assert_eq!(
            moves,
            [
                (vip, true, T0.plus_millis(DAY)),
                (vip, false, T0.plus_millis(2 * DAY))
            ]
        );
    }
}

#[test]
fn identify_cannot_write_a_computed_attribute() {
    for mut engine in engines() {
        engine.computed(d2c_computed().remove(0));
        engine.process();
        engine.identify("c-1001", json!({"first_name": "Ana"}));
        engine.track(
            "c-1001",
            "Order Completed",
            json!({"order_id": "o-1", "revenue": 84}),
        );
        engine.process();
        let outcome = engine.identify(
            "c-1001",
            json!({"lifetime_value": 99999, "first_name": "Ana-Maria"}),
        );
        assert_eq!(outcome, Outcome::Applied, "the rest of the message applies");
        engine.process();
        assert_eq!(
            engine.attribute("c-1001", "lifetime_value"),
            Some(json!(84))
        );
        assert_eq!(
            engine.attribute("c-1001", "first_name"),
            Some(json!("Ana-Maria"))
        );
        let rejections = engine.store.rejections(engine.ws, None, 10).unwrap();
        assert_eq!(rejections.len(), 1);
        let refused = &rejections[0].rejection;
        assert_eq!(refused.field.as_deref(), Some("attributes.lifetime_value"));
        assert!(refused.reason.contains("computed"), "{}", refused.reason);
    }
}

#[test]
fn new_definitions_are_backfilled_over_existing_people_in_pages() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let config = ProcessorConfig {
            backfill_page: 7,
            ..ProcessorConfig::default()
        };
        let Some(mut engine) = Engine::start_with(backend, config) else {
            continue;
        };
        for n in 0..30 {
            let id = format!("p{n}");
            engine.identify(
                &id,
                json!({"plan": if n % 3 == 0 { "gold" } else { "free" }}),
            );
            for _ in 0..(n % 4) {
                engine.track(&id, "Order Completed", json!({"revenue": 10}));
            }
        }
        engine.process();
        let gold = engine.segment(
            "gold",
            json!({"attribute": {"field": "plan", "operator": "eq", "value": "gold"}}),
        );
        engine
            .computed(json!({"name": "orders", "aggregate": "count", "event": "Order Completed"}));
        let loyal = engine.segment(
            "loyal",
            json!({"attribute": {"field": "orders", "operator": "gte", "value": 3}}),
        );
        let before = engine
            .store
            .segment_definition(engine.ws, gold)
            .unwrap()
            .unwrap();
        assert!(!before.backfill.complete);
        assert_eq!(before.backfill.total, 30);
        engine.process();
        for (segment, expected) in [(gold, 10), (loyal, 7)] {
            let done = engine
                .store
                .segment_definition(engine.ws, segment)
                .unwrap()
                .unwrap();
            assert!(done.backfill.complete, "{done:?}");
            assert_eq!(done.backfill.done, 30);
            assert_eq!(
                engine
                    .store
                    .segment_member_count(engine.ws, segment)
                    .unwrap(),
                expected
            );
        }
        for n in 0..30 {
            let id = format!("p{n}");
            assert_eq!(engine.is_member(&id, gold), n % 3 == 0, "{id}");
            assert_eq!(engine.is_member(&id, loyal), n % 4 == 3, "{id}");
            assert_eq!(engine.attribute(&id, "orders"), Some(json!(n % 4)), "{id}");
        }
        assert!(
            engine.transitions("p0").is_empty(),
            "a segment created around people records no entries"
        );
        // After the backfill, changes are transitions again.
        engine.identify("p1", json!({"plan": "gold"}));
        engine.process();
        assert_eq!(engine.transitions("p1").len(), 1);
    }
}

#[test]
fn a_merge_recomputes_what_moved() {
    for mut engine in engines() {
        engine.computed(d2c_computed().remove(0));
        let vip = engine.segment(
            "VIP",
            json!({"attribute": {"field": "lifetime_value", "operator": "gte", "value": 500}}),
        );
        engine.identify("a", json!({}));
        engine.identify("b", json!({}));
        engine.track("a", "Order Completed", json!({"revenue": 300}));
        engine.track("b", "Order Completed", json!({"revenue": 250}));
        engine.process();
        assert!(!engine.is_member("a", vip) && !engine.is_member("b", vip));
        engine.submit(nudge_core::Operation::Merge {
            primary: common::person("a"),
            secondary: common::person("b"),
        });
        engine.process();
        assert_eq!(engine.attribute("a", "lifetime_value"), Some(json!(550)));
        assert!(engine.is_member("a", vip));
        assert_eq!(engine.key("b"), engine.key("a"));
    }
}

#[test]
fn an_edited_computed_attribute_never_folds_into_the_old_definition() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let config = ProcessorConfig {
            backfill_page: 2,
            ..ProcessorConfig::default()
        };
        let Some(mut engine) = Engine::start_with(backend, config) else {
            continue;
        };
        engine.computed(json!({"name": "orders", "aggregate": "sum", "event": "Order Completed", "value": "revenue"}));
        for n in 0..6 {
            engine.track(&format!("p{n}"), "Order Completed", json!({"revenue": 100}));
        }
        engine.process();
        assert_eq!(engine.attribute("p5", "orders"), Some(json!(100)));
        // Now a count; the last person orders again before the backfill reaches them.
        engine
            .computed(json!({"name": "orders", "aggregate": "count", "event": "Order Completed"}));
        engine.track("p5", "Order Completed", json!({"revenue": 100}));
        engine.processor.run_once().unwrap();
        // One round: the new event counted under the new definition at once, one backfill
        // page done, the rest still showing the old values until the backfill reaches them.
        assert_eq!(engine.attribute("p5", "orders"), Some(json!(2)));
        assert_eq!(engine.attribute("p4", "orders"), Some(json!(100)));
        engine.process();
        for n in 0..5 {
            assert_eq!(engine.attribute(&format!("p{n}"), "orders"), Some(json!(1)));
        }
        assert_eq!(engine.attribute("p5", "orders"), Some(json!(2)));
    }
}

#[test]
fn a_windowed_attribute_keeps_its_check_when_other_changes_move_segments() {
    for mut engine in engines() {
        engine.computed(json!({"name": "views_1d", "aggregate": "count",
            "event": "Product Viewed", "within": "1d"}));
        let gold = engine.segment(
            "gold",
            json!({"attribute": {"field": "plan", "operator": "eq", "value": "gold"}}),
        );
        engine.identify("c-1", json!({"plan": "free"}));
        engine.track("c-1", "Product Viewed", json!({"product_id": "serum"}));
        engine.process();
        assert_eq!(engine.attribute("c-1", "views_1d"), Some(json!(1)));

        // An identify that moves a segment, and reads nothing the windowed count reads.
        engine.at(T0.plus_millis(DAY / 2));
        engine.identify("c-1", json!({"plan": "gold"}));
        engine.process();
        assert!(engine.is_member("c-1", gold));
        assert_eq!(
            engine.store.next_scheduled_check().unwrap(),
            Some(T0.plus_millis(DAY)),
            "the view still leaves the window a day after it happened"
        );
        engine.at(T0.plus_millis(DAY));
        engine.process();
        assert_eq!(engine.attribute("c-1", "views_1d"), Some(json!(0)));
    }
}
