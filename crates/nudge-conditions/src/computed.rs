//! Computed attributes: values a person carries that Nudge derives from their events
//! (`lifetime_value`, `order_count`, `last_order_date`, `current_cart_value`, …). A definition
//! names an aggregate over one or more event sources; [`ComputedState`] folds events into it
//! one at a time, and says when it cannot (a reset that arrives after later events, or a time
//! window), in which case the caller recomputes from the person's events with [`recompute`].

use nudge_core::{JsonMap, Timestamp};
use serde_json::{json, Value};

use crate::ast::AttributeFilter;
use crate::eval::filter_holds;
use crate::{DurationMs, FieldPath};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    Count,
    Sum,
    Min,
    Max,
    First,
    Last,
}

/// What a source contributes from each event: a field of its data, or its time.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceValue {
    Field(FieldPath),
    Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub event: String,
    pub filters: Vec<AttributeFilter>,
    /// `None` only for counts.
    pub value: Option<SourceValue>,
    /// Subtracts instead of adding (refunds lowering a lifetime value).
    pub negate: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ComputedAttribute {
    pub name: String,
    pub aggregate: Aggregate,
    pub sources: Vec<Source>,
    /// Events that start the value afresh (a purchase empties the current cart).
    pub reset_on: Vec<String>,
    /// Only events less than this long ago count.
    pub within: Option<DurationMs>,
}

/// One event as the fold sees it.
#[derive(Debug, Clone, Copy)]
pub struct EventInput<'a> {
    pub name: &'a str,
    pub timestamp: Timestamp,
    pub data: &'a JsonMap,
}

/// The running state of one computed attribute for one person; stored between events as
/// JSON.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ComputedState {
    /// Count or sum; the min or max.
    number: Option<f64>,
    /// For first/last: the chosen event's time and value.
    chosen: Option<(Timestamp, Value)>,
    count: u64,
    /// Events before the latest reset no longer count.
    reset_at: Option<Timestamp>,
    /// The newest event folded in, to notice a reset that arrives late.
    newest: Option<Timestamp>,
}

/// What folding one event did.
#[derive(Debug, Clone, PartialEq)]
pub enum Fold {
    /// The event does not concern this attribute.
    Unchanged,
    Updated,
    /// The fold cannot be done incrementally: recompute from the person's events.
    Recompute,
}

impl ComputedAttribute {
    /// Whether an event of this name can change the attribute.
    pub fn reads(&self, event: &str) -> bool {
        self.sources.iter().any(|s| s.event == event) || self.reset_on.iter().any(|r| r == event)
    }

    /// Whether folding reads any event's data (a value field or a `where` filter), rather than
    /// only names and times.
    pub fn reads_event_data(&self) -> bool {
        self.sources
            .iter()
            .any(|s| !s.filters.is_empty() || matches!(s.value, Some(SourceValue::Field(_))))
    }

    /// Every event name the attribute reads (its sources and reset events), once each.
    pub fn event_names(&self) -> std::collections::BTreeSet<String> {
        let sources = self.sources.iter().map(|s| s.event.clone());
        sources.chain(self.reset_on.iter().cloned()).collect()
    }

    /// The attribute's value for a state: `None` means "no value" (the attribute is absent).
    pub fn value(&self, state: &ComputedState) -> Option<Value> {
        match self.aggregate {
            Aggregate::Count => Some(json!(state.count)),
            Aggregate::Sum => Some(number(state.number.unwrap_or(0.0))),
            Aggregate::Min | Aggregate::Max => state.number.map(number),
            Aggregate::First | Aggregate::Last => state.chosen.as_ref().map(|(_, v)| v.clone()),
        }
    }

    pub fn fold(&self, state: &mut ComputedState, event: EventInput<'_>, now: Timestamp) -> Fold {
        if self.reset_on.iter().any(|r| r == event.name) {
            if state.newest.is_some_and(|newest| newest > event.timestamp) {
                return Fold::Recompute;
            }
            if state.reset_at.is_none_or(|r| event.timestamp > r) {
                *state = ComputedState {
                    reset_at: Some(event.timestamp),
                    ..ComputedState::default()
                };
            }
            return Fold::Updated;
        }
        if self.within.is_some() {
            return if self.sources.iter().any(|s| s.event == event.name) {
                Fold::Recompute
            } else {
                Fold::Unchanged
            };
        }
        let mut changed = false;
        for source in self.sources.iter().filter(|s| s.event == event.name) {
            if state.reset_at.is_some_and(|r| event.timestamp <= r) {
                continue;
            }
            if !source
                .filters
                .iter()
                .all(|f| filter_holds(f, event.data, now))
            {
                continue;
            }
            let contribution = match &source.value {
                None => None,
                Some(SourceValue::Timestamp) => Some(json!(event.timestamp.unix_seconds())),
                Some(SourceValue::Field(path)) => match path.resolve(event.data).first() {
                    Some(v) => Some((*v).clone()),
                    None if self.aggregate == Aggregate::Count => None,
                    // An event without the value contributes nothing.
                    None => continue,
                },
            };
            self.apply(state, source, event.timestamp, contribution);
            state.newest = Some(
                state
                    .newest
                    .map_or(event.timestamp, |n| n.max(event.timestamp)),
            );
            changed = true;
        }
        if changed {
            Fold::Updated
        } else {
            Fold::Unchanged
        }
    }

    fn apply(
        &self,
        state: &mut ComputedState,
        source: &Source,
        at: Timestamp,
        value: Option<Value>,
    ) {
        let sign = if source.negate { -1.0 } else { 1.0 };
        let as_number = value.as_ref().and_then(Value::as_f64);
        match self.aggregate {
            Aggregate::Count => state.count += 1,
            Aggregate::Sum => {
                if let Some(x) = as_number {
                    state.number = Some(state.number.unwrap_or(0.0) + sign * x);
                }
            }
            Aggregate::Min | Aggregate::Max => {
                if let Some(x) = as_number {
                    let keep_new = match (state.number, self.aggregate) {
                        (None, _) => true,
                        (Some(old), Aggregate::Min) => x < old,
                        (Some(old), _) => x > old,
                    };
                    if keep_new {
                        state.number = Some(x);
                    }
                }
            }
            Aggregate::First | Aggregate::Last => {
                let Some(value) = value else { return };
                let replace = match &state.chosen {
                    None => true,
                    Some((t, _)) if self.aggregate == Aggregate::First => at < *t,
                    Some((t, _)) => at >= *t,
                };
                if replace {
                    state.chosen = Some((at, value));
                }
            }
        }
    }
}

/// The state from scratch: every event of the person that the attribute reads, any order.
pub fn recompute(
    attribute: &ComputedAttribute,
    events: &[EventInput<'_>],
    now: Timestamp,
) -> ComputedState {
    let mut sorted: Vec<&EventInput<'_>> =
        events.iter().filter(|e| attribute.reads(e.name)).collect();
    // Resets sort after events of the same instant, so an order and its reset cancel.
    sorted.sort_by_key(|e| (e.timestamp, attribute.reset_on.iter().any(|r| r == e.name)));
    let windowed = ComputedAttribute {
        within: None,
        ..attribute.clone()
    };
    let mut state = ComputedState::default();
    for event in sorted {
        let in_window = attribute
            .within
            .is_none_or(|d| event.timestamp > now.minus_millis(d) && event.timestamp <= now);
        let is_reset = attribute.reset_on.iter().any(|r| r == event.name);
        if in_window || is_reset {
            windowed.fold(&mut state, *event, now);
        }
    }
    state
}

/// Parses a definition:
/// `{"name", "aggregate", "sources": [{"event", "where"?, "value"?, "negate"?}], "reset_on"?,
/// "within"?}`, or the one-source short form with `event`, `where` and `value` at the top.
/// `value` is a field path of the event's data, or `"@timestamp"` for the event's time.
pub fn parse_computed(value: &Value) -> Result<ComputedAttribute, crate::ConditionError> {
    let fail = |at: &str, message: String| crate::ConditionError {
        pointer: at.to_string(),
        message,
    };
    let map = value
        .as_object()
        .ok_or_else(|| fail("", "a computed attribute must be an object".into()))?;
    for key in map.keys() {
        if ![
            "name",
            "aggregate",
            "sources",
            "event",
            "where",
            "value",
            "negate",
            "reset_on",
            "within",
        ]
        .contains(&key.as_str())
        {
            return Err(fail(&format!("/{key}"), format!("unknown key '{key}'")));
        }
    }
    let name = match map.get("name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() && n.len() <= 150 => n.to_string(),
        _ => {
            return Err(fail(
                "/name",
                "name is required: the attribute it computes".into(),
            ))
        }
    };
    let aggregate = match map.get("aggregate").and_then(Value::as_str) {
        Some("count") => Aggregate::Count,
        Some("sum") => Aggregate::Sum,
        Some("min") => Aggregate::Min,
        Some("max") => Aggregate::Max,
        Some("first") => Aggregate::First,
        Some("last") => Aggregate::Last,
        _ => {
            return Err(fail(
                "/aggregate",
                "aggregate must be count, sum, min, max, first or last".into(),
            ))
        }
    };
    let source_values: Vec<(String, &serde_json::Map<String, Value>)> = match map.get("sources") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_object()
                    .map(|m| (format!("/sources/{i}"), m))
                    .ok_or_else(|| {
                        fail(
                            &format!("/sources/{i}"),
                            "a source must be an object".into(),
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(fail("/sources", "sources must be a non-empty array".into())),
        None => vec![(String::new(), map)],
    };
    let mut sources = Vec::new();
    for (at, source) in source_values {
        let event = match source.get("event").and_then(Value::as_str) {
            Some(e) if !e.trim().is_empty() => e.trim().to_string(),
            _ => {
                return Err(fail(
                    &format!("{at}/event"),
                    "event is required: the event name it reads".into(),
                ))
            }
        };
        let filters = match source.get("where") {
            None => Vec::new(),
            Some(w) => {
                match crate::parse(&serde_json::json!({"event": {"name": event, "where": w}})) {
                    Ok(crate::Condition::Event(e)) => e.filters,
                    Ok(_) => Vec::new(),
                    Err(e) => {
                        return Err(fail(
                            &format!("{at}{}", e.pointer.trim_start_matches("/event")),
                            e.message,
                        ))
                    }
                }
            }
        };
        let value = match source.get("value").and_then(Value::as_str) {
            None => None,
            Some("@timestamp") => Some(SourceValue::Timestamp),
            Some(path) => Some(SourceValue::Field(
                FieldPath::parse(path).map_err(|m| fail(&format!("{at}/value"), m))?,
            )),
        };
        if value.is_none() && aggregate != Aggregate::Count {
            return Err(fail(
                &format!("{at}/value"),
                "value is required unless the aggregate is count".into(),
            ));
        }
        let negate = source
            .get("negate")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        sources.push(Source {
            event,
            filters,
            value,
            negate,
        });
    }
    let reset_on = match map.get("reset_on") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| fail("/reset_on", "reset_on is a list of event names".into()))?,
        Some(_) => {
            return Err(fail(
                "/reset_on",
                "reset_on is a list of event names".into(),
            ))
        }
    };
    let within = match map.get("within") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .and_then(crate::parse_duration)
                .ok_or_else(|| fail("/within", "within is a duration such as \"30d\"".into()))?,
        ),
    };
    Ok(ComputedAttribute {
        name,
        aggregate,
        sources,
        reset_on,
        within,
    })
}

fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn def(v: Value) -> ComputedAttribute {
        parse_computed(&v).unwrap()
    }

    fn d2c() -> Vec<ComputedAttribute> {
        vec![
            def(
                json!({"name": "lifetime_value", "aggregate": "sum", "sources": [
                {"event": "Order Completed", "value": "revenue"},
                {"event": "Order Refunded", "value": "amount", "negate": true}]}),
            ),
            def(json!({"name": "order_count", "aggregate": "count", "event": "Order Completed"})),
            def(
                json!({"name": "first_order_date", "aggregate": "first", "event": "Order Completed", "value": "@timestamp"}),
            ),
            def(
                json!({"name": "last_order_date", "aggregate": "last", "event": "Order Completed", "value": "@timestamp"}),
            ),
            def(
                json!({"name": "current_cart_value", "aggregate": "last", "event": "Added to Cart", "value": "cart_value",
                       "reset_on": ["Order Completed"]}),
            ),
            def(
                json!({"name": "biggest_cart", "aggregate": "max", "event": "Added to Cart", "value": "cart_value",
                       "where": [{"field": "cart_value", "operator": "gt", "value": 0}]}),
            ),
            def(
                json!({"name": "views_30d", "aggregate": "count", "event": "Product Viewed", "within": "30d"}),
            ),
        ]
    }

    fn data(v: Value) -> JsonMap {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_d2c_attributes_follow_the_story() {
        let t = |s: i64| Timestamp::from_millis(s * 1000);
        let events = [
            ("Added to Cart", t(100), data(json!({"cart_value": 84.0}))),
            ("Order Completed", t(200), data(json!({"revenue": 84.0}))),
            ("Added to Cart", t(300), data(json!({"cart_value": 40.0}))),
            ("Order Completed", t(400), data(json!({"revenue": 500}))),
            ("Order Refunded", t(500), data(json!({"amount": 84.0}))),
        ];
        let inputs: Vec<EventInput<'_>> = events
            .iter()
            .map(|(n, ts, d)| EventInput {
                name: n,
                timestamp: *ts,
                data: d,
            })
            .collect();
        let now = t(1_000);
        let values: Vec<Option<Value>> = d2c()
            .iter()
            .map(|a| a.value(&recompute(a, &inputs, now)))
            .collect();
        assert_eq!(values[0], Some(json!(500)), "lifetime value: 84 + 500 - 84");
        assert_eq!(values[1], Some(json!(2)));
        assert_eq!(values[2], Some(json!(200)));
        assert_eq!(values[3], Some(json!(400)));
        assert_eq!(values[4], None, "the purchase emptied the cart");
        assert_eq!(values[5], Some(json!(84)));
    }

    #[test]
    fn definitions_are_checked() {
        let e =
            parse_computed(&json!({"name": "x", "aggregate": "sum", "event": "E"})).unwrap_err();
        assert_eq!(e.pointer, "/value");
        let e =
            parse_computed(&json!({"name": "x", "aggregate": "median", "event": "E"})).unwrap_err();
        assert_eq!(e.pointer, "/aggregate");
        let e = parse_computed(
            &json!({"name": "x", "aggregate": "count", "sources": [{"event": "E",
            "where": [{"field": "a", "operator": "nope", "value": 1}]}]}),
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/sources/0/where/0/operator");
    }

    fn event_strategy() -> impl Strategy<Value = (usize, i64, i64)> {
        (0usize..4, 0i64..50, -5i64..100)
    }

    proptest! {
        /// Folding events one at a time, in any arrival order, gives the value a recompute from
        /// all of them gives (recomputing whenever the fold asks to).
        #[test]
        fn incremental_equals_recompute(events in proptest::collection::vec(event_strategy(), 0..30)) {
            let names = ["Added to Cart", "Order Completed", "Order Refunded", "Product Viewed"];
            let owned: Vec<(&str, Timestamp, JsonMap)> = events.iter().map(|(n, t, v)| {
                (names[*n], Timestamp::from_millis(t * 86_400_000),
                 data(json!({"cart_value": v, "revenue": v, "amount": v})))
            }).collect();
            let now = Timestamp::from_millis(60 * 86_400_000);
            for attribute in d2c() {
                let mut state = ComputedState::default();
                for i in 0..owned.len() {
                    let (name, timestamp, ref d) = owned[i];
                    let seen: Vec<EventInput<'_>> = owned[..=i].iter().map(|(n, t, d)| EventInput { name: n, timestamp: *t, data: d }).collect();
                    if attribute.fold(&mut state, EventInput { name, timestamp, data: d }, now) == Fold::Recompute {
                        state = recompute(&attribute, &seen, now);
                    }
                    let expected = recompute(&attribute, &seen, now);
                    prop_assert_eq!(attribute.value(&state), attribute.value(&expected), "{} after {} events", attribute.name, i + 1);
                }
            }
        }
    }
}
