//! The step function: one input (enter, a timer, an event, a retrigger, a change of facts)
//! moves one instance and says what must happen as a result. It is pure: the caller stores
//! the new instance, indexes its `wake_at` and carries out the effects in one transaction.

mod choice;
mod delay_until;
mod inputs;
mod run;
mod window;

use std::collections::BTreeMap;

use nudge_conditions::PersonFacts;
use nudge_core::{JsonMap, Timestamp};
use serde::{Deserialize, Serialize};

use crate::instance::{Instance, Status, TriggerData};
use crate::model::Journey;
use crate::reasons;
use run::Run;

/// What the step function may know besides the instance: the time and the person's facts
/// (attributes, including `timezone`; segments; events).
pub struct Context<'a> {
    pub now: Timestamp,
    pub facts: &'a dyn PersonFacts,
}

pub enum Input<'a> {
    /// A freshly created instance: run from the first step.
    Enter,
    /// Its timer (`wake_at == due`) fired; `ctx.now >= due`.
    Wake { due: Timestamp },
    /// A new event of the person: exits, the goal, `wait_until` events.
    Event(EventInput<'a>),
    /// A new trigger with this instance's live key.
    Retrigger(TriggerData),
    /// The person's facts changed: exit conditions and `wait_until` conditions.
    Recheck,
}

#[derive(Debug, Clone, Copy)]
pub struct EventInput<'a> {
    pub name: &'a str,
    pub timestamp: Timestamp,
    pub data: &'a JsonMap,
    /// Its log offset; events at or below the instance's `seen_offset` are ignored.
    pub offset: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub instance: Instance,
    pub effects: Vec<Effect>,
}

/// What the caller must do or record, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Effect {
    Entered,
    StepReached {
        step: String,
    },
    Send {
        step: String,
        channel: String,
        template: String,
        message_id: String,
    },
    Skipped {
        step: String,
        reason: String,
    },
    UpdateAttributes {
        step: String,
        attributes: JsonMap,
    },
    Webhook {
        step: String,
        message_id: String,
        method: String,
        url: String,
        headers: BTreeMap<String, String>,
        /// Liquid text for the caller to render.
        body: String,
        /// Attribute name → JSON pointer into the response body.
        map_response: BTreeMap<String, String>,
    },
    EmitEvent {
        step: String,
        name: String,
        data: JsonMap,
    },
    /// The goal's event arrived within the window of the message `message_id`.
    Converted {
        step: String,
        message_id: String,
    },
    Exited {
        reason: String,
    },
}

/// A new instance: active, at the first step, not yet run (feed [`Input::Enter`] next).
/// It enters at the trigger's time, or `now` if the trigger claims a later one.
pub fn start(
    journey: &Journey,
    version: i64,
    trigger: TriggerData,
    key: String,
    now: Timestamp,
) -> Instance {
    let entered_at = trigger.timestamp.min(now);
    let first = journey.steps.first().map(|s| s.id.clone());
    let status = match first {
        Some(_) => Status::Active,
        None => Status::Finished {
            reason: reasons::COMPLETED.to_string(),
            at: now,
        },
    };
    Instance {
        journey: journey.id.clone(),
        version,
        key,
        seen_offset: trigger.offset,
        trigger,
        entered_at,
        status,
        step: first,
        step_started: entered_at,
        wake_at: None,
        visits: 0,
        last_message: None,
        goal_until: None,
    }
}

/// Moves `instance` by one input. An input that does not apply (a stale timer, an event
/// already seen, anything for a finished instance but a conversion) changes nothing.
pub fn step(
    journey: &Journey,
    instance: &Instance,
    input: Input<'_>,
    ctx: &Context<'_>,
) -> Outcome {
    let mut run = Run::new(journey, instance.clone(), ctx);
    match input {
        Input::Enter => run.enter(),
        Input::Wake { due } => run.wake(due),
        Input::Event(event) => run.event(event),
        Input::Retrigger(trigger) => run.retrigger(trigger),
        Input::Recheck => run.recheck(),
    }
    run.into_outcome()
}
