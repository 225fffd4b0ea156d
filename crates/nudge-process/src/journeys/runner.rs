//! Stepping one instance through the pure engine inside the processor's transaction: the
//! [`Runner`] hands an instance its inputs (events it has not seen, wake-ups, retriggers,
//! rechecks), moves it onto an edited journey's live version when that version asks for it,
//! applies the effects, and decides what a trigger does (start, hand to the live instance
//! with its key, or refuse); plus the instance's stored row.

use std::sync::Arc;

use nudge_core::{JsonMap, PersonKey, Timestamp};
use nudge_journeys::{admit, start, Admission, EventInput, Input, Instance, Journey, TriggerData};
use nudge_store::{InstanceRow, StoreError, StoreResult, WriteTx};
use serde_json::Value;

use super::effects::{apply_effects, Subject};
use super::person::Loaded;
use super::JourneyCatalog;
use crate::computed_step::NewEvent;
use crate::PersonData;

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

    /// Steps one instance and applies the effects; first moves it onto its journey's live
    /// version when that version asks for it (`migrate`), so an edit reaches every running
    /// instance the next time anything happens to it, without a scan.
    pub fn step(&mut self, loaded: &mut Loaded, input: Input<'_>) -> StoreResult<()> {
        self.migrate(loaded)?;
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
            loaded.instance.step.clone(),
        )?;
        loaded.instance = instance;
        loaded.row = row_for(loaded.row.id, loaded.row.person, &loaded.instance)?;
        loaded.dirty = true;
        Ok(())
    }

    fn migrate(&mut self, loaded: &mut Loaded) -> StoreResult<()> {
        let Some((version, live)) = self.journeys.live(&loaded.instance.journey) else {
            return Ok(());
        };
        if version == loaded.instance.version {
            return Ok(());
        }
        let Some(moved) = nudge_journeys::migrate(&loaded.instance, live, version) else {
            return Ok(());
        };
        let detail = serde_json::json!({
            "person": self.subject.label,
            "from_version": loaded.instance.version,
            "from_step": loaded.instance.step,
        });
        let event = nudge_store::JourneyEvent {
            at: self.now,
            person: self.subject.key,
            journey: moved.journey.clone(),
            version,
            instance: loaded.row.id,
            step: moved.step.clone(),
            kind: "migrated".into(),
            reason: None,
            detail,
        };
        self.tx.record_journey_event(self.subject.ws, &event)?;
        loaded.instance = moved;
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
    pub fn attribute_triggers(
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
    /// is refused by the entry rules. `true` when it started an instance.
    pub fn trigger(
        &mut self,
        instances: &mut Vec<Loaded>,
        journey_id: &str,
        trigger: TriggerData,
    ) -> StoreResult<bool> {
        let Some((version, journey)) = self.journeys.live(journey_id) else {
            return Ok(false);
        };
        let journey = journey.clone();
        if let Some(name) = &trigger.event {
            if !journey.trigger.matches_event(name, &trigger.data, self.now) {
                return Ok(false);
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
                return Ok(true);
            }
            Admission::Retrigger => {
                if let Some(index) = live {
                    self.step(&mut instances[index], Input::Retrigger(trigger))?;
                }
            }
            Admission::Refuse { reason } => {
                metrics::counter!(
                    "nudge_journey_entries_refused_total",
                    "journey" => journey.id.clone(),
                    "reason" => reason
                )
                .increment(1);
            }
        }
        Ok(false)
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
