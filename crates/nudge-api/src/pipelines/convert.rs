//! Pipelines messages as domain operations, with the same effect as the Track API: identify
//! sets attributes (through the Track API's own identify checks), track/page/screen record
//! events, group upserts an object related to the person, alias links two identities. The
//! semantic track events are `semantic`'s. Every refusal is a 400 naming the message field.

use nudge_core::operation::Relationship;
use nudge_core::{
    EventKind, EventRecord, Identifier, IdentifierKind, JsonMap, Operation, Timestamp,
};
use serde_json::Value;

use super::semantic;
use super::wire::{self, Message, MessageType};
use crate::track::convert::{self as track, EventFields};
use crate::ApiError;

/// The one operation a message of type `kind` asks for. `at` is the message's own time
/// (skew-corrected), `None` when it carried none and receipt time applies.
pub fn operation(
    kind: MessageType,
    msg: &Message<'_>,
    at: Option<Timestamp>,
) -> Result<Operation, ApiError> {
    match kind {
        MessageType::Identify => identify(msg, at),
        MessageType::Track => match msg.get("event").and_then(Value::as_str) {
            Some(name) if semantic::is_semantic(name) => semantic::operation(name, msg, at),
            _ => event(msg, EventKind::Event, at),
        },
        MessageType::Page => event(msg, EventKind::Page, at),
        MessageType::Screen => event(msg, EventKind::Screen, at),
        MessageType::Group => group(msg),
        MessageType::Alias => alias(msg),
    }
}

fn identify(msg: &Message<'_>, at: Option<Timestamp>) -> Result<Operation, ApiError> {
    let mut attributes = msg.object("traits")?.cloned().unwrap_or_default();
    created_at(&mut attributes)?;
    let user = msg.user()?;
    let anonymous_id = msg.anonymous_id()?;
    let person = match (user, anonymous_id) {
        (Some(user), anonymous_id) => {
            // Both ids: the anonymous profile is stitched onto the user (apply links or merges).
            if let Some(anon) = anonymous_id {
                attributes.insert("anonymous_id".into(), Value::String(anon));
            }
            user
        }
        (None, Some(anon)) => wire::anonymous(&anon, "anonymousId")?,
        (None, None) => match attributes.get("email").and_then(Value::as_str) {
            Some(email) => Identifier::new(IdentifierKind::Email, email)
                .map_err(|e| ApiError::bad_request("traits.email", e.to_string()))?,
            None => {
                return Err(ApiError::bad_request(
                    "userId",
                    "an identify needs a userId, an anonymousId or traits.email",
                ))
            }
        },
    };
    let mut operation = track::identify(person, attributes, "traits")?;
    if let Operation::Identify { timestamp, .. } = &mut operation {
        // `traits._timestamp` (Track API style) wins; otherwise the message's own time orders
        // the update, so a backfilled identify never overwrites newer values.
        *timestamp = timestamp.or(at);
    }
    Ok(operation)
}

/// Segment's `createdAt` (ISO-8601, or unix seconds) becomes Customer.io's `created_at` in
/// unix seconds; an ISO `created_at` is converted the same way.
fn created_at(attributes: &mut JsonMap) -> Result<(), ApiError> {
    if let Some(value) = attributes.shift_remove("createdAt") {
        if !value.is_null() && !attributes.contains_key("created_at") {
            let seconds = unix_seconds(&value, "traits.createdAt")?;
            attributes.insert("created_at".into(), Value::from(seconds));
        }
    }
    if let Some(value @ Value::String(_)) = attributes.get("created_at") {
        let seconds = unix_seconds(value, "traits.created_at")?;
        attributes.insert("created_at".into(), Value::from(seconds));
    }
    Ok(())
}

fn unix_seconds(value: &Value, field: &str) -> Result<i64, ApiError> {
    let digits = value
        .as_str()
        .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    if value.is_number() || digits {
        return track::unix_seconds(value, field).map(Timestamp::unix_seconds);
    }
    wire::iso_time(Some(value), field)?
        .map(Timestamp::unix_seconds)
        .ok_or_else(|| ApiError::bad_request(field, format!("{field} must be a date-time")))
}

/// track, page and screen: an event on the user, or on the anonymous profile.
fn event(msg: &Message<'_>, kind: EventKind, at: Option<Timestamp>) -> Result<Operation, ApiError> {
    let (name_field, name) = match kind {
        EventKind::Event => ("event", msg.get("event")),
        EventKind::Page => ("name", msg.get("name").or_else(|| page_location(msg))),
        EventKind::Screen => ("name", msg.get("name")),
    };
    let mut data = msg.object("properties")?.cloned().unwrap_or_default();
    if kind != EventKind::Event {
        match msg.get("category") {
            None => {}
            Some(Value::String(category)) if !data.contains_key("category") => {
                data.insert("category".into(), Value::String(category.clone()));
            }
            Some(Value::String(_)) => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "category",
                    "category must be a string",
                ))
            }
        }
    }
    let data = Value::Object(data);
    let fields = EventFields {
        kind: Some(match kind {
            EventKind::Event => "event",
            EventKind::Page => "page",
            EventKind::Screen => "screen",
        }),
        name,
        id: None,
        timestamp: None,
        data: Some(&data),
        data_field: "properties",
    };
    let mut event: EventRecord = track::event(fields, "").map_err(|mut e| {
        if e.field.as_deref() == Some("name") {
            e.field = Some(name_field.to_string());
        }
        e
    })?;
    event.timestamp = at;
    match (msg.user()?, msg.anonymous_id()?) {
        (Some(person), _) => Ok(Operation::Track { person, event }),
        (None, Some(anon)) => Ok(Operation::TrackAnonymous {
            anonymous_id: Some(anon),
            event,
        }),
        (None, None) => Err(ApiError::bad_request(
            "userId",
            format!("a {} needs a userId or an anonymousId", kind_name(kind)),
        )),
    }
}

fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Event => "track",
        EventKind::Page => "page",
        EventKind::Screen => "screen",
    }
}

/// A page without a name is named by where it is: its URL, else its path.
fn page_location<'a>(msg: &Message<'a>) -> Option<&'a Value> {
    [
        &["properties", "url"][..],
        &["properties", "path"],
        &["context", "page", "url"],
        &["context", "page", "path"],
    ]
    .into_iter()
    .find_map(|path| msg.path(path).filter(|v| v.is_string()))
}

/// group: the object `groupId` of type `traits.object_type_id` (default "1") gets the other
/// traits as attributes, and a relationship to the person with `relationshipAttributes`.
fn group(msg: &Message<'_>) -> Result<Operation, ApiError> {
    let mut attributes = msg.object("traits")?.cloned().unwrap_or_default();
    let type_id = attributes
        .shift_remove("object_type_id")
        .filter(|v| !v.is_null())
        .unwrap_or_else(|| Value::String("1".into()));
    let group_id = wire::id_text(msg.get("groupId"), "groupId")?.map(Value::String);
    let object = track::object_ref(
        Some(&type_id),
        "traits.object_type_id",
        group_id.as_ref(),
        "groupId",
    )?;
    let (relationship, field) = match attributes.shift_remove("relationshipAttributes") {
        Some(value) if !value.is_null() => (Some(value), "traits.relationshipAttributes"),
        _ => (
            msg.get("relationshipAttributes").cloned(),
            "relationshipAttributes",
        ),
    };
    let relationship = wire::object(relationship.as_ref(), field)?
        .cloned()
        .unwrap_or_default();
    nudge_core::limits::check_attributes(&relationship, field)?;
    nudge_core::limits::check_attributes(&attributes, "traits")?;
    Ok(Operation::IdentifyObject {
        object,
        attributes,
        relationships: vec![Relationship {
            with: msg.person()?,
            attributes: relationship,
        }],
    })
}

/// alias: `previousId` (an anonymous id, or an earlier id) now names the `userId` person.
fn alias(msg: &Message<'_>) -> Result<Operation, ApiError> {
    let user = msg
        .user()?
        .ok_or_else(|| ApiError::bad_request("userId", "an alias needs a userId"))?;
    let previous = wire::id_text(msg.get("previousId"), "previousId")?
        .ok_or_else(|| ApiError::bad_request("previousId", "an alias needs a previousId"))?;
    wire::anonymous(&previous, "previousId")?;
    Ok(Operation::Alias { previous, user })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn convert(kind: MessageType, value: Value) -> Result<Operation, ApiError> {
        let map = value.as_object().unwrap().clone();
        operation(kind, &Message::new(&map), None)
    }

    fn field_of(kind: MessageType, value: Value) -> Option<String> {
        convert(kind, value).unwrap_err().field
    }

    #[test]
    fn identify_maps_traits_created_at_and_stitches_anonymous_ids() {
        let op = convert(
            MessageType::Identify,
            json!({"userId": "u1", "anonymousId": "a1",
                   "traits": {"email": "u1@example.com", "createdAt": "2023-11-14T22:13:20Z"}}),
        )
        .unwrap();
        let Operation::Identify {
            person, attributes, ..
        } = op
        else {
            panic!("identify")
        };
        assert_eq!(person, Identifier::new(IdentifierKind::Id, "u1").unwrap());
        assert_eq!(
            Value::Object(attributes),
            json!({"email": "u1@example.com", "created_at": 1_700_000_000, "anonymous_id": "a1"})
        );
        let Operation::Identify { person, .. } =
            convert(MessageType::Identify, json!({"anonymousId": "a2"})).unwrap()
        else {
            panic!("identify")
        };
        assert_eq!(person.kind(), IdentifierKind::AnonymousId);
        let Operation::Identify { person, .. } = convert(
            MessageType::Identify,
            json!({"traits": {"email": "x@example.com"}}),
        )
        .unwrap() else {
            panic!("identify")
        };
        assert_eq!(person.kind(), IdentifierKind::Email);
    }

    #[test]
    fn identify_refusals_name_the_field() {
        let id = MessageType::Identify;
        assert_eq!(
            field_of(id, json!({"traits": {}})).as_deref(),
            Some("userId")
        );
        assert_eq!(
            field_of(id, json!({"userId": "u", "traits": {"email": "nope"}})).as_deref(),
            Some("traits.email")
        );
        assert_eq!(
            field_of(id, json!({"userId": "u", "traits": {"createdAt": "soon"}})).as_deref(),
            Some("traits.createdAt")
        );
        assert_eq!(
            field_of(id, json!({"userId": "u", "traits": "gold"})).as_deref(),
            Some("traits")
        );
    }

    #[test]
    fn events_name_their_fields_and_default_page_names() {
        assert_eq!(
            field_of(MessageType::Track, json!({"userId": "u"})).as_deref(),
            Some("event")
        );
        assert_eq!(
            field_of(
                MessageType::Track,
                json!({"userId": "u", "event": "E", "properties": []})
            )
            .as_deref(),
            Some("properties")
        );
        assert_eq!(
            field_of(MessageType::Track, json!({"event": "E"})).as_deref(),
            Some("userId")
        );
        let op = convert(
            MessageType::Page,
            json!({"anonymousId": "a", "category": "Docs",
                   "properties": {"url": "https://example.com/docs"}}),
        )
        .unwrap();
        let Operation::TrackAnonymous { event, .. } = op else {
            panic!("anonymous page")
        };
        assert_eq!(event.name, "https://example.com/docs");
        assert_eq!(event.data["category"], "Docs");
        assert_eq!(
            field_of(MessageType::Screen, json!({"userId": "u"})).as_deref(),
            Some("name")
        );
    }

    #[test]
    fn group_and_alias() {
        let op = convert(
            MessageType::Group,
            json!({"userId": "u", "groupId": 7, "traits": {"name": "Acme", "object_type_id": "2",
                   "relationshipAttributes": {"role": "admin"}}}),
        )
        .unwrap();
        let Operation::IdentifyObject {
            object,
            attributes,
            relationships,
        } = op
        else {
            panic!("object")
        };
        assert_eq!(
            (object.type_id.as_str(), object.object_id.as_str()),
            ("2", "7")
        );
        assert_eq!(Value::Object(attributes), json!({"name": "Acme"}));
        assert_eq!(
            Value::Object(relationships[0].attributes.clone()),
            json!({"role": "admin"})
        );
        assert_eq!(
            field_of(MessageType::Group, json!({"userId": "u"})).as_deref(),
            Some("groupId")
        );
        assert_eq!(
            field_of(
                MessageType::Group,
                json!({"userId": "u", "groupId": "g",
                "traits": {"object_type_id": "company"}})
            )
            .as_deref(),
            Some("traits.object_type_id")
        );
        assert_eq!(
            field_of(MessageType::Alias, json!({"userId": "u"})).as_deref(),
            Some("previousId")
        );
        let op = convert(
            MessageType::Alias,
            json!({"userId": "u@x.io", "previousId": "a"}),
        )
        .unwrap();
        assert!(matches!(op, Operation::Alias { ref previous, .. } if previous == "a"));
    }
}
