//! The audience filter of `POST /v1/exports/customers`, as far as Nudge supports Customer.io's
//! grammar: everyone (no filter), `segment`, `attribute` (`eq`, `exists`) and `and`/`or`/`not`
//! of those. Anything else is refused with a 400 naming the node. Evaluated in memory against
//! one person at a time; no IO here.

use nudge_core::PersonState;
use serde_json::Value;

use crate::ApiError;

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Everyone,
    Segment(i64),
    AttributeEq { field: String, value: Value },
    AttributeExists { field: String },
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

/// Parses the `filters` value of the request body (absent or `null`: everyone).
pub fn parse(filters: Option<&Value>) -> Result<Filter, ApiError> {
    match filters {
        None | Some(Value::Null) => Ok(Filter::Everyone),
        Some(node) => parse_node(node, "filters"),
    }
}

fn bad(path: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(path, message)
}

fn parse_node(node: &Value, path: &str) -> Result<Filter, ApiError> {
    let object = node
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| bad(path, "a filter is an object with exactly one key"))?;
    let (key, inner) = object.iter().next().expect("one key");
    let here = format!("{path}.{key}");
    match key.as_str() {
        "and" | "or" => {
            let list = inner
                .as_array()
                .filter(|l| !l.is_empty())
                .ok_or_else(|| bad(&here, format!("{key} must be a non-empty array of filters")))?;
            let parts = list
                .iter()
                .enumerate()
                .map(|(i, n)| parse_node(n, &format!("{here}[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if key == "and" {
                Filter::And(parts)
            } else {
                Filter::Or(parts)
            })
        }
        "not" => Ok(Filter::Not(Box::new(parse_node(inner, &here)?))),
        "segment" => inner
            .get("id")
            .and_then(Value::as_i64)
            .map(Filter::Segment)
            .ok_or_else(|| bad(format!("{here}.id"), "segment id must be an integer")),
        "attribute" => attribute(inner, &here),
        other => Err(bad(
            path,
            format!(
                "unsupported filter '{other}': exports take segment, attribute, and, or and not"
            ),
        )),
    }
}

fn attribute(inner: &Value, here: &str) -> Result<Filter, ApiError> {
    let field = inner
        .get("field")
        .and_then(Value::as_str)
        .filter(|f| !f.trim().is_empty())
        .ok_or_else(|| bad(format!("{here}.field"), "field must be an attribute name"))?
        .to_string();
    match inner.get("operator").and_then(Value::as_str) {
        Some("eq") => match inner.get("value") {
            None | Some(Value::Null) => Err(bad(format!("{here}.value"), "eq needs a value")),
            Some(value) => Ok(Filter::AttributeEq {
                field,
                value: value.clone(),
            }),
        },
        Some("exists") => Ok(Filter::AttributeExists { field }),
        other => Err(bad(
            format!("{here}.operator"),
            format!(
                "unsupported operator {}: exports take eq and exists",
                other.map_or("(none)".to_string(), |o| format!("'{o}'"))
            ),
        )),
    }
}

impl Filter {
    /// A segment every match belongs to, when the filter requires one at its top: the export
    /// then reads that segment's members instead of everyone.
    pub fn required_segment(&self) -> Option<i64> {
        match self {
            Filter::Segment(id) => Some(*id),
            Filter::And(parts) => parts.iter().find_map(Filter::required_segment),
            _ => None,
        }
    }

    /// Whether deciding needs the person's segment memberships.
    pub fn mentions_segments(&self) -> bool {
        match self {
            Filter::Segment(_) => true,
            Filter::And(parts) | Filter::Or(parts) => parts.iter().any(Filter::mentions_segments),
            Filter::Not(inner) => inner.mentions_segments(),
            _ => false,
        }
    }

    /// Whether `person`, a member of the segments `segments`, matches.
    pub fn matches(&self, person: &PersonState, segments: &[i64]) -> bool {
        match self {
            Filter::Everyone => true,
            Filter::Segment(id) => segments.contains(id),
            Filter::AttributeEq { field, value } => {
                attribute_value(person, field).is_some_and(|found| same(&found, value))
            }
            Filter::AttributeExists { field } => attribute_value(person, field).is_some(),
            Filter::And(parts) => parts.iter().all(|p| p.matches(person, segments)),
            Filter::Or(parts) => parts.iter().any(|p| p.matches(person, segments)),
            Filter::Not(inner) => !inner.matches(person, segments),
        }
    }
}

/// The identifiers are attributes too, as the App API shows them.
fn attribute_value(person: &PersonState, field: &str) -> Option<Value> {
    let identifier = match field {
        "id" => person.id.clone(),
        "email" => person.email.clone(),
        "phone" => person.phone.clone(),
        "cio_id" => Some(person.cio_id.clone()),
        _ => {
            return person
                .attributes
                .get(field)
                .filter(|v| !v.is_null())
                .cloned()
        }
    };
    identifier.map(Value::String)
}

/// Equal as JSON, or as text (Customer.io compares attribute values as strings: 3 eq "3").
fn same(found: &Value, wanted: &Value) -> bool {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    found == wanted || text(found) == text(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::{PersonKey, Timestamp};
    use serde_json::json;

    fn person() -> PersonState {
        PersonState {
            key: PersonKey(1),
            cio_id: "c1".into(),
            id: Some("u1".into()),
            email: Some("ana@example.com".into()),
            phone: None,
            attributes: json!({"plan": "pro", "seats": 3, "gone": null})
                .as_object()
                .cloned()
                .unwrap(),
            attribute_times: Default::default(),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        }
    }

    fn check(filter: Value, segments: &[i64], expected: bool) {
        let parsed = parse(Some(&filter)).unwrap();
        assert_eq!(parsed.matches(&person(), segments), expected, "{filter}");
    }

    #[test]
    fn filters_match_segments_attributes_and_their_combinations() {
        check(json!({"segment": {"id": 4}}), &[4], true);
        check(json!({"segment": {"id": 4}}), &[5], false);
        check(
            json!({"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}),
            &[],
            true,
        );
        check(
            json!({"attribute": {"field": "seats", "operator": "eq", "value": "3"}}),
            &[],
            true,
        );
        check(
            json!({"attribute": {"field": "email", "operator": "eq", "value": "ana@example.com"}}),
            &[],
            true,
        );
        check(
            json!({"attribute": {"field": "gone", "operator": "exists"}}),
            &[],
            false,
        );
        check(
            json!({"attribute": {"field": "plan", "operator": "exists"}}),
            &[],
            true,
        );
        check(
            json!({"and": [{"segment": {"id": 4}}, {"not": {"attribute": {"field": "plan", "operator": "eq", "value": "free"}}}]}),
            &[4],
            true,
        );
        check(
            json!({"or": [{"segment": {"id": 9}}, {"attribute": {"field": "phone", "operator": "exists"}}]}),
            &[4],
            false,
        );
        assert_eq!(parse(None).unwrap(), Filter::Everyone);
    }

    #[test]
    fn required_segments_come_from_the_top_only() {
        let f = |v: Value| parse(Some(&v)).unwrap();
        assert_eq!(f(json!({"segment": {"id": 4}})).required_segment(), Some(4));
        assert_eq!(
            f(json!({"and": [{"attribute": {"field": "a", "operator": "exists"}}, {"segment": {"id": 5}}]}))
                .required_segment(),
            Some(5)
        );
        let either = f(json!({"or": [{"segment": {"id": 4}}, {"segment": {"id": 5}}]}));
        assert_eq!(either.required_segment(), None);
        assert!(either.mentions_segments());
    }

    #[test]
    fn unsupported_nodes_are_refused_naming_where_they_are() {
        let refused = |v: Value| parse(Some(&v)).unwrap_err();
        let e = refused(json!({"and": [{"segment": {"id": 1}}, {"audience": {"id": 2}}]}));
        assert_eq!(e.field.as_deref(), Some("filters.and[1]"));
        assert!(e.message.contains("'audience'"), "{}", e.message);
        let e = refused(json!({"attribute": {"field": "plan", "operator": "gt", "value": 1}}));
        assert_eq!(e.field.as_deref(), Some("filters.attribute.operator"));
        let e = refused(json!({"segment": {"id": "x"}}));
        assert_eq!(e.field.as_deref(), Some("filters.segment.id"));
        let e = refused(json!({"segment": {"id": 1}, "not": {}}));
        assert_eq!(e.field.as_deref(), Some("filters"));
        assert!(parse(Some(&json!({"or": []}))).is_err());
    }
}
