//! Deciding a condition for one person, from facts the caller supplies. Positive operators
//! are existential over the values a path reaches (`items[].category eq "serum"`: some item
//! is a serum); negative ones (`neq`, `not_contains`, `not_in`, `not_exists`) are the
//! negation of their positive twin, so a missing attribute is "not equal".

use nudge_core::{JsonMap, Timestamp};
use serde_json::Value;

use crate::ast::{AttributeFilter, AttributeOp, Condition, EventCondition};
use crate::parse::time_value;

/// One stored event as the evaluator sees it.
#[derive(Debug, Clone, Copy)]
pub struct EventFact<'a> {
    pub timestamp: Timestamp,
    pub data: &'a JsonMap,
}

/// What the evaluator may know about a person.
pub trait PersonFacts {
    fn attributes(&self) -> &JsonMap;
    fn in_segment(&self, segment_id: i64) -> bool;
    /// The person's events of this name, in any order.
    fn events(&self, name: &str) -> Vec<EventFact<'_>>;
}

pub fn evaluate(condition: &Condition, facts: &dyn PersonFacts, now: Timestamp) -> bool {
    match condition {
        Condition::And(all) => all.iter().all(|c| evaluate(c, facts, now)),
        Condition::Or(any) => any.iter().any(|c| evaluate(c, facts, now)),
        Condition::Not(inner) => !evaluate(inner, facts, now),
        Condition::Segment { id } => facts.in_segment(*id),
        Condition::Attribute(filter) => filter_holds(filter, facts.attributes(), now),
        Condition::Event(event) => event
            .count
            .holds(matching_events(event, facts, now).count() as u64),
    }
}

/// The events that count for `event` at `now`.
pub(crate) fn matching_events<'a>(
    event: &'a EventCondition,
    facts: &'a dyn PersonFacts,
    now: Timestamp,
) -> impl Iterator<Item = EventFact<'a>> + 'a {
    let since = event.within.map(|d| now.minus_millis(d));
    facts.events(&event.name).into_iter().filter(move |e| {
        since.is_none_or(|s| e.timestamp > s && e.timestamp <= now)
            && filters_match(&event.filters, e.data, now)
    })
}

/// Whether every filter holds on `data` (an event's data, as in a `where` list).
pub fn filters_match(filters: &[AttributeFilter], data: &JsonMap, now: Timestamp) -> bool {
    filters.iter().all(|f| filter_holds(f, data, now))
}

pub(crate) fn filter_holds(filter: &AttributeFilter, root: &JsonMap, now: Timestamp) -> bool {
    let values = filter.field.resolve(root);
    let any = |test: &dyn Fn(&Value) -> bool| values.iter().any(|v| test(v));
    match &filter.op {
        AttributeOp::Exists => !values.is_empty(),
        AttributeOp::NotExists => values.is_empty(),
        AttributeOp::Eq(expected) => any(&|v| same(v, expected)),
        AttributeOp::Neq(expected) => !any(&|v| same(v, expected)),
        AttributeOp::Gt(n) => any(&|v| v.as_f64().is_some_and(|x| x > *n)),
        AttributeOp::Gte(n) => any(&|v| v.as_f64().is_some_and(|x| x >= *n)),
        AttributeOp::Lt(n) => any(&|v| v.as_f64().is_some_and(|x| x < *n)),
        AttributeOp::Lte(n) => any(&|v| v.as_f64().is_some_and(|x| x <= *n)),
        AttributeOp::Contains(needle) => any(&|v| contains(v, needle)),
        AttributeOp::NotContains(needle) => !any(&|v| contains(v, needle)),
        AttributeOp::StartsWith(prefix) => {
            any(&|v| v.as_str().is_some_and(|s| s.starts_with(prefix.as_str())))
        }
        AttributeOp::In(options) => any(&|v| options.iter().any(|o| same(v, o))),
        AttributeOp::NotIn(options) => !any(&|v| options.iter().any(|o| same(v, o))),
        AttributeOp::Before(t) => any(&|v| time_value(v).is_some_and(|x| x < *t)),
        AttributeOp::After(t) => any(&|v| time_value(v).is_some_and(|x| x > *t)),
        AttributeOp::WithinLast(d) => {
            any(&|v| time_value(v).is_some_and(|x| x <= now && now.millis() - x.millis() < *d))
        }
        AttributeOp::MoreThanAgo(d) => {
            any(&|v| time_value(v).is_some_and(|x| now.millis() - x.millis() >= *d))
        }
    }
}

/// JSON equality, with numbers compared as numbers (1 equals 1.0).
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => a == b,
    }
}

fn contains(haystack: &Value, needle: &Value) -> bool {
    match (haystack, needle) {
        (Value::String(h), Value::String(n)) => h.contains(n.as_str()),
        (Value::Array(items), n) => items.iter().any(|i| same(i, n)),
        _ => false,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::parse;
    use serde_json::json;

    /// Facts held in memory, for tests here and in `time_flip`.
    pub(crate) struct Facts {
        pub attributes: JsonMap,
        pub segments: Vec<i64>,
        pub events: Vec<(String, Timestamp, JsonMap)>,
    }

    impl PersonFacts for Facts {
        fn attributes(&self) -> &JsonMap {
            &self.attributes
        }
        fn in_segment(&self, id: i64) -> bool {
            self.segments.contains(&id)
        }
        fn events(&self, name: &str) -> Vec<EventFact<'_>> {
            self.events
                .iter()
                .filter(|(n, _, _)| n == name)
                .map(|(_, timestamp, data)| EventFact {
                    timestamp: *timestamp,
                    data,
                })
                .collect()
        }
    }

    pub(crate) fn day(n: i64) -> Timestamp {
        Timestamp::from_millis(n * 86_400_000)
    }

    fn check(condition: Value, facts: &Facts, now: Timestamp, expected: bool) {
        let c = parse(&condition).unwrap();
        assert_eq!(evaluate(&c, facts, now), expected, "{condition}");
    }

    fn person(attrs: Value) -> Facts {
        Facts {
            attributes: attrs.as_object().unwrap().clone(),
            segments: vec![7],
            events: vec![],
        }
    }

    #[test]
    fn attribute_operators() {
        let p = person(
            json!({"plan": "gold", "ltv": 520.5, "tags": ["vip", "eu"], "city": "Lyon",
            "items": [{"category": "serum"}, {"category": "cleanser"}], "signed_up": 864000}),
        );
        let now = day(100);
        let f = |field: &str, op: &str, value: Value| json!({"attribute": {"field": field, "operator": op, "value": value}});
        check(f("plan", "eq", json!("gold")), &p, now, true);
        check(f("plan", "neq", json!("gold")), &p, now, false);
        check(f("missing", "neq", json!("gold")), &p, now, true);
        check(
            json!({"attribute": {"field": "plan", "operator": "exists"}}),
            &p,
            now,
            true,
        );
        check(
            json!({"attribute": {"field": "missing", "operator": "not_exists"}}),
            &p,
            now,
            true,
        );
        check(f("ltv", "gte", json!(500)), &p, now, true);
        check(f("ltv", "lt", json!(500)), &p, now, false);
        check(f("plan", "gt", json!(1)), &p, now, false);
        check(f("tags", "contains", json!("vip")), &p, now, true);
        check(f("city", "contains", json!("yo")), &p, now, true);
        check(f("tags", "not_contains", json!("us")), &p, now, true);
        check(f("city", "starts_with", json!("Ly")), &p, now, true);
        check(f("plan", "in", json!(["gold", "silver"])), &p, now, true);
        check(f("plan", "not_in", json!(["gold"])), &p, now, false);
        check(
            f("items[].category", "eq", json!("cleanser")),
            &p,
            now,
            true,
        );
        check(
            f("items[0].category", "eq", json!("cleanser")),
            &p,
            now,
            false,
        );
        check(
            f("signed_up", "before", json!("1970-01-20T00:00:00Z")),
            &p,
            now,
            true,
        );
        check(f("signed_up", "after", json!(864001)), &p, now, false);
        check(f("signed_up", "more_than_ago", json!("90d")), &p, now, true);
        check(f("signed_up", "within_last", json!("91d")), &p, now, true);
        check(f("signed_up", "within_last", json!("90d")), &p, now, false);
        check(
            json!({"and": [{"segment": {"id": 7}}, {"not": {"segment": {"id": 8}}}]}),
            &p,
            now,
            true,
        );
    }

    #[test]
    fn filters_match_needs_every_filter() {
        let filters = crate::parse_filters(
            &json!([{"field": "cart_value", "operator": "gt", "value": 60},
                    {"field": "items[].category", "operator": "eq", "value": "serum"}]),
            "",
        )
        .unwrap();
        let data = |v: Value| v.as_object().unwrap().clone();
        let now = day(1);
        let both = data(json!({"cart_value": 84, "items": [{"category": "serum"}]}));
        let cheap = data(json!({"cart_value": 40, "items": [{"category": "serum"}]}));
        let other = data(json!({"cart_value": 84, "items": [{"category": "toner"}]}));
        assert!(filters_match(&filters, &both, now));
        assert!(!filters_match(&filters, &cheap, now));
        assert!(!filters_match(&filters, &other, now));
        assert!(
            filters_match(&[], &JsonMap::new(), now),
            "no filter: any data"
        );
    }

    #[test]
    fn event_counts_filters_and_windows() {
        let data = |v: f64| json!({"cart_value": v}).as_object().unwrap().clone();
        let p = Facts {
            attributes: JsonMap::new(),
            segments: vec![],
            events: vec![
                ("Added to Cart".into(), day(1), data(84.0)),
                ("Added to Cart".into(), day(9), data(40.0)),
                ("Added to Cart".into(), day(10), data(90.0)),
            ],
        };
        let now = day(10);
        let big = json!([{"field": "cart_value", "operator": "gt", "value": 60}]);
        check(json!({"event": {"name": "Added to Cart"}}), &p, now, true);
        check(
            json!({"event": {"name": "Added to Cart", "where": big, "count": {"eq": 2}}}),
            &p,
            now,
            true,
        );
        check(
            json!({"event": {"name": "Added to Cart", "where": big, "within": "7d"}}),
            &p,
            now,
            true,
        );
        check(
            json!({"event": {"name": "Added to Cart", "where": big, "within": "7d", "count": {"gte": 2}}}),
            &p,
            now,
            false,
        );
        check(
            json!({"event": {"name": "Order Completed", "count": {"eq": 0}}}),
            &p,
            now,
            true,
        );
        check(
            json!({"event": {"name": "Added to Cart", "count": {"lte": 2}}}),
            &p,
            now,
            false,
        );
    }
}
