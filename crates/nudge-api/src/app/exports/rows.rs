//! How people and events look in export files (`nudge export` and the App API's export
//! jobs): one flat JSON object per row, identifiers first, times in unix seconds, attributes
//! and event data as nested objects. The column order of CSV exports is the key order here.

use nudge_core::PersonState;
use nudge_store::ExportedEvent;
use serde_json::{json, Value};

/// Column names of a people export, in order.
pub const PERSON_COLUMNS: [&str; 7] = [
    "id",
    "email",
    "phone",
    "cio_id",
    "created_at",
    "updated_at",
    "attributes",
];

/// Column names of an events export, in order.
pub const EVENT_COLUMNS: [&str; 8] = [
    "id",
    "email",
    "cio_id",
    "type",
    "name",
    "timestamp",
    "event_id",
    "data",
];

pub fn person_row(person: &PersonState) -> Value {
    json!({
        "id": person.id,
        "email": person.email,
        "phone": person.phone,
        "cio_id": person.cio_id,
        "created_at": person.created_at.unix_seconds(),
        "updated_at": person.updated_at.unix_seconds(),
        "attributes": person.attributes,
    })
}

/// An event row names its person the way an events import reads it back.
pub fn event_row(event: &ExportedEvent) -> Value {
    let activity = &event.activity;
    json!({
        "id": event.person_id,
        "email": event.person_email,
        "cio_id": event.person_cio_id,
        "type": activity.kind.as_str(),
        "name": activity.name,
        "timestamp": activity.timestamp.unix_seconds(),
        "event_id": activity.event_id,
        "data": activity.data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::{Activity, ActivityKind, PersonKey, Timestamp};

    #[test]
    fn rows_have_exactly_their_columns_in_order() {
        let person = PersonState {
            key: PersonKey(7),
            cio_id: "abc".into(),
            id: Some("u1".into()),
            email: None,
            phone: None,
            attributes: json!({"plan": "pro"}).as_object().cloned().unwrap(),
            attribute_times: Default::default(),
            created_at: Timestamp::from_millis(1_000_500),
            updated_at: Timestamp::from_millis(2_000_000),
        };
        let row = person_row(&person);
        let keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, PERSON_COLUMNS);
        assert_eq!(row["created_at"], 1_000);
        let event = ExportedEvent {
            seq: 1,
            person_id: Some("u1".into()),
            person_email: None,
            person_cio_id: "abc".into(),
            activity: Activity {
                kind: ActivityKind::Page,
                name: "/".into(),
                timestamp: Timestamp::from_millis(5_000),
                data: Default::default(),
                event_id: None,
                can_trigger: true,
            },
        };
        let row = event_row(&event);
        let keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, EVENT_COLUMNS);
        assert_eq!(
            (row["type"].as_str(), row["timestamp"].as_i64()),
            (Some("page"), Some(5))
        );
    }
}
