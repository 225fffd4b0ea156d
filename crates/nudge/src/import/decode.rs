//! One import row as a domain operation: the reserved fields of each row type name the person
//! (or object), the event and its time; every other field is an attribute or event data. The
//! checks themselves are the Track API's (`nudge_api::track::convert`), so an import accepts
//! exactly what the API would.

use nudge_api::track::convert::{self, EventFields};
use nudge_api::ApiError;
use nudge_core::{Identifier, IdentifierKind, JsonMap, Operation, Timestamp};
use serde_json::Value;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RowType {
    People,
    Events,
    Objects,
}

impl RowType {
    pub fn as_str(self) -> &'static str {
        match self {
            RowType::People => "people",
            RowType::Events => "events",
            RowType::Objects => "objects",
        }
    }
}

/// Why a row cannot be imported, and which of its fields is to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    pub reason: String,
    pub field: Option<String>,
}

impl Bad {
    fn new(field: Option<&str>, reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            field: field.map(String::from),
        }
    }
}

impl From<ApiError> for Bad {
    fn from(e: ApiError) -> Self {
        Self {
            reason: e.message,
            field: e.field,
        }
    }
}

/// Fields naming the person of an event row, in the order they are looked at.
const EVENT_PERSON: [(&str, IdentifierKind); 4] = [
    ("id", IdentifierKind::Id),
    ("email", IdentifierKind::Email),
    ("cio_id", IdentifierKind::CioId),
    ("anonymous_id", IdentifierKind::AnonymousId),
];

pub fn operation(row_type: RowType, fields: JsonMap) -> Result<Operation, Bad> {
    match row_type {
        RowType::People => person(fields),
        RowType::Events => event(fields),
        RowType::Objects => object(fields),
    }
}

/// The text of an identifier field: a string, or a number for ids.
fn identifier_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn identifier(kind: IdentifierKind, value: &Value) -> Result<Identifier, Bad> {
    let name = kind.as_str();
    let text = identifier_text(value)
        .filter(|_| kind == IdentifierKind::Id || value.is_string())
        .ok_or_else(|| Bad::new(Some(name), format!("{name} must be a string")))?;
    Identifier::new(kind, &text).map_err(|e| Bad::new(Some(name), e.to_string()))
}

/// A people row: the person is its `cio_id`, else its `id`, else its `email`; everything but
/// `cio_id` goes to identify as it would in a Track API body.
fn person(mut fields: JsonMap) -> Result<Operation, Bad> {
    let present = |v: Option<&Value>| v.filter(|v| !v.is_null()).cloned();
    if let Some(Value::Number(n)) = fields.get("id") {
        let text = n.to_string();
        fields.insert("id".into(), Value::String(text));
    }
    let cio_id = fields.shift_remove("cio_id").filter(|v| !v.is_null());
    let person = match (
        cio_id,
        present(fields.get("id")),
        present(fields.get("email")),
    ) {
        (Some(cio), _, _) => identifier(IdentifierKind::CioId, &cio)?,
        (None, Some(id), _) => identifier(IdentifierKind::Id, &id)?,
        (None, None, Some(email)) => identifier(IdentifierKind::Email, &email)?,
        (None, None, None) => {
            return Err(Bad::new(
                None,
                "a people row needs an id, an email or a cio_id",
            ))
        }
    };
    Ok(convert::identify(person, fields, "")?)
}

/// An event row: the person is the first of `id`, `email`, `cio_id`, `anonymous_id`; `name`,
/// `type`, `timestamp`, `event_id` and a `data` object are the event's own fields; any other
/// field is event data too.
fn event(mut fields: JsonMap) -> Result<Operation, Bad> {
    let mut person = None;
    for (name, kind) in EVENT_PERSON {
        if let Some(value) = fields.shift_remove(name).filter(|v| !v.is_null()) {
            if person.is_none() {
                person = Some(identifier(kind, &value)?);
            }
        }
    }
    let person = person.ok_or_else(|| {
        Bad::new(
            None,
            "an event row needs an id, an email, a cio_id or an anonymous_id",
        )
    })?;
    let name = fields.shift_remove("name");
    let kind = fields.shift_remove("type");
    let kind = match &kind {
        None | Some(Value::Null) => None,
        Some(Value::String(k)) => Some(k.as_str()),
        Some(_) => return Err(Bad::new(Some("type"), "type must be event, page or screen")),
    };
    let event_id = fields.shift_remove("event_id");
    let (timestamp, wire_timestamp) = timestamp(fields.shift_remove("timestamp"))?;
    let mut data = match fields.shift_remove("data") {
        None | Some(Value::Null) => JsonMap::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(Bad::new(Some("data"), "data must be an object")),
    };
    data.extend(fields);
    let data = Value::Object(data);
    let fields = EventFields {
        kind,
        name: name.as_ref(),
        id: event_id.as_ref(),
        timestamp: wire_timestamp.as_ref(),
        data: Some(&data),
        data_field: "data",
    };
    let mut event = convert::event(fields, "").map_err(|e| {
        let mut bad = Bad::from(e);
        if bad.field.as_deref() == Some("id") {
            bad.field = Some("event_id".into());
        }
        bad
    })?;
    if timestamp.is_some() {
        event.timestamp = timestamp;
    }
    Ok(match person.kind() {
        IdentifierKind::AnonymousId => Operation::TrackAnonymous {
            anonymous_id: Some(person.value().to_string()),
            event,
        },
        _ => Operation::Track { person, event },
    })
}

/// An RFC 3339 time is taken here; anything else goes to the Track API's unix-seconds check.
fn timestamp(value: Option<Value>) -> Result<(Option<Timestamp>, Option<Value>), Bad> {
    match value {
        Some(Value::String(text)) => {
            let trimmed = text.trim();
            if let Some(at) = Timestamp::parse_rfc3339(trimmed) {
                Ok((Some(at), None))
            } else if trimmed.parse::<f64>().is_ok() {
                Ok((None, Some(Value::String(text))))
            } else {
                Err(Bad::new(
                    Some("timestamp"),
                    format!("timestamp must be unix seconds or an RFC 3339 time, got '{text}'"),
                ))
            }
        }
        other => Ok((None, other.filter(|v| !v.is_null()))),
    }
}

/// An object row: `object_type_id` and `object_id` address it; every other field is one of
/// its attributes.
fn object(mut fields: JsonMap) -> Result<Operation, Bad> {
    let type_id = fields.shift_remove("object_type_id");
    let object_id = fields.shift_remove("object_id");
    let object = convert::object_ref(
        type_id.as_ref(),
        "object_type_id",
        object_id.as_ref(),
        "object_id",
    )?;
    nudge_core::limits::check_attributes(&fields, "").map_err(ApiError::from)?;
    Ok(Operation::IdentifyObject {
        object,
        attributes: fields,
        relationships: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(value: Value) -> JsonMap {
        value.as_object().unwrap().clone()
    }

    fn refused(row_type: RowType, value: Value) -> Bad {
        operation(row_type, row(value)).unwrap_err()
    }

    #[test]
    fn people_rows_identify_by_cio_id_then_id_then_email() {
        let op = operation(
            RowType::People,
            row(json!({"id": 42, "email": "a@b.co", "plan": "pro"})),
        );
        let Ok(Operation::Identify {
            person, attributes, ..
        }) = op
        else {
            panic!("identify: {op:?}")
        };
        assert_eq!(person, Identifier::new(IdentifierKind::Id, "42").unwrap());
        assert_eq!(
            attributes,
            row(json!({"id": "42", "email": "a@b.co", "plan": "pro"}))
        );
        let Ok(Operation::Identify { person, .. }) =
            operation(RowType::People, row(json!({"email": "A@B.co"})))
        else {
            panic!("identify")
        };
        assert_eq!(person.kind(), IdentifierKind::Email);
        let bad = refused(RowType::People, json!({"plan": "pro"}));
        assert_eq!(bad.reason, "a people row needs an id, an email or a cio_id");
        let bad = refused(RowType::People, json!({"id": "u1", "email": "nope"}));
        assert_eq!(bad.field.as_deref(), Some("email"));
        let bad = refused(
            RowType::People,
            json!({"id": "u1", "created_at": 1_700_000_000_000i64}),
        );
        assert_eq!(bad.field.as_deref(), Some("created_at"));
    }

    #[test]
    fn event_rows_take_rfc_3339_or_unix_seconds_and_loose_fields_as_data() {
        let op = operation(
            RowType::Events,
            row(json!({"email": "a@b.co", "id": "u1", "name": "bought", "timestamp": "2024-01-02T03:04:05.250Z",
                       "data": {"sku": "s"}, "total": "10"})),
        )
        .unwrap();
        let Operation::Track { person, event } = op else {
            panic!("track")
        };
        assert_eq!(person.kind(), IdentifierKind::Id, "id comes first");
        assert_eq!(
            event.timestamp,
            Timestamp::parse_rfc3339("2024-01-02T03:04:05.250Z")
        );
        assert_eq!(event.data, row(json!({"sku": "s", "total": "10"})));
        let Ok(Operation::Track { event, .. }) = operation(
            RowType::Events,
            row(json!({"id": "u1", "name": "x", "timestamp": "1700000000", "type": "page"})),
        ) else {
            panic!("track")
        };
        assert_eq!(
            event.timestamp.map(|t| t.unix_seconds()),
            Some(1_700_000_000)
        );
        assert_eq!(event.kind, nudge_core::EventKind::Page);
        let Ok(Operation::TrackAnonymous { anonymous_id, .. }) = operation(
            RowType::Events,
            row(json!({"anonymous_id": "anon-1", "name": "x"})),
        ) else {
            panic!("anonymous")
        };
        assert_eq!(anonymous_id.as_deref(), Some("anon-1"));
    }

    #[test]
    fn bad_event_rows_name_the_field() {
        let check = |value: Value, field: Option<&str>| {
            assert_eq!(
                refused(RowType::Events, value.clone()).field.as_deref(),
                field,
                "{value}"
            );
        };
        check(json!({"name": "x"}), None);
        check(json!({"id": "u1"}), Some("name"));
        check(
            json!({"id": "u1", "name": "x", "event_id": "not-a-ulid"}),
            Some("event_id"),
        );
        check(
            json!({"id": "u1", "name": "x", "timestamp": "yesterday"}),
            Some("timestamp"),
        );
        check(
            json!({"id": "u1", "name": "x", "timestamp": 1_700_000_000_000i64}),
            Some("timestamp"),
        );
        check(json!({"id": "u1", "name": "x", "data": [1]}), Some("data"));
        check(
            json!({"id": "u1", "name": "x", "type": "click"}),
            Some("type"),
        );
        check(json!({"email": "no-at", "name": "x"}), Some("email"));
    }

    #[test]
    fn object_rows_need_a_type_and_an_id() {
        let op = operation(
            RowType::Objects,
            row(json!({"object_type_id": "1", "object_id": "acme", "plan": "pro"})),
        )
        .unwrap();
        let Operation::IdentifyObject {
            object, attributes, ..
        } = op
        else {
            panic!("object")
        };
        assert_eq!(
            (object.type_id.as_str(), object.object_id.as_str()),
            ("1", "acme")
        );
        assert_eq!(attributes, row(json!({"plan": "pro"})));
        let bad = refused(
            RowType::Objects,
            json!({"object_type_id": "one", "object_id": "acme"}),
        );
        assert_eq!(bad.field.as_deref(), Some("object_type_id"));
        let bad = refused(RowType::Objects, json!({"object_type_id": "1"}));
        assert_eq!(bad.field.as_deref(), Some("object_id"));
    }
}
