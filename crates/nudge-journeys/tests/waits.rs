//! The waiting steps (delay, delay_until, wait_until, time_window) under every input that
//! moves them: expected effects and states are worked out by hand from the documented rules.

mod support;

use nudge_journeys::{start, Effect, Input};
use serde_json::json;
use support::effects::{exited, reached, send, skipped};
use support::*;

const DELAY_THEN_SMS: &str = r#"
id: j
name: Delay then SMS
trigger: {event: Added to Cart}
steps:
  - id: wait
    delay: 30m
  - id: sms
    send: {channel: sms, template: t-sms}
"#;

fn cart_trigger(at: nudge_journeys::Timestamp) -> nudge_journeys::TriggerData {
    trigger("Added to Cart", at, json!({"cart_id": "cart-1"}), 7)
}

#[test]
fn delay_waits_from_its_start_and_the_next_step_starts_when_due() {
    let j = journey(DELAY_THEN_SMS);
    let facts = Facts::default();
    let t0 = day("10:02");
    let fresh = start(&j, 1, cart_trigger(t0), "cart-1".into(), t0);
    assert_eq!(fresh.step.as_deref(), Some("wait"));
    assert_eq!(fresh.wake_at, None);

    let entered = feed(&j, &fresh, Input::Enter, t0, &facts);
    assert_eq!(entered.effects, vec![Effect::Entered, reached("wait")]);
    assert_eq!(
        state(&entered.instance),
        waiting("wait", t0, day("10:32"), 1)
    );

    // The timer fires a minute late: the SMS step still starts at 10:32.
    let woke = feed(
        &j,
        &entered.instance,
        Input::Wake { due: day("10:32") },
        day("10:33"),
        &facts,
    );
    let id = format!("j:1:7:{}:sms:2:cart-1", t0.millis());
    assert_eq!(
        woke.effects,
        vec![
            reached("sms"),
            send("sms", "sms", "t-sms", &id),
            exited("completed")
        ]
    );
    assert_eq!(
        state(&woke.instance),
        finished("completed", day("10:33"), day("10:32"), 2)
    );
    let last = woke
        .instance
        .last_message
        .expect("the SMS is the last message");
    assert_eq!(
        (last.step.as_str(), last.message_id.as_str(), last.at),
        ("sms", id.as_str(), day("10:33"))
    );
}

#[test]
fn a_stale_timer_or_a_second_enter_changes_nothing() {
    let j = journey(DELAY_THEN_SMS);
    let facts = Facts::default();
    let t0 = day("10:02");
    let entered = feed(
        &j,
        &start(&j, 1, cart_trigger(t0), "cart-1".into(), t0),
        Input::Enter,
        t0,
        &facts,
    );
    let stale = feed(
        &j,
        &entered.instance,
        Input::Wake { due: day("10:31") },
        day("10:40"),
        &facts,
    );
    assert_eq!(stale.effects, vec![]);
    assert_eq!(stale.instance, entered.instance);
    let again = feed(&j, &entered.instance, Input::Enter, day("10:05"), &facts);
    assert_eq!(again.effects, vec![]);
    assert_eq!(again.instance, entered.instance);
}

#[test]
fn a_late_entry_catches_up_and_max_lateness_skips_the_send() {
    let t0 = day("10:02");
    let facts = Facts::default();
    // Processed at 10:40: the delay ended at 10:32, so the SMS goes at once.
    let j = journey(DELAY_THEN_SMS);
    let fresh = start(&j, 1, cart_trigger(t0), "cart-1".into(), day("10:40"));
    assert_eq!(fresh.entered_at, t0, "entered at the trigger's time");
    let late = feed(&j, &fresh, Input::Enter, day("10:40"), &facts);
    let id = format!("j:1:7:{}:sms:2:cart-1", t0.millis());
    assert_eq!(
        late.effects,
        vec![
            Effect::Entered,
            reached("wait"),
            reached("sms"),
            send("sms", "sms", "t-sms", &id),
            exited("completed")
        ]
    );
    assert_eq!(
        state(&late.instance),
        finished("completed", day("10:40"), day("10:32"), 2)
    );

    // With max_lateness 5m, 8 minutes late is too late.
    let strict = journey(&format!("{DELAY_THEN_SMS}max_lateness: 5m\n"));
    let skipped_late = feed(&strict, &fresh, Input::Enter, day("10:40"), &facts);
    assert_eq!(
        skipped_late.effects,
        vec![
            Effect::Entered,
            reached("wait"),
            reached("sms"),
            skipped("sms", "late"),
            exited("completed")
        ]
    );
    // Five minutes late is within the limit.
    let on_time = feed(&strict, &fresh, Input::Enter, day("10:37"), &facts);
    assert!(on_time.effects.contains(&send("sms", "sms", "t-sms", &id)));
}

const DELAY_UNTIL: &str = r#"
id: renewal
name: Renewal
trigger: {event: Subscribed}
steps:
  - id: six-hours
    delay_until: {time: trigger.timestamp, offset: 6h}
  - id: day-before
    delay_until: {time: attribute.renews_at, offset: -1d}
  - id: email
    send: {channel: email, template: renewal}
"#;

#[test]
fn delay_until_reads_the_trigger_and_the_person() {
    let j = journey(DELAY_UNTIL);
    let t0 = day("10:02");
    let facts = Facts::with(json!({"renews_at": "2026-03-05T12:00:00Z"}));
    let fresh = start(
        &j,
        1,
        trigger("Subscribed", t0, json!({}), 3),
        String::new(),
        t0,
    );
    let entered = feed(&j, &fresh, Input::Enter, t0, &facts);
    assert_eq!(entered.effects, vec![Effect::Entered, reached("six-hours")]);
    assert_eq!(
        state(&entered.instance),
        waiting("six-hours", t0, day("16:02"), 1)
    );

    let woke = feed(
        &j,
        &entered.instance,
        Input::Wake { due: day("16:02") },
        day("16:02"),
        &facts,
    );
    assert_eq!(woke.effects, vec![reached("day-before")]);
    let day_before = at("2026-03-04T12:00:00Z");
    assert_eq!(
        state(&woke.instance),
        waiting("day-before", day("16:02"), day_before, 2)
    );

    let sent = feed(
        &j,
        &woke.instance,
        Input::Wake { due: day_before },
        day_before,
        &facts,
    );
    let id = format!("renewal:1:3:{}:email:3:", t0.millis());
    assert_eq!(
        sent.effects,
        vec![
            reached("email"),
            send("email", "email", "renewal", &id),
            exited("completed")
        ]
    );
}

#[test]
fn delay_until_without_a_time_skips_and_a_past_time_passes_at_once() {
    let j = journey(DELAY_UNTIL);
    let t0 = day("10:02");
    let id = format!("renewal:1:3:{}:email:3:", t0.millis());
    let run_to_second_wait = |facts: &Facts| {
        let fresh = start(
            &j,
            1,
            trigger("Subscribed", t0, json!({}), 3),
            String::new(),
            t0,
        );
        let entered = feed(&j, &fresh, Input::Enter, t0, facts);
        feed(
            &j,
            &entered.instance,
            Input::Wake { due: day("16:02") },
            day("16:02"),
            facts,
        )
    };
    for missing in [json!({}), json!({"renews_at": "next spring"})] {
        let woke = run_to_second_wait(&Facts::with(missing));
        assert_eq!(
            woke.effects,
            vec![
                reached("day-before"),
                skipped("day-before", "no_time"),
                reached("email"),
                send("email", "email", "renewal", &id),
                exited("completed")
            ]
        );
        assert_eq!(
            state(&woke.instance),
            finished("completed", day("16:02"), day("16:02"), 3)
        );
    }
    // A day before 2026-03-02T06:00 (unix seconds) is already past: go on at once; the email
    // starts at 16:02, when the wait began, not at the earlier target.
    let past = Facts::with(json!({"renews_at": at("2026-03-02T06:00:00Z").unix_seconds()}));
    let woke = run_to_second_wait(&past);
    assert_eq!(
        woke.effects,
        vec![
            reached("day-before"),
            reached("email"),
            send("email", "email", "renewal", &id),
            exited("completed")
        ]
    );
    assert_eq!(woke.instance.step_started, day("16:02"));
}

#[test]
fn delay_until_reads_a_field_of_the_trigger_data() {
    let j = journey(
        r#"
id: ship
name: Shipping
trigger: {event: Order Completed}
steps:
  - id: until-shipped
    delay_until: {time: trigger.ships_at, offset: 2h}
  - id: done
    exit: {reason: shipped}
"#,
    );
    let t0 = day("10:02");
    let data = json!({"ships_at": "2026-03-03T08:00:00Z"});
    let fresh = start(
        &j,
        1,
        trigger("Order Completed", t0, data, 4),
        String::new(),
        t0,
    );
    let entered = feed(&j, &fresh, Input::Enter, t0, &Facts::default());
    assert_eq!(
        state(&entered.instance),
        waiting("until-shipped", t0, at("2026-03-03T10:00:00Z"), 1)
    );
}

const WAIT_FOR_ORDER: &str = r#"
id: w
name: Wait for the order
trigger: {event: Added to Cart}
steps:
  - id: wait-order
    wait_until:
      event: {name: Order Completed, match: [cart_id]}
      timeout: 3d
      on_timeout: reminder
  - id: thanks
    send: {channel: email, template: thanks}
  - id: end
    exit: {reason: ordered}
  - id: reminder
    send: {channel: email, template: reminder}
"#;

#[test]
fn wait_until_an_event_of_the_same_cart() {
    let j = journey(WAIT_FOR_ORDER);
    let facts = Facts::default();
    let t0 = day("10:02");
    let entered = feed(
        &j,
        &start(&j, 1, cart_trigger(t0), "cart-1".into(), t0),
        Input::Enter,
        t0,
        &facts,
    );
    let deadline = at("2026-03-05T10:02:00Z");
    assert_eq!(
        state(&entered.instance),
        waiting("wait-order", t0, deadline, 1)
    );

    let other_cart = map(json!({"cart_id": "cart-2"}));
    let ignored = feed(
        &j,
        &entered.instance,
        event("Order Completed", day("10:30"), &other_cart, 8),
        day("10:30"),
        &facts,
    );
    assert_eq!(ignored.effects, vec![]);
    assert_eq!(state(&ignored.instance), state(&entered.instance));
    assert_eq!(ignored.instance.seen_offset, 8);

    let this_cart = map(json!({"cart_id": "cart-1"}));
    let ordered = feed(
        &j,
        &ignored.instance,
        event("Order Completed", day("10:40"), &this_cart, 9),
        day("10:41"),
        &facts,
    );
    let id = format!("w:1:7:{}:thanks:2:cart-1", t0.millis());
    assert_eq!(
        ordered.effects,
        vec![
            reached("thanks"),
            send("thanks", "email", "thanks", &id),
            reached("end"),
            exited("ordered")
        ]
    );
    assert_eq!(
        state(&ordered.instance),
        finished("ordered", day("10:41"), day("10:40"), 3)
    );

    // The same event again (an offset already seen) is ignored.
    let replayed = feed(
        &j,
        &ignored.instance,
        event("Order Completed", day("10:40"), &this_cart, 8),
        day("10:41"),
        &facts,
    );
    assert_eq!(replayed.effects, vec![]);
}

#[test]
fn wait_until_times_out_to_its_step_or_out_of_the_journey() {
    let facts = Facts::default();
    let t0 = day("10:02");
    let deadline = at("2026-03-05T10:02:00Z");
    let j = journey(WAIT_FOR_ORDER);
    let entered = feed(
        &j,
        &start(&j, 1, cart_trigger(t0), "cart-1".into(), t0),
        Input::Enter,
        t0,
        &facts,
    );
    let timed_out = feed(
        &j,
        &entered.instance,
        Input::Wake { due: deadline },
        deadline,
        &facts,
    );
    let id = format!("w:1:7:{}:reminder:2:cart-1", t0.millis());
    assert_eq!(
        timed_out.effects,
        vec![
            reached("reminder"),
            send("reminder", "email", "reminder", &id),
            exited("completed")
        ]
    );

    let without = journey(
        &WAIT_FOR_ORDER
            .replace("      on_timeout: reminder\n", "")
            .replace(
                "  - id: reminder\n    send: {channel: email, template: reminder}\n",
                "",
            ),
    );
    let entered = feed(
        &without,
        &start(&without, 1, cart_trigger(t0), "cart-1".into(), t0),
        Input::Enter,
        t0,
        &facts,
    );
    let timed_out = feed(
        &without,
        &entered.instance,
        Input::Wake { due: deadline },
        deadline,
        &facts,
    );
    assert_eq!(timed_out.effects, vec![exited("timeout")]);
    assert_eq!(
        state(&timed_out.instance),
        finished("timeout", deadline, t0, 1)
    );
}

const WAIT_FOR_VIP: &str = r#"
id: v
name: Wait for VIP
trigger: {event: Signed Up}
steps:
  - id: until-vip
    wait_until:
      conditions: {attribute: {field: vip, operator: eq, value: true}}
      timeout: 1d
  - id: welcome
    send: {channel: email, template: vip-welcome}
"#;

#[test]
fn wait_until_a_condition_on_recheck_at_entry_and_at_the_deadline() {
    let j = journey(WAIT_FOR_VIP);
    let t0 = day("10:02");
    let fresh = start(
        &j,
        1,
        trigger("Signed Up", t0, json!({}), 5),
        String::new(),
        t0,
    );
    let id = format!("v:1:5:{}:welcome:2:", t0.millis());
    let welcome = vec![
        reached("welcome"),
        send("welcome", "email", "vip-welcome", &id),
        exited("completed"),
    ];

    let not_yet = Facts::with(json!({"vip": false}));
    let entered = feed(&j, &fresh, Input::Enter, t0, &not_yet);
    let deadline = at("2026-03-03T10:02:00Z");
    assert_eq!(
        state(&entered.instance),
        waiting("until-vip", t0, deadline, 1)
    );
    let unchanged = feed(
        &j,
        &entered.instance,
        Input::Recheck,
        day("11:00"),
        &not_yet,
    );
    assert_eq!(
        (unchanged.effects, unchanged.instance),
        (vec![], entered.instance.clone())
    );

    let vip = Facts::with(json!({"vip": true}));
    let rechecked = feed(&j, &entered.instance, Input::Recheck, day("12:00"), &vip);
    assert_eq!(rechecked.effects, welcome);
    assert_eq!(
        state(&rechecked.instance),
        finished("completed", day("12:00"), day("12:00"), 2)
    );

    // Already VIP on entry: the wait passes at once.
    let at_once = feed(&j, &fresh, Input::Enter, t0, &vip);
    assert_eq!(
        at_once.effects,
        [vec![Effect::Entered, reached("until-vip")], welcome.clone()].concat()
    );

    // VIP by the deadline (no recheck came): the timer finds the condition true.
    let at_deadline = feed(
        &j,
        &entered.instance,
        Input::Wake { due: deadline },
        deadline,
        &vip,
    );
    assert_eq!(at_deadline.effects, welcome);
}

const DAYTIME: &str = r#"
id: d
name: Daytime
trigger: {event: Added to Cart}
steps:
  - id: daytime
    time_window: {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00", fallback_timezone: America/New_York}
  - id: email
    send: {channel: email, template: cart}
"#;

#[test]
fn time_window_in_the_persons_zone_or_the_fallback() {
    let j = journey(DAYTIME);
    let run = |entered_at: nudge_journeys::Timestamp, facts: &Facts| {
        let fresh = start(
            &j,
            1,
            trigger("Added to Cart", entered_at, json!({}), 1),
            String::new(),
            entered_at,
        );
        feed(&j, &fresh, Input::Enter, entered_at, facts)
    };
    let paris = Facts::with(json!({"timezone": "Europe/Paris"}));
    // Monday 10:02 UTC is 11:02 in Paris: inside, the email goes at once.
    let inside = run(day("10:02"), &paris);
    let id = format!("d:1:1:{}:email:2:", day("10:02").millis());
    assert_eq!(
        inside.effects,
        vec![
            Effect::Entered,
            reached("daytime"),
            reached("email"),
            send("email", "email", "cart", &id),
            exited("completed")
        ]
    );
    // Monday 17:30 UTC is 18:30 in Paris: Tuesday 09:00 Paris (CET) is 08:00 UTC.
    let evening = run(day("17:30"), &paris);
    assert_eq!(
        state(&evening.instance),
        waiting("daytime", day("17:30"), at("2026-03-03T08:00:00Z"), 1)
    );
    // Saturday noon in Paris: Monday 9 March 09:00 Paris.
    let weekend = run(at("2026-03-07T11:00:00Z"), &paris);
    assert_eq!(weekend.instance.wake_at, Some(at("2026-03-09T08:00:00Z")));
    // No zone, or a bad one: New York. Monday 10:02 UTC is 05:02 there (EST): opens 14:00 UTC.
    for facts in [
        Facts::default(),
        Facts::with(json!({"timezone": "Nowhere/Else"})),
    ] {
        let early = run(day("10:02"), &facts);
        assert_eq!(early.instance.wake_at, Some(day("14:00")));
        let opened = feed(
            &j,
            &early.instance,
            Input::Wake { due: day("14:00") },
            day("14:00"),
            &facts,
        );
        assert_eq!(opened.effects[0], reached("email"));
        assert_eq!(opened.instance.step_started, day("14:00"));
    }
}

#[test]
fn a_loop_that_keeps_catching_up_stops_at_the_step_limit() {
    let j = journey(
        r#"
id: tick
name: Tick
trigger: {event: Tick}
steps:
  - id: second
    delay: 1s
    next: second
"#,
    );
    let t0 = day("10:02");
    let fresh = start(&j, 1, trigger("Tick", t0, json!({}), 1), String::new(), t0);
    // Two hours late: 7200 one-second waits have passed, more than one input may run.
    let out = feed(&j, &fresh, Input::Enter, day("12:02"), &Facts::default());
    assert_eq!(
        out.effects.len(),
        1 + 1000 + 1,
        "entered, 1000 steps, exited"
    );
    assert_eq!(out.effects.last(), Some(&exited("step_limit")));
    // The 1000th step started after 999 one-second waits.
    assert_eq!(
        state(&out.instance),
        finished("step_limit", day("12:02"), t0.plus_millis(999_000), 1000)
    );
}
