//! When a `delay_until` wakes: the time it reads (the trigger's own, a field of the trigger
//! data, one of the person's attributes) moved by its offset, a fixed duration or a number
//! computed with Liquid from the variables a message template of this instance would see.
//! `None` when any part is missing or unreadable: the wait is then skipped (`no_time`).

use nudge_core::Timestamp;

use super::run::Run;
use crate::matching::time_value;
use crate::model::{Step, TimeSource};
use crate::offset::Offset;
use crate::variables::render_context;

impl Run<'_> {
    /// The moment the `delay_until` at `step` waits for, resolved now (on entering the step,
    /// and again when a restart hands the instance new trigger data).
    pub(super) fn delay_until_time(
        &self,
        step: &Step,
        time: &TimeSource,
        offset: &Offset,
    ) -> Option<Timestamp> {
        let at = self.time_of(time)?;
        match offset {
            Offset::Fixed(duration) => Some(at.plus_millis(*duration)),
            Offset::Computed(computed) => {
                let attributes = self.ctx.facts.attributes();
                let variables =
                    render_context(attributes, self.journey, &self.instance, &step.id, None);
                computed.shift(at, &variables).ok()
            }
        }
    }

    fn time_of(&self, source: &TimeSource) -> Option<Timestamp> {
        let first_time =
            |values: Vec<&serde_json::Value>| values.first().and_then(|v| time_value(v));
        match source {
            TimeSource::TriggerTimestamp => Some(self.instance.trigger.timestamp),
            TimeSource::Trigger(path) => first_time(path.resolve(&self.instance.trigger.data)),
            TimeSource::Attribute(path) => first_time(path.resolve(self.ctx.facts.attributes())),
        }
    }
}
