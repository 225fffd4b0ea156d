//! Journeys through the real writer, store and processor on a virtual clock: an edited
//! journey moves running instances only when it says so (and keeps their timers); an exit
//! event the writer acknowledged wins over a timer even before the log processor reaches it;
//! and a property test over random cart and order streams: no message is ever recorded after
//! an order the instance could have seen, and never two live instances for one cart.

mod common;

use common::{Backend, Engine, T0};
use nudge_core::Timestamp;
use nudge_store::DocumentKind;
use proptest::prelude::*;
use serde_json::json;

const MINUTE: i64 = 60_000;

const TEMPLATES: [&str; 2] = [
    "id: first\nchannel: email\nsubject: First\nbody: first version\n",
    "id: second\nchannel: email\nsubject: Second\nbody: second version\n",
];

fn journey(template: &str, migrate: &str) -> String {
    format!(
        "id: nudge\nname: Nudge\ntrigger: {{event: Viewed}}\n{migrate}\
         steps:\n  - {{id: wait, delay: 1h}}\n  - {{id: mail, send: {{channel: email, template: {template}}}}}\n"
    )
}

fn sent_bodies(engine: &Engine) -> Vec<(Timestamp, String)> {
    engine
        .journey_events()
        .into_iter()
        .filter(|e| e.kind == "message_sent")
        .map(|e| {
            (
                e.at,
                e.detail["body"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn edited_while_waiting(migrate: &str) -> (Vec<(Timestamp, String)>, Vec<String>) {
    let mut engine = Engine::start(Backend::Sqlite).unwrap();
    for template in TEMPLATES {
        engine.document(DocumentKind::Template, template);
    }
    engine.document(DocumentKind::Journey, &journey("first", ""));
    engine.identify("ana", json!({"email": "ana@example.com"}));
    engine.track("ana", "Viewed", json!({}));
    engine.advance_to(T0.plus_millis(10 * MINUTE));
    engine.document(DocumentKind::Journey, &journey("second", migrate));
    engine.advance_to(T0.plus_millis(3 * 60 * MINUTE));
    let kinds = engine
        .journey_events()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    (sent_bodies(&engine), kinds)
}

#[test]
fn an_edit_moves_running_instances_only_when_it_says_so_and_keeps_their_timers() {
    let at = T0.plus_millis(60 * MINUTE);
    let (stayed, kinds) = edited_while_waiting("");
    assert_eq!(stayed, [(at, "first version".to_string())]);
    assert!(!kinds.contains(&"migrated".to_string()), "{kinds:?}");

    let (moved, kinds) = edited_while_waiting("migrate: {by_step_id: true}\n");
    assert_eq!(
        moved,
        [(at, "second version".to_string())],
        "same moment, new version"
    );
    assert!(kinds.contains(&"migrated".to_string()), "{kinds:?}");

    let (mapped, _) = edited_while_waiting("migrate: {steps: {wait: wait}}\n");
    assert_eq!(mapped, [(at, "second version".to_string())]);
}

#[test]
fn an_exit_event_acknowledged_before_a_timer_fires_wins_even_before_the_log_reaches_it() {
    let mut engine = Engine::start(Backend::Sqlite).unwrap();
    for template in TEMPLATES {
        engine.document(DocumentKind::Template, template);
    }
    engine.document(DocumentKind::Journey, CART);
    engine.identify("ana", json!({"email": "ana@example.com"}));
    engine.track("ana", "Added to Cart", json!({"cart_id": "c1"}));
    engine.advance_to(T0.plus_millis(29 * MINUTE));
    engine.at(T0.plus_millis(30 * MINUTE));
    // Acknowledged by the writer; the processor below never reads the log, so only the
    // timer's own check can see it.
    engine.track("ana", "Order Completed", json!({}));
    let timers_only = nudge_process::ProcessorConfig {
        log_batch: 0,
        ..nudge_process::ProcessorConfig::default()
    };
    let clock = std::sync::Arc::new(engine.clock.clone());
    let mut processor = nudge_process::Processor::new(engine.store.clone(), clock, timers_only);
    processor.run_until_idle().unwrap();
    let events = engine.journey_events();
    let kinds: Vec<(&str, Option<&str>)> = events
        .iter()
        .map(|e| (e.kind.as_str(), e.reason.as_deref()))
        .filter(|(kind, _)| *kind != "step_reached")
        .collect();
    assert_eq!(
        kinds,
        [("entered", None), ("exited", Some("converted"))],
        "the order ends it before the SMS"
    );
    assert_eq!(events.last().unwrap().at, T0.plus_millis(30 * MINUTE));
}

#[test]
fn a_first_journey_sees_events_sent_right_after_it_was_written_and_none_before() {
    let mut engine = Engine::start(Backend::Sqlite).unwrap();
    engine.identify("ana", json!({"email": "ana@example.com"}));
    engine.track("ana", "Viewed", json!({"n": 1}));
    engine.process();
    engine.at(T0.plus_millis(MINUTE));
    for template in TEMPLATES {
        engine.document(DocumentKind::Template, template);
    }
    engine.document(DocumentKind::Journey, &journey("first", ""));
    // Acknowledged before the running processor has noticed the journey.
    engine.at(T0.plus_millis(MINUTE + 1_000));
    engine.track("ana", "Viewed", json!({"n": 2}));
    engine.advance_to(T0.plus_millis(3 * 60 * MINUTE));
    let entered: Vec<Timestamp> = engine
        .journey_events()
        .into_iter()
        .filter(|e| e.kind == "entered")
        .map(|e| e.at)
        .collect();
    assert_eq!(
        entered,
        [T0.plus_millis(MINUTE + 1_000)],
        "the view after the journey was written enters, the one before does not"
    );
}

const CART: &str = "id: cart\nname: Cart\ntrigger: {event: Added to Cart}\n\
    entry: {key: cart_id, on_retrigger: restart}\n\
    exit:\n  - {event: Order Completed, reason: converted}\n\
    steps:\n  - {id: wait, delay: 30m}\n  - {id: sms, send: {channel: email, template: first}}\n\
    \x20 - {id: later, delay_until: {time: trigger.timestamp, offset: 6h}}\n\
    \x20 - {id: mail, send: {channel: email, template: second}}\n";

#[derive(Debug, Clone)]
enum Step {
    Cart(u8),
    Order,
    Wait(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..3).prop_map(Step::Cart),
        1 => Just(Step::Order),
        3 => (1i64..400).prop_map(Step::Wait),
    ]
}

fn check(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut engine = Engine::start(Backend::Sqlite).unwrap();
    for template in TEMPLATES {
        engine.document(DocumentKind::Template, template);
    }
    engine.document(DocumentKind::Journey, CART);
    engine.identify("ana", json!({"email": "ana@example.com"}));
    let mut now = T0;
    let mut orders: Vec<Timestamp> = Vec::new();
    for step in steps {
        // Every event at a moment of its own, so times alone order them.
        match step {
            Step::Cart(n) => {
                engine.track("ana", "Added to Cart", json!({"cart_id": format!("c{n}")}));
                now = now.plus_millis(1_000);
            }
            Step::Order => {
                engine.track("ana", "Order Completed", json!({}));
                orders.push(now);
                now = now.plus_millis(1_000);
            }
            Step::Wait(minutes) => now = now.plus_millis(minutes * MINUTE),
        }
        engine.advance_to(now);
        let instances = engine
            .store
            .person_instances_view(engine.ws, engine.key("ana"))
            .unwrap();
        let mut live: Vec<&str> = instances
            .iter()
            .filter(|i| i.active)
            .map(|i| i.key.as_str())
            .collect();
        let count = live.len();
        live.sort();
        live.dedup();
        prop_assert_eq!(live.len(), count, "two live instances for one cart");
    }
    engine.advance_to(now.plus_millis(24 * 60 * MINUTE));
    let events = engine.journey_events();
    for sent in events.iter().filter(|e| e.kind == "message_sent") {
        let entered = events
            .iter()
            .find(|e| e.instance == sent.instance && e.kind == "entered")
            .map(|e| e.at)
            .expect("a sent message's instance entered");
        // A send due at the very moment of an order went out before the order arrived.
        let after_order = orders.iter().any(|o| *o >= entered && *o < sent.at);
        prop_assert!(
            !after_order,
            "sent at {:?} after an order in {:?}",
            sent.at,
            orders
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn no_message_after_an_order_and_one_live_instance_per_cart(
        steps in proptest::collection::vec(step(), 1..24)
    ) {
        check(&steps)?;
    }
}
