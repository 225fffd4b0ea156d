//! One event that both ends a journey's instance (an exit rule) and starts the same journey
//! again with the same instance key: the old instance exits and a new one starts, in the same
//! transaction, without breaking the one-live-instance-per-key rule (the replenishment journey:
//! a reorder ends the running reminder and starts the next one).

mod common;

use common::{Backend, Engine, T0};
use nudge_store::DocumentKind;
use serde_json::json;

const JOURNEY: &str = "id: reorder\nname: Reorder\ntrigger: {event: Ordered}\n\
    exit:\n  - {event: Ordered, reason: reordered}\n\
    steps:\n  - {id: wait, delay: 30d}\n  - {id: mail, send: {channel: email, template: remind}}\n";

const TEMPLATE: &str = "id: remind\nchannel: email\nsubject: Time to reorder\nbody: reorder now\n";

fn reentered(backend: Backend) {
    let Some(mut engine) = Engine::start(backend) else {
        return;
    };
    engine.document(DocumentKind::Template, TEMPLATE);
    engine.document(DocumentKind::Journey, JOURNEY);
    engine.identify("ana", json!({"email": "ana@example.com"}));
    engine.track("ana", "Ordered", json!({"order_id": "o-1"}));
    engine.advance_to(T0.plus_millis(86_400_000));
    engine.track("ana", "Ordered", json!({"order_id": "o-2"}));
    engine.advance_to(T0.plus_millis(2 * 86_400_000));
    let kinds: Vec<(String, Option<String>)> = engine
        .journey_events()
        .into_iter()
        .filter(|e| e.kind == "entered" || e.kind == "exited")
        .map(|e| (e.kind, e.reason))
        .collect();
    assert_eq!(
        kinds,
        [
            ("entered".to_string(), None),
            ("exited".to_string(), Some("reordered".to_string())),
            ("entered".to_string(), None),
        ]
    );
}

#[test]
fn a_reorder_ends_the_running_instance_and_starts_the_next_on_sqlite() {
    reentered(Backend::Sqlite);
}

#[test]
fn a_reorder_ends_the_running_instance_and_starts_the_next_on_postgres() {
    reentered(Backend::Postgres);
}
