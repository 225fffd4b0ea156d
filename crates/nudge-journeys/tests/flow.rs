//! Steps that choose a way or act without waiting: branch, split, random, `next`, update,
//! webhook, emit and exit. Expected effects are worked out by hand.

mod support;

use std::collections::BTreeMap;

use nudge_journeys::{start, Effect, Input, Status};
use serde_json::json;
use support::effects::{exited, reached, send};
use support::*;

fn enter(
    yaml_journey: &nudge_journeys::Journey,
    key: &str,
    facts: &Facts,
) -> nudge_journeys::Outcome {
    let t0 = day("10:02");
    let fresh = start(
        yaml_journey,
        1,
        trigger("Added to Cart", t0, json!({}), 2),
        key.into(),
        t0,
    );
    feed(yaml_journey, &fresh, Input::Enter, t0, facts)
}

#[test]
fn branch_takes_then_or_else_and_next_jumps() {
    let j = journey(
        r#"
id: b
name: Branch
trigger: {event: Added to Cart}
steps:
  - id: big-cart
    branch: {if: {attribute: {field: vip, operator: eq, value: true}}, then: vip-mail, else: regular-mail}
  - id: vip-mail
    send: {channel: email, template: vip}
    next: done
  - id: regular-mail
    send: {channel: email, template: regular}
  - id: done
    update: {attributes: {last_cart_journey: cart-recovery}}
"#,
    );
    let ms = day("10:02").millis();
    let tag = Effect::UpdateAttributes {
        step: "done".into(),
        attributes: map(json!({"last_cart_journey": "cart-recovery"})),
    };
    let vip = enter(&j, "", &Facts::with(json!({"vip": true})));
    assert_eq!(
        vip.effects,
        vec![
            Effect::Entered,
            reached("big-cart"),
            reached("vip-mail"),
            send(
                "vip-mail",
                "email",
                "vip",
                &format!("b:1:2:{ms}:vip-mail:2:")
            ),
            reached("done"),
            tag.clone(),
            exited("completed")
        ]
    );
    assert_eq!(vip.instance.visits, 3);
    let regular = enter(&j, "", &Facts::with(json!({"vip": false})));
    assert_eq!(
        regular.effects,
        vec![
            Effect::Entered,
            reached("big-cart"),
            reached("regular-mail"),
            send(
                "regular-mail",
                "email",
                "regular",
                &format!("b:1:2:{ms}:regular-mail:2:")
            ),
            reached("done"),
            tag,
            exited("completed")
        ]
    );
}

#[test]
fn split_takes_the_first_path_that_holds() {
    let j = journey(
        r#"
id: s
name: Split
trigger: {event: Added to Cart}
steps:
  - id: by-country
    split:
      paths:
        - {if: {attribute: {field: country, operator: eq, value: FR}}, next: fr}
        - {if: {attribute: {field: country, operator: in, value: [FR, BE]}}, next: be}
      else: other
  - id: fr
    exit: {reason: fr}
  - id: be
    exit: {reason: be}
  - id: other
    exit: {reason: other}
"#,
    );
    for (country, way) in [("FR", "fr"), ("BE", "be"), ("DE", "other")] {
        let out = enter(&j, "", &Facts::with(json!({"country": country})));
        assert_eq!(
            out.effects,
            vec![
                Effect::Entered,
                reached("by-country"),
                reached(way),
                exited(way)
            ]
        );
        assert_eq!(
            out.instance.status,
            Status::Finished {
                reason: way.into(),
                at: day("10:02")
            }
        );
    }
}

fn random_journey(holdout: u8, weights: (u32, u32)) -> nudge_journeys::Journey {
    journey(&format!(
        r#"
id: ab
name: A/B
trigger: {{event: Added to Cart}}
steps:
  - id: ab
    random: {{paths: [{{weight: {}, next: a}}, {{weight: {}, next: b}}], holdout: {holdout}}}
  - id: a
    exit: {{reason: a}}
  - id: b
    exit: {{reason: b}}
"#,
        weights.0, weights.1
    ))
}

fn way_of(outcome: &nudge_journeys::Outcome) -> String {
    match &outcome.instance.status {
        Status::Finished { reason, .. } => reason.clone(),
        Status::Active => "active".into(),
    }
}

#[test]
fn random_is_deterministic_weighted_and_holds_out() {
    let facts = Facts::default();
    let everyone_held_out = random_journey(100, (1, 1));
    let out = enter(&everyone_held_out, "k", &facts);
    assert_eq!(
        out.effects,
        vec![Effect::Entered, reached("ab"), exited("holdout")]
    );

    let even = random_journey(0, (1, 1));
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for n in 0..400 {
        let key = format!("cart-{n}");
        let first = way_of(&enter(&even, &key, &facts));
        assert_eq!(
            first,
            way_of(&enter(&even, &key, &facts)),
            "same instance, same way"
        );
        *counts.entry(first).or_default() += 1;
    }
    let a = counts.get("a").copied().unwrap_or(0);
    let b = counts.get("b").copied().unwrap_or(0);
    assert_eq!(a + b, 400);
    assert!((150..=250).contains(&a), "about half each: {counts:?}");

    let mostly_b = random_journey(0, (1, 9));
    let held = random_journey(20, (1, 1));
    let (mut b_count, mut holdouts) = (0, 0);
    for n in 0..1000 {
        let key = format!("cart-{n}");
        b_count += u32::from(way_of(&enter(&mostly_b, &key, &facts)) == "b");
        holdouts += u32::from(way_of(&enter(&held, &key, &facts)) == "holdout");
    }
    assert!((850..=950).contains(&b_count), "9 in 10 take b: {b_count}");
    assert!(
        (150..=250).contains(&holdouts),
        "1 in 5 held out: {holdouts}"
    );
}

#[test]
fn update_webhook_emit_and_exit_steps_say_exactly_what_to_do() {
    let j = journey(
        r#"
id: act
name: Actions
trigger: {event: Added to Cart}
steps:
  - id: tag
    update: {attributes: {last_cart_journey: cart-recovery, nudged: true}}
  - id: notify
    webhook:
      url: "https://hooks.example.com/cart"
      headers: {X-Token: abc}
      body: "{{ event.cart_id }}"
      map_response: {crm_id: /data/id}
  - id: emit
    emit: {event: Cart Reminder Sent, data: {channel: sms}}
  - id: done
    exit: {reason: completed_early}
"#,
    );
    let out = enter(&j, "cart-1", &Facts::default());
    let ms = day("10:02").millis();
    assert_eq!(
        out.effects,
        vec![
            Effect::Entered,
            reached("tag"),
            Effect::UpdateAttributes {
                step: "tag".into(),
                attributes: map(json!({"last_cart_journey": "cart-recovery", "nudged": true})),
            },
            reached("notify"),
            Effect::Webhook {
                step: "notify".into(),
                message_id: format!("act:1:2:{ms}:notify:2:cart-1"),
                method: "POST".into(),
                url: "https://hooks.example.com/cart".into(),
                headers: BTreeMap::from([("X-Token".to_string(), "abc".to_string())]),
                body: "{{ event.cart_id }}".into(),
                map_response: BTreeMap::from([("crm_id".to_string(), "/data/id".to_string())]),
            },
            reached("emit"),
            Effect::EmitEvent {
                step: "emit".into(),
                name: "Cart Reminder Sent".into(),
                data: map(json!({"channel": "sms"})),
            },
            reached("done"),
            exited("completed_early"),
        ]
    );
    assert_eq!(
        state(&out.instance),
        finished("completed_early", day("10:02"), day("10:02"), 4)
    );
}
