//! Moving one person's journeys along inside the processor's transaction, after their
//! segments are up to date: each new event (in log order) goes first to their running
//! instances (exits, goals, waits) and then starts the journeys it triggers; segment
//! transitions start theirs; a change of the person re-checks instances' conditions. Every
//! step goes through the pure engine; its effects are applied by [`super::effects`].

use std::collections::BTreeSet;
use std::sync::Arc;

use nudge_core::{JsonMap, PersonKey, PersonState, Timestamp, WorkspaceId};
use nudge_journeys::{admit, start, Admission, EventInput, Input, Instance, Journey, TriggerData};
use nudge_store::{InstanceRow, StoreError, StoreResult, WriteTx};
use serde_json::Value;

use super::effects::{apply_effects, Subject};
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
    /// The person's segments after this evaluation.
    pub segments: BTreeSet<i64>,
}

/// One loaded instance: its row and the engine's state, and whether it changed.
pub(super) struct Loaded {
    pub row: InstanceRow,
    pub instance: Instance,
    pub dirty: bool,
}

/// Runs the person's journeys for `work`. Does nothing (and reads nothing) when no journey
/// can be concerned.
pub(crate) fn advance_person(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    journeys: &JourneyCatalog,
    state: &PersonState,
    stored: &mut PersonEvents,
    work: JourneyWork<'_>,
    at: Moment,
) -> StoreResult<()> {
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
    let starts_something = starts_something || attribute_triggers || !dates_due.is_empty();
    let person_changed =
        !work.attributes.is_empty() || !work.entered.is_empty() || !work.exited.is_empty();
    let concerns_running = work.events.iter().any(|e| journeys.watches_event(&e.name))
        || (journeys.rechecks() && person_changed);
    if !starts_something && !concerns_running {
        return Ok(());
    }
    let person = state.key;
    let mut instances = load_instances(tx, ws, person, now)?;
    if instances.is_empty() && !starts_something {
        return Ok(());
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
    save_instances(runner.tx, ws, instances)
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

/// What stepping instances needs: the transaction, the definitions, the person's facts.
pub(super) struct Runner<'r> {
    pub tx: &'r mut dyn WriteTx,
    pub journeys: &'r JourneyCatalog,
    pub facts: &'r PersonData,
    pub subject: &'r Subject,
    pub now: Timestamp,
}

impl Runner<'_> {
    fn context(&self) -> nudge_journeys::Context<'_> {
        nudge_journeys::Context {
            now: self.now,
            facts: self.facts,
        }
    }

    /// Hands an event to every instance that has not seen it yet.
    pub fn feed_event(&mut self, instances: &mut [Loaded], event: &NewEvent) -> StoreResult<()> {
        for loaded in instances.iter_mut() {
            if event.offset <= loaded.instance.seen_offset || !loaded.instance.watching(self.now) {
                continue;
            }
            let input = Input::Event(EventInput {
                name: &event.name,
                timestamp: event.timestamp,
                data: &event.data,
                offset: event.offset,
            });
            self.step(loaded, input)?;
            loaded.instance.seen_offset = event.offset;
            loaded.row.state = state_json(&loaded.instance)?;
            loaded.dirty = true;
        }
        Ok(())
    }

    /// Steps one instance and applies the effects.
    pub fn step(&mut self, loaded: &mut Loaded, input: Input<'_>) -> StoreResult<()> {
        let Some(journey) = self.journey_of(&loaded.instance) else {
            return Ok(());
        };
        let outcome = nudge_journeys::step(&journey, &loaded.instance, input, &self.context());
        if outcome.effects.is_empty() && outcome.instance == loaded.instance {
            return Ok(());
        }
        let mut instance = outcome.instance;
        apply_effects(
            self.tx,
            self.journeys,
            self.subject,
            &journey,
            loaded.row.id,
            &mut instance,
            &outcome.effects,
            self.now,
        )?;
        loaded.instance = instance;
        loaded.row = row_for(loaded.row.id, loaded.row.person, &loaded.instance)?;
        loaded.dirty = true;
        Ok(())
    }

    fn journey_of(&self, instance: &Instance) -> Option<Arc<Journey>> {
        self.journeys
            .version(&instance.journey, instance.version)
            .cloned()
    }

    /// Starts the journeys an entry's attribute changes trigger: `changes` is what the entry
    /// at `offset` recorded (`{"plan": {"from": …, "to": …}}`).
    fn attribute_triggers(
        &mut self,
        instances: &mut Vec<Loaded>,
        changes: &JsonMap,
        offset: i64,
    ) -> StoreResult<()> {
        let (mut before, mut after) = (JsonMap::new(), JsonMap::new());
        for (name, change) in changes {
            for (side, map) in [("from", &mut before), ("to", &mut after)] {
                if let Some(value) = change.get(side).filter(|v| !v.is_null()) {
                    map.insert(name.clone(), value.clone());
                }
            }
        }
        for name in changes.keys() {
            for journey in self.journeys.started_by_attribute(name).to_vec() {
                let Some((_, live)) = self.journeys.live(&journey) else {
                    continue;
                };
                if !live.trigger.attribute_changed(&before, &after) {
                    continue;
                }
                let mut data = JsonMap::new();
                data.insert("attribute".into(), Value::String(name.clone()));
                data.insert(
                    "from".into(),
                    before.get(name).cloned().unwrap_or(Value::Null),
                );
                data.insert("to".into(), after.get(name).cloned().unwrap_or(Value::Null));
                let trigger = TriggerData {
                    event: None,
                    timestamp: self.now,
                    data,
                    offset,
                };
                self.trigger(instances, &journey, trigger)?;
            }
        }
        Ok(())
    }

    /// A trigger for `journey`: starts an instance, hands it to the live one with its key, or
    /// is refused by the entry rules.
    pub fn trigger(
        &mut self,
        instances: &mut Vec<Loaded>,
        journey_id: &str,
        trigger: TriggerData,
    ) -> StoreResult<()> {
        let Some((version, journey)) = self.journeys.live(journey_id) else {
            return Ok(());
        };
        let journey = journey.clone();
        if let Some(name) = &trigger.event {
            if !journey.trigger.matches_event(name, &trigger.data, self.now) {
                return Ok(());
            }
        }
        let key = nudge_journeys::instance_key(&journey, &trigger).unwrap_or_default();
        let live = instances.iter().position(|l| {
            l.instance.is_active() && l.instance.journey == journey.id && l.instance.key == key
        });
        let last_entered = self
            .tx
            .last_entry(self.subject.ws, &journey.id, self.subject.key)?;
        let admission = admit(
            &journey,
            &trigger,
            live.map(|i| &instances[i].instance),
            last_entered,
            &self.context(),
        );
        match admission {
            Admission::Start { key } => {
                let offset = trigger.offset;
                let mut instance = start(&journey, version, trigger, key, self.now);
                instance.seen_offset = instance.seen_offset.max(offset);
                let mut row = row_for(0, self.subject.key, &instance)?;
                row.id = self.tx.insert_instance(self.subject.ws, &row)?;
                let mut loaded = Loaded {
                    row,
                    instance,
                    dirty: true,
                };
                self.step(&mut loaded, Input::Enter)?;
                instances.push(loaded);
            }
            Admission::Retrigger => {
                if let Some(index) = live {
                    self.step(&mut instances[index], Input::Retrigger(trigger))?;
                }
            }
            Admission::Refuse { reason } => {
                metrics::counter!("nudge_journey_entries_refused_total", "reason" => reason)
                    .increment(1);
            }
        }
        Ok(())
    }
}

/// The stored row of an instance.
pub(super) fn row_for(id: i64, person: PersonKey, instance: &Instance) -> StoreResult<InstanceRow> {
    Ok(InstanceRow {
        id,
        journey: instance.journey.clone(),
        version: instance.version,
        person,
        key: instance.key.clone(),
        active: instance.is_active(),
        step: instance.step.clone(),
        wake_at: instance.wake_at,
        watch_until: if instance.is_active() {
            None
        } else {
            instance.goal_until
        },
        entered_at: instance.entered_at,
        state: state_json(instance)?,
    })
}

fn state_json(instance: &Instance) -> StoreResult<Value> {
    serde_json::to_value(instance)
        .map_err(|e| StoreError::Backend(format!("encoding a journey instance: {e}")))
}
