//! Whether a trigger may start an instance. Pure: the caller looks up the live instance with
//! the trigger's key (`instance_key`) and the person's latest entry, and supplies them.

use nudge_conditions::evaluate;
use nudge_core::Timestamp;

use crate::engine::Context;
use crate::instance::{Instance, TriggerData};
use crate::model::{Frequency, Journey, Retrigger};
use crate::reasons;

/// Triggers older than this (72 hours) when processed start nothing.
pub const TRIGGER_MAX_AGE_MS: i64 = 72 * 3_600_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Start a new instance with this key.
    Start {
        key: String,
    },
    /// Feed the trigger to the live instance (`Input::Retrigger`).
    Retrigger,
    Refuse {
        reason: String,
    },
}

/// The instance key a trigger would have: `Some("")` for a journey without a key, the key's
/// text (a string as is, a number or boolean as its JSON text), or `None` when the key is
/// missing from the trigger data (`admit` then refuses it).
pub fn instance_key(journey: &Journey, trigger: &TriggerData) -> Option<String> {
    journey.entry.key_of(&trigger.data)
}

/// Checks, in order: the trigger's age, its key, a live instance with the same key (which
/// decides alone: retrigger or refuse), the entry conditions, the frequency.
pub fn admit(
    journey: &Journey,
    trigger: &TriggerData,
    live: Option<&Instance>,
    last_entered: Option<Timestamp>,
    ctx: &Context<'_>,
) -> Admission {
    let refuse = |reason: &str| Admission::Refuse {
        reason: reason.to_string(),
    };
    if ctx.now.millis().saturating_sub(trigger.timestamp.millis()) > TRIGGER_MAX_AGE_MS {
        return refuse(reasons::TOO_OLD);
    }
    let Some(key) = instance_key(journey, trigger) else {
        return refuse(reasons::MISSING_KEY);
    };
    if live.is_some_and(Instance::is_active) {
        return match journey.entry.on_retrigger {
            Retrigger::Restart | Retrigger::Update => Admission::Retrigger,
            Retrigger::Ignore => refuse(reasons::LIVE_KEY),
        };
    }
    if let Some(condition) = &journey.entry.conditions {
        if !evaluate(condition, ctx.facts, ctx.now) {
            return refuse(reasons::ENTRY_CONDITIONS);
        }
    }
    let allowed = match (journey.entry.frequency, last_entered) {
        (_, None) | (Frequency::EveryTime, _) => true,
        (Frequency::Once, Some(_)) => false,
        (Frequency::OncePer(period), Some(at)) => {
            ctx.now.millis().saturating_sub(at.millis()) >= period
        }
    };
    if !allowed {
        return refuse(reasons::FREQUENCY);
    }
    Admission::Start { key }
}
