//! A journey as Customer.io's `GET /v1/campaigns` shows a campaign: its fields where they
//! map (`id`, `name`, `type`, `state`, `created`, `updated`, `actions`, …), then Nudge's own
//! (`version`, `trigger_description`). Read from the stored documents, which were valid when
//! stored; nothing here refuses anything.

use nudge_store::Document;
use serde_json::{json, Value};

use crate::app::documents::wire;

/// Keys a step carries besides its kind.
const STEP_KEYS: [&str; 3] = ["id", "next", "skip_if"];

/// The steps of a journey document, in order.
pub fn steps(body: &Value) -> &[Value] {
    body.get("steps")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A step's id.
pub fn step_id(step: &Value) -> Option<&str> {
    step.get("id").and_then(Value::as_str)
}

/// A step's kind: its one key besides `id`, `next` and `skip_if` (`send`, `delay`, …).
pub fn step_kind(step: &Value) -> Option<&str> {
    step.as_object()?
        .keys()
        .map(String::as_str)
        .find(|key| !STEP_KEYS.contains(key))
}

/// The campaign for a journey's history (oldest first): `running` while it is live,
/// `stopped` once deleted (shown as its last live version). `None` for an empty history.
pub fn campaign(history: &[Document]) -> Option<Value> {
    let latest = history.last()?;
    let shown = wire::last_live(history)?;
    let running = !latest.deleted;
    let body = &shown.body;
    let created = history.first().map_or(shown.created_at, |d| d.created_at);
    let updated = latest.created_at.unix_seconds();
    let trigger = body.get("trigger").unwrap_or(&Value::Null);
    let actions: Vec<Value> = steps(body)
        .iter()
        .map(|step| json!({"id": step_id(step), "type": step_kind(step)}))
        .collect();
    let templates: Vec<Value> = steps(body)
        .iter()
        .filter_map(|step| step.get("send"))
        .map(|send| json!({"id": send.get("template"), "type": send.get("channel")}))
        .collect();
    let segment_ids: Vec<i64> = trigger
        .get("segment")
        .and_then(Value::as_i64)
        .into_iter()
        .collect();
    Some(json!({
        "id": latest.name,
        "deduplicate_id": format!("{}:{updated}", latest.name),
        "name": body.get("name"),
        "description": body.get("description"),
        "type": campaign_type(trigger),
        "created": created.unix_seconds(),
        "updated": updated,
        "active": running,
        "state": if running { "running" } else { "stopped" },
        "actions": actions,
        "first_started": created.unix_seconds(),
        "tags": [],
        "trigger_segment_ids": segment_ids,
        "msg_templates": templates,
        "version": shown.version,
        "trigger_description": trigger_description(trigger),
    }))
}

/// Customer.io's campaign types: `event` and `segment` where the trigger is one; `journey`
/// for Nudge's other triggers (attribute changes, dates, broadcasts).
fn campaign_type(trigger: &Value) -> &'static str {
    if trigger.get("event").is_some() {
        "event"
    } else if trigger.get("segment").is_some() {
        "segment"
    } else {
        "journey"
    }
}

/// What starts the journey, in words: `event "Signed Up" (1 filter)`, `enters segment 101`.
pub fn trigger_description(trigger: &Value) -> String {
    let text = |key: &str| match trigger.get(key) {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    if trigger.get("event").is_some() {
        let filters = trigger
            .get("where")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        match filters {
            0 => format!("event \"{}\"", text("event")),
            1 => format!("event \"{}\" (1 filter)", text("event")),
            n => format!("event \"{}\" ({n} filters)", text("event")),
        }
    } else if trigger.get("segment").is_some() {
        let edge = match trigger.get("on").and_then(Value::as_str) {
            Some("exited") => "leaves",
            _ => "enters",
        };
        format!("{edge} segment {}", text("segment"))
    } else if trigger.get("attribute_changed").is_some() {
        format!("attribute {} changes", text("attribute_changed"))
    } else if trigger.get("date").is_some() {
        match trigger.get("offset").and_then(Value::as_str) {
            Some(offset) => format!("date in attribute {}, offset {offset}", text("date")),
            None => format!("date in attribute {}", text("date")),
        }
    } else if trigger.get("broadcast").is_some() {
        "broadcast through the API".to_string()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::Timestamp;
    use nudge_store::DocumentKind;

    fn version(version: i64, at: i64, body: Value) -> Document {
        Document {
            kind: DocumentKind::Journey,
            name: "cart".into(),
            version,
            deleted: body.is_null(),
            body,
            created_at: Timestamp::from_millis(at * 1000),
        }
    }

    #[test]
    fn a_journey_reads_as_a_campaign_running_then_stopped() {
        let body = json!({"id": "cart", "name": "Cart", "trigger": {"segment": 7, "on": "exited"},
            "steps": [{"id": "wait", "delay": "30m"},
                      {"id": "sms", "send": {"channel": "sms", "template": "cart-sms"}, "skip_if": {}}]});
        let mut history = vec![version(1, 100, body.clone()), version(2, 200, body)];
        let running = campaign(&history).unwrap();
        assert_eq!(running["state"], "running");
        assert_eq!(running["type"], "segment");
        assert_eq!(running["created"], 100);
        assert_eq!(running["updated"], 200);
        assert_eq!(running["version"], 2);
        assert_eq!(running["trigger_segment_ids"], json!([7]));
        assert_eq!(
            running["actions"],
            json!([{"id": "wait", "type": "delay"}, {"id": "sms", "type": "send"}])
        );
        assert_eq!(
            running["msg_templates"],
            json!([{"id": "cart-sms", "type": "sms"}])
        );
        assert_eq!(running["trigger_description"], "leaves segment 7");
        history.push(version(3, 300, Value::Null));
        let stopped = campaign(&history).unwrap();
        assert_eq!(
            (&stopped["state"], &stopped["active"]),
            (&json!("stopped"), &json!(false))
        );
        assert_eq!(stopped["version"], 2, "the version it last ran");
        assert_eq!(stopped["updated"], 300);
        assert_eq!(campaign(&[]), None);
    }

    #[test]
    fn triggers_are_described() {
        let cases = [
            (json!({"event": "Signed Up"}), "event \"Signed Up\""),
            (
                json!({"event": "Added", "where": [{}, {}]}),
                "event \"Added\" (2 filters)",
            ),
            (json!({"segment": 3}), "enters segment 3"),
            (
                json!({"attribute_changed": "plan"}),
                "attribute plan changes",
            ),
            (
                json!({"date": "renews_at", "offset": "-3d"}),
                "date in attribute renews_at, offset -3d",
            ),
            (json!({"broadcast": true}), "broadcast through the API"),
        ];
        for (trigger, expected) in cases {
            assert_eq!(trigger_description(&trigger), expected, "{trigger}");
        }
        assert_eq!(campaign_type(&json!({"date": "x"})), "journey");
        assert_eq!(campaign_type(&json!({"event": "x"})), "event");
    }
}
