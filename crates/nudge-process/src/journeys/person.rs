//! Moving one person's journeys along inside the processor's transaction, after their
//! segments are up to date: each new event (in log order) goes first to their running
//! instances (exits, goals, waits) and then starts the journeys it triggers; segment
//! transitions start theirs; a change of the person re-checks instances' conditions. Every
//! step goes through the pure engine; its effects are applied by [`super::effects`].

use std::collections::BTreeSet;

use nudge_core::{JsonMap, PersonKey, PersonState, Timestamp, WorkspaceId};
use nudge_journeys::{Input, Instance, TriggerData};
use nudge_store::{InstanceRow, StoreError, StoreResult, WriteTx};
use serde_json::Value;

use super::effects::Subject;
use super::runner::Runner;
use super::JourneyCatalog;
use crate::computed_step::NewEvent;
use crate::events::PersonEvents;
use crate::person::Moment;
use crate::PersonData;

/// What changed for a person in this evaluation, as journeys see it.
pub struct JourneyWork<'a> {
    /// New events, in log order.
    pub events: &'a [NewEvent],
    /// Segment transitions that were recorded (not a backfill's silent ones).
    pub entered: &'a [i64],
    pub exited: &'a [i64],
    /// Top-level attributes an entry set (their value may or may not have changed).
    pub attributes: &'a BTreeSet<String>,
    /// The identify entries among the changes, in log order.
    pub identify_offsets: &'a [i64],
    /// Broadcasts that name this person.
    pub broadcasts: &'a [BroadcastWork],
    /// The person's segments after this evaluation.
    pub segments: BTreeSet<i64>,
}

/// A broadcast reaching one person: the journey it starts and the trigger it starts it with
/// (the broadcast's data, with the person's own laid over it).
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastWork {
    pub journey: String,
    pub trigger: TriggerData,
}

/// One loaded instance: its row and the engine's state, and whether it changed.
pub(super) struct Loaded {
    pub row: InstanceRow,
    pub instance: Instance,
    pub dirty: bool,
}

/// Runs the person's journeys for `work`. Does nothing (and reads nothing) when no journey
/// can be concerned. Returns the broadcasts (by id) that started an instance.
pub(crate) fn advance_person(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    journeys: &JourneyCatalog,
    state: &PersonState,
    stored: &mut PersonEvents,
    work: JourneyWork<'_>,
    at: Moment,
) -> StoreResult<Vec<i64>> {
    let now = at.now;
    let starts_something = work
        .events
        .iter()
        .any(|e| !journeys.started_by_event(&e.name).is_empty())
        || work
            .entered
            .iter()
            .any(|s| !journeys.started_by_segment(*s, true).is_empty())
        || work
            .exited
            .iter()
            .any(|s| !journeys.started_by_segment(*s, false).is_empty());
    let attribute_triggers = journeys.watches_attributes(work.attributes.iter());
    let dates_due = journeys.dates_due(&state.attributes, now);
    let starts_something = starts_something
        || attribute_triggers
        || !dates_due.is_empty()
        || !work.broadcasts.is_empty();
    let person_changed =
        !work.attributes.is_empty() || !work.entered.is_empty() || !work.exited.is_empty();
    let concerns_running = work.events.iter().any(|e| journeys.watches_event(&e.name))
        || (journeys.rechecks() && person_changed);
    if !starts_something && !concerns_running {
        return Ok(Vec::new());
    }
    let person = state.key;
    let mut instances = load_instances(tx, ws, person, now)?;
    if instances.is_empty() && !starts_something {
        return Ok(Vec::new());
    }
    let events = stored.read_all(tx, &journeys.condition_event_reads())?;
    let facts = PersonData::for_person(state.clone(), work.segments.clone(), events);
    let subject = Subject::new(tx, ws, state)?;
    let mut runner = Runner {
        tx,
        journeys,
        facts: &facts,
        subject: &subject,
        now,
    };
    for event in work.events {
        runner.feed_event(&mut instances, event)?;
        for journey in journeys.started_by_event(&event.name) {
            let trigger = TriggerData {
                event: Some(event.name.clone()),
                timestamp: event.timestamp,
                data: event.data.clone(),
                offset: event.offset,
            };
            runner.trigger(&mut instances, journey, trigger)?;
        }
    }
    for (ids, entered) in [(work.entered, true), (work.exited, false)] {
        for &segment in ids {
            for journey in journeys.started_by_segment(segment, entered) {
                let mut data = JsonMap::new();
                data.insert("segment_id".into(), Value::from(segment));
                let trigger = TriggerData {
                    event: None,
                    timestamp: now,
                    data,
                    offset: at.upto,
                };
                runner.trigger(&mut instances, journey, trigger)?;
            }
        }
    }
    if attribute_triggers {
        for &offset in work.identify_offsets {
            let changes = runner
                .tx
                .entry_attribute_changes(runner.subject.ws, person, offset)?;
            runner.attribute_triggers(&mut instances, &changes, offset)?;
        }
    }
    let mut broadcasts_started = Vec::new();
    for broadcast in work.broadcasts {
        let trigger = broadcast.trigger.clone();
        let offset = trigger.offset;
        if runner.trigger(&mut instances, &broadcast.journey, trigger)? {
            broadcasts_started.push(offset);
        }
    }
    for (journey, due) in dates_due {
        let already = runner.tx.last_entry(runner.subject.ws, journey, person)?;
        if already.is_some_and(|entered| entered >= due) {
            continue;
        }
        let trigger = TriggerData {
            event: None,
            timestamp: due,
            data: JsonMap::new(),
            offset: at.upto,
        };
        runner.trigger(&mut instances, journey, trigger)?;
    }
    if journeys.rechecks() && person_changed {
        for loaded in instances.iter_mut().filter(|l| l.instance.is_active()) {
            runner.step(loaded, Input::Recheck)?;
        }
    }
    save_instances(runner.tx, ws, instances)?;
    Ok(broadcasts_started)
}

/// The person's running instances and those still watched for a conversion.
pub(super) fn load_instances(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    person: PersonKey,
    now: Timestamp,
) -> StoreResult<Vec<Loaded>> {
    tx.person_instances(ws, person, now)?
        .into_iter()
        .map(|row| {
            let instance: Instance = serde_json::from_value(row.state.clone())
                .map_err(|e| StoreError::Corrupt(format!("journey instance {}: {e}", row.id)))?;
            Ok(Loaded {
                row,
                instance,
                dirty: false,
            })
        })
        .collect()
}

/// Writes back every instance that changed.
pub(super) fn save_instances(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    instances: Vec<Loaded>,
) -> StoreResult<()> {
    for loaded in instances.into_iter().filter(|l| l.dirty) {
        tx.update_instance(ws, &loaded.row)?;
    }
    Ok(())
}
