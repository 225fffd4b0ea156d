//! Test support shared by the integration tests: journeys from YAML text, a person's facts
//! held in memory, times, and a small driver that plays a timeline the way a processor does.

#![allow(dead_code)]

use nudge_conditions::{EventFact, PersonFacts};
use nudge_journeys::{
    parse_journey, step, Context, EventInput, Input, Instance, Journey, JsonMap, Outcome,
    Timestamp, TriggerData,
};
use serde_json::Value;

/// A journey from YAML text (the loader's view: no `kind`/`format`).
pub fn journey(yaml: &str) -> Journey {
    let value: Value = serde_norway::from_str(yaml).expect("test YAML parses");
    parse_journey(&value).unwrap_or_else(|e| panic!("test journey refused: {e}"))
}

pub fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("test time is RFC 3339")
}

/// 2026-03-02 at `hh:mm` UTC, the day of the acceptance stories.
pub fn day(hh_mm: &str) -> Timestamp {
    at(&format!("2026-03-02T{hh_mm}:00Z"))
}

pub fn minutes(n: i64) -> i64 {
    n * 60_000
}

pub fn map(value: Value) -> JsonMap {
    value.as_object().cloned().expect("test data is an object")
}

pub fn trigger(event: &str, timestamp: Timestamp, data: Value, offset: i64) -> TriggerData {
    TriggerData {
        event: Some(event.to_string()),
        timestamp,
        data: map(data),
        offset,
    }
}

/// One person's facts, in memory.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub attributes: JsonMap,
    pub segments: Vec<i64>,
    pub events: Vec<(String, Timestamp, JsonMap)>,
}

impl Facts {
    pub fn with(attributes: Value) -> Self {
        Self {
            attributes: map(attributes),
            ..Self::default()
        }
    }
}

impl PersonFacts for Facts {
    fn attributes(&self) -> &JsonMap {
        &self.attributes
    }
    fn in_segment(&self, segment_id: i64) -> bool {
        self.segments.contains(&segment_id)
    }
    fn events(&self, name: &str) -> Vec<EventFact<'_>> {
        self.events
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, timestamp, data)| EventFact {
                timestamp: *timestamp,
                data,
            })
            .collect()
    }
}

/// Feeds one input at `now`.
pub fn feed(
    journey: &Journey,
    instance: &Instance,
    input: Input<'_>,
    now: Timestamp,
    facts: &Facts,
) -> Outcome {
    step(journey, instance, input, &Context { now, facts })
}

pub fn event<'a>(name: &'a str, timestamp: Timestamp, data: &'a JsonMap, offset: i64) -> Input<'a> {
    Input::Event(EventInput {
        name,
        timestamp,
        data,
        offset,
    })
}

/// The parts of an instance's state a test checks after each input.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub status: nudge_journeys::Status,
    pub step: Option<String>,
    pub step_started: Timestamp,
    pub wake_at: Option<Timestamp>,
    pub visits: u32,
}

pub fn state(instance: &Instance) -> State {
    State {
        status: instance.status.clone(),
        step: instance.step.clone(),
        step_started: instance.step_started,
        wake_at: instance.wake_at,
        visits: instance.visits,
    }
}

/// Waiting at `step`, which started at `started`, until `wake_at`, after `visits` steps.
pub fn waiting(step: &str, started: Timestamp, wake_at: Timestamp, visits: u32) -> State {
    State {
        status: nudge_journeys::Status::Active,
        step: Some(step.to_string()),
        step_started: started,
        wake_at: Some(wake_at),
        visits,
    }
}

/// Finished with `reason` at `at`; the last step executed started at `last_started`.
pub fn finished(reason: &str, at: Timestamp, last_started: Timestamp, visits: u32) -> State {
    State {
        status: nudge_journeys::Status::Finished {
            reason: reason.to_string(),
            at,
        },
        step: None,
        step_started: last_started,
        wake_at: None,
        visits,
    }
}

pub mod effects {
    //! Effect constructors, so expectations read as timelines.
    use nudge_journeys::Effect;

    pub fn reached(step: &str) -> Effect {
        Effect::StepReached {
            step: step.to_string(),
        }
    }
    pub fn send(step: &str, channel: &str, template: &str, message_id: &str) -> Effect {
        Effect::Send {
            step: step.to_string(),
            channel: channel.to_string(),
            template: template.to_string(),
            message_id: message_id.to_string(),
        }
    }
    pub fn skipped(step: &str, reason: &str) -> Effect {
        Effect::Skipped {
            step: step.to_string(),
            reason: reason.to_string(),
        }
    }
    pub fn exited(reason: &str) -> Effect {
        Effect::Exited {
            reason: reason.to_string(),
        }
    }
    pub fn converted(step: &str, message_id: &str) -> Effect {
        Effect::Converted {
            step: step.to_string(),
            message_id: message_id.to_string(),
        }
    }
}
