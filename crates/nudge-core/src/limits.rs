//! Customer.io's documented size limits, with its error messages, so clients see the
//! wording they already handle. Each check names the offending field.

use crate::JsonMap;

pub const MAX_ATTRIBUTES_PER_CALL: usize = 300;
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 150;
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 1000;
pub const MAX_EVENT_NAME_BYTES: usize = 100;
pub const MAX_EVENT_DATA_BYTES: usize = 100_000;
pub const MAX_SEGMENT_IDS_PER_CALL: usize = 1000;

/// A broken rule, with the JSON path of what broke it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

impl Violation {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub fn check_attributes(attributes: &JsonMap, field_prefix: &str) -> Result<(), Violation> {
    if attributes.len() > MAX_ATTRIBUTES_PER_CALL {
        return Err(Violation::new(
            field_prefix,
            "cannot identify more than 300 attributes in one request",
        ));
    }
    for (name, value) in attributes {
        let field = join(field_prefix, name);
        if name.len() > MAX_ATTRIBUTE_NAME_BYTES {
            return Err(Violation::new(
                field,
                "attribute name cannot be longer than 150 bytes",
            ));
        }
        if name.trim().is_empty() {
            return Err(Violation::new(field, "attribute name cannot be blank"));
        }
        let size = match value {
            serde_json::Value::String(s) => s.len(),
            other => other.to_string().len(),
        };
        if size > MAX_ATTRIBUTE_VALUE_BYTES {
            return Err(Violation::new(
                field,
                format!("value for attribute '{name}' cannot be longer than 1000 bytes"),
            ));
        }
    }
    Ok(())
}

/// Trims the name (as Customer.io does) and checks it.
pub fn check_event_name(name: &str, field: &str) -> Result<String, Violation> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Violation::new(field, "event name must not be blank"));
    }
    if trimmed.len() > MAX_EVENT_NAME_BYTES {
        return Err(Violation::new(
            field,
            "event name cannot be longer than 100 bytes",
        ));
    }
    Ok(trimmed.to_string())
}

pub fn check_event_data(data: &JsonMap, field: &str) -> Result<(), Violation> {
    // serde_json writes a map without allocating more than its own size; the length is exact.
    let size = serde_json::to_vec(data)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_EVENT_DATA_BYTES {
        return Err(Violation::new(
            field,
            "event data cannot be longer than 100000 bytes",
        ));
    }
    Ok(())
}

/// Event ids must be ULIDs: 26 characters of Crockford base32.
pub fn check_event_id(id: &str, field: &str) -> Result<(), Violation> {
    if ulid::Ulid::from_string(id).is_err() {
        return Err(Violation::new(
            field,
            format!("event id '{id}' must be a ULID (26 characters of Crockford base32)"),
        ));
    }
    Ok(())
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: serde_json::Value) -> JsonMap {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn attribute_limits_name_the_field() {
        let long_value = map(json!({"bio": "x".repeat(1001)}));
        let err = check_attributes(&long_value, "").unwrap_err();
        assert_eq!(err.field, "bio");
        assert_eq!(
            err.message,
            "value for attribute 'bio' cannot be longer than 1000 bytes"
        );
        let long_name = map(json!({ "n".repeat(151): 1 }));
        assert_eq!(
            check_attributes(&long_name, "attributes")
                .unwrap_err()
                .message,
            "attribute name cannot be longer than 150 bytes"
        );
        let many: JsonMap = (0..301).map(|i| (format!("a{i}"), json!(i))).collect();
        assert!(check_attributes(&many, "").is_err());
        assert!(check_attributes(&map(json!({"plan": "gold"})), "").is_ok());
    }

    #[test]
    fn event_names_are_trimmed_and_bounded() {
        assert_eq!(
            check_event_name("  Order Completed ", "name").unwrap(),
            "Order Completed"
        );
        assert_eq!(
            check_event_name("   ", "name").unwrap_err().message,
            "event name must not be blank"
        );
        assert!(check_event_name(&"e".repeat(101), "name").is_err());
    }

    #[test]
    fn event_ids_must_be_ulids() {
        assert!(check_event_id("01ARZ3NDEKTSV4RRFFQ69G5FAV", "id").is_ok());
        assert!(check_event_id("not-a-ulid", "id").is_err());
    }
}
