//! Customer.io's semantic events: track calls whose reserved `event` name asks for an action
//! (devices, deleting or suppressing people, removing relationships and objects) instead of
//! recording an event. Names match exactly, as Customer.io matches them.

use nudge_core::operation::Relationship;
use nudge_core::{Device, JsonMap, ObjectRef, Operation, Timestamp};
use serde_json::Value;

use super::wire::{self, Message};
use crate::track::convert as track;
use crate::ApiError;

const DEVICE_UPDATED: &str = "Device Created or Updated";
const DEVICE_DELETED: &str = "Device Deleted";
const USER_DELETED: &str = "User Deleted";
const USER_SUPPRESSED: &str = "User Suppressed";
const USER_UNSUPPRESSED: &str = "User Unsuppressed";
const RELATIONSHIP_DELETED: &str = "Relationship Deleted";
const OBJECT_DELETED: &str = "Object Deleted";
const REPORT_DELIVERY_EVENT: &str = "Report Delivery Event";

const ALL: [&str; 8] = [
    DEVICE_UPDATED,
    DEVICE_DELETED,
    USER_DELETED,
    USER_SUPPRESSED,
    USER_UNSUPPRESSED,
    RELATIONSHIP_DELETED,
    OBJECT_DELETED,
    REPORT_DELIVERY_EVENT,
];

pub fn is_semantic(event: &str) -> bool {
    ALL.contains(&event)
}

/// The operation the semantic event `event` asks for.
pub fn operation(
    event: &str,
    msg: &Message<'_>,
    at: Option<Timestamp>,
) -> Result<Operation, ApiError> {
    match event {
        DEVICE_UPDATED => Ok(Operation::AddDevice {
            person: msg.person()?,
            device: device(msg, at)?,
        }),
        DEVICE_DELETED => Ok(Operation::DeleteDevice {
            person: msg.person()?,
            token: device_token(msg)?,
        }),
        USER_DELETED => Ok(Operation::DeletePerson {
            person: msg.person()?,
        }),
        USER_SUPPRESSED => Ok(Operation::Suppress { person: user(msg)? }),
        USER_UNSUPPRESSED => Ok(Operation::Unsuppress { person: user(msg)? }),
        RELATIONSHIP_DELETED => Ok(Operation::PersonRelationships {
            person: msg.person()?,
            add: false,
            relationships: vec![Relationship {
                with: object(msg)?,
                attributes: JsonMap::new(),
            }],
        }),
        OBJECT_DELETED => Ok(Operation::DeleteObject {
            object: object(msg)?,
        }),
        REPORT_DELIVERY_EVENT => Err(unknown_delivery(msg)),
        other => Err(ApiError::bad_request(
            "event",
            format!("'{other}' is not a semantic event"),
        )),
    }
}

/// Suppression is about a known person: it needs the `userId`.
fn user(msg: &Message<'_>) -> Result<nudge_core::Identifier, ApiError> {
    msg.user()?.ok_or_else(|| {
        ApiError::bad_request("userId", "suppressing or unsuppressing needs a userId")
    })
}

fn device_token(msg: &Message<'_>) -> Result<String, ApiError> {
    match msg.path(&["context", "device", "token"]) {
        Some(Value::String(token)) if !token.trim().is_empty() && token.len() <= 500 => {
            Ok(token.clone())
        }
        _ => Err(ApiError::bad_request(
            "context.device.token",
            "context.device.token must be the device's push token",
        )),
    }
}

/// `context.device.token` and `.type` (ios or android); the event's properties become the
/// device's attributes and the message time its `last_used`.
fn device(msg: &Message<'_>, at: Option<Timestamp>) -> Result<Device, ApiError> {
    let token = device_token(msg)?;
    let platform = match msg.path(&["context", "device", "type"]) {
        Some(Value::String(kind))
            if ["ios", "android"].contains(&kind.to_ascii_lowercase().as_str()) =>
        {
            kind.to_ascii_lowercase()
        }
        other => {
            return Err(ApiError::bad_request(
                "context.device.type",
                format!(
                    "context.device.type must be ios or android, got {}",
                    other.unwrap_or(&Value::Null)
                ),
            ))
        }
    };
    let attributes = msg.object("properties")?.cloned().unwrap_or_default();
    nudge_core::limits::check_attributes(&attributes, "properties")?;
    let mut wire_device = JsonMap::new();
    wire_device.insert("token".into(), Value::String(token));
    wire_device.insert("platform".into(), Value::String(platform));
    wire_device.insert("attributes".into(), Value::Object(attributes));
    let mut device = track::device(wire_device, "token", "context.device")?;
    device.last_used = at;
    Ok(device)
}

/// `properties.objectId` of type `properties.objectTypeId` (default "1").
fn object(msg: &Message<'_>) -> Result<ObjectRef, ApiError> {
    let properties = msg.object("properties")?;
    let get = |key: &str| properties.and_then(|p| p.get(key)).filter(|v| !v.is_null());
    let type_id = get("objectTypeId")
        .cloned()
        .unwrap_or_else(|| Value::String("1".into()));
    let object_id = wire::id_text(get("objectId"), "properties.objectId")?.map(Value::String);
    track::object_ref(
        Some(&type_id),
        "properties.objectTypeId",
        object_id.as_ref(),
        "properties.objectId",
    )
}

/// Deliveries do not exist yet, so every delivery id is unknown.
fn unknown_delivery(msg: &Message<'_>) -> ApiError {
    let field = "properties.deliveryId";
    match msg.path(&["properties", "deliveryId"]) {
        Some(Value::String(id)) if !id.is_empty() => ApiError::bad_request(
            field,
            format!(
                "unknown delivery id '{id}': no delivery with that id exists in this workspace"
            ),
        ),
        _ => ApiError::bad_request(field, "a delivery event needs properties.deliveryId"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::IdentifierKind;
    use serde_json::json;

    fn convert(value: Value) -> Result<Operation, ApiError> {
        let map = value.as_object().unwrap().clone();
        let msg = Message::new(&map);
        let event = msg
            .get("event")
            .and_then(Value::as_str)
            .unwrap()
            .to_string();
        operation(&event, &msg, Timestamp::from_unix_seconds(1_700_000_000))
    }

    #[test]
    fn devices_come_from_the_context() {
        let op = convert(json!({"userId": "u", "event": DEVICE_UPDATED,
            "context": {"device": {"token": "apns-1", "type": "iOS"}},
            "properties": {"app_version": "2.1"}}))
        .unwrap();
        let Operation::AddDevice { device, .. } = op else {
            panic!("device")
        };
        assert_eq!(
            (device.token.as_str(), device.platform.as_str()),
            ("apns-1", "ios")
        );
        assert_eq!(device.attributes["app_version"], "2.1");
        assert_eq!(device.last_used.unwrap().unix_seconds(), 1_700_000_000);
        let e = convert(json!({"userId": "u", "event": DEVICE_UPDATED,
            "context": {"device": {"token": "t", "type": "windows"}}}))
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("context.device.type"));
        let e = convert(json!({"userId": "u", "event": DEVICE_DELETED})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("context.device.token"));
    }

    #[test]
    fn people_objects_and_deliveries() {
        let op = convert(json!({"userId": "a@b.co", "event": USER_SUPPRESSED})).unwrap();
        let Operation::Suppress { person } = op else {
            panic!("suppress")
        };
        assert_eq!(person.kind(), IdentifierKind::Email);
        let e = convert(json!({"anonymousId": "x", "event": USER_UNSUPPRESSED})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("userId"));
        let op = convert(json!({"anonymousId": "x", "event": OBJECT_DELETED,
            "properties": {"objectId": "acme"}}))
        .unwrap();
        assert_eq!(
            op,
            Operation::DeleteObject {
                object: ObjectRef {
                    type_id: "1".into(),
                    object_id: "acme".into()
                }
            }
        );
        let e = convert(json!({"userId": "u", "event": RELATIONSHIP_DELETED,
            "properties": {"objectTypeId": "x", "objectId": "acme"}}))
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("properties.objectTypeId"));
        let e = convert(json!({"userId": "u", "event": REPORT_DELIVERY_EVENT,
            "properties": {"deliveryId": "d-1", "metric": "opened"}}))
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("properties.deliveryId"));
        assert!(
            e.message.contains("unknown delivery id 'd-1'"),
            "{}",
            e.message
        );
    }
}
