//! The simulator's output: what happened to whom and when, in time order, one JSON object
//! per line (`--json`) or one readable line each. Kinds: `journey_entered`, `journey_exited`,
//! `message_sent`, `message_skipped`, `converted`, `segment_entered`, `segment_exited`.

use std::collections::BTreeMap;

use chrono::{SecondsFormat, TimeZone, Utc};
use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{Store, StoredJourneyEvent};
use serde_json::{Map, Value};

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub at: Timestamp,
    pub person: String,
    pub kind: String,
    /// Everything else the line says (journey, step, channel, reason…), in output order.
    pub fields: Map<String, Value>,
    /// Segment transitions come before journey events at the same moment (a segment entry
    /// starts a journey), then recording order.
    order: (u8, i64),
}

impl Entry {
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        map.insert("at".into(), Value::String(format_time(self.at)));
        map.insert("person".into(), Value::String(self.person.clone()));
        map.insert("kind".into(), Value::String(self.kind.clone()));
        map.extend(self.fields.clone());
        Value::Object(map)
    }

    pub fn to_text(&self) -> String {
        let mut text = format!("{}  {}  {}", format_time(self.at), self.person, self.kind);
        for (key, value) in &self.fields {
            let shown = match value {
                Value::String(s) => s.replace('\n', "\\n"),
                other => other.to_string(),
            };
            text.push_str(&format!("  {key}={shown}"));
        }
        text
    }
}

/// `2026-03-02T10:02:00Z`: seconds unless the moment has milliseconds.
pub fn format_time(at: Timestamp) -> String {
    let format = if at.millis() % 1000 == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Millis
    };
    Utc.timestamp_millis_opt(at.millis())
        .single()
        .map(|t| t.to_rfc3339_opts(format, true))
        .unwrap_or_default()
}

/// Everything the workspace's journeys recorded, and the segment transitions of `people`
/// (labelled as the scenario named them), in time order.
pub fn collect(
    store: &dyn Store,
    ws: WorkspaceId,
    people: &BTreeMap<PersonKey, String>,
) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut after = 0;
    loop {
        let page = store.journey_events(ws, after, 1000)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        entries.extend(page.iter().filter_map(journey_entry));
    }
    let names: BTreeMap<i64, String> = store
        .segment_definitions(ws)?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    for (key, label) in people {
        for transition in store.segment_transitions(ws, *key, usize::MAX >> 1)? {
            let mut fields = Map::new();
            fields.insert("segment".into(), Value::from(transition.segment_id));
            if let Some(name) = names.get(&transition.segment_id) {
                fields.insert("name".into(), Value::String(name.clone()));
            }
            let kind = if transition.entered {
                "segment_entered"
            } else {
                "segment_exited"
            };
            entries.push(Entry {
                at: transition.at,
                person: label.clone(),
                kind: kind.into(),
                fields,
                order: (0, transition.id),
            });
        }
    }
    entries.sort_by_key(|e| (e.at, e.order));
    Ok(entries)
}

/// The timeline line of a recorded journey event, for the kinds the timeline shows.
fn journey_entry(stored: &StoredJourneyEvent) -> Option<Entry> {
    let event = &stored.event;
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
    let person = get("person")
        .and_then(|p| p.as_str().map(str::to_string))
        .unwrap_or_default();
    Some(Entry {
        at: event.at,
        person,
        kind: kind.into(),
        fields,
        order: (1, stored.id),
    })
}

fn reason(event: &nudge_store::JourneyEvent) -> Value {
    Value::String(event.reason.clone().unwrap_or_default())
}
