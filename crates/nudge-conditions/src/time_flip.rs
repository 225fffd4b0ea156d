//! When can time alone change a condition's answer? For each time-dependent leaf
//! (`within_last`, `more_than_ago`, event windows) the moments a value or an event crosses a
//! window edge are candidates; the earliest one after `now` is when the caller re-evaluates.
//! It may be a moment where nothing flips (an `or` can mask a leaf); it is never late.

use nudge_core::Timestamp;

use crate::ast::{AttributeOp, Condition};
use crate::eval::{filter_holds, PersonFacts};
use crate::parse::time_value;

pub fn next_change(
    condition: &Condition,
    facts: &dyn PersonFacts,
    now: Timestamp,
) -> Option<Timestamp> {
    let mut earliest: Option<Timestamp> = None;
    candidates(condition, facts, now, &mut |t| {
        if t > now && earliest.is_none_or(|e| t < e) {
            earliest = Some(t);
        }
    });
    earliest
}

fn candidates(
    condition: &Condition,
    facts: &dyn PersonFacts,
    now: Timestamp,
    found: &mut dyn FnMut(Timestamp),
) {
    match condition {
        Condition::And(all) | Condition::Or(all) => {
            for c in all {
                candidates(c, facts, now, found);
            }
        }
        Condition::Not(inner) => candidates(inner, facts, now, found),
        Condition::Segment { .. } => {}
        Condition::Attribute(filter) => {
            let window = match filter.op {
                AttributeOp::WithinLast(d) | AttributeOp::MoreThanAgo(d) => d,
                _ => return,
            };
            for value in filter.field.resolve(facts.attributes()) {
                if let Some(t) = time_value(value) {
                    // A future time enters "within" when it arrives; every time leaves
                    // "within" (and enters "more than ago") `window` after it.
                    found(t);
                    found(t.plus_millis(window));
                }
            }
        }
        Condition::Event(event) => {
            let Some(window) = event.within else { return };
            for fact in facts.events(&event.name) {
                if event
                    .filters
                    .iter()
                    .all(|f| filter_holds(f, fact.data, now))
                {
                    found(fact.timestamp);
                    found(fact.timestamp.plus_millis(window));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::tests::{day, Facts};
    use crate::{evaluate, parse};
    use nudge_core::JsonMap;
    use serde_json::json;

    #[test]
    fn inactive_90_days_flips_at_the_exact_moment() {
        let c = parse(&json!({"attribute": {"field": "last_order_date", "operator": "more_than_ago", "value": "90d"}})).unwrap();
        let ordered = day(10);
        let p = Facts {
            attributes: json!({"last_order_date": ordered.unix_seconds()})
                .as_object()
                .unwrap()
                .clone(),
            segments: vec![],
            events: vec![],
        };
        let now = day(50);
        let flip = next_change(&c, &p, now).expect("a flip is ahead");
        assert_eq!(flip, day(100));
        assert!(!evaluate(&c, &p, flip.minus_millis(1)));
        assert!(evaluate(&c, &p, flip));
        assert_eq!(
            next_change(&c, &p, flip),
            None,
            "nothing changes after that"
        );
    }

    #[test]
    fn event_windows_flip_when_an_event_leaves_them() {
        let c = parse(
            &json!({"event": {"name": "Product Viewed", "within": "1d", "count": {"gte": 2}}}),
        )
        .unwrap();
        let p = Facts {
            attributes: JsonMap::new(),
            segments: vec![],
            events: vec![
                (
                    "Product Viewed".into(),
                    Timestamp::from_millis(1_000),
                    JsonMap::new(),
                ),
                (
                    "Product Viewed".into(),
                    Timestamp::from_millis(5_000),
                    JsonMap::new(),
                ),
            ],
        };
        let now = Timestamp::from_millis(6_000);
        assert!(evaluate(&c, &p, now));
        let flip = next_change(&c, &p, now).unwrap();
        assert_eq!(flip, Timestamp::from_millis(1_000 + 86_400_000));
        assert!(!evaluate(&c, &p, flip), "the first view left the window");
    }

    #[test]
    fn conditions_without_time_never_flip() {
        let c = parse(&json!({"attribute": {"field": "plan", "operator": "eq", "value": "gold"}}))
            .unwrap();
        let p = Facts {
            attributes: JsonMap::new(),
            segments: vec![],
            events: vec![],
        };
        assert_eq!(next_change(&c, &p, day(1)), None);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::eval::tests::Facts;
    use crate::{evaluate, parse};
    use nudge_core::JsonMap;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    const HOUR: i64 = 3_600_000;

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            (1i64..48).prop_map(|h| json!({"attribute": {"field": "seen", "operator": "within_last", "value": format!("{h}h")}})),
            (1i64..48).prop_map(|h| json!({"attribute": {"field": "seen", "operator": "more_than_ago", "value": format!("{h}h")}})),
            (1i64..48, 0u64..4).prop_map(|(h, n)| json!({"event": {"name": "view", "within": format!("{h}h"), "count": {"gte": n}}})),
            (1i64..48, 0u64..3).prop_map(|(h, n)| json!({"event": {"name": "view", "within": format!("{h}h"), "count": {"eq": n}}})),
            Just(json!({"attribute": {"field": "plan", "operator": "eq", "value": "gold"}})),
        ]
    }

    fn condition() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"and": v})),
                proptest::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"or": v})),
                inner.prop_map(|c| json!({"not": c})),
            ]
        })
    }

    proptest! {
        /// Between `now` and the predicted flip, the answer never changes: the prediction is
        /// never late, so a re-evaluation scheduled then catches every transition.
        #[test]
        fn the_answer_holds_until_the_predicted_flip(
            cond in condition(),
            seen in -48i64..48,
            views in proptest::collection::vec(-60i64..12, 0..5),
            probes in proptest::collection::vec(0i64..1_000, 1..8),
        ) {
            let c = parse(&cond).unwrap();
            let now = Timestamp::from_millis(100 * HOUR);
            let facts = Facts {
                attributes: json!({"seen": now.plus_millis(seen * HOUR).unix_seconds(), "plan": "gold"})
                    .as_object().unwrap().clone(),
                segments: vec![],
                events: views.iter().map(|h| ("view".to_string(), now.plus_millis(h * HOUR), JsonMap::new())).collect(),
            };
            let at_now = evaluate(&c, &facts, now);
            let horizon = next_change(&c, &facts, now).unwrap_or(now.plus_millis(200 * HOUR));
            for p in probes {
                let t = now.plus_millis((horizon.millis() - now.millis()) * p / 1_000);
                prop_assert_eq!(evaluate(&c, &facts, t), at_now, "changed at {:?} before {:?}", t, horizon);
            }
        }
    }
}
