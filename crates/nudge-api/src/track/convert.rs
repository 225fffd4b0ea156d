//! Turning Track API wire values into domain operations: the identify body's reserved keys,
//! event fields, unix-second timestamps and devices, each checked with a message that names
//! the field. Shared by v1 and v2 so both accept exactly the same data.

use nudge_core::identifier::looks_like_email;
use nudge_core::limits::{check_attributes, check_event_data, check_event_id, check_event_name};
use nudge_core::{
    Device, EventKind, EventRecord, Identifier, IdentifierKind, JsonMap, ObjectRef, Operation,
    Timestamp,
};
use serde_json::Value;

use crate::ApiError;

/// Largest plausible unix time in seconds (year 5138); anything above is milliseconds.
const MAX_UNIX_SECONDS: f64 = 1e11;

pub fn field(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// A Track timestamp: unix seconds as a number (or a string of digits).
pub fn unix_seconds(value: &Value, name: &str) -> Result<Timestamp, ApiError> {
    let seconds = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let bad = || {
        ApiError::bad_request(
            name,
            format!("{name} must be a unix timestamp in seconds, got {value}"),
        )
    };
    let seconds = seconds.filter(|s| s.is_finite()).ok_or_else(bad)?;
    if seconds.abs() > MAX_UNIX_SECONDS {
        return Err(ApiError::bad_request(
            name,
            format!("{name} must be a unix timestamp in seconds; {value} looks like milliseconds"),
        ));
    }
    Timestamp::from_unix_seconds(seconds.trunc() as i64)
        .map(|t| t.plus_millis(((seconds.fract()) * 1000.0) as i64))
        .ok_or_else(bad)
}

/// `PUT /customers/{id}` and v2 `identify`: the attribute map with its reserved keys.
pub fn identify(
    person: Identifier,
    mut attributes: JsonMap,
    prefix: &str,
) -> Result<Operation, ApiError> {
    check_attributes(&attributes, prefix)?;
    match attributes.get("id") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.trim().is_empty() => {
            return Err(ApiError::bad_request(
                field(prefix, "id"),
                "id attribute cannot be an empty string",
            ))
        }
        Some(Value::String(_)) => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                field(prefix, "id"),
                "id attribute must be a string value",
            ))
        }
    }
    match attributes.get("email") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if looks_like_email(s.trim()) => {}
        Some(other) => {
            return Err(ApiError::bad_request(
                field(prefix, "email"),
                format!("email attribute must be a valid email address, got {other}"),
            ))
        }
    }
    if let Some(value) = attributes.get("created_at").filter(|v| !v.is_null()) {
        let at = unix_seconds(value, &field(prefix, "created_at"))?;
        attributes.insert("created_at".into(), Value::from(at.unix_seconds()));
    }
    let timestamp = match attributes.get("_timestamp") {
        None | Some(Value::Null) => None,
        Some(value) => Some(unix_seconds(value, &field(prefix, "_timestamp"))?),
    };
    let update_only = attributes
        .get("_update")
        .is_some_and(crate::track::convert::truthy);
    match attributes.get("anonymous_id") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 150 => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                field(prefix, "anonymous_id"),
                "anonymous_id must be a non-empty string of at most 150 bytes",
            ))
        }
    }
    if let Some(value) = attributes.get("cio_subscription_preferences") {
        if !value.is_object() && !value.is_null() {
            return Err(ApiError::bad_request(
                field(prefix, "cio_subscription_preferences"),
                "cio_subscription_preferences must be an object of topics and channels",
            ));
        }
    }
    if let Some(value) = attributes.get("timezone") {
        if !value.is_string() && !value.is_null() {
            return Err(ApiError::bad_request(
                field(prefix, "timezone"),
                "timezone must be a string such as Europe/Paris",
            ));
        }
    }
    Ok(Operation::Identify {
        person,
        attributes,
        update_only,
        timestamp,
    })
}

pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() == Some(1.0),
        Value::String(s) => s.eq_ignore_ascii_case("true") || s == "1",
        _ => false,
    }
}

/// The fields of an event as both API versions send them.
pub struct EventFields<'a> {
    pub kind: Option<&'a str>,
    pub name: Option<&'a Value>,
    pub id: Option<&'a Value>,
    pub timestamp: Option<&'a Value>,
    pub data: Option<&'a Value>,
    /// The name of the data field on the wire (`data` in v1, `attributes` in v2).
    pub data_field: &'a str,
}

pub fn event(fields: EventFields<'_>, prefix: &str) -> Result<EventRecord, ApiError> {
    let kind = match fields.kind {
        None => EventKind::Event,
        Some(k) => EventKind::parse(k).ok_or_else(|| {
            ApiError::bad_request(
                field(prefix, "type"),
                format!("type must be event, page or screen, got '{k}'"),
            )
        })?,
    };
    let name = match fields.name {
        Some(Value::String(s)) => check_event_name(s, &field(prefix, "name"))?,
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                field(prefix, "name"),
                "event name must not be blank",
            ))
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                field(prefix, "name"),
                "event name must be a string",
            ))
        }
    };
    let id = match fields.id {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            check_event_id(s, &field(prefix, "id"))?;
            Some(s.to_ascii_uppercase())
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                field(prefix, "id"),
                "event id must be a ULID string",
            ))
        }
    };
    let timestamp = match fields.timestamp {
        None | Some(Value::Null) => None,
        Some(value) => Some(unix_seconds(value, &field(prefix, "timestamp"))?),
    };
    let data_field = field(prefix, fields.data_field);
    let data = match fields.data {
        None | Some(Value::Null) => JsonMap::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            return Err(ApiError::bad_request(
                data_field,
                "event data must be a hash",
            ))
        }
    };
    check_event_data(&data, &data_field)?;
    Ok(EventRecord {
        kind,
        name,
        id,
        timestamp,
        data,
    })
}

/// A device: `token` (v1 sends it as `id`), `platform` (ios or android), optional
/// `last_used`, and attributes (nested, or flattened as the Python client sends them).
pub fn device(mut object: JsonMap, token_key: &str, prefix: &str) -> Result<Device, ApiError> {
    let token = match object.shift_remove(token_key) {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 500 => s,
        _ => {
            return Err(ApiError::bad_request(
                field(prefix, token_key),
                format!("device {token_key} must be a non-empty string"),
            ))
        }
    };
    let platform = match object.shift_remove("platform") {
        Some(Value::String(p)) if p == "ios" || p == "android" => p,
        other => {
            return Err(ApiError::bad_request(
                field(prefix, "platform"),
                format!(
                    "device platform must be ios or android, got {}",
                    other.unwrap_or(Value::Null)
                ),
            ))
        }
    };
    let last_used = match object.shift_remove("last_used") {
        None | Some(Value::Null) => None,
        Some(value) => Some(unix_seconds(&value, &field(prefix, "last_used"))?),
    };
    let mut attributes = match object.shift_remove("attributes") {
        None | Some(Value::Null) => JsonMap::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(ApiError::bad_request(
                field(prefix, "attributes"),
                "device attributes must be an object",
            ))
        }
    };
    attributes.extend(object);
    check_attributes(&attributes, &field(prefix, "attributes"))?;
    Ok(Device {
        token,
        platform,
        last_used,
        attributes,
    })
}

/// An object's address: its type (a stringified integer such as "1") and its id (1 to 150
/// bytes); each error names the wire field it came from.
pub fn object_ref(
    type_id: Option<&Value>,
    type_field: &str,
    object_id: Option<&Value>,
    id_field: &str,
) -> Result<ObjectRef, ApiError> {
    let type_id = match type_id {
        Some(Value::String(s)) if s.parse::<u32>().is_ok() => s.clone(),
        Some(Value::Number(n)) if n.as_u64().is_some() => n.to_string(),
        _ => {
            return Err(ApiError::bad_request(
                type_field,
                "object_type_id must be a stringified integer such as \"1\"",
            ))
        }
    };
    let object_id = match object_id {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 150 => s.clone(),
        _ => {
            return Err(ApiError::bad_request(
                id_field,
                "object_id must be a non-empty string of at most 150 bytes",
            ))
        }
    };
    Ok(ObjectRef { type_id, object_id })
}

/// `{"id": …}`, `{"email": …}` or `{"cio_id": …}` (v2 also `{"phone": …}`): exactly one.
pub fn single_identifier(
    value: &Value,
    name: &str,
    allow_phone: bool,
) -> Result<Identifier, ApiError> {
    let bad = |message: String| ApiError::bad_request(name, message);
    let object = value.as_object().ok_or_else(|| {
        bad(format!(
            "{name} must be an object with one of id, email or cio_id"
        ))
    })?;
    let mut present = object.iter().filter(|(_, v)| !v.is_null());
    let (Some((key, raw)), None) = (present.next(), present.next()) else {
        return Err(bad(format!(
            "{name} must have exactly one of id, email or cio_id"
        )));
    };
    let kind = match IdentifierKind::parse(key) {
        Some(k @ (IdentifierKind::Id | IdentifierKind::Email | IdentifierKind::CioId)) => k,
        Some(IdentifierKind::Phone) if allow_phone => IdentifierKind::Phone,
        _ => return Err(bad(format!("{name} has unknown identifier '{key}'"))),
    };
    let text = match raw {
        Value::String(s) => s.clone(),
        // Customer.io accepts numeric ids; they are stored as their decimal text.
        Value::Number(n) if kind == IdentifierKind::Id => n.to_string(),
        _ => return Err(bad(format!("{name}.{key} must be a string"))),
    };
    Identifier::new(kind, &text)
        .map_err(|e| ApiError::bad_request(format!("{name}.{key}"), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_are_unix_seconds_not_milliseconds() {
        assert_eq!(
            unix_seconds(&json!(1_700_000_000), "t")
                .unwrap()
                .unix_seconds(),
            1_700_000_000
        );
        assert_eq!(
            unix_seconds(&json!("1700000000"), "t")
                .unwrap()
                .unix_seconds(),
            1_700_000_000
        );
        let e = unix_seconds(&json!(1_700_000_000_000i64), "timestamp").unwrap_err();
        assert!(e.message.contains("milliseconds"));
        assert_eq!(e.field.as_deref(), Some("timestamp"));
        assert!(unix_seconds(&json!("2024-01-01T00:00:00Z"), "t").is_err());
    }

    #[test]
    fn identify_checks_reserved_keys() {
        let person = Identifier::new(IdentifierKind::Id, "u1").unwrap();
        let attrs = |v: Value| v.as_object().unwrap().clone();
        let e = identify(person.clone(), attrs(json!({"id": 5})), "").unwrap_err();
        assert_eq!(e.message, "id attribute must be a string value");
        let e = identify(
            person.clone(),
            attrs(json!({"email": "nope"})),
            "attributes",
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("attributes.email"));
        let op = identify(
            person,
            attrs(json!({"created_at": "1700000000", "_update": "true"})),
            "",
        )
        .unwrap();
        let Operation::Identify {
            attributes,
            update_only,
            ..
        } = op
        else {
            panic!("identify")
        };
        assert!(update_only);
        assert_eq!(attributes["created_at"], json!(1_700_000_000));
    }

    #[test]
    fn devices_accept_nested_or_flattened_attributes() {
        let d = device(
            json!({"id": "tok", "platform": "ios", "attributes": {"app_version": "1"}, "device_os": "17"})
                .as_object().unwrap().clone(),
            "id",
            "device",
        )
        .unwrap();
        assert_eq!(
            d.attributes,
            json!({"app_version": "1", "device_os": "17"})
                .as_object()
                .unwrap()
                .clone()
        );
        let e = device(
            json!({"id": "tok", "platform": "windows"})
                .as_object()
                .unwrap()
                .clone(),
            "id",
            "device",
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("device.platform"));
    }

    #[test]
    fn exactly_one_identifier() {
        assert!(single_identifier(&json!({"id": "a"}), "primary", false).is_ok());
        assert!(
            single_identifier(&json!({"id": "a", "email": "a@b.co"}), "primary", false).is_err()
        );
        assert!(
            single_identifier(&json!({"phone": "+15555550100"}), "identifiers", false).is_err()
        );
        assert!(single_identifier(&json!({"phone": "+15555550100"}), "identifiers", true).is_ok());
    }
}
