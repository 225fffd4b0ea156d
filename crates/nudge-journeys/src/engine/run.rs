//! Executing steps: from a step and its start time, run until one must wait or the instance
//! ends. Waiting steps compute their wake-up from the step's scheduled start, not from `now`,
//! so an instance that runs late behaves as if it had run on time (sends check lateness).

use nudge_conditions::evaluate;
use nudge_core::Timestamp;

use super::{choice, window, Context, Effect, Outcome};
use crate::instance::{Instance, SentMessage, Status};
use crate::model::{ExitRule, Journey, Step, StepKind, WebhookRequest};
use crate::reasons;

/// More steps than this in one input means a runaway loop (validation refuses loops without
/// a wait, but a loop through a wait that is already past can still spin while catching up).
const MAX_STEPS_PER_INPUT: usize = 1_000;

/// Where the instance goes after a step.
pub(super) enum Flow<'j> {
    /// To the step's successor, which starts at this time.
    Continue(Timestamp),
    /// To the named step, which starts at this time.
    Goto(&'j str, Timestamp),
    /// Stay at the step until this time.
    Wait(Timestamp),
    /// End the instance with this reason.
    Finish(String),
}

pub(super) struct Run<'r> {
    pub(super) journey: &'r Journey,
    pub(super) ctx: &'r Context<'r>,
    pub(super) instance: Instance,
    pub(super) effects: Vec<Effect>,
    budget: usize,
}

impl<'r> Run<'r> {
    pub(super) fn new(journey: &'r Journey, instance: Instance, ctx: &'r Context<'r>) -> Self {
        Self {
            journey,
            ctx,
            instance,
            effects: Vec::new(),
            budget: MAX_STEPS_PER_INPUT,
        }
    }

    pub(super) fn into_outcome(self) -> Outcome {
        Outcome {
            instance: self.instance,
            effects: self.effects,
        }
    }

    pub(super) fn now(&self) -> Timestamp {
        self.ctx.now
    }

    pub(super) fn holds(&self, condition: &nudge_conditions::Condition) -> bool {
        evaluate(condition, self.ctx.facts, self.ctx.now)
    }

    /// The step the instance is at, with its position.
    pub(super) fn current(&self) -> Option<(usize, &'r Step)> {
        let journey = self.journey;
        let position = journey.position(self.instance.step.as_deref()?)?;
        Some((position, journey.steps.get(position)?))
    }

    pub(super) fn finish(&mut self, reason: impl Into<String>) {
        let reason = reason.into();
        self.instance.status = Status::Finished {
            reason: reason.clone(),
            at: self.now(),
        };
        self.instance.step = None;
        self.instance.wake_at = None;
        self.effects.push(Effect::Exited { reason });
    }

    /// The reason of the first exit rule on a condition that holds now.
    pub(super) fn exit_condition(&self) -> Option<String> {
        self.journey.exits.iter().find_map(|rule| match rule {
            ExitRule::Condition { condition, reason } if self.holds(condition) => {
                Some(reason.clone())
            }
            _ => None,
        })
    }

    /// Applies a flow out of the step at `position`, then runs on from wherever it leads.
    pub(super) fn follow(&mut self, position: usize, flow: Flow<'r>) {
        if let Some((next, started)) = self.apply(position, flow) {
            self.run_from(next, started);
        }
    }

    /// Where a flow out of the step at `position` leads: the next step and its start, or
    /// `None` when the instance now waits or has finished.
    fn apply(&mut self, position: usize, flow: Flow<'r>) -> Option<(usize, Timestamp)> {
        let next = match flow {
            Flow::Wait(wake) => {
                self.instance.wake_at = Some(wake);
                return None;
            }
            Flow::Finish(reason) => {
                self.finish(reason);
                return None;
            }
            Flow::Goto(id, at) => self.journey.position(id).map(|p| (p, at)),
            Flow::Continue(at) => self.journey.successor(position).map(|p| (p, at)),
        };
        if next.is_none() {
            self.finish(reasons::COMPLETED);
        }
        next
    }

    /// Executes steps from `position`, the first starting at `started`, until one waits or
    /// the instance ends.
    pub(super) fn run_from(&mut self, mut position: usize, mut started: Timestamp) {
        let journey = self.journey;
        while let Some(step) = journey.steps.get(position) {
            if self.budget == 0 {
                return self.finish(reasons::STEP_LIMIT);
            }
            self.budget -= 1;
            self.instance.visits = self.instance.visits.saturating_add(1);
            self.instance.step = Some(step.id.clone());
            self.instance.step_started = started;
            self.instance.wake_at = None;
            self.effects.push(Effect::StepReached {
                step: step.id.clone(),
            });
            let flow = self.execute(step, started);
            match self.apply(position, flow) {
                Some(next) => (position, started) = next,
                None => return,
            }
        }
        self.finish(reasons::COMPLETED);
    }

    fn execute(&mut self, step: &'r Step, started: Timestamp) -> Flow<'r> {
        match &step.kind {
            StepKind::Delay { .. }
            | StepKind::DelayUntil { .. }
            | StepKind::WaitUntil { .. }
            | StepKind::TimeWindow(_) => self.arm(step, started),
            StepKind::Branch {
                condition,
                then,
                otherwise,
            } => Flow::Goto(
                if self.holds(condition) {
                    then
                } else {
                    otherwise
                },
                started,
            ),
            StepKind::Split { paths, otherwise } => {
                let chosen = paths.iter().find(|p| self.holds(&p.condition));
                Flow::Goto(chosen.map_or(otherwise.as_str(), |p| &p.next), started)
            }
            StepKind::Random { paths, holdout } => self.random(step, paths, *holdout, started),
            StepKind::Send {
                channel,
                template,
                skip_if,
                ..
            } => self.send(step, channel, template, skip_if.as_ref(), started),
            StepKind::Update { attributes } => {
                self.effects.push(Effect::UpdateAttributes {
                    step: step.id.clone(),
                    attributes: attributes.clone(),
                });
                Flow::Continue(started)
            }
            StepKind::Webhook(request) => self.webhook(step, request, started),
            StepKind::Emit { event, data } => {
                self.effects.push(Effect::EmitEvent {
                    step: step.id.clone(),
                    name: event.clone(),
                    data: data.clone(),
                });
                Flow::Continue(started)
            }
            StepKind::Exit { reason } => Flow::Finish(reason.clone()),
        }
    }

    /// Starts (or restarts) a waiting step that begins at `started`: wait, or go on at once
    /// when its moment has already come.
    pub(super) fn arm(&mut self, step: &'r Step, started: Timestamp) -> Flow<'r> {
        let now = self.now();
        let wait_or_go = |wake: Timestamp| {
            if wake <= now {
                Flow::Continue(wake.max(started))
            } else {
                Flow::Wait(wake)
            }
        };
        match &step.kind {
            StepKind::Delay { duration } => wait_or_go(started.plus_millis(*duration)),
            StepKind::DelayUntil { time, offset } => {
                match self.delay_until_time(step, time, offset) {
                    Some(at) => wait_or_go(at),
                    None => {
                        self.effects.push(Effect::Skipped {
                            step: step.id.clone(),
                            reason: reasons::NO_TIME.to_string(),
                        });
                        Flow::Continue(started)
                    }
                }
            }
            StepKind::WaitUntil {
                condition,
                timeout,
                on_timeout,
                ..
            } => {
                if condition.as_ref().is_some_and(|c| self.holds(c)) {
                    return Flow::Continue(started);
                }
                let deadline = started.plus_millis(*timeout);
                if deadline <= now {
                    time_out(on_timeout.as_deref(), deadline)
                } else {
                    Flow::Wait(deadline)
                }
            }
            StepKind::TimeWindow(time_window) => {
                let zone = window::zone_of(time_window, self.ctx.facts.attributes());
                match window::next_open(time_window, zone, started) {
                    Some(opens) => wait_or_go(opens),
                    None => Flow::Continue(started),
                }
            }
            _ => Flow::Continue(started),
        }
    }

    fn random(
        &self,
        step: &Step,
        paths: &'r [crate::model::RandomPath],
        holdout: u8,
        started: Timestamp,
    ) -> Flow<'r> {
        let offset = self.instance.trigger.offset.to_string();
        let visit = self.instance.visits.to_string();
        let parts = |salt: &'static str| -> [&str; 6] {
            [
                &self.journey.id,
                &self.instance.key,
                &offset,
                &step.id,
                &visit,
                salt,
            ]
        };
        if choice::draw(&parts("holdout")) % 100 < u64::from(holdout) {
            return Flow::Finish(reasons::HOLDOUT.to_string());
        }
        let weights: Vec<u32> = paths.iter().map(|p| p.weight).collect();
        match choice::pick(&weights, choice::draw(&parts("path"))).and_then(|i| paths.get(i)) {
            Some(path) => Flow::Goto(&path.next, started),
            None => Flow::Continue(started),
        }
    }

    fn send(
        &mut self,
        step: &Step,
        channel: &str,
        template: &str,
        skip_if: Option<&nudge_conditions::Condition>,
        started: Timestamp,
    ) -> Flow<'r> {
        if let Some(reason) = self.exit_condition() {
            return Flow::Finish(reason);
        }
        let now = self.now();
        let skipped = if skip_if.is_some_and(|c| self.holds(c)) {
            Some(reasons::SKIP_CONDITION)
        } else if self
            .journey
            .max_lateness
            .is_some_and(|limit| now.millis().saturating_sub(started.millis()) > limit)
        {
            Some(reasons::LATE)
        } else {
            None
        };
        if let Some(reason) = skipped {
            self.effects.push(Effect::Skipped {
                step: step.id.clone(),
                reason: reason.to_string(),
            });
            return Flow::Continue(started);
        }
        let message_id = self.message_id(&step.id);
        self.effects.push(Effect::Send {
            step: step.id.clone(),
            channel: channel.to_string(),
            template: template.to_string(),
            message_id: message_id.clone(),
        });
        self.instance.last_message = Some(SentMessage {
            step: step.id.clone(),
            message_id,
            at: now,
        });
        self.instance.goal_until = self
            .journey
            .goal
            .as_ref()
            .map(|g| now.plus_millis(g.within));
        Flow::Continue(started)
    }

    fn webhook(&mut self, step: &Step, request: &WebhookRequest, started: Timestamp) -> Flow<'r> {
        if let Some(reason) = self.exit_condition() {
            return Flow::Finish(reason);
        }
        self.effects.push(Effect::Webhook {
            step: step.id.clone(),
            message_id: self.message_id(&step.id),
            method: request.method.clone(),
            url: request.url.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
            map_response: request.map_response.clone(),
        });
        Flow::Continue(started)
    }

    /// Stable for a given instance state and unique per outbound message: `visits` grows with
    /// every executed step. The key goes last, so ids cannot collide through a key with `:`.
    fn message_id(&self, step: &str) -> String {
        let i = &self.instance;
        format!(
            "{}:{}:{}:{}:{}:{}:{}",
            i.journey,
            i.version,
            i.trigger.offset,
            i.trigger.timestamp.millis(),
            step,
            i.visits,
            i.key
        )
    }
}

/// A `wait_until` out of time: to its `on_timeout` step, else the instance exits.
pub(super) fn time_out(on_timeout: Option<&str>, at: Timestamp) -> Flow<'_> {
    match on_timeout {
        Some(target) => Flow::Goto(target, at),
        None => Flow::Finish(reasons::TIMEOUT.to_string()),
    }
}
