//! Deciding whether data meets a journey's tests: trigger events, exit and goal events with
//! their `match` fields, date triggers, attribute changes, and the instance key's text.

use nudge_conditions::{filters_match, FieldPath};
use nudge_core::{JsonMap, Timestamp};
use serde_json::Value;

use crate::model::{Entry, EventMatch, Trigger};

impl Trigger {
    /// Whether an event of this name and data starts the journey (false for triggers that
    /// are not events).
    pub fn matches_event(&self, name: &str, data: &JsonMap, now: Timestamp) -> bool {
        match self {
            Trigger::Event {
                name: wanted,
                filters,
            } => wanted == name && filters_match(filters, data, now),
            _ => false,
        }
    }

    /// For a date trigger: the moment it fires for a person with these attributes (the
    /// attribute's time plus the offset); `None` for other triggers or without a usable time.
    pub fn date_due(&self, attributes: &JsonMap) -> Option<Timestamp> {
        let Trigger::Date { attribute, offset } = self else {
            return None;
        };
        let time = attribute
            .resolve(attributes)
            .first()
            .and_then(|v| time_value(v))?;
        Some(time.plus_millis(*offset))
    }

    /// For an attribute trigger: whether the watched field's value differs between the two
    /// attribute maps (appearing and disappearing count as changes).
    pub fn attribute_changed(&self, before: &JsonMap, after: &JsonMap) -> bool {
        match self {
            Trigger::AttributeChanged { field } => {
                !same_values(&field.resolve(before), &field.resolve(after))
            }
            _ => false,
        }
    }
}

impl EventMatch {
    /// Whether the event matches: same name, every filter holds on its data, and every
    /// `match` field is present and equal in its data and the trigger data.
    pub fn matches(
        &self,
        name: &str,
        data: &JsonMap,
        trigger_data: &JsonMap,
        now: Timestamp,
    ) -> bool {
        self.name == name
            && filters_match(&self.filters, data, now)
            && self
                .matching
                .iter()
                .all(|path| fields_equal(path, data, trigger_data))
    }
}

impl Entry {
    /// The instance key for this trigger data: `Some("")` without a configured key, the
    /// key's text when the path reaches exactly one string, number or boolean, else `None`
    /// (the trigger cannot start an instance).
    pub fn key_of(&self, data: &JsonMap) -> Option<String> {
        let Some(path) = &self.key else {
            return Some(String::new());
        };
        match path.resolve(data).as_slice() {
            [Value::String(text)] if !text.is_empty() => Some(text.clone()),
            [value @ (Value::Number(_) | Value::Bool(_))] => Some(value.to_string()),
            _ => None,
        }
    }
}

fn fields_equal(path: &FieldPath, data: &JsonMap, trigger_data: &JsonMap) -> bool {
    let ours = path.resolve(data);
    !ours.is_empty() && same_values(&ours, &path.resolve(trigger_data))
}

fn same_values(a: &[&Value], b: &[&Value]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

/// JSON equality with numbers compared as numbers (1 equals 1.0), as conditions compare.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A time in data: unix seconds (a number or a string of digits) or an RFC 3339 string.
pub(crate) fn time_value(value: &Value) -> Option<Timestamp> {
    match value {
        Value::Number(n) => n.as_i64().and_then(Timestamp::from_unix_seconds),
        Value::String(s) => Timestamp::parse_rfc3339(s)
            .or_else(|| s.parse::<i64>().ok().and_then(Timestamp::from_unix_seconds)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> JsonMap {
        v.as_object().cloned().unwrap_or_default()
    }

    fn path(text: &str) -> FieldPath {
        FieldPath::parse(text).unwrap()
    }

    #[test]
    fn match_fields_must_be_present_and_equal() {
        let matcher = EventMatch {
            name: "Order Completed".into(),
            filters: vec![],
            matching: vec![path("cart_id")],
        };
        let now = Timestamp::from_millis(0);
        let trigger = map(json!({"cart_id": "cart-1"}));
        let order = |v: Value| map(v);
        assert!(matcher.matches(
            "Order Completed",
            &order(json!({"cart_id": "cart-1"})),
            &trigger,
            now
        ));
        assert!(!matcher.matches(
            "Order Completed",
            &order(json!({"cart_id": "cart-2"})),
            &trigger,
            now
        ));
        assert!(!matcher.matches("Order Completed", &order(json!({})), &map(json!({})), now));
        assert!(!matcher.matches(
            "Order Refunded",
            &order(json!({"cart_id": "cart-1"})),
            &trigger,
            now
        ));
        let numbers = map(json!({"cart_id": 7}));
        assert!(matcher.matches(
            "Order Completed",
            &order(json!({"cart_id": 7.0})),
            &numbers,
            now
        ));
    }

    #[test]
    fn key_text() {
        let entry = Entry {
            key: Some(path("cart_id")),
            ..Entry::default()
        };
        assert_eq!(
            entry.key_of(&map(json!({"cart_id": "c-1"}))),
            Some("c-1".into())
        );
        assert_eq!(
            entry.key_of(&map(json!({"cart_id": 42}))),
            Some("42".into())
        );
        assert_eq!(
            entry.key_of(&map(json!({"cart_id": true}))),
            Some("true".into())
        );
        assert_eq!(entry.key_of(&map(json!({"cart_id": ""}))), None);
        assert_eq!(entry.key_of(&map(json!({"cart_id": {"a": 1}}))), None);
        assert_eq!(entry.key_of(&map(json!({}))), None);
        assert_eq!(
            Entry::default().key_of(&map(json!({}))),
            Some(String::new())
        );
    }

    #[test]
    fn date_triggers_and_attribute_changes() {
        let date = Trigger::Date {
            attribute: path("renews_at"),
            offset: -3 * 86_400_000,
        };
        let attrs = map(json!({"renews_at": 864_000}));
        assert_eq!(
            date.date_due(&attrs),
            Some(Timestamp::from_millis(7 * 86_400_000))
        );
        let rfc = map(json!({"renews_at": "1970-01-11T00:00:00Z"}));
        assert_eq!(
            date.date_due(&rfc),
            Some(Timestamp::from_millis(7 * 86_400_000))
        );
        assert_eq!(date.date_due(&map(json!({"renews_at": "soon"}))), None);

        let changed = Trigger::AttributeChanged {
            field: path("plan"),
        };
        let gold = map(json!({"plan": "gold"}));
        assert!(changed.attribute_changed(&map(json!({"plan": "free"})), &gold));
        assert!(changed.attribute_changed(&JsonMap::new(), &gold));
        assert!(!changed.attribute_changed(&gold, &gold));
        let number = Trigger::AttributeChanged { field: path("n") };
        assert!(!number.attribute_changed(&map(json!({"n": 1})), &map(json!({"n": 1.0}))));
        assert!(number.attribute_changed(&map(json!({"n": 1})), &map(json!({"n": 2}))));
    }
}
