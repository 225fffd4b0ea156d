//! What the processor writes of a person's journey instances, read back from the store: an
//! event no running instance's version reacts to leaves their rows as they were (state and
//! seen offset included), while an edit that moves an instance onto a version that reacts
//! still hands it the event; a new instance is stored in the state its first steps leave it
//! in, after what applying their effects changed (a send that could not go out keeps no goal
//! window); and when a journey's attribute update merges away someone later in the same
//! batch, that person is not run from what was read of them before.

mod common;

use common::{Backend, Engine};
use nudge_core::{EventKind, EventRecord, Identifier, IdentifierKind, Operation};
use nudge_store::{DocumentKind, InstanceRow};
use serde_json::json;

const TEMPLATE: &str = "id: mail\nchannel: email\nsubject: Hello\nbody: hello\n";

/// Waits 30 minutes, then sends; an order ends it.
const CART: &str = "id: cart\nname: Cart\ntrigger: {event: Added to Cart}\n\
    exit:\n  - {event: Order Completed, reason: ordered}\n\
    steps:\n  - {id: wait, delay: 30m}\n  - {id: mail, send: {channel: email, template: mail}}\n";

/// Sends at once and completes.
const CODE: &str = "id: code\nname: Code\ntrigger: {event: Sign-in Code Requested}\n\
    steps:\n  - {id: mail, send: {channel: email, template: mail}}\n";

/// The cart journey before an exit rule existed, and an edit that adds it and moves running
/// instances over.
const REMINDER_V1: &str = "id: reminder\nname: Reminder\ntrigger: {event: Viewed}\n\
    steps:\n  - {id: wait, delay: 1h}\n  - {id: mail, send: {channel: email, template: mail}}\n";
const REMINDER_V2: &str = "id: reminder\nname: Reminder\ntrigger: {event: Viewed}\n\
    migrate: {by_step_id: true}\n\
    exit:\n  - {event: Order Completed, reason: ordered}\n\
    steps:\n  - {id: wait, delay: 1h}\n  - {id: mail, send: {channel: email, template: mail}}\n";

/// Sends at once, then credits orders within a day of the message.
const WELCOME: &str = "id: welcome\nname: Welcome\ntrigger: {event: Signed Up}\n\
    goal: {event: Order Completed, within: 1d}\n\
    steps:\n  - {id: mail, send: {channel: email, template: mail}}\n";

/// Gives the person an email: the email-only profile with that address merges into theirs.
const CLAIM: &str = "id: claim\nname: Claim\ntrigger: {event: Claimed}\n\
    steps:\n  - {id: take, update: {attributes: {email: bo@example.com}}}\n";

/// Waits an hour, then sends.
const VIEWED: &str = "id: viewed\nname: Viewed\ntrigger: {event: Viewed}\n\
    steps:\n  - {id: wait, delay: 1h}\n  - {id: mail, send: {channel: email, template: mail}}\n";

fn engine(backend: Backend, journeys: &[&str]) -> Option<Engine> {
    let engine = Engine::start(backend)?;
    engine.document(DocumentKind::Template, TEMPLATE);
    for journey in journeys {
        engine.document(DocumentKind::Journey, journey);
    }
    Some(engine)
}

/// Ana's only instance of `journey`.
fn instance(engine: &Engine, journey: &str) -> InstanceRow {
    let mut rows: Vec<InstanceRow> = engine
        .store
        .person_instances_view(engine.ws, engine.key("ana"))
        .unwrap()
        .into_iter()
        .filter(|row| row.journey == journey)
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.pop().unwrap()
}

fn kinds(engine: &Engine, journey: &str) -> Vec<String> {
    engine
        .journey_events()
        .into_iter()
        .filter(|e| e.journey == journey)
        .map(|e| e.kind)
        .collect()
}

#[test]
fn an_event_no_version_reacts_to_leaves_running_instances_as_they_were() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(mut engine) = engine(backend, &[CART, CODE]) else {
            continue;
        };
        engine.identify("ana", json!({"email": "ana@example.com"}));
        engine.track("ana", "Added to Cart", json!({}));
        engine.process();
        let waiting = instance(&engine, "cart");
        assert!(waiting.active);

        // The code journey starts and sends; the cart's instance has nothing to do with it.
        engine.track("ana", "Sign-in Code Requested", json!({}));
        engine.process();
        assert_eq!(
            kinds(&engine, "code").last().map(String::as_str),
            Some("exited")
        );
        assert_eq!(
            instance(&engine, "cart"),
            waiting,
            "{backend:?}: not rewritten, its seen offset included"
        );

        // An order is what it reacts to.
        engine.track("ana", "Order Completed", json!({}));
        engine.process();
        let ordered = instance(&engine, "cart");
        assert!(!ordered.active, "{backend:?}: {ordered:?}");
        assert_ne!(ordered.state["seen_offset"], waiting.state["seen_offset"]);
        assert_eq!(
            kinds(&engine, "cart").last().map(String::as_str),
            Some("exited")
        );
    }
}

#[test]
fn an_edit_that_moves_an_instance_onto_a_reacting_version_still_hands_it_the_event() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(mut engine) = engine(backend, &[REMINDER_V1]) else {
            continue;
        };
        engine.identify("ana", json!({"email": "ana@example.com"}));
        engine.track("ana", "Viewed", json!({}));
        engine.process();
        assert!(instance(&engine, "reminder").active);

        // Version 1 names no order; version 2 exits on one and takes running instances.
        engine.document(DocumentKind::Journey, REMINDER_V2);
        engine.track("ana", "Order Completed", json!({}));
        engine.process();
        let moved = instance(&engine, "reminder");
        assert_eq!(moved.version, 2, "{backend:?}");
        assert!(!moved.active, "{backend:?}: the order ends it");
        assert_eq!(
            kinds(&engine, "reminder"),
            ["entered", "step_reached", "migrated", "exited"],
            "{backend:?}"
        );
    }
}

#[test]
fn a_new_instance_is_stored_as_its_first_steps_and_their_effects_left_it() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(mut engine) = engine(backend, &[WELCOME]) else {
            continue;
        };
        // Ana has an email, Bo has none: her message goes out, his is skipped.
        engine.identify("ana", json!({"email": "ana@example.com"}));
        engine.track("ana", "Signed Up", json!({}));
        engine.identify("bo", json!({"first_name": "Bo"}));
        engine.track("bo", "Signed Up", json!({}));
        engine.process();

        let sent = instance(&engine, "welcome");
        assert!(!sent.active, "{backend:?}: one send, then it completes");
        assert!(sent.watch_until.is_some(), "{backend:?}: the goal's window");
        assert!(sent.state["last_message"].is_object(), "{sent:?}");

        let skipped: Vec<InstanceRow> = engine
            .store
            .person_instances_view(engine.ws, engine.key("bo"))
            .unwrap();
        assert_eq!(skipped.len(), 1);
        let skipped = &skipped[0];
        assert!(!skipped.active);
        assert_eq!(
            skipped.watch_until, None,
            "{backend:?}: nothing went out, so no conversion can be credited"
        );
        assert!(skipped.state["last_message"].is_null(), "{skipped:?}");
        assert!(skipped.state["goal_until"].is_null(), "{skipped:?}");
    }
}

#[test]
fn someone_a_journey_merges_away_in_a_batch_is_not_run_from_an_earlier_read() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(mut engine) = engine(backend, &[CLAIM, VIEWED]) else {
            continue;
        };
        let bo = Identifier::new(IdentifierKind::Email, "bo@example.com").unwrap();
        // Ana first (an id, no email), so she is run first; Bo has only an email.
        engine.identify("ana", json!({"first_name": "Ana"}));
        engine.submit(Operation::Identify {
            person: bo.clone(),
            attributes: json!({"first_name": "Bo"}).as_object().unwrap().clone(),
            update_only: false,
            timestamp: None,
        });
        engine.process();
        let bo_key = engine.store.resolve(engine.ws, &bo).unwrap().unwrap();
        assert!(engine.key("ana") < bo_key);

        // One batch: Ana's claim merges Bo into her before Bo's view is run.
        engine.track("ana", "Claimed", json!({}));
        engine.submit(Operation::Track {
            person: bo.clone(),
            event: EventRecord {
                kind: EventKind::Event,
                name: "Viewed".into(),
                id: None,
                timestamp: None,
                data: json!({}).as_object().unwrap().clone(),
            },
        });
        engine.process();
        assert_eq!(
            engine.store.resolve(engine.ws, &bo).unwrap(),
            Some(engine.key("ana")),
            "{backend:?}: Bo's address is Ana's now"
        );
        assert!(
            engine
                .store
                .person_instances_view(engine.ws, bo_key)
                .unwrap()
                .is_empty(),
            "{backend:?}: nothing runs for Bo, who is gone"
        );
    }
}
