//! A new trigger for a live key (restart, update, ignore) and migrating live instances to a
//! new version of their journey.

mod support;

use nudge_journeys::{migrate, start, Input, Journey, Status};
use serde_json::json;
use support::effects::{exited, reached, send};
use support::*;

fn delay_journey(on_retrigger: &str) -> Journey {
    journey(&format!(
        r#"
id: r
name: Retrigger
trigger: {{event: Added to Cart}}
entry: {{key: cart_id, on_retrigger: {on_retrigger}}}
steps:
  - id: wait
    delay: 30m
  - id: sms
    send: {{channel: sms, template: s}}
"#
    ))
}

fn cart(at: nudge_journeys::Timestamp, value: f64, offset: i64) -> nudge_journeys::TriggerData {
    trigger(
        "Added to Cart",
        at,
        json!({"cart_id": "cart-1", "cart_value": value}),
        offset,
    )
}

#[test]
fn restart_replaces_the_trigger_and_restarts_the_delay_from_it() {
    let j = delay_journey("restart");
    let facts = Facts::default();
    let t0 = day("10:02");
    let entered = feed(
        &j,
        &start(&j, 1, cart(t0, 84.0, 7), "cart-1".into(), t0),
        Input::Enter,
        t0,
        &facts,
    );
    let out = feed(
        &j,
        &entered.instance,
        Input::Retrigger(cart(day("10:05"), 90.0, 8)),
        day("10:05"),
        &facts,
    );
    assert_eq!(out.effects, vec![]);
    assert_eq!(
        state(&out.instance),
        waiting("wait", day("10:05"), day("10:35"), 1)
    );
    assert_eq!(out.instance.trigger, cart(day("10:05"), 90.0, 8));
    assert_eq!(out.instance.seen_offset, 8);
    assert_eq!(out.instance.entered_at, t0, "entry time stays");
    // The old timer is stale now; the new one sends, with an id naming the new trigger.
    let stale = feed(
        &j,
        &out.instance,
        Input::Wake { due: day("10:32") },
        day("10:32"),
        &facts,
    );
    assert_eq!(stale.effects, vec![]);
    let sent = feed(
        &j,
        &out.instance,
        Input::Wake { due: day("10:35") },
        day("10:35"),
        &facts,
    );
    let id = format!("r:1:8:{}:sms:2:cart-1", day("10:05").millis());
    assert_eq!(
        sent.effects,
        vec![
            reached("sms"),
            send("sms", "sms", "s", &id),
            exited("completed")
        ]
    );
}

#[test]
fn update_replaces_the_trigger_and_keeps_the_timer_and_ignore_changes_nothing() {
    let facts = Facts::default();
    let t0 = day("10:02");
    let update = delay_journey("update");
    let entered = feed(
        &update,
        &start(&update, 1, cart(t0, 84.0, 7), "cart-1".into(), t0),
        Input::Enter,
        t0,
        &facts,
    );
    let out = feed(
        &update,
        &entered.instance,
        Input::Retrigger(cart(day("10:05"), 90.0, 8)),
        day("10:05"),
        &facts,
    );
    assert_eq!(out.effects, vec![]);
    assert_eq!(state(&out.instance), waiting("wait", t0, day("10:32"), 1));
    assert_eq!(out.instance.trigger.data["cart_value"], json!(90.0));

    let ignore = delay_journey("ignore");
    let entered = feed(
        &ignore,
        &start(&ignore, 1, cart(t0, 84.0, 7), "cart-1".into(), t0),
        Input::Enter,
        t0,
        &facts,
    );
    let out = feed(
        &ignore,
        &entered.instance,
        Input::Retrigger(cart(day("10:05"), 90.0, 8)),
        day("10:05"),
        &facts,
    );
    assert_eq!((out.effects, out.instance), (vec![], entered.instance));
}

#[test]
fn restart_re_resolves_delay_until_and_goes_on_when_the_new_time_has_passed() {
    let j = journey(
        r#"
id: ship
name: Shipping
trigger: {event: Order Updated}
entry: {key: order_id}
steps:
  - id: until-shipped
    delay_until: {time: trigger.ships_at, offset: 1h}
  - id: email
    send: {channel: email, template: shipped}
"#,
    );
    let facts = Facts::default();
    let t0 = day("10:02");
    let order = |ships_at: &str, offset| {
        trigger(
            "Order Updated",
            day("10:02"),
            json!({"order_id": "o-1", "ships_at": ships_at}),
            offset,
        )
    };
    let fresh = start(&j, 1, order("2026-03-02T18:00:00Z", 4), "o-1".into(), t0);
    let entered = feed(&j, &fresh, Input::Enter, t0, &facts);
    assert_eq!(entered.instance.wake_at, Some(day("19:00")));
    let later = feed(
        &j,
        &entered.instance,
        Input::Retrigger(order("2026-03-03T08:00:00Z", 5)),
        day("11:00"),
        &facts,
    );
    assert_eq!(
        state(&later.instance),
        waiting("until-shipped", day("10:02"), at("2026-03-03T09:00:00Z"), 1)
    );
    // Shipped already (09:00 + 1h is past at 11:00): the email goes now.
    let shipped = feed(
        &j,
        &entered.instance,
        Input::Retrigger(order("2026-03-02T09:00:00Z", 5)),
        day("11:00"),
        &facts,
    );
    let id = format!("ship:1:5:{}:email:2:o-1", t0.millis());
    assert_eq!(
        shipped.effects,
        vec![
            reached("email"),
            send("email", "email", "shipped", &id),
            exited("completed")
        ]
    );
}

const V1: &str = r#"
id: m
name: Migrating
trigger: {event: Signed Up}
steps:
  - id: wait
    delay: 1d
  - id: email
    send: {channel: email, template: v1}
"#;

#[test]
fn migrate_moves_live_instances_only_when_the_new_version_asks() {
    let v1 = journey(V1);
    let facts = Facts::default();
    let t0 = day("10:02");
    let entered = feed(
        &v1,
        &start(
            &v1,
            1,
            trigger("Signed Up", t0, json!({}), 3),
            String::new(),
            t0,
        ),
        Input::Enter,
        t0,
        &facts,
    );
    let live = entered.instance;
    let wake = at("2026-03-03T10:02:00Z");

    let mapped = journey(
        r#"
id: m
name: Migrating
trigger: {event: Signed Up}
migrate: {steps: {wait: pause}}
steps:
  - id: pause
    delay: 2d
  - id: email
    send: {channel: email, template: v2}
"#,
    );
    let moved = migrate(&live, &mapped, 2).expect("wait maps to pause");
    assert_eq!(
        (moved.version, moved.step.as_deref(), moved.wake_at),
        (2, Some("pause"), Some(wake))
    );
    assert_eq!(moved.visits, live.visits);
    let sent = feed(&mapped, &moved, Input::Wake { due: wake }, wake, &facts);
    let id = format!("m:2:3:{}:email:2:", t0.millis());
    assert_eq!(
        sent.effects,
        vec![
            reached("email"),
            send("email", "email", "v2", &id),
            exited("completed")
        ]
    );

    let by_id = journey(
        &V1.replace("template: v1", "template: v1b")
            .replace("steps:\n", "migrate: {by_step_id: true}\nsteps:\n"),
    );
    assert_eq!(
        migrate(&live, &by_id, 2).map(|i| i.step),
        Some(Some("wait".to_string()))
    );

    // Stays: no migrate block, a step that does not map, an older or equal version, a
    // finished instance, another journey.
    let silent = journey(&V1.replace("template: v1", "template: v1c"));
    assert_eq!(migrate(&live, &silent, 2), None);
    let renamed = journey(
        &V1.replace("id: wait", "id: hold")
            .replace("steps:\n", "migrate: {by_step_id: true}\nsteps:\n"),
    );
    assert_eq!(migrate(&live, &renamed, 2), None);
    assert_eq!(migrate(&live, &by_id, 1), None);
    let mut done = live.clone();
    done.status = Status::Finished {
        reason: "completed".into(),
        at: t0,
    };
    assert_eq!(migrate(&done, &by_id, 2), None);
    let other = journey(
        &V1.replace("id: m", "id: other")
            .replace("steps:\n", "migrate: {by_step_id: true}\nsteps:\n"),
    );
    assert_eq!(migrate(&live, &other, 2), None);
}

#[test]
fn a_migrated_instance_at_a_step_that_does_not_wait_runs_it_when_its_timer_fires() {
    let v1 = journey(V1);
    let facts = Facts::default();
    let t0 = day("10:02");
    let live = feed(
        &v1,
        &start(
            &v1,
            1,
            trigger("Signed Up", t0, json!({}), 3),
            String::new(),
            t0,
        ),
        Input::Enter,
        t0,
        &facts,
    )
    .instance;
    let v2 = journey(
        r#"
id: m
name: Migrating
trigger: {event: Signed Up}
migrate: {steps: {wait: email}}
steps:
  - id: email
    send: {channel: email, template: v2}
"#,
    );
    let moved = migrate(&live, &v2, 2).expect("maps");
    let wake = at("2026-03-03T10:02:00Z");
    let out = feed(&v2, &moved, Input::Wake { due: wake }, wake, &facts);
    let id = format!("m:2:3:{}:email:2:", t0.millis());
    assert_eq!(
        out.effects,
        vec![
            reached("email"),
            send("email", "email", "v2", &id),
            exited("completed")
        ]
    );
}

#[test]
fn restart_restarts_a_wait_until_timeout_from_the_new_trigger() {
    let j = journey(
        r#"
id: wu
name: Wait
trigger: {event: Added to Cart}
entry: {key: cart_id}
steps:
  - id: wait-order
    wait_until: {event: {name: Order Completed}, timeout: 1d}
  - id: email
    send: {channel: email, template: e}
"#,
    );
    let facts = Facts::default();
    let t0 = day("10:02");
    let entered = feed(
        &j,
        &start(&j, 1, cart(t0, 84.0, 7), "cart-1".into(), t0),
        Input::Enter,
        t0,
        &facts,
    );
    assert_eq!(entered.instance.wake_at, Some(at("2026-03-03T10:02:00Z")));
    let out = feed(
        &j,
        &entered.instance,
        Input::Retrigger(cart(day("12:00"), 90.0, 8)),
        day("12:00"),
        &facts,
    );
    assert_eq!(out.effects, vec![]);
    assert_eq!(
        state(&out.instance),
        waiting("wait-order", day("12:00"), at("2026-03-03T12:00:00Z"), 1)
    );
}
