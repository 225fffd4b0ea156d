//! Sends, exit rules and the conversion goal: skip_if, exit conditions checked before a send
//! and on timers, exit events (converted when they are also the goal), and conversions
//! credited once per message, also after the instance finished.

mod support;

use nudge_journeys::{start, Effect, Input, Instance, Journey};
use serde_json::json;
use support::effects::{converted, exited, reached, send, skipped};
use support::*;

const SMS_THEN_EMAIL: &str = r#"
id: c
name: Cart
trigger: {event: Added to Cart}
exit:
  - event: Order Completed
    match: [cart_id]
    reason: purchased
  - conditions: {attribute: {field: unsubscribed, operator: eq, value: true}}
    reason: unsubscribed
goal: {event: Order Completed, within: 1d}
steps:
  - id: sms
    send: {channel: sms, template: s}
    skip_if: {attribute: {field: accepts_sms, operator: eq, value: false}}
  - id: wait
    delay: 1h
  - id: email
    send: {channel: email, template: e}
"#;

fn entered(j: &Journey, facts: &Facts) -> nudge_journeys::Outcome {
    let t0 = day("10:02");
    let fresh = start(
        j,
        1,
        trigger("Added to Cart", t0, json!({"cart_id": "cart-1"}), 7),
        "cart-1".into(),
        t0,
    );
    feed(j, &fresh, Input::Enter, t0, facts)
}

fn sms_id() -> String {
    format!("c:1:7:{}:sms:1:cart-1", day("10:02").millis())
}

#[test]
fn skip_if_skips_the_send_and_goes_on() {
    let j = journey(SMS_THEN_EMAIL);
    let out = entered(&j, &Facts::with(json!({"accepts_sms": false})));
    assert_eq!(
        out.effects,
        vec![
            Effect::Entered,
            reached("sms"),
            skipped("sms", "skip_condition"),
            reached("wait")
        ]
    );
    assert_eq!(
        state(&out.instance),
        waiting("wait", day("10:02"), day("11:02"), 2)
    );
    assert_eq!(out.instance.last_message, None);
    assert_eq!(out.instance.goal_until, None);
}

#[test]
fn a_send_opens_the_conversion_window() {
    let j = journey(SMS_THEN_EMAIL);
    let out = entered(&j, &Facts::with(json!({"accepts_sms": true})));
    assert_eq!(
        out.effects,
        vec![
            Effect::Entered,
            reached("sms"),
            send("sms", "sms", "s", &sms_id()),
            reached("wait")
        ]
    );
    assert_eq!(out.instance.goal_until, Some(at("2026-03-03T10:02:00Z")));
}

#[test]
fn an_exit_event_that_is_also_the_goal_converts_and_exits_converted() {
    let j = journey(SMS_THEN_EMAIL);
    let facts = Facts::with(json!({"accepts_sms": true}));
    let waiting_now = entered(&j, &facts).instance;
    let order = map(json!({"cart_id": "cart-1", "revenue": 84.0}));
    let out = feed(
        &j,
        &waiting_now,
        event("Order Completed", day("10:12"), &order, 8),
        day("10:12"),
        &facts,
    );
    assert_eq!(
        out.effects,
        vec![converted("sms", &sms_id()), exited("converted")]
    );
    assert_eq!(
        state(&out.instance),
        finished("converted", day("10:12"), day("10:02"), 2)
    );
    // The window is spent: the instance is no longer watched.
    assert!(!out.instance.watching(day("10:13")));
}

#[test]
fn an_order_of_another_cart_converts_once_but_does_not_exit() {
    let j = journey(SMS_THEN_EMAIL);
    let facts = Facts::with(json!({"accepts_sms": true}));
    let before = entered(&j, &facts).instance;
    let other = map(json!({"cart_id": "cart-9"}));
    let first = feed(
        &j,
        &before,
        event("Order Completed", day("10:12"), &other, 8),
        day("10:12"),
        &facts,
    );
    assert_eq!(first.effects, vec![converted("sms", &sms_id())]);
    assert_eq!(state(&first.instance), state(&before));
    let second = feed(
        &j,
        &first.instance,
        event("Order Completed", day("10:20"), &other, 9),
        day("10:20"),
        &facts,
    );
    assert_eq!(second.effects, vec![], "once per message");
}

#[test]
fn an_exit_event_without_a_message_exits_with_the_rule_reason_or_converted() {
    // No goal: the rule's own reason.
    let no_goal =
        journey(&SMS_THEN_EMAIL.replace("goal: {event: Order Completed, within: 1d}\n", ""));
    let facts = Facts::with(json!({"accepts_sms": false}));
    let before = entered(&no_goal, &facts).instance;
    let order = map(json!({"cart_id": "cart-1"}));
    let out = feed(
        &no_goal,
        &before,
        event("Order Completed", day("10:12"), &order, 8),
        day("10:12"),
        &facts,
    );
    assert_eq!(out.effects, vec![exited("purchased")]);
    // With the goal but nothing sent yet: converted, with nothing to credit.
    let j = journey(SMS_THEN_EMAIL);
    let before = entered(&j, &facts).instance;
    let out = feed(
        &j,
        &before,
        event("Order Completed", day("10:12"), &order, 8),
        day("10:12"),
        &facts,
    );
    assert_eq!(out.effects, vec![exited("converted")]);
}

#[test]
fn exit_conditions_are_checked_before_a_send_and_when_a_timer_fires() {
    let j = journey(SMS_THEN_EMAIL);
    let gone = Facts::with(json!({"accepts_sms": true, "unsubscribed": true}));
    let out = entered(&j, &gone);
    assert_eq!(
        out.effects,
        vec![Effect::Entered, reached("sms"), exited("unsubscribed")]
    );
    assert_eq!(
        state(&out.instance),
        finished("unsubscribed", day("10:02"), day("10:02"), 1)
    );

    let subscribed = Facts::with(json!({"accepts_sms": true}));
    let waiting_now = entered(&j, &subscribed).instance;
    let out = feed(
        &j,
        &waiting_now,
        Input::Wake { due: day("11:02") },
        day("11:02"),
        &gone,
    );
    assert_eq!(out.effects, vec![exited("unsubscribed")]);
    let out = feed(&j, &waiting_now, Input::Recheck, day("10:30"), &gone);
    assert_eq!(out.effects, vec![exited("unsubscribed")]);
    assert_eq!(
        state(&out.instance),
        finished("unsubscribed", day("10:30"), day("10:02"), 2)
    );
}

#[test]
fn a_finished_instance_only_converts_while_its_window_is_open() {
    let j = journey(SMS_THEN_EMAIL);
    let facts = Facts::with(json!({"accepts_sms": false}));
    let waiting_now = entered(&j, &facts).instance;
    let done = feed(
        &j,
        &waiting_now,
        Input::Wake { due: day("11:02") },
        day("11:02"),
        &facts,
    );
    let email_id = format!("c:1:7:{}:email:3:cart-1", day("10:02").millis());
    assert_eq!(
        done.effects,
        vec![
            reached("email"),
            send("email", "email", "e", &email_id),
            exited("completed")
        ]
    );
    let finished_instance: Instance = done.instance;
    assert!(finished_instance.watching(day("12:00")));
    assert!(!finished_instance.watching(at("2026-03-03T11:02:00Z")));

    // Timers, rechecks and retriggers do nothing to it.
    let quiet = [
        feed(
            &j,
            &finished_instance,
            Input::Wake { due: day("11:02") },
            day("12:00"),
            &facts,
        ),
        feed(&j, &finished_instance, Input::Recheck, day("12:00"), &facts),
        feed(
            &j,
            &finished_instance,
            Input::Retrigger(trigger(
                "Added to Cart",
                day("12:00"),
                json!({"cart_id": "cart-1"}),
                20,
            )),
            day("12:00"),
            &facts,
        ),
    ];
    for out in quiet {
        assert_eq!(
            (out.effects, out.instance),
            (vec![], finished_instance.clone())
        );
    }
    // A non-goal event does nothing; the goal event converts, once.
    let viewed = map(json!({"product_id": "p-1"}));
    let out = feed(
        &j,
        &finished_instance,
        event("Product Viewed", day("12:00"), &viewed, 21),
        day("12:00"),
        &facts,
    );
    assert_eq!(out.effects, vec![]);
    let order = map(json!({"cart_id": "cart-1"}));
    let out = feed(
        &j,
        &out.instance,
        event("Order Completed", day("13:00"), &order, 22),
        day("13:00"),
        &facts,
    );
    assert_eq!(out.effects, vec![converted("email", &email_id)]);
    let again = feed(
        &j,
        &out.instance,
        event("Order Completed", day("13:05"), &order, 23),
        day("13:05"),
        &facts,
    );
    assert_eq!(again.effects, vec![]);
    // After the window, nothing.
    let late = feed(
        &j,
        &finished_instance,
        event("Order Completed", at("2026-03-03T12:00:00Z"), &order, 22),
        at("2026-03-03T12:00:00Z"),
        &facts,
    );
    assert_eq!(late.effects, vec![]);
}
