//! `admit`: the age of the trigger, the key, a live instance with the same key, entry
//! conditions and frequency, in that order.

mod support;

use nudge_journeys::{admit, start, Admission, Context, Instance, Journey, Timestamp, TriggerData};
use serde_json::json;
use support::*;

fn cart_journey(entry: &str) -> Journey {
    journey(&format!(
        r#"
id: cart
name: Cart
trigger: {{event: Added to Cart}}
entry: {entry}
steps:
  - id: wait
    delay: 30m
"#
    ))
}

fn check(
    j: &Journey,
    trigger: &TriggerData,
    live: Option<&Instance>,
    last_entered: Option<Timestamp>,
    now: Timestamp,
    facts: &Facts,
    expected: Admission,
) {
    let ctx = Context { now, facts };
    assert_eq!(admit(j, trigger, live, last_entered, &ctx), expected);
}

fn refuse(reason: &str) -> Admission {
    Admission::Refuse {
        reason: reason.to_string(),
    }
}

#[test]
fn keys_are_text_and_a_missing_key_refuses() {
    let j = cart_journey("{key: cart_id}");
    let facts = Facts::default();
    let now = day("10:02");
    let with = |data| trigger("Added to Cart", now, data, 1);
    let start_with = |key: &str| Admission::Start { key: key.into() };
    check(
        &j,
        &with(json!({"cart_id": "cart-1"})),
        None,
        None,
        now,
        &facts,
        start_with("cart-1"),
    );
    check(
        &j,
        &with(json!({"cart_id": 1234})),
        None,
        None,
        now,
        &facts,
        start_with("1234"),
    );
    check(
        &j,
        &with(json!({"cart_id": false})),
        None,
        None,
        now,
        &facts,
        start_with("false"),
    );
    for missing in [
        json!({}),
        json!({"cart_id": null}),
        json!({"cart_id": ["a"]}),
        json!({"cart_id": {"id": 1}}),
    ] {
        check(
            &j,
            &with(missing),
            None,
            None,
            now,
            &facts,
            refuse("missing key"),
        );
    }
    let keyless = cart_journey("{}");
    check(
        &keyless,
        &with(json!({})),
        None,
        None,
        now,
        &facts,
        start_with(""),
    );
}

#[test]
fn old_triggers_are_refused() {
    let j = cart_journey("{}");
    let facts = Facts::default();
    let now = at("2026-03-05T10:02:00Z");
    let exactly_72h = trigger("Added to Cart", day("10:02"), json!({}), 1);
    check(
        &j,
        &exactly_72h,
        None,
        None,
        now,
        &facts,
        Admission::Start { key: String::new() },
    );
    let older = trigger("Added to Cart", day("10:01"), json!({}), 1);
    check(&j, &older, None, None, now, &facts, refuse("too old"));
}

#[test]
fn a_live_key_decides_before_conditions_and_frequency() {
    let facts = Facts::with(json!({"accepts_email": false}));
    let now = day("10:05");
    let new_trigger = trigger("Added to Cart", now, json!({"cart_id": "cart-1"}), 9);
    for (on_retrigger, expected) in [
        ("restart", Admission::Retrigger),
        ("update", Admission::Retrigger),
        ("ignore", refuse("live key")),
    ] {
        let j = cart_journey(&format!(
            "{{key: cart_id, on_retrigger: {on_retrigger}, frequency: once, \
             conditions: {{attribute: {{field: accepts_email, operator: eq, value: true}}}}}}"
        ));
        let live = start(
            &j,
            1,
            trigger(
                "Added to Cart",
                day("10:02"),
                json!({"cart_id": "cart-1"}),
                7,
            ),
            "cart-1".into(),
            day("10:02"),
        );
        check(
            &j,
            &new_trigger,
            Some(&live),
            Some(day("10:02")),
            now,
            &facts,
            expected,
        );
        // A finished instance is not live: then conditions refuse.
        let mut done = live.clone();
        done.status = nudge_journeys::Status::Finished {
            reason: "completed".into(),
            at: day("10:03"),
        };
        check(
            &j,
            &new_trigger,
            Some(&done),
            Some(day("10:02")),
            now,
            &facts,
            refuse("entry conditions"),
        );
    }
}

#[test]
fn entry_conditions_and_frequency() {
    let now = day("10:02");
    let t = trigger("Added to Cart", now, json!({}), 1);
    let ok = Admission::Start { key: String::new() };
    let gated = cart_journey(
        "{conditions: {attribute: {field: accepts_email, operator: eq, value: true}}}",
    );
    check(
        &gated,
        &t,
        None,
        None,
        now,
        &Facts::with(json!({"accepts_email": true})),
        ok.clone(),
    );
    check(
        &gated,
        &t,
        None,
        None,
        now,
        &Facts::default(),
        refuse("entry conditions"),
    );

    let facts = Facts::default();
    let once = cart_journey("{frequency: once}");
    check(&once, &t, None, None, now, &facts, ok.clone());
    check(
        &once,
        &t,
        None,
        Some(at("2025-01-01T00:00:00Z")),
        now,
        &facts,
        refuse("frequency"),
    );

    let monthly = cart_journey("{frequency: {once_per: 30d}}");
    check(
        &monthly,
        &t,
        None,
        Some(at("2026-02-01T10:02:00Z")),
        now,
        &facts,
        refuse("frequency"),
    );
    check(
        &monthly,
        &t,
        None,
        Some(at("2026-01-31T10:02:00Z")),
        now,
        &facts,
        ok.clone(),
    );

    let always = cart_journey("{frequency: every_time}");
    check(&always, &t, None, Some(day("10:01")), now, &facts, ok);
}
