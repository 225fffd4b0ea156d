//! What each input does to an instance: entering, a timer firing, a new event (goal, exit
//! rules, awaited events), a retrigger with the live key, and a change of the person's facts.

use nudge_core::Timestamp;

use super::run::{time_out, Flow, Run};
use super::{Effect, EventInput};
use crate::instance::TriggerData;
use crate::model::{ExitRule, Retrigger, StepKind};
use crate::reasons;

impl Run<'_> {
    /// Runs a fresh instance from its first step, which starts when it entered.
    pub(super) fn enter(&mut self) {
        let fresh = self.instance.is_active()
            && self.instance.visits == 0
            && self.instance.wake_at.is_none();
        if !fresh {
            return;
        }
        self.effects.push(Effect::Entered);
        match self.current() {
            Some((position, _)) => self.run_from(position, self.instance.entered_at),
            None => self.finish(reasons::COMPLETED),
        }
    }

    /// The timer of the waiting step fired: exit conditions first, then the step completes
    /// and the next one starts at `due` (not `now`), so lateness does not accumulate.
    pub(super) fn wake(&mut self, due: Timestamp) {
        if !self.instance.is_active() || self.instance.wake_at != Some(due) {
            return;
        }
        if let Some(reason) = self.exit_condition() {
            return self.finish(reason);
        }
        let Some((position, step)) = self.current() else {
            return;
        };
        self.instance.wake_at = None;
        let flow = match &step.kind {
            StepKind::WaitUntil {
                condition,
                on_timeout,
                ..
            } => {
                if condition.as_ref().is_some_and(|c| self.holds(c)) {
                    Flow::Continue(due)
                } else {
                    time_out(on_timeout.as_deref(), due)
                }
            }
            StepKind::Delay { .. } | StepKind::DelayUntil { .. } | StepKind::TimeWindow(_) => {
                Flow::Continue(due)
            }
            // A migration moved the instance onto a step that does not wait: run it now.
            _ => return self.run_from(position, due),
        };
        self.follow(position, flow);
    }

    /// A new event: the goal (even after the instance finished, while the conversion window
    /// is open), then exit rules, then the event a `wait_until` awaits.
    pub(super) fn event(&mut self, event: EventInput<'_>) {
        if event.offset <= self.instance.seen_offset {
            return;
        }
        self.instance.seen_offset = event.offset;
        let now = self.now();
        if !self.instance.watching(now) {
            return;
        }
        let trigger_data = &self.instance.trigger.data;
        let is_goal = self.journey.goal.as_ref().is_some_and(|goal| {
            goal.matcher
                .matches(event.name, event.data, trigger_data, now)
        });
        if is_goal {
            self.convert();
        }
        if !self.instance.is_active() {
            return;
        }
        let exit = self.journey.exits.iter().find_map(|rule| match rule {
            ExitRule::Event { matcher, reason }
                if matcher.matches(event.name, event.data, &self.instance.trigger.data, now) =>
            {
                Some(reason.clone())
            }
            _ => None,
        });
        if let Some(reason) = exit {
            return self.finish(if is_goal {
                reasons::CONVERTED.to_string()
            } else {
                reason
            });
        }
        let Some((position, step)) = self.current() else {
            return;
        };
        let StepKind::WaitUntil { event: awaits, .. } = &step.kind else {
            return;
        };
        let awaited = awaits.as_ref().is_some_and(|matcher| {
            matcher.matches(event.name, event.data, &self.instance.trigger.data, now)
        });
        if awaited && self.instance.wake_at.is_some() {
            // The next step starts when the event happened, within the wait and not later
            // than now.
            let at = event.timestamp.max(self.instance.step_started).min(now);
            self.instance.wake_at = None;
            self.follow(position, Flow::Continue(at));
        }
    }

    /// The goal's event within the window of the last message: converted, once per message.
    fn convert(&mut self) {
        let now = self.now();
        let open = self.instance.goal_until.is_some_and(|until| until > now);
        if let (true, Some(message)) = (open, &self.instance.last_message) {
            self.effects.push(Effect::Converted {
                step: message.step.clone(),
                message_id: message.message_id.clone(),
            });
            self.instance.goal_until = None;
        }
    }

    /// A new trigger with this instance's key.
    pub(super) fn retrigger(&mut self, trigger: TriggerData) {
        if !self.instance.is_active() {
            return;
        }
        let on_retrigger = self.journey.entry.on_retrigger;
        if on_retrigger == Retrigger::Ignore {
            return;
        }
        self.instance.seen_offset = self.instance.seen_offset.max(trigger.offset);
        let restart_at = trigger.timestamp.min(self.now());
        self.instance.trigger = trigger;
        if on_retrigger == Retrigger::Update {
            return;
        }
        if self.instance.wake_at.is_none() {
            // Not entered yet: it will start from the new trigger's time.
            self.instance.step_started = restart_at;
            return;
        }
        let Some((position, step)) = self.current() else {
            return;
        };
        if !step.kind.waits() {
            return;
        }
        self.instance.wake_at = None;
        self.instance.step_started = restart_at;
        let flow = self.arm(step, restart_at);
        self.follow(position, flow);
    }

    /// The person's facts changed: exit conditions, then the condition a `wait_until` awaits.
    pub(super) fn recheck(&mut self) {
        if !self.instance.is_active() || self.instance.wake_at.is_none() {
            return;
        }
        if let Some(reason) = self.exit_condition() {
            return self.finish(reason);
        }
        let Some((position, step)) = self.current() else {
            return;
        };
        if let StepKind::WaitUntil { condition, .. } = &step.kind {
            if condition.as_ref().is_some_and(|c| self.holds(c)) {
                self.instance.wake_at = None;
                self.follow(position, Flow::Continue(self.now()));
            }
        }
    }
}
