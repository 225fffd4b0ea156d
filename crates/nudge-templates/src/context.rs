//! What a message is rendered with, in Customer.io's shape: `customer.*`, `event.*` (the
//! trigger event's data) with `event_name` and `event_timestamp`, `trigger.*` and
//! `journey.*`; and its conversion into Liquid's values. A key whose value is JSON null
//! counts as undefined, as an attribute set to null is one the person no longer has.

use liquid_core::model::{KString, Value};
use liquid_core::Object;
use nudge_core::{JsonMap, Timestamp};

/// The variables of one render.
#[derive(Debug, Clone, Default)]
pub struct RenderContext {
    /// The person's attributes plus `id`, `email` and `phone` (and `timezone` for
    /// `local_date`), as the caller assembles them.
    pub customer: JsonMap,
    /// The event that triggered the journey, if one did.
    pub event: Option<EventContext>,
    /// API-trigger data, or a transactional message's `message_data`.
    pub trigger: JsonMap,
    /// `id`, `name`, `step` and `message_id` of the journey sending the message.
    pub journey: JsonMap,
}

/// The trigger event: `event.<property>` reads its data; its name and time are
/// `event_name` and `event_timestamp` (unix seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct EventContext {
    pub name: String,
    pub timestamp: Timestamp,
    pub data: JsonMap,
}

impl RenderContext {
    /// The Liquid globals of this context.
    pub(crate) fn globals(&self) -> Object {
        let mut globals = Object::new();
        globals.insert("customer".into(), object(&self.customer));
        globals.insert("trigger".into(), object(&self.trigger));
        globals.insert("journey".into(), object(&self.journey));
        if let Some(event) = &self.event {
            globals.insert("event".into(), object(&event.data));
            globals.insert(
                "event_name".into(),
                Value::scalar(KString::from_ref(&event.name)),
            );
            globals.insert(
                "event_timestamp".into(),
                Value::scalar(event.timestamp.unix_seconds()),
            );
        }
        globals
    }
}

fn object(map: &JsonMap) -> Value {
    Value::Object(
        map.iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| (KString::from_ref(key), value_of(value)))
            .collect(),
    )
}

fn value_of(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(flag) => Value::scalar(*flag),
        serde_json::Value::Number(number) => match number.as_i64() {
            Some(whole) => Value::scalar(whole),
            None => Value::scalar(number.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(text) => Value::scalar(KString::from_ref(text)),
        serde_json::Value::Array(items) => Value::Array(items.iter().map(value_of).collect()),
        serde_json::Value::Object(map) => object(map),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liquid_core::ValueView;
    use serde_json::json;

    fn map(value: serde_json::Value) -> JsonMap {
        match value {
            serde_json::Value::Object(map) => map,
            _ => JsonMap::new(),
        }
    }

    #[test]
    fn event_globals_exist_only_with_an_event() {
        let without = RenderContext::default().globals();
        assert!(without.contains_key("customer"));
        assert!(!without.contains_key("event"));
        assert!(!without.contains_key("event_name"));

        let with = RenderContext {
            event: Some(EventContext {
                name: "cart_abandoned".into(),
                timestamp: Timestamp::from_millis(1_700_000_000_999),
                data: map(json!({"cart_value": 84})),
            }),
            ..RenderContext::default()
        }
        .globals();
        let timestamp = with.get("event_timestamp").and_then(|v| v.as_scalar());
        assert_eq!(timestamp.and_then(|s| s.to_integer()), Some(1_700_000_000));
        let name = with.get("event_name").map(|v| v.to_kstr().into_owned());
        assert_eq!(name.as_deref(), Some("cart_abandoned"));
    }

    #[test]
    fn nulls_are_dropped_from_objects_but_kept_in_arrays() {
        let customer = map(json!({"a": null, "b": {"c": null, "d": 1}, "e": [null, 2]}));
        let value = object(&customer);
        let expected = liquid_core::object!({"b": {"d": 1}, "e": [nil, 2]});
        assert_eq!(value, Value::Object(expected));
    }
}
