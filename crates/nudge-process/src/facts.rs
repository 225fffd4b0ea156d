//! One person's data as the condition evaluator reads it: attributes, segment ids and the
//! events the conditions in play read, loaded once per evaluation.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use nudge_conditions::{EventFact, PersonFacts};
use nudge_core::JsonMap;
use nudge_store::StoredEvent;

#[derive(Debug, Clone, Default)]
pub struct PersonData {
    pub attributes: JsonMap,
    /// Every segment the person belongs to (manual and data-driven).
    pub segments: BTreeSet<i64>,
    events: HashMap<String, Vec<Arc<StoredEvent>>>,
}

impl PersonData {
    pub fn new(
        attributes: JsonMap,
        segments: BTreeSet<i64>,
        events: impl IntoIterator<Item = impl Into<Arc<StoredEvent>>>,
    ) -> Self {
        let mut by_name: HashMap<String, Vec<Arc<StoredEvent>>> = HashMap::new();
        for event in events {
            let event: Arc<StoredEvent> = event.into();
            by_name.entry(event.name.clone()).or_default().push(event);
        }
        Self {
            attributes,
            segments,
            events: by_name,
        }
    }

    /// The person's data as conditions see it: their attributes plus `id`, `email`, `phone`
    /// and `cio_id`, which are identifiers rather than stored attributes but which audience
    /// filters compare like any attribute.
    pub fn for_person(
        person: nudge_core::PersonState,
        segments: BTreeSet<i64>,
        events: impl IntoIterator<Item = impl Into<Arc<StoredEvent>>>,
    ) -> Self {
        let mut attributes = person.attributes;
        let identity = [
            ("id", person.id),
            ("email", person.email),
            ("phone", person.phone),
            ("cio_id", Some(person.cio_id)),
        ];
        for (name, value) in identity {
            if let Some(value) = value {
                attributes.insert(name.to_string(), serde_json::Value::String(value));
            }
        }
        Self::new(attributes, segments, events)
    }

    /// All loaded events, of every name.
    pub fn all_events(&self) -> impl Iterator<Item = &StoredEvent> {
        self.events.values().flatten().map(|e| e.as_ref())
    }
}

impl PersonFacts for PersonData {
    fn attributes(&self) -> &JsonMap {
        &self.attributes
    }

    fn in_segment(&self, segment_id: i64) -> bool {
        self.segments.contains(&segment_id)
    }

    fn events(&self, name: &str) -> Vec<EventFact<'_>> {
        self.events
            .get(name)
            .map(|events| {
                events
                    .iter()
                    .map(|e| EventFact {
                        timestamp: e.timestamp,
                        data: &e.data,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
