//! Stepping one instance through the pure engine inside the processor's transaction: the
//! [`Runner`] hands an instance its inputs (events it has not seen, wake-ups, retriggers,
//! rechecks), moves it onto an edited journey's live version when that version asks for it,
//! applies the effects, and decides what a trigger does (start, hand to the live instance
//! with its key, or refuse); plus the instance's stored row.

use std::sync::Arc;

use nudge_core::{JsonMap, PersonKey, Timestamp};
use nudge_journeys::{
    admit, start, Admission, EventInput, Frequency, Input, Instance, Journey, TriggerData,
};
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

    /// Hands an event to every instance that has not seen it yet and can react to it. An
    /// instance whose version reacts to no event of this name (and that no edit moves onto
    /// another version first) is left as it is, row and seen offset alike: the timer path's
    /// catch-up hands an instance only the names its version reads, so an offset that did not
    /// move costs nothing there, while rewriting the row would cost its whole state.
    pub fn feed_event(&mut self, instances: &mut [Loaded], event: &NewEvent) -> StoreResult<()> {
        for loaded in instances.iter_mut() {
            if event.offset <= loaded.instance.seen_offset || !loaded.instance.watching(self.now) {
                continue;
            }
            if !self.concerns(&loaded.instance, &event.name) {
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

    /// Whether stepping `instance` with an event called `name` can do more than move its seen
    /// offset: its version reacts to the name, or an edit moves it onto the live version
    /// before the step (which then decides with that version's rules).
    fn concerns(&self, instance: &Instance, name: &str) -> bool {
        let migrates = self
            .journeys
            .live(&instance.journey)
            .is_some_and(|(version, live)| {
                version != instance.version
                    && nudge_journeys::migrate(instance, live, version).is_some()
            });
        migrates
            || self
                .journeys
                .version_reacts_to(&instance.journey, instance.version, name)
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
        // Only a frequency rule reads the latest entry.
        let last_entered = match journey.entry.frequency {
            Frequency::EveryTime => None,
            Frequency::Once | Frequency::OncePer(_) => {
                self.tx
                    .last_entry(self.subject.ws, &journey.id, self.subject.key)?
            }
        };
        let admission = admit(
            &journey,
            &trigger,
            live.map(|i| &instances[i].instance),
            last_entered,
            &self.context(),
        );
        match admission {
            Admission::Start { key } => {
                // An instance with this key that ended in this transaction (the same event
                // was its exit) is still live in the store: write its end first, so the
                // one-live-instance-per-key rule holds when the new one is inserted.
                for ended in instances.iter_mut().filter(|l| {
                    l.dirty
                        && !l.instance.is_active()
                        && l.instance.journey == journey.id
                        && l.instance.key == key
                }) {
                    self.tx.update_instance(self.subject.ws, &ended.row)?;
                    ended.dirty = false;
                }
                let offset = trigger.offset;
                let mut instance = start(&journey, version, trigger, key, self.now);
                instance.seen_offset = instance.seen_offset.max(offset);
                let loaded = self.enter(&journey, instance)?;
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

    /// A new instance's first steps (`Input::Enter`), run before it is stored so it is
    /// inserted once, in the state they leave it in; their effects are applied after the
    /// insert, since timeline rows and messages name the instance's id. The row is rewritten
    /// only when applying them changed the instance (a send that could not go out).
    fn enter(&mut self, journey: &Journey, started: Instance) -> StoreResult<Loaded> {
        let outcome = nudge_journeys::step(journey, &started, Input::Enter, &self.context());
        let mut instance = outcome.instance;
        let mut row = row_for(0, self.subject.key, &instance)?;
        row.id = self.tx.insert_instance(self.subject.ws, &row)?;
        let inserted = instance.clone();
        apply_effects(
            self.tx,
            self.journeys,
            self.subject,
            journey,
            row.id,
            &mut instance,
            &outcome.effects,
            self.now,
            started.step,
        )?;
        let dirty = instance != inserted;
        if dirty {
            row = row_for(row.id, row.person, &instance)?;
        }
        Ok(Loaded {
            row,
            instance,
            dirty,
        })
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
