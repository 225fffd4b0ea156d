//! How people, activities, segments, computed attributes and objects look on the App API wire.

use nudge_core::person::StoredActivity;
use nudge_core::{IdentifierKind, PersonState};
use nudge_store::{Backfill, ComputedDefinition, PersonView, Segment, SegmentDefinition};
use serde_json::{json, Value};

pub fn identifiers(state: &PersonState) -> Value {
    json!({"id": state.id, "email": state.email, "cio_id": state.cio_id})
}

pub fn customer(view: &PersonView) -> Value {
    let state = &view.state;
    let mut attributes = state.attributes.clone();
    for (name, value) in [
        ("id", &state.id),
        ("email", &state.email),
        ("phone", &state.phone),
    ] {
        if let Some(v) = value {
            attributes.insert(name.into(), json!(v));
        }
    }
    attributes.insert("cio_id".into(), json!(state.cio_id));
    attributes.insert(
        "_created_in_customerio_at".into(),
        json!(state.created_at.unix_seconds()),
    );
    let timestamps: serde_json::Map<String, Value> = state
        .attribute_times
        .iter()
        .map(|(name, ms)| (name.clone(), json!(ms.div_euclid(1000))))
        .collect();
    let anonymous_ids: Vec<&str> = view
        .identifiers
        .iter()
        .filter(|i| i.kind() == IdentifierKind::AnonymousId)
        .map(|i| i.value())
        .collect();
    let devices: Vec<Value> = view
        .devices
        .iter()
        .map(|d| {
            json!({"id": d.token, "platform": d.platform,
                   "last_used": d.last_used.map(|t| t.unix_seconds()), "attributes": d.attributes})
        })
        .collect();
    let unsubscribed = state
        .attributes
        .get("unsubscribed")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    json!({
        "id": state.id,
        "identifiers": identifiers(state),
        "attributes": attributes,
        "timestamps": timestamps,
        "unsubscribed": unsubscribed,
        "devices": devices,
        "anonymous_ids": anonymous_ids,
        "created_at": state.created_at.unix_seconds(),
        "updated_at": state.updated_at.unix_seconds(),
    })
}

pub fn activity(state: &PersonState, stored: &StoredActivity) -> Value {
    let a = &stored.activity;
    json!({
        "id": stored.seq.to_string(),
        "customer_id": state.id,
        "customer_identifiers": identifiers(state),
        "type": a.kind.as_str(),
        "name": a.name,
        "timestamp": a.timestamp.unix_seconds(),
        "data": a.data,
        "event_id": a.event_id,
        "can_trigger": a.can_trigger,
        "processed_at": stored.recorded_at.unix_seconds(),
    })
}

pub fn segment(segment: &Segment) -> Value {
    json!({"id": segment.id, "name": segment.name, "description": segment.description,
           "type": if segment.manual { "manual" } else { "dynamic" }})
}

/// A segment definition as `GET /v1/segments/{id}` shows it: Customer.io's fields (`state`
/// is `build` and `progress` a percentage while a backfill runs), then Nudge's own.
pub fn segment_definition(segment: &SegmentDefinition) -> Value {
    let building = !segment.backfill.complete;
    let mut rendered = json!({
        "id": segment.id,
        "name": segment.name,
        "description": segment.description,
        "type": if segment.manual() { "manual" } else { "dynamic" },
        "state": if building { "build" } else { "finished" },
        "progress": building.then(|| progress(&segment.backfill)),
        "deduplicate_id": format!("{}:{}", segment.id, segment.updated_at.unix_seconds()),
        "tags": null,
        "version": segment.version,
        "created_at": segment.created_at.unix_seconds(),
        "updated_at": segment.updated_at.unix_seconds(),
        "backfill": backfill(&segment.backfill),
    });
    if let Some(conditions) = &segment.conditions {
        rendered["conditions"] = conditions.clone();
    }
    rendered
}

pub fn computed_definition(computed: &ComputedDefinition) -> Value {
    json!({
        "name": computed.name,
        "definition": computed.definition,
        "version": computed.version,
        "created_at": computed.created_at.unix_seconds(),
        "updated_at": computed.updated_at.unix_seconds(),
        "backfill": backfill(&computed.backfill),
    })
}

fn backfill(backfill: &Backfill) -> Value {
    json!({"complete": backfill.complete, "done": backfill.done, "total": backfill.total})
}

/// Whole percent done, below 100 until the backfill says it is complete.
fn progress(backfill: &Backfill) -> u64 {
    if backfill.total == 0 {
        return 0;
    }
    (backfill.done.saturating_mul(100) / backfill.total).min(99)
}
