//! Keeping one person's computed attributes current: each new event is folded into the stored
//! state of the attributes that read it; an attribute the fold cannot handle incrementally (a
//! late reset, a time window) or that is new is recomputed from the person's stored events.
//! The value is written into the person's attributes, where conditions and the APIs see it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use nudge_conditions::computed::{recompute, ComputedAttribute, ComputedState, EventInput, Fold};
use nudge_core::{JsonMap, PersonState, Timestamp, WorkspaceId};
use nudge_store::{StoreError, StoreResult, StoredEvent, WriteTx};
use serde::Deserialize;

use crate::events::PersonEvents;
use crate::person::{earliest, Moment};
use crate::Catalog;

/// An event as the processor takes it from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The log entry that recorded it.
    pub offset: i64,
    pub name: String,
    pub timestamp: Timestamp,
    pub data: JsonMap,
}

pub(crate) struct ComputedWork<'a> {
    pub events: &'a [NewEvent],
    pub recompute_all: bool,
    pub recompute: &'a BTreeSet<String>,
    /// Time passed: windowed attributes are recomputed.
    pub time: bool,
    /// The person's fold states when already read (a backfill page); read when needed if not.
    pub stored_states: Option<BTreeMap<String, serde_json::Value>>,
}

pub(crate) struct ComputedResult {
    /// Attributes whose value changed.
    pub changed: Vec<String>,
    /// When time alone next changes a windowed attribute.
    pub next_change: Option<Timestamp>,
}

pub(crate) fn update_computed(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    catalog: &Catalog,
    person: &mut PersonState,
    events_read: &mut PersonEvents,
    work: ComputedWork<'_>,
    at: Moment,
) -> StoreResult<ComputedResult> {
    let now = at.now;
    let mut result = ComputedResult {
        changed: Vec::new(),
        next_change: None,
    };
    let concerned: Vec<&ComputedAttribute> = catalog
        .computed
        .iter()
        .filter(|a| {
            work.recompute_all
                || work.recompute.contains(&a.name)
                || (work.time && a.within.is_some())
                || work.events.iter().any(|e| a.reads(&e.name))
        })
        .collect();
    // A windowed attribute's next change is kept in its state: evaluations that do not touch
    // it must still schedule it.
    let windowed = catalog.computed.iter().any(|a| a.within.is_some());
    if concerned.is_empty() && !windowed {
        return Ok(result);
    }
    let mut states = match work.stored_states {
        Some(states) => states,
        None => tx.computed_states(ws, person.key)?,
    };
    // States of attributes no longer defined are dropped with the next write.
    let defined = states.len();
    states.retain(|name, _| catalog.is_computed(name));
    let mut states_changed = states.len() != defined;
    for attribute in catalog.computed.iter().filter(|a| a.within.is_some()) {
        if !concerned.iter().any(|c| c.name == attribute.name) {
            let stored = states.get(&attribute.name).and_then(stored_next_change);
            result.next_change = earliest(result.next_change, stored.filter(|t| *t > now));
        }
    }
    for attribute in concerned {
        let version = catalog.computed_version(&attribute.name);
        // A state folded under another version of the definition is recomputed.
        let current = states
            .get(&attribute.name)
            .filter(|v| v["version"] == version);
        let had_state = current.is_some();
        let mut next_change = current.and_then(stored_next_change);
        let mut state: ComputedState = match current {
            Some(v) => ComputedState::deserialize(&v["state"]).map_err(|e| {
                StoreError::Corrupt(format!("computed state of {}: {e}", attribute.name))
            })?,
            None => ComputedState::default(),
        };
        let must_recompute = !had_state
            || work.recompute_all
            || work.recompute.contains(&attribute.name)
            || (work.time && attribute.within.is_some())
            || fold_all(attribute, &mut state, work.events, now);
        if must_recompute {
            let events = events_read.read(tx, &Catalog::computed_event_read(attribute))?;
            state = recompute(attribute, &inputs(&events), now);
            next_change = window_change(attribute, &events, now);
        }
        if attribute.within.is_some() {
            result.next_change = earliest(result.next_change, next_change.filter(|t| *t > now));
        }
        let mut encoded = serde_json::to_value(&state)
            .map(|state| serde_json::json!({"version": version, "state": state}))
            .map_err(|e| StoreError::Backend(format!("encoding computed state: {e}")))?;
        if let Some(at) = next_change.filter(|_| attribute.within.is_some()) {
            encoded["next_change"] = serde_json::json!(at.millis());
        }
        if states.get(&attribute.name) != Some(&encoded) {
            states.insert(attribute.name.clone(), encoded);
            states_changed = true;
        }
        let value = attribute.value(&state);
        if person.attributes.get(&attribute.name) != value.as_ref() {
            match value {
                Some(v) => person.attributes.insert(attribute.name.clone(), v),
                None => person.attributes.remove(&attribute.name),
            };
            person
                .attribute_times
                .insert(attribute.name.clone(), now.millis());
            result.changed.push(attribute.name.clone());
        }
    }
    if states_changed {
        tx.set_computed_states(ws, person.key, &states)?;
    }
    Ok(result)
}

/// The moment time alone next changes a windowed attribute, as stored with its state.
fn stored_next_change(stored: &serde_json::Value) -> Option<Timestamp> {
    stored
        .get("next_change")
        .and_then(serde_json::Value::as_i64)
        .map(Timestamp::from_millis)
}

/// Folds the new events in; `true` when the attribute must be recomputed instead.
fn fold_all(
    attribute: &ComputedAttribute,
    state: &mut ComputedState,
    events: &[NewEvent],
    now: Timestamp,
) -> bool {
    for event in events.iter().filter(|e| attribute.reads(&e.name)) {
        let input = EventInput {
            name: &event.name,
            timestamp: event.timestamp,
            data: &event.data,
        };
        if attribute.fold(state, input, now) == Fold::Recompute {
            return true;
        }
    }
    false
}

fn inputs(events: &[Arc<StoredEvent>]) -> Vec<EventInput<'_>> {
    events
        .iter()
        .map(|e| EventInput {
            name: &e.name,
            timestamp: e.timestamp,
            data: &e.data,
        })
        .collect()
}

/// When a windowed attribute next changes with no new event: the earliest moment an event in
/// the window leaves it, or a future-dated event enters it.
fn window_change(
    attribute: &ComputedAttribute,
    events: &[Arc<StoredEvent>],
    now: Timestamp,
) -> Option<Timestamp> {
    let within = attribute.within?;
    let sources: BTreeMap<&str, ()> = attribute
        .sources
        .iter()
        .map(|s| (s.event.as_str(), ()))
        .collect();
    events
        .iter()
        .filter(|e| sources.contains_key(e.name.as_str()))
        .filter_map(|e| {
            if e.timestamp > now {
                Some(e.timestamp)
            } else if e.timestamp > now.minus_millis(within) {
                Some(e.timestamp.plus_millis(within))
            } else {
                None
            }
        })
        .min()
}
