//! Person attribute rules: reserved keys, normalisation, removal by `null`/`""`, and
//! last-writer-wins ordering by `_timestamp`. Pure: it edits a `PersonState` in memory.

use nudge_core::{JsonMap, PersonState};
use serde_json::{json, Value};

/// Keys that are identifiers or controls, handled by the caller and never stored as plain
/// attributes.
pub(crate) const CONTROL_KEYS: [&str; 6] = [
    "id",
    "email",
    "cio_id",
    "_update",
    "_timestamp",
    "anonymous_id",
];

const SUBSCRIPTION_PREFIX: &str = "cio_subscription_preferences.";

/// Applies `attrs` to `person` as of `set_at` (ms). Attributes last set after `set_at` are
/// left alone. Returns the changes as `{name: {"from": old, "to": new}}`.
pub(crate) fn apply_attributes(person: &mut PersonState, attrs: &JsonMap, set_at: i64) -> JsonMap {
    let mut changes = JsonMap::new();
    for (name, value) in attrs {
        if CONTROL_KEYS.contains(&name.as_str()) {
            continue;
        }
        if let Some(path) = name.strip_prefix(SUBSCRIPTION_PREFIX) {
            set_subscription_path(person, path, value.clone(), set_at, &mut changes);
            continue;
        }
        let newer_exists = person
            .attribute_times
            .get(name)
            .is_some_and(|at| *at > set_at);
        if newer_exists {
            continue;
        }
        let normalised = normalise(name, value);
        let old = person.attributes.get(name).cloned();
        match normalised {
            None => {
                if old.is_some() {
                    person.attributes.shift_remove(name);
                    changes.insert(name.clone(), json!({"from": old, "to": null}));
                }
            }
            Some(new) => {
                if old.as_ref() != Some(&new) {
                    person.attributes.insert(name.clone(), new.clone());
                    changes.insert(name.clone(), json!({"from": old, "to": new}));
                }
            }
        }
        person.attribute_times.insert(name.clone(), set_at);
    }
    changes
}

/// `None` removes the attribute.
fn normalise(name: &str, value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        _ if name == "unsubscribed" => Some(Value::Bool(is_truthy(value))),
        _ => Some(value.clone()),
    }
}

/// Customer.io's rule: any-case "true", 1 and "1" (and JSON true) unsubscribe; anything
/// else subscribes.
pub(crate) fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() == Some(1.0),
        Value::String(s) => s.eq_ignore_ascii_case("true") || s == "1",
        _ => false,
    }
}

/// `"cio_subscription_preferences.topics.topic_3": true` updates one leaf of the nested
/// preferences object.
fn set_subscription_path(
    person: &mut PersonState,
    path: &str,
    value: Value,
    set_at: i64,
    changes: &mut JsonMap,
) {
    let root_name = "cio_subscription_preferences";
    let old = person.attributes.get(root_name).cloned();
    let mut root = match old.clone() {
        Some(Value::Object(map)) => map,
        _ => JsonMap::new(),
    };
    let mut cursor = &mut root;
    let parts: Vec<&str> = path.split('.').collect();
    let (leaf, parents) = parts.split_last().expect("split yields at least one part");
    for part in parents {
        let entry = cursor
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(JsonMap::new()));
        if !entry.is_object() {
            *entry = Value::Object(JsonMap::new());
        }
        cursor = entry.as_object_mut().expect("made an object above");
    }
    match value {
        Value::Null => {
            cursor.shift_remove(*leaf);
        }
        v => {
            cursor.insert(leaf.to_string(), v);
        }
    }
    let new = Value::Object(root);
    if old.as_ref() != Some(&new) {
        person.attributes.insert(root_name.to_string(), new.clone());
        changes.insert(root_name.to_string(), json!({"from": old, "to": new}));
    }
    person.attribute_times.insert(root_name.to_string(), set_at);
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::{PersonKey, Timestamp};

    fn person() -> PersonState {
        PersonState {
            key: PersonKey(1),
            cio_id: "abc".into(),
            id: None,
            email: None,
            phone: None,
            attributes: JsonMap::new(),
            attribute_times: Default::default(),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        }
    }

    fn map(v: Value) -> JsonMap {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn sets_normalises_and_removes() {
        let mut p = person();
        let changes = apply_attributes(
            &mut p,
            &map(json!({"plan": "gold", "unsubscribed": "TRUE", "id": "x", "_update": true})),
            10,
        );
        assert_eq!(
            p.attributes,
            map(json!({"plan": "gold", "unsubscribed": true}))
        );
        assert_eq!(changes.len(), 2);
        apply_attributes(&mut p, &map(json!({"plan": "", "unsubscribed": "no"})), 11);
        assert_eq!(p.attributes, map(json!({"unsubscribed": false})));
    }

    #[test]
    fn an_older_update_never_overwrites_a_newer_one() {
        let mut p = person();
        apply_attributes(&mut p, &map(json!({"tier": "new"})), 2_000);
        let changes = apply_attributes(&mut p, &map(json!({"tier": "old", "x": 1})), 1_000);
        assert_eq!(p.attributes["tier"], json!("new"));
        assert_eq!(p.attributes["x"], json!(1));
        assert!(!changes.contains_key("tier"));
    }

    #[test]
    fn unchanged_values_record_no_change() {
        let mut p = person();
        apply_attributes(&mut p, &map(json!({"a": 1})), 1);
        assert!(apply_attributes(&mut p, &map(json!({"a": 1})), 2).is_empty());
    }

    #[test]
    fn subscription_preferences_take_dotted_partial_updates() {
        let mut p = person();
        apply_attributes(
            &mut p,
            &map(json!({"cio_subscription_preferences": {"topics": {"topic_1": true}}})),
            1,
        );
        apply_attributes(
            &mut p,
            &map(json!({"cio_subscription_preferences.topics.topic_3": false})),
            2,
        );
        assert_eq!(
            p.attributes["cio_subscription_preferences"],
            json!({"topics": {"topic_1": true, "topic_3": false}})
        );
    }
}
