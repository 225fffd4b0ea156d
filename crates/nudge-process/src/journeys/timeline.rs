//! How a recorded journey event reads on the timeline: one JSON object with `at`, `person`,
//! `kind` and the kind's fields (journey, step, channel, recipient, rendered text, reason).
//! The simulator's output and the App API's `GET /v1/timeline` both render through here, so
//! they print the same lines. Pure: no store, no clock.

use nudge_core::Timestamp;
use nudge_store::JourneyEvent;
use serde_json::{Map, Value};

/// `2026-03-02T10:02:00Z`: whole seconds unless the moment has milliseconds.
pub fn format_time(at: Timestamp) -> String {
    let text = at.to_rfc3339();
    if at.millis() % 1000 == 0 {
        text.replace(".000Z", "Z")
    } else {
        text
    }
}

/// A timeline line: `at`, `person` and `kind` first, then `fields` in their order.
pub fn timeline_line(
    at: Timestamp,
    person: &str,
    kind: &str,
    fields: &Map<String, Value>,
) -> Value {
    let mut map = Map::new();
    map.insert("at".into(), Value::String(format_time(at)));
    map.insert("person".into(), Value::String(person.to_string()));
    map.insert("kind".into(), Value::String(kind.to_string()));
    map.extend(fields.clone());
    Value::Object(map)
}

/// The whole line of a recorded journey event, for the kinds the timeline shows.
pub fn journey_timeline_line(event: &JourneyEvent) -> Option<Value> {
    let (kind, fields) = timeline_fields(event)?;
    Some(timeline_line(
        event.at,
        &timeline_person(event),
        kind,
        &fields,
    ))
}

/// The person as the event recorded them: their id, or their anonymous id while they had no
/// id (empty when the event names nobody).
pub fn timeline_person(event: &JourneyEvent) -> String {
    event
        .detail
        .get("person")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The timeline kind of a recorded journey event and its fields, or `None` for the kinds the
/// timeline leaves out (steps reached, attribute updates, emitted events, webhooks).
pub fn timeline_fields(event: &JourneyEvent) -> Option<(&'static str, Map<String, Value>)> {
    let detail = event.detail.as_object();
    let get = |key: &str| detail.and_then(|d| d.get(key)).cloned();
    let mut fields = Map::new();
    fields.insert("journey".into(), Value::String(event.journey.clone()));
    let step = || event.step.clone().map(Value::String);
    let kind = match event.kind.as_str() {
        "entered" => "journey_entered",
        "exited" => {
            fields.insert("reason".into(), reason(event));
            "journey_exited"
        }
        "message_sent" => {
            fields.extend(step().map(|s| ("step".to_string(), s)));
            for key in ["channel", "to", "subject", "body"] {
                if let Some(value) = get(key).filter(|v| !v.is_null()) {
                    fields.insert(key.into(), value);
                }
            }
            "message_sent"
        }
        "message_skipped" => {
            fields.extend(step().map(|s| ("step".to_string(), s)));
            if let Some(channel) = get("channel") {
                fields.insert("channel".into(), channel);
            }
            fields.insert("reason".into(), reason(event));
            "message_skipped"
        }
        "converted" => {
            fields.extend(step().map(|s| ("step".to_string(), s)));
            "converted"
        }
        _ => return None,
    };
    Some((kind, fields))
}

fn reason(event: &JourneyEvent) -> Value {
    Value::String(event.reason.clone().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use nudge_core::PersonKey;
    use serde_json::json;

    use super::*;

    fn event(kind: &str, step: Option<&str>, reason: Option<&str>, detail: Value) -> JourneyEvent {
        JourneyEvent {
            at: Timestamp::parse_rfc3339("2026-03-02T10:32:00Z").unwrap(),
            person: PersonKey(7),
            journey: "cart-recovery".into(),
            version: 1,
            instance: 3,
            step: step.map(str::to_string),
            kind: kind.into(),
            reason: reason.map(str::to_string),
            detail,
        }
    }

    fn check(event: JourneyEvent, expected: Option<Value>) {
        let line = journey_timeline_line(&event);
        assert_eq!(line, expected);
        if let Some(Value::Object(map)) = line {
            let keys: Vec<&str> = map.keys().map(String::as_str).collect();
            assert_eq!(
                &keys[..3],
                ["at", "person", "kind"],
                "the line's first keys"
            );
        }
    }

    #[test]
    fn sends_show_the_rendered_message_and_leave_out_what_is_missing() {
        check(
            event(
                "message_sent",
                Some("sms"),
                None,
                json!({"person": "c-1001", "channel": "sms", "to": "+15555550100",
                       "subject": null, "body": "Ana, your cart", "message_id": "m-1"}),
            ),
            Some(json!({"at": "2026-03-02T10:32:00Z", "person": "c-1001",
                        "kind": "message_sent", "journey": "cart-recovery", "step": "sms",
                        "channel": "sms", "to": "+15555550100", "body": "Ana, your cart"})),
        );
    }

    #[test]
    fn skips_and_exits_carry_their_reason() {
        check(
            event(
                "message_skipped",
                Some("email"),
                Some("late"),
                json!({"person": "c-2", "channel": "email", "template": "t"}),
            ),
            Some(json!({"at": "2026-03-02T10:32:00Z", "person": "c-2",
                        "kind": "message_skipped", "journey": "cart-recovery", "step": "email",
                        "channel": "email", "reason": "late"})),
        );
        check(
            event(
                "exited",
                Some("email"),
                Some("completed"),
                json!({"person": "c-2"}),
            ),
            Some(json!({"at": "2026-03-02T10:32:00Z", "person": "c-2",
                        "kind": "journey_exited", "journey": "cart-recovery",
                        "reason": "completed"})),
        );
        check(
            event("entered", None, None, json!({"person": "anon-7"})),
            Some(json!({"at": "2026-03-02T10:32:00Z", "person": "anon-7",
                        "kind": "journey_entered", "journey": "cart-recovery"})),
        );
    }

    #[test]
    fn inner_kinds_are_left_out() {
        for kind in [
            "step_reached",
            "attributes_updated",
            "event_emitted",
            "webhook_queued",
        ] {
            check(event(kind, Some("x"), None, json!({"person": "c-1"})), None);
        }
    }

    #[test]
    fn times_have_milliseconds_only_when_they_need_them() {
        let at = |ms| format_time(Timestamp::from_millis(ms));
        assert_eq!(at(1_772_445_720_000), "2026-03-02T10:02:00Z");
        assert_eq!(at(1_772_445_720_250), "2026-03-02T10:02:00.250Z");
    }
}
