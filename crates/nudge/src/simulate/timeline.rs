//! The simulator's output: what happened to whom and when, in time order, one JSON object
//! per line (`--json`) or one readable line each. Kinds: `journey_entered`, `journey_exited`,
//! `message_sent`, `message_skipped`, `converted`, `segment_entered`, `segment_exited`.
//! Journey lines read as the App API's `GET /v1/timeline` shows them
//! (`nudge_process::journeys::timeline`); segment transitions are added here.

use std::collections::BTreeMap;

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
pub use nudge_process::journeys::timeline::format_time;
use nudge_process::journeys::timeline::{timeline_fields, timeline_line, timeline_person};
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
        timeline_line(self.at, &self.person, &self.kind, &self.fields)
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
    let (kind, fields) = timeline_fields(&stored.event)?;
    Some(Entry {
        at: stored.event.at,
        person: timeline_person(&stored.event),
        kind: kind.into(),
        fields,
        order: (1, stored.id),
    })
}
