//! JSON → [`Condition`], refusing anything malformed with a message that names the node by its
//! JSON pointer (`/and/1/attribute/operator: unknown operator 'equals'`).

use nudge_core::Timestamp;
use serde_json::{Map, Value};

use crate::ast::{AttributeFilter, AttributeOp, Condition, CountOp, EventCondition};
use crate::{parse_duration, FieldPath};

/// Deeper trees are refused: no real audience needs them, and they would cost stack.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pointer}: {message}")]
pub struct ConditionError {
    /// JSON pointer of the offending node (`""` is the root).
    pub pointer: String,
    pub message: String,
}

fn err<T>(pointer: &str, message: impl Into<String>) -> Result<T, ConditionError> {
    Err(ConditionError {
        pointer: pointer.to_string(),
        message: message.into(),
    })
}

pub fn parse(value: &Value) -> Result<Condition, ConditionError> {
    node(value, "", 0)
}

fn node(value: &Value, at: &str, depth: usize) -> Result<Condition, ConditionError> {
    if depth > MAX_DEPTH {
        return err(
            at,
            format!("conditions nest deeper than {MAX_DEPTH} levels"),
        );
    }
    let Some(map) = value.as_object() else {
        return err(
            at,
            "a condition must be an object such as {\"attribute\": {…}}",
        );
    };
    let mut keys = map.keys();
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return err(
            at,
            "a condition must have exactly one key: and, or, not, segment, attribute or event",
        );
    };
    let inner = &map[key];
    let here = format!("{at}/{key}");
    match key.as_str() {
        "and" | "or" => {
            let Some(items) = inner.as_array().filter(|a| !a.is_empty()) else {
                return err(
                    &here,
                    format!("'{key}' takes a non-empty array of conditions"),
                );
            };
            let children = items
                .iter()
                .enumerate()
                .map(|(i, item)| node(item, &format!("{here}/{i}"), depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if key == "and" {
                Condition::And(children)
            } else {
                Condition::Or(children)
            })
        }
        "not" => Ok(Condition::Not(Box::new(node(inner, &here, depth + 1)?))),
        "segment" => match inner.get("id").and_then(Value::as_i64) {
            Some(id) if inner.as_object().is_some_and(|m| m.len() == 1) => {
                Ok(Condition::Segment { id })
            }
            _ => err(&here, "'segment' takes {\"id\": <integer>}"),
        },
        "attribute" => Ok(Condition::Attribute(filter(inner, &here)?)),
        "event" => Ok(Condition::Event(event(inner, &here)?)),
        other => err(
            at,
            format!(
                "unknown condition '{other}': expected and, or, not, segment, attribute or event"
            ),
        ),
    }
}

fn object<'a>(
    value: &'a Value,
    at: &str,
    what: &str,
) -> Result<&'a Map<String, Value>, ConditionError> {
    value
        .as_object()
        .map_or_else(|| err(at, format!("{what} must be an object")), Ok)
}

fn only_keys(map: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), ConditionError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => err(
            &format!("{at}/{k}"),
            format!("unknown key '{k}' (allowed: {})", allowed.join(", ")),
        ),
        None => Ok(()),
    }
}

/// A `where` list (an array of attribute filters on an event's data), as in an event
/// condition; `pointer` is where the list sits, so errors name `{pointer}/1/operator`.
pub fn parse_filters(value: &Value, pointer: &str) -> Result<Vec<AttributeFilter>, ConditionError> {
    let Some(items) = value.as_array() else {
        return err(pointer, "where takes an array of filters");
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| filter(item, &format!("{pointer}/{i}")))
        .collect()
}

/// `{"field", "operator", "value"?}`, for attributes and event `where` entries alike.
fn filter(value: &Value, at: &str) -> Result<AttributeFilter, ConditionError> {
    let map = object(value, at, "an attribute filter")?;
    only_keys(map, &["field", "operator", "value"], at)?;
    let field = match map.get("field").and_then(Value::as_str) {
        Some(text) => FieldPath::parse(text).or_else(|m| err(&format!("{at}/field"), m))?,
        None => {
            return err(
                &format!("{at}/field"),
                "field is required and must be a string",
            )
        }
    };
    let Some(operator) = map.get("operator").and_then(Value::as_str) else {
        return err(
            &format!("{at}/operator"),
            "operator is required and must be a string",
        );
    };
    let op = operator_with_value(operator, map.get("value"), at)?;
    Ok(AttributeFilter { field, op })
}

fn operator_with_value(
    operator: &str,
    value: Option<&Value>,
    at: &str,
) -> Result<AttributeOp, ConditionError> {
    let value_at = format!("{at}/value");
    let need = |what: &str| -> Result<&Value, ConditionError> {
        value.map_or_else(
            || {
                err(
                    &value_at,
                    format!("operator '{operator}' needs a value ({what})"),
                )
            },
            Ok,
        )
    };
    let number = |what| -> Result<f64, ConditionError> {
        need(what)?.as_f64().map_or_else(
            || err(&value_at, format!("operator '{operator}' needs a number")),
            Ok,
        )
    };
    let list = |what| -> Result<Vec<Value>, ConditionError> {
        match need(what)?.as_array() {
            Some(items) if !items.is_empty() => Ok(items.clone()),
            _ => err(
                &value_at,
                format!("operator '{operator}' needs a non-empty array"),
            ),
        }
    };
    let duration = || -> Result<i64, ConditionError> {
        need("a duration such as \"90d\"")?
            .as_str()
            .and_then(parse_duration)
            .map_or_else(
                || {
                    err(
                        &value_at,
                        "a duration is a whole number and a unit: 30m, 24h, 7d, 2w",
                    )
                },
                Ok,
            )
    };
    let time = || -> Result<Timestamp, ConditionError> {
        let v = need("a time: RFC 3339 or unix seconds")?;
        time_value(v).map_or_else(
            || err(&value_at, "a time is an RFC 3339 string or unix seconds"),
            Ok,
        )
    };
    let no_value = |op| match value {
        None => Ok(op),
        Some(_) => err(&value_at, format!("operator '{operator}' takes no value")),
    };
    Ok(match operator {
        "eq" => AttributeOp::Eq(need("any JSON value")?.clone()),
        "neq" => AttributeOp::Neq(need("any JSON value")?.clone()),
        "exists" => no_value(AttributeOp::Exists)?,
        "not_exists" => no_value(AttributeOp::NotExists)?,
        "gt" => AttributeOp::Gt(number("a number")?),
        "gte" => AttributeOp::Gte(number("a number")?),
        "lt" => AttributeOp::Lt(number("a number")?),
        "lte" => AttributeOp::Lte(number("a number")?),
        "contains" => AttributeOp::Contains(need("a string or an element")?.clone()),
        "not_contains" => AttributeOp::NotContains(need("a string or an element")?.clone()),
        "starts_with" => match need("a string")?.as_str() {
            Some(s) => AttributeOp::StartsWith(s.to_string()),
            None => return err(&value_at, "operator 'starts_with' needs a string"),
        },
        "in" => AttributeOp::In(list("an array")?),
        "not_in" => AttributeOp::NotIn(list("an array")?),
        "before" => AttributeOp::Before(time()?),
        "after" => AttributeOp::After(time()?),
        "within_last" => AttributeOp::WithinLast(duration()?),
        "more_than_ago" => AttributeOp::MoreThanAgo(duration()?),
        other => {
            return err(
                &format!("{at}/operator"),
                format!("unknown operator '{other}'"),
            )
        }
    })
}

/// Times in data: unix seconds (numbers or digit strings, Customer.io's convention) or RFC 3339.
pub(crate) fn time_value(value: &Value) -> Option<Timestamp> {
    match value {
        Value::Number(n) => n.as_i64().and_then(Timestamp::from_unix_seconds),
        Value::String(s) => Timestamp::parse_rfc3339(s)
            .or_else(|| s.parse::<i64>().ok().and_then(Timestamp::from_unix_seconds)),
        _ => None,
    }
}

fn event(value: &Value, at: &str) -> Result<EventCondition, ConditionError> {
    let map = object(value, at, "an event condition")?;
    only_keys(map, &["name", "where", "count", "within"], at)?;
    let name = match map.get("name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => n.trim().to_string(),
        _ => return err(&format!("{at}/name"), "name is required: the event's name"),
    };
    let filters = match map.get("where") {
        None => Vec::new(),
        Some(list) => parse_filters(list, &format!("{at}/where"))?,
    };
    let count = match map.get("count") {
        None => CountOp::Gte(1),
        Some(count) => {
            let count_at = format!("{at}/count");
            let m = object(count, &count_at, "count")?;
            let mut entries = m.iter();
            let (Some((op, n)), None) = (entries.next(), entries.next()) else {
                return err(&count_at, "count takes exactly one of gte, lte or eq");
            };
            let Some(n) = n.as_u64() else {
                return err(
                    &format!("{count_at}/{op}"),
                    "a count is a whole number, 0 or more",
                );
            };
            match op.as_str() {
                "gte" => CountOp::Gte(n),
                "lte" => CountOp::Lte(n),
                "eq" => CountOp::Eq(n),
                other => {
                    return err(
                        &format!("{count_at}/{other}"),
                        format!("unknown count operator '{other}'"),
                    )
                }
            }
        }
    };
    let within = match map.get("within") {
        None => None,
        Some(v) => Some(v.as_str().and_then(parse_duration).map_or_else(
            || {
                err(
                    &format!("{at}/within"),
                    "within is a duration such as \"7d\"",
                )
            },
            Ok,
        )?),
    };
    Ok(EventCondition {
        name,
        filters,
        count,
        within,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error(v: Value) -> String {
        parse(&v).unwrap_err().to_string()
    }

    #[test]
    fn errors_point_at_the_offending_node() {
        assert_eq!(
            error(
                json!({"and": [{"segment": {"id": 1}}, {"attribute": {"field": "plan", "operator": "equals", "value": 1}}]})
            ),
            "/and/1/attribute/operator: unknown operator 'equals'"
        );
        assert_eq!(
            error(json!({"event": {"name": "Viewed", "within": "a week"}})),
            "/event/within: within is a duration such as \"7d\""
        );
        assert!(error(json!({"or": []})).starts_with("/or:"));
        assert!(
            error(json!({"attribute": {"field": "a", "operator": "gt", "value": "x"}}))
                .contains("needs a number")
        );
        assert!(
            error(json!({"attribute": {"field": "a", "operator": "exists", "value": 1}}))
                .contains("takes no value")
        );
        assert!(error(json!({"event": {"name": "E", "count": {"gte": -1}}}))
            .starts_with("/event/count/gte"));
        assert!(
            error(json!({"attribute": {"field": "a", "operator": "eq", "value": 1, "x": 2}}))
                .starts_with("/attribute/x")
        );
        assert!(error(json!({"bogus": {}})).contains("unknown condition 'bogus'"));
        assert!(error(json!([1])).contains("must be an object"));
    }

    #[test]
    fn where_lists_parse_on_their_own() {
        let filters = parse_filters(
            &json!([{"field": "cart_value", "operator": "gt", "value": 60},
                    {"field": "cart_id", "operator": "exists"}]),
            "/trigger/where",
        )
        .unwrap();
        assert_eq!(filters.len(), 2);
        assert_eq!(filters[0].op, AttributeOp::Gt(60.0));
        let bad = parse_filters(
            &json!([{"field": "a", "operator": "exists"}, {"field": "b", "operator": "gt"}]),
            "/trigger/where",
        )
        .unwrap_err();
        assert_eq!(bad.pointer, "/trigger/where/1/value");
        let not_a_list = parse_filters(&json!({"field": "a"}), "/exit/0/where").unwrap_err();
        assert_eq!(not_a_list.pointer, "/exit/0/where");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut v = json!({"segment": {"id": 1}});
        for _ in 0..1000 {
            v = json!({"not": v});
        }
        assert!(error(v).contains("nest deeper"));
    }

    #[test]
    fn a_full_audience_parses() {
        let c = parse(&json!({"and": [
            {"attribute": {"field": "last_order_date", "operator": "more_than_ago", "value": "90d"}},
            {"not": {"event": {"name": "Product Viewed", "within": "90d"}}},
            {"event": {"name": "Added to Cart", "where": [{"field": "cart_value", "operator": "gt", "value": 60}],
                       "count": {"eq": 0}}},
            {"segment": {"id": 3}}
        ]})).unwrap();
        let deps = c.dependencies();
        assert!(deps.time);
        assert_eq!(
            deps.attributes.iter().collect::<Vec<_>>(),
            vec!["last_order_date"]
        );
        assert_eq!(deps.events.len(), 2);
        assert!(deps.segments.contains(&3));
    }
}
