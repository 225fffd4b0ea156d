//! `delay_until` with a computed offset (`{days: "<Liquid>"}`): the number rendered from a
//! template's variables moves the wait, decimals and negative numbers included; an undefined
//! variable or a result that is not a number skips the wait (`no_time`); a restart renders it
//! again with the new trigger data; and a document whose offset cannot work is refused with
//! the unit's pointer. Expected times are worked out by hand.

mod support;

use nudge_journeys::{parse_journey, start, Effect, Input, Instance, Journey, Outcome};
use serde_json::{json, Value};
use support::effects::{exited, reached, send, skipped};
use support::*;

/// Runs out `servings / per_day` days after the order (fractions kept).
const RUNS_OUT: &str = r#"
id: replenish
name: Replenishment
trigger: {event: Order Completed}
steps:
  - id: runs-out
    delay_until:
      time: trigger.timestamp
      offset:
        days: "{{ event.servings | times: 1.0 | divided_by: event.per_day }}"
  - id: email
    send: {channel: email, template: replenish}
"#;

/// 2026-03-02T11:00Z, the order.
fn ordered() -> nudge_journeys::Timestamp {
    day("11:00")
}

fn order(data: Value, offset: i64) -> nudge_journeys::TriggerData {
    trigger("Order Completed", ordered(), data, offset)
}

fn enter(j: &Journey, data: Value, facts: &Facts) -> Outcome {
    let fresh = start(j, 1, order(data, 5), String::new(), ordered());
    feed(j, &fresh, Input::Enter, ordered(), facts)
}

/// The instance waits at `runs-out` from the order until `wake`.
fn waits_until(outcome: &Outcome, wake: &str) {
    assert_eq!(
        outcome.effects,
        vec![Effect::Entered, reached("runs-out")],
        "entered and waiting"
    );
    assert_eq!(
        state(&outcome.instance),
        waiting("runs-out", ordered(), at(wake), 1)
    );
}

fn email_id(instance: &Instance, visit: u32) -> String {
    format!(
        "replenish:1:{}:{}:email:{visit}:",
        instance.trigger.offset,
        instance.trigger.timestamp.millis()
    )
}

#[test]
fn the_offset_is_rendered_from_the_trigger_event_and_the_wait_ends_on_time() {
    let j = journey(RUNS_OUT);
    let facts = Facts::default();
    let entered = enter(&j, json!({"servings": 60, "per_day": 2}), &facts);
    waits_until(&entered, "2026-04-01T11:00:00Z");

    let due = at("2026-04-01T11:00:00Z");
    let woke = feed(&j, &entered.instance, Input::Wake { due }, due, &facts);
    assert_eq!(
        woke.effects,
        vec![
            reached("email"),
            send(
                "email",
                "email",
                "replenish",
                &email_id(&entered.instance, 2)
            ),
            exited("completed")
        ]
    );
}

#[test]
fn decimals_count_to_the_millisecond_in_every_unit() {
    let j = journey(RUNS_OUT);
    // 45 servings, 2 a day: 22.5 days, so 22 days and 12 hours after 11:00.
    let entered = enter(&j, json!({"servings": 45, "per_day": 2}), &Facts::default());
    waits_until(&entered, "2026-03-24T23:00:00Z");

    for (unit, number, wake) in [
        ("hours", "0.25", "2026-03-02T11:15:00Z"),
        ("minutes", "1.5", "2026-03-02T11:01:30Z"),
        ("minutes", "0.0004", "2026-03-02T11:00:00.024Z"),
        ("days", " 2 ", "2026-03-04T11:00:00Z"),
    ] {
        let yaml = RUNS_OUT.replace(
            r#"days: "{{ event.servings | times: 1.0 | divided_by: event.per_day }}""#,
            &format!(r#"{unit}: "{{{{ event.n }}}}""#),
        );
        let j = journey(&yaml);
        let entered = enter(&j, json!({"n": number}), &Facts::default());
        waits_until(&entered, wake);
    }
}

#[test]
fn a_negative_offset_is_before_the_time_it_reads() {
    let j = journey(
        r#"
id: renewal
name: Renewal
trigger: {event: Subscribed}
steps:
  - id: runs-out
    delay_until:
      time: attribute.renews_at
      offset:
        days: "-{{ customer.notice_days }}"
  - id: email
    send: {channel: email, template: renewal}
"#,
    );
    let facts = Facts::with(json!({"renews_at": "2026-03-20T09:00:00Z", "notice_days": 3}));
    let entered = enter(&j, json!({}), &facts);
    assert_eq!(
        state(&entered.instance),
        waiting("runs-out", ordered(), at("2026-03-17T09:00:00Z"), 1)
    );
    // Liquid arithmetic gives negative numbers too; a moment already past goes on at once.
    let yaml = r#"
id: renewal
name: Renewal
trigger: {event: Subscribed}
steps:
  - id: runs-out
    delay_until:
      time: attribute.renews_at
      offset:
        hours: "{{ 0 | minus: customer.notice_days | times: 24 | minus: 0.5 }}"
  - id: email
    send: {channel: email, template: renewal}
"#;
    let j = journey(yaml);
    let entered = enter(&j, json!({}), &facts);
    assert_eq!(
        state(&entered.instance),
        waiting("runs-out", ordered(), at("2026-03-17T08:30:00Z"), 1)
    );
    let past = Facts::with(json!({"renews_at": "2026-03-04T09:00:00Z", "notice_days": 3}));
    let passed = enter(&j, json!({}), &past);
    assert_eq!(
        passed.effects,
        vec![
            Effect::Entered,
            reached("runs-out"),
            reached("email"),
            send(
                "email",
                "email",
                "renewal",
                &email_id_of("renewal", &passed)
            ),
            exited("completed")
        ]
    );
}

fn email_id_of(journey: &str, outcome: &Outcome) -> String {
    let trigger = &outcome.instance.trigger;
    format!(
        "{journey}:1:{}:{}:email:2:",
        trigger.offset,
        trigger.timestamp.millis()
    )
}

#[test]
fn an_undefined_variable_or_a_result_that_is_not_a_number_skips_the_wait() {
    let j = journey(RUNS_OUT);
    for data in [
        json!({"servings": 60}),
        json!({"servings": 60, "per_day": null}),
        json!({"per_day": 2}),
        json!({"servings": "sixty", "per_day": 2}),
        json!({"servings": 60, "per_day": "two"}),
    ] {
        let outcome = enter(&j, data.clone(), &Facts::default());
        assert_eq!(
            outcome.effects,
            vec![
                Effect::Entered,
                reached("runs-out"),
                skipped("runs-out", "no_time"),
                reached("email"),
                send(
                    "email",
                    "email",
                    "replenish",
                    &email_id_of("replenish", &outcome)
                ),
                exited("completed")
            ],
            "{data}"
        );
        assert_eq!(
            state(&outcome.instance),
            finished("completed", ordered(), ordered(), 2),
            "{data}"
        );
    }
    let text = RUNS_OUT.replace(
        r#""{{ event.servings | times: 1.0 | divided_by: event.per_day }}""#,
        r#""{{ event.when }}""#,
    );
    let j = journey(&text);
    for when in [json!("soon"), json!(""), json!("3 days"), json!(true)] {
        let outcome = enter(&j, json!({"when": when}), &Facts::default());
        assert!(
            outcome.effects.contains(&skipped("runs-out", "no_time")),
            "{when}: {:?}",
            outcome.effects
        );
    }
}

#[test]
fn the_offset_sees_the_variables_a_template_sees() {
    let j = journey(
        r#"
id: replenish
name: Replenishment
trigger: {event: Order Completed}
steps:
  - id: runs-out
    delay_until:
      time: trigger.timestamp
      offset:
        hours: "{% if journey.id == 'replenish' and journey.name == 'Replenishment' and journey.step == 'runs-out' and event_name == 'Order Completed' %}{{ customer.lead_hours | plus: event_timestamp | minus: event_timestamp }}{% endif %}"
  - id: email
    send: {channel: email, template: replenish}
"#,
    );
    let entered = enter(&j, json!({}), &Facts::with(json!({"lead_hours": 5})));
    waits_until(&entered, "2026-03-02T16:00:00Z");

    // A journey no event starts reads its trigger data as `trigger.*`.
    let broadcast = journey(
        r#"
id: replenish
name: Replenishment
trigger: {broadcast: true}
steps:
  - id: runs-out
    delay_until:
      time: trigger.timestamp
      offset: {days: "{{ trigger.days }}"}
  - id: email
    send: {channel: email, template: replenish}
"#,
    );
    let data = nudge_journeys::TriggerData {
        event: None,
        timestamp: ordered(),
        data: map(json!({"days": 2})),
        offset: 5,
    };
    let fresh = start(&broadcast, 1, data, String::new(), ordered());
    let entered = feed(
        &broadcast,
        &fresh,
        Input::Enter,
        ordered(),
        &Facts::default(),
    );
    waits_until(&entered, "2026-03-04T11:00:00Z");
}

#[test]
fn a_restart_renders_the_offset_again_with_the_new_trigger_data() {
    let j = journey(RUNS_OUT);
    let facts = Facts::default();
    let entered = enter(&j, json!({"servings": 60, "per_day": 2}), &facts);
    waits_until(&entered, "2026-04-01T11:00:00Z");

    // A new order on 10 March at 09:00: 90 servings, 3 a day, 30 days from then.
    let reordered = at("2026-03-10T09:00:00Z");
    let again = trigger(
        "Order Completed",
        reordered,
        json!({"servings": 90, "per_day": 3}),
        9,
    );
    let restarted = feed(
        &j,
        &entered.instance,
        Input::Retrigger(again.clone()),
        reordered,
        &facts,
    );
    assert_eq!(restarted.effects, vec![]);
    assert_eq!(
        state(&restarted.instance),
        waiting("runs-out", reordered, at("2026-04-09T09:00:00Z"), 1)
    );

    // New data the offset cannot read: the wait is skipped at once.
    let unreadable = trigger("Order Completed", reordered, json!({"servings": 90}), 9);
    let skipped_now = feed(
        &j,
        &entered.instance,
        Input::Retrigger(unreadable),
        reordered,
        &facts,
    );
    assert_eq!(
        skipped_now.effects,
        vec![
            skipped("runs-out", "no_time"),
            reached("email"),
            send(
                "email",
                "email",
                "replenish",
                &email_id(&skipped_now.instance, 2)
            ),
            exited("completed")
        ]
    );

    // `update` takes the new data but keeps the wait as it was.
    let update = journey(&RUNS_OUT.replace(
        "trigger: {event: Order Completed}",
        "trigger: {event: Order Completed}\nentry: {on_retrigger: update}",
    ));
    let entered = enter(&update, json!({"servings": 60, "per_day": 2}), &facts);
    let updated = feed(
        &update,
        &entered.instance,
        Input::Retrigger(again),
        reordered,
        &facts,
    );
    assert_eq!(
        state(&updated.instance),
        waiting("runs-out", ordered(), at("2026-04-01T11:00:00Z"), 1)
    );
    assert_eq!(updated.instance.trigger.data["servings"], json!(90));
}

/// Asserts the YAML journey is refused at `pointer`, saying `says`.
fn refused(yaml: &str, pointer: &str, says: &str) {
    let value: Value = serde_norway::from_str(yaml).expect("test YAML parses");
    let error = parse_journey(&value).expect_err("the journey is refused");
    assert_eq!(error.pointer, pointer, "{error}");
    assert!(
        error.message.contains(says),
        "'{error}' should say '{says}'"
    );
}

/// An event-triggered journey whose second step is a `delay_until` with this offset.
fn with_offset(trigger: &str, offset: &str) -> String {
    format!(
        r#"
id: j
name: J
trigger: {trigger}
steps:
  - id: first
    delay: 1h
  - id: wait
    delay_until:
      time: trigger.timestamp
      offset: {offset}
"#
    )
}

#[test]
fn an_offset_that_cannot_work_is_refused_with_the_unit_pointer() {
    let event = "{event: Order Completed}";
    let at_days = "/steps/1/delay_until/offset/days";
    let at_offset = "/steps/1/delay_until/offset";
    for (trigger, offset, pointer, says) in [
        (
            event,
            r#"{days: "{{ event.servings | divided_by: }}"}"#,
            at_days,
            "line 1",
        ),
        (event, r#"{days: "{% if %}1"}"#, at_days, "line 1"),
        (event, r#"{days: "{% include 'x' %}"}"#, at_days, "include"),
        (
            event,
            r#"{weeks: "{{ event.n }}"}"#,
            "/steps/1/delay_until/offset/weeks",
            "minutes, hours or days",
        ),
        (
            event,
            r#"{days: "{{ event.n }}", hours: "1"}"#,
            at_offset,
            "one unit",
        ),
        (event, "{}", at_offset, "one unit"),
        (event, "{days: 30}", at_days, "Liquid text"),
        (event, r#"{days: " "}"#, at_days, "Liquid text"),
        (event, "5", at_offset, "an offset is a duration"),
        (event, "6 h", at_offset, "an offset is a duration"),
        (
            "{broadcast: true}",
            r#"{days: "{{ event.n }}"}"#,
            at_days,
            "the offset reads event.n, but no event starts this journey",
        ),
        (
            event,
            r#"{days: "{{ trigger.n }}"}"#,
            at_days,
            "the offset reads trigger.n, but an event starts this journey: its data is under event",
        ),
        (
            event,
            r#"{days: "{{ order.n }}"}"#,
            at_days,
            "the offset reads order.n, but there is no such variable",
        ),
        (
            event,
            r#"{days: "{{ journey.message_id | size }}"}"#,
            at_days,
            "a wait sends no message",
        ),
    ] {
        refused(&with_offset(trigger, offset), pointer, says);
    }
}

#[test]
fn what_is_read_is_kept_and_compared_by_its_text() {
    let offset = r#"{days: "{{ event.n | default: 3 }}{{ customer.x | default: '' }}"}"#;
    let yaml = with_offset("{event: Order Completed}", offset);
    let (first, second) = (journey(&yaml), journey(&yaml));
    assert_eq!(first.steps, second.steps);
    let other = journey(&with_offset(
        "{event: Order Completed}",
        r#"{hours: "{{ event.n | default: 3 }}{{ customer.x | default: '' }}"}"#,
    ));
    assert_ne!(first.steps, other.steps, "another unit is another offset");
    let nudge_journeys::StepKind::DelayUntil {
        offset: nudge_journeys::Offset::Computed(computed),
        ..
    } = &first.steps[1].kind
    else {
        panic!("a computed offset: {:?}", first.steps[1]);
    };
    assert_eq!(computed.unit(), nudge_journeys::OffsetUnit::Days);
    assert_eq!(
        computed.source(),
        "{{ event.n | default: 3 }}{{ customer.x | default: '' }}"
    );
    assert_eq!(
        computed.variables(),
        Vec::<String>::new(),
        "defaults excuse"
    );
    // `default` also excuses a message id the wait never has.
    journey(&with_offset(
        "{event: Order Completed}",
        r#"{days: "{{ journey.message_id | default: 1 }}"}"#,
    ));
}
