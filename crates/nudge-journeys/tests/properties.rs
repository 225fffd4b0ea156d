//! Properties over random journeys and random input sequences: no send after an exit event,
//! `wake_at` set exactly while an instance waits, message ids unique within an instance,
//! `admit` never starting a second live instance for a key, and finished instances quiet
//! except for conversions.

mod support;

use std::collections::BTreeSet;

use nudge_journeys::{
    admit, start, Admission, Context, Effect, Input, Journey, Status, Timestamp, TriggerData,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use support::*;

/// One step as drawn; targets are turned into step ids when the journey is rendered, so
/// every journey drawn is valid (the test asserts it).
#[derive(Debug, Clone)]
enum Drawn {
    Delay(u8),
    DelayUntil {
        source: u8,
        offset_h: i8,
    },
    WaitEvent {
        timeout_h: u8,
        back: Option<u8>,
        with_match: bool,
    },
    WaitVip {
        timeout_h: u8,
        back: Option<u8>,
    },
    Window {
        from_h: u8,
        hours: u8,
        days: u8,
    },
    Branch(u8),
    Split(u8),
    Random {
        target: u8,
        holdout: u8,
        weights: (u8, u8),
    },
    Send {
        email: bool,
        skip: bool,
    },
    Update,
    Webhook,
    Emit,
}

fn drawn() -> impl Strategy<Value = Drawn> {
    prop_oneof![
        (1u8..90).prop_map(Drawn::Delay),
        (0u8..3, -3i8..8).prop_map(|(source, offset_h)| Drawn::DelayUntil { source, offset_h }),
        (1u8..48, proptest::option::of(any::<u8>()), any::<bool>()).prop_map(
            |(timeout_h, back, with_match)| Drawn::WaitEvent {
                timeout_h,
                back,
                with_match
            }
        ),
        (1u8..48, proptest::option::of(any::<u8>()))
            .prop_map(|(timeout_h, back)| Drawn::WaitVip { timeout_h, back }),
        (0u8..20, 1u8..4, 1u8..128).prop_map(|(from_h, hours, days)| Drawn::Window {
            from_h,
            hours,
            days
        }),
        any::<u8>().prop_map(Drawn::Branch),
        any::<u8>().prop_map(Drawn::Split),
        (any::<u8>(), 0u8..60, (1u8..5, 1u8..5)).prop_map(|(target, holdout, weights)| {
            Drawn::Random {
                target,
                holdout,
                weights,
            }
        }),
        (any::<bool>(), any::<bool>()).prop_map(|(email, skip)| Drawn::Send { email, skip }),
        Just(Drawn::Update),
        Just(Drawn::Webhook),
        Just(Drawn::Emit),
    ]
}

#[derive(Debug, Clone)]
struct Shape {
    steps: Vec<Drawn>,
    last_exits: bool,
    last_loops_to: Option<u8>,
    keyed: bool,
    on_retrigger: u8,
    goal: bool,
    max_lateness: bool,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        proptest::collection::vec(drawn(), 1..8),
        any::<bool>(),
        proptest::option::of(any::<u8>()),
        any::<bool>(),
        0u8..3,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(steps, last_exits, last_loops_to, keyed, on_retrigger, goal, max_lateness)| Shape {
                steps,
                last_exits,
                last_loops_to,
                keyed,
                on_retrigger,
                goal,
                max_lateness,
            },
        )
}

const VIP: &str = r#"{"attribute": {"field": "vip", "operator": "eq", "value": true}}"#;

fn vip() -> Value {
    serde_json::from_str(VIP).unwrap_or(Value::Null)
}

/// The journey document of a shape. Steps that choose always have the following step as one
/// way, so every step is reachable; only waits jump backwards, so every loop waits.
fn render(shape: &Shape) -> Value {
    let n = shape.steps.len();
    let id = |i: usize| format!("s{i}");
    let forward = |i: usize, pick: u8| id(i + 1 + usize::from(pick) % (n - i - 1));
    let waits: Vec<usize> = shape
        .steps
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            matches!(
                d,
                Drawn::Delay(_)
                    | Drawn::DelayUntil { .. }
                    | Drawn::WaitEvent { .. }
                    | Drawn::WaitVip { .. }
                    | Drawn::Window { .. }
            )
        })
        .map(|(i, _)| i)
        .collect();
    let mut steps = Vec::new();
    for (i, d) in shape.steps.iter().enumerate() {
        let has_next = i + 1 < n;
        let mut step = match d {
            Drawn::Delay(m) => json!({"delay": format!("{m}m")}),
            Drawn::DelayUntil { source, offset_h } => {
                let time = ["trigger.timestamp", "attribute.due_at", "trigger.ship_at"]
                    [usize::from(*source) % 3];
                let offset = if *offset_h < 0 {
                    format!("-{}h", -offset_h)
                } else {
                    format!("{}h", offset_h.max(&1))
                };
                json!({"delay_until": {"time": time, "offset": offset}})
            }
            Drawn::WaitEvent {
                timeout_h,
                back,
                with_match,
            } => {
                let mut event = json!({"name": "Clicked"});
                if *with_match {
                    event["match"] = json!(["cart_id"]);
                }
                let mut wait = json!({"event": event, "timeout": format!("{timeout_h}h")});
                if let Some(b) = back {
                    wait["on_timeout"] = json!(id(usize::from(*b) % (i + 1)));
                }
                json!({"wait_until": wait})
            }
            Drawn::WaitVip { timeout_h, back } => {
                let mut wait = json!({"conditions": vip(), "timeout": format!("{timeout_h}h")});
                if let Some(b) = back {
                    wait["on_timeout"] = json!(id(usize::from(*b) % (i + 1)));
                }
                json!({"wait_until": wait})
            }
            Drawn::Window {
                from_h,
                hours,
                days,
            } => {
                let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
                let days: Vec<&str> = (0..7)
                    .filter(|b| days & (1 << b) != 0)
                    .map(|b| names[b])
                    .collect();
                json!({"time_window": {"days": days, "from": format!("{from_h:02}:00"),
                       "to": format!("{:02}:00", from_h + hours), "fallback_timezone": "America/New_York"}})
            }
            Drawn::Branch(t) if has_next => {
                json!({"branch": {"if": vip(), "then": id(i + 1), "else": forward(i, *t)}})
            }
            Drawn::Split(t) if has_next => {
                json!({"split": {"paths": [{"if": vip(), "next": forward(i, *t)}], "else": id(i + 1)}})
            }
            Drawn::Random {
                target,
                holdout,
                weights,
            } if has_next => json!({"random": {
                "paths": [{"weight": weights.0, "next": id(i + 1)}, {"weight": weights.1, "next": forward(i, *target)}],
                "holdout": holdout}}),
            Drawn::Send { email, skip } => {
                let mut s = json!({"send": {"channel": if *email { "email" } else { "sms" }, "template": "t"}});
                if *skip {
                    s["skip_if"] = json!({"attribute": {"field": "accepts_sms", "operator": "eq", "value": false}});
                }
                s
            }
            Drawn::Branch(_) | Drawn::Split(_) | Drawn::Random { .. } => {
                json!({"send": {"channel": "push", "template": "p"}})
            }
            Drawn::Update => json!({"update": {"attributes": {"touched": true}}}),
            Drawn::Webhook => {
                json!({"webhook": {"url": "https://hooks.example.com/x", "body": "{}"}})
            }
            Drawn::Emit => json!({"emit": {"event": "Journey Touched"}}),
        };
        step["id"] = json!(id(i));
        steps.push(step);
    }
    let last_chooses = steps.last().is_some_and(|s| {
        s.get("branch")
            .or(s.get("split"))
            .or(s.get("random"))
            .is_some()
    });
    if shape.last_exits {
        steps.push(json!({"id": "end", "exit": {"reason": "end"}}));
    } else if let (Some(pick), false, false) = (shape.last_loops_to, waits.is_empty(), last_chooses)
    {
        if let Some(last) = steps.last_mut() {
            last["next"] = json!(id(waits[usize::from(pick) % waits.len()]));
        }
    }
    let on_retrigger = ["restart", "update", "ignore"][usize::from(shape.on_retrigger) % 3];
    let mut doc = json!({
        "id": "prop",
        "name": "Property journey",
        "trigger": {"event": "Added to Cart"},
        "entry": {"on_retrigger": on_retrigger},
        "exit": [{"event": "Order Completed", "reason": "purchased"},
                 {"conditions": {"attribute": {"field": "churned", "operator": "eq", "value": true}}}],
        "steps": steps,
    });
    if shape.keyed {
        doc["entry"]["key"] = json!("cart_id");
    }
    if shape.goal {
        doc["goal"] = json!({"event": "Clicked", "within": "1d"});
    }
    if shape.max_lateness {
        doc["max_lateness"] = json!("1h");
    }
    doc
}

#[derive(Debug, Clone)]
enum Action {
    Wake {
        late_min: u16,
    },
    StaleWake {
        after_min: u16,
    },
    Event {
        kind: u8,
        same_cart: bool,
        after_min: u16,
    },
    Trigger {
        same_cart: bool,
        after_min: u16,
    },
    Recheck {
        vip: bool,
        churned: bool,
        after_min: u16,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0u16..180).prop_map(|late_min| Action::Wake { late_min }),
        1 => (0u16..600).prop_map(|after_min| Action::StaleWake { after_min }),
        2 => (0u8..3, any::<bool>(), 0u16..600).prop_map(|(kind, same_cart, after_min)| Action::Event { kind, same_cart, after_min }),
        1 => (any::<bool>(), 0u16..600).prop_map(|(same_cart, after_min)| Action::Trigger { same_cart, after_min }),
        1 => (any::<bool>(), proptest::bool::weighted(0.2), 0u16..600)
            .prop_map(|(vip, churned, after_min)| Action::Recheck { vip, churned, after_min }),
    ]
}

fn cart_trigger(now: Timestamp, same_cart: bool, offset: i64) -> TriggerData {
    let cart = if same_cart { "cart-1" } else { "cart-2" };
    trigger(
        "Added to Cart",
        now,
        json!({"cart_id": cart, "ship_at": now.unix_seconds() + 3_600}),
        offset,
    )
}

/// Checks the state invariant: an active instance waits at a waiting step with a timer (a
/// timer set by this input lies in the future); a finished one has neither step nor timer.
fn check_state(
    j: &Journey,
    instance: &nudge_journeys::Instance,
    previous_wake: Option<Timestamp>,
    now: Timestamp,
) -> Result<(), TestCaseError> {
    match &instance.status {
        Status::Active => {
            let step = instance.step.as_deref().and_then(|s| j.step(s));
            prop_assert!(
                step.is_some_and(|s| s.kind.waits()),
                "active at a waiting step: {instance:?}"
            );
            prop_assert!(
                instance.wake_at.is_some(),
                "active with a timer: {instance:?}"
            );
            if instance.wake_at != previous_wake {
                prop_assert!(
                    instance.wake_at.is_some_and(|w| w > now),
                    "a new timer is in the future: {instance:?}"
                );
            }
        }
        Status::Finished { .. } => {
            prop_assert_eq!(instance.wake_at, None);
            prop_assert_eq!(instance.step.as_deref(), None);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn instances_keep_their_promises(shape in shape(), actions in proptest::collection::vec(action(), 0..30),
                                     accepts_sms in any::<bool>(), due_at_h in proptest::option::of(-5i64..30)) {
        let document = render(&shape);
        let j = nudge_journeys::parse_journey(&document)
            .map_err(|e| TestCaseError::fail(format!("generated journey refused: {e}\n{document:#}")))?;
        let mut facts = Facts::with(json!({"accepts_sms": accepts_sms, "vip": false, "churned": false}));
        let t0 = day("10:02");
        if let Some(h) = due_at_h {
            facts.attributes.insert("due_at".into(), json!(t0.unix_seconds() + h * 3_600));
        }
        let mut now = t0;
        let mut offset = 1;
        let first = cart_trigger(now, true, offset);
        let key = j.entry.key_of(&first.data).unwrap_or_default();
        let fresh = start(&j, 1, first, key, now);
        let out = feed(&j, &fresh, Input::Enter, now, &facts);
        let mut instance = out.instance;
        let mut all_effects = out.effects;
        check_state(&j, &instance, None, now)?;
        let mut exit_event_fed = false;

        for action in actions {
            let was_finished = !instance.is_active();
            let out = match action {
                Action::Wake { late_min } => {
                    let Some(due) = instance.wake_at else { continue };
                    now = now.max(due.plus_millis(minutes(i64::from(late_min))));
                    feed(&j, &instance, Input::Wake { due }, now, &facts)
                }
                Action::StaleWake { after_min } => {
                    now = now.plus_millis(minutes(i64::from(after_min)));
                    let due = now.minus_millis(minutes(1));
                    if instance.wake_at == Some(due) { continue }
                    let out = feed(&j, &instance, Input::Wake { due }, now, &facts);
                    prop_assert_eq!(&out.instance, &instance, "a stale timer changes nothing");
                    out
                }
                Action::Event { kind, same_cart, after_min } => {
                    now = now.plus_millis(minutes(i64::from(after_min)));
                    offset += 1;
                    let name = ["Order Completed", "Clicked", "Product Viewed"][usize::from(kind)];
                    let cart = if same_cart { "cart-1" } else { "cart-2" };
                    let data = map(json!({"cart_id": cart}));
                    let out = feed(&j, &instance, event(name, now, &data, offset), now, &facts);
                    if name == "Order Completed" {
                        exit_event_fed = true;
                        prop_assert!(!out.instance.is_active(), "an exit event ends the instance");
                    }
                    out
                }
                Action::Trigger { same_cart, after_min } => {
                    now = now.plus_millis(minutes(i64::from(after_min)));
                    offset += 1;
                    let new = cart_trigger(now, same_cart, offset);
                    let same_key = j.entry.key_of(&new.data).as_deref() == Some(instance.key.as_str());
                    let live = (instance.is_active() && same_key).then_some(&instance);
                    let admission = admit(&j, &new, live, Some(instance.entered_at), &Context { now, facts: &facts });
                    if live.is_some() {
                        prop_assert!(!matches!(admission, Admission::Start { .. }), "a second live instance for one key");
                    }
                    if admission != Admission::Retrigger { continue }
                    feed(&j, &instance, Input::Retrigger(new), now, &facts)
                }
                Action::Recheck { vip, churned, after_min } => {
                    now = now.plus_millis(minutes(i64::from(after_min)));
                    facts.attributes.insert("vip".into(), json!(vip));
                    facts.attributes.insert("churned".into(), json!(churned));
                    feed(&j, &instance, Input::Recheck, now, &facts)
                }
            };
            if exit_event_fed {
                prop_assert!(
                    !out.effects.iter().any(|e| matches!(e, Effect::Send { .. } | Effect::Webhook { .. })),
                    "sent after an exit event: {:?}", out.effects
                );
            }
            if was_finished {
                prop_assert!(out.effects.iter().all(|e| matches!(e, Effect::Converted { .. })),
                             "a finished instance only converts: {:?}", out.effects);
            }
            let previous_wake = instance.wake_at;
            instance = out.instance;
            all_effects.extend(out.effects);
            check_state(&j, &instance, previous_wake, now)?;
        }

        let mut ids = BTreeSet::new();
        for effect in &all_effects {
            if let Effect::Send { message_id, .. } | Effect::Webhook { message_id, .. } = effect {
                prop_assert!(ids.insert(message_id.clone()), "message id {} repeated", message_id);
            }
        }
    }
}
