//! The audience filter of `POST /v1/exports/customers`: Nudge's condition grammar
//! (docs/conditions.md, a superset of Customer.io's audience filter) over people's attributes
//! (their identifiers included) and segment memberships. Event conditions are refused: an
//! export reads people, not their timelines. No IO here.

use nudge_conditions::{Condition, EventFact, PersonFacts};
use nudge_core::{JsonMap, PersonState, Timestamp};
use serde_json::Value;

use crate::ApiError;

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// `None`: everyone.
    condition: Option<Condition>,
    /// The export's moment, for time conditions (`within_last`, `more_than_ago`).
    now: Timestamp,
}

/// Parses the `filters` value of the request body (absent or `null`: everyone).
pub fn parse(filters: Option<&Value>, now: Timestamp) -> Result<Filter, ApiError> {
    let condition = match filters {
        None | Some(Value::Null) => None,
        Some(node) => {
            let condition = nudge_conditions::parse(node).map_err(|e| {
                let field = format!("filters{}", e.pointer.replace('/', "."));
                ApiError::bad_request(field, e.message)
            })?;
            if !condition.dependencies().events.is_empty() {
                return Err(ApiError::bad_request(
                    "filters",
                    "event conditions cannot filter an export: it reads people, not their timelines",
                ));
            }
            Some(condition)
        }
    };
    Ok(Filter { condition, now })
}

impl Filter {
    /// A segment every match belongs to, when the filter requires one at its top: the export
    /// then reads that segment's members instead of everyone.
    pub fn required_segment(&self) -> Option<i64> {
        fn top(condition: &Condition) -> Option<i64> {
            match condition {
                Condition::Segment { id } => Some(*id),
                Condition::And(parts) => parts.iter().find_map(top),
                _ => None,
            }
        }
        self.condition.as_ref().and_then(top)
    }

    /// Whether deciding needs the person's segment memberships.
    pub fn mentions_segments(&self) -> bool {
        self.condition
            .as_ref()
            .is_some_and(|c| !c.dependencies().segments.is_empty())
    }

    /// Whether `person`, a member of the segments `segments`, matches.
    pub fn matches(&self, person: &PersonState, segments: &[i64]) -> bool {
        let Some(condition) = &self.condition else {
            return true;
        };
        let facts = Facts {
            attributes: with_identifiers(person),
            segments,
        };
        nudge_conditions::evaluate(condition, &facts, self.now)
    }
}

/// The identifiers are attributes too, as the App API shows them.
fn with_identifiers(person: &PersonState) -> JsonMap {
    let mut attributes = person.attributes.clone();
    for (name, value) in [
        ("id", &person.id),
        ("email", &person.email),
        ("phone", &person.phone),
    ] {
        if let Some(v) = value {
            attributes.insert(name.into(), Value::String(v.clone()));
        }
    }
    attributes.insert("cio_id".into(), Value::String(person.cio_id.clone()));
    attributes
}

struct Facts<'a> {
    attributes: JsonMap,
    segments: &'a [i64],
}

impl PersonFacts for Facts<'_> {
    fn attributes(&self) -> &JsonMap {
        &self.attributes
    }
    fn in_segment(&self, id: i64) -> bool {
        self.segments.contains(&id)
    }
    fn events(&self, _name: &str) -> Vec<EventFact<'_>> {
        // Refused when parsing: a filter never asks.
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::PersonKey;
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

    fn parsed(filter: Value) -> Filter {
        parse(Some(&filter), Timestamp::from_millis(0)).unwrap()
    }

    fn check(filter: Value, segments: &[i64], expected: bool) {
        assert_eq!(
            parsed(filter.clone()).matches(&person(), segments),
            expected,
            "{filter}"
        );
    }

    #[test]
    fn filters_match_segments_attributes_and_their_combinations() {
        let attr = |field: &str, op: &str, value: Value| json!({"attribute": {"field": field, "operator": op, "value": value}});
        check(json!({"segment": {"id": 4}}), &[4], true);
        check(json!({"segment": {"id": 4}}), &[5], false);
        check(attr("plan", "eq", json!("pro")), &[], true);
        check(attr("seats", "eq", json!(3)), &[], true);
        check(attr("seats", "eq", json!("3")), &[], false);
        check(attr("seats", "gte", json!(2)), &[], true);
        check(attr("email", "eq", json!("ana@example.com")), &[], true);
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
        assert!(parse(None, Timestamp::from_millis(0))
            .unwrap()
            .matches(&person(), &[]));
    }

    #[test]
    fn required_segments_come_from_the_top_only() {
        assert_eq!(
            parsed(json!({"segment": {"id": 4}})).required_segment(),
            Some(4)
        );
        assert_eq!(
            parsed(json!({"and": [{"attribute": {"field": "a", "operator": "exists"}}, {"segment": {"id": 5}}]}))
                .required_segment(),
            Some(5)
        );
        let either = parsed(json!({"or": [{"segment": {"id": 4}}, {"segment": {"id": 5}}]}));
        assert_eq!(either.required_segment(), None);
        assert!(either.mentions_segments());
    }

    #[test]
    fn unsupported_nodes_are_refused_naming_where_they_are() {
        let refused = |v: Value| parse(Some(&v), Timestamp::from_millis(0)).unwrap_err();
        let e = refused(json!({"and": [{"segment": {"id": 1}}, {"audience": {"id": 2}}]}));
        assert_eq!(e.field.as_deref(), Some("filters.and.1"));
        assert!(e.message.contains("'audience'"), "{}", e.message);
        let e = refused(json!({"attribute": {"field": "plan", "operator": "bogus", "value": 1}}));
        assert_eq!(e.field.as_deref(), Some("filters.attribute.operator"));
        let e = refused(json!({"segment": {"id": "x"}}));
        assert_eq!(e.field.as_deref(), Some("filters.segment"));
        let e = refused(json!({"segment": {"id": 1}, "not": {}}));
        assert_eq!(e.field.as_deref(), Some("filters"));
        let e = refused(json!({"event": {"name": "Order Completed"}}));
        assert_eq!(e.field.as_deref(), Some("filters"));
        assert!(refused(json!({"or": []})).field.is_some());
    }
}
