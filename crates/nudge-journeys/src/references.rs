//! What a journey refers to and how its steps connect: step lookup, the step that follows
//! another, and the segments, templates, events and conditions the caller must check exist
//! or must read for it.

use std::collections::BTreeSet;

use nudge_conditions::Condition;

use crate::model::{EventMatch, ExitRule, Journey, Step, StepKind, Trigger};

impl Journey {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.index.get(id).and_then(|i| self.steps.get(*i))
    }

    /// The step every instance starts at. A parsed journey always has one.
    pub fn first_step(&self) -> &Step {
        &self.steps[0]
    }

    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Where an instance goes after the step at `position` finished normally: its `next`,
    /// else the following step; `None` past the last step (the instance completes) and for
    /// steps that choose their own way.
    pub(crate) fn successor(&self, position: usize) -> Option<usize> {
        let step = self.steps.get(position)?;
        match &step.next {
            Some(next) => self.position(next),
            None if step.kind.chooses_next() => None,
            None => (position + 1 < self.steps.len()).then_some(position + 1),
        }
    }

    /// Every segment the journey reads: its trigger's and those inside its conditions.
    pub fn segment_refs(&self) -> BTreeSet<i64> {
        let mut segments = BTreeSet::new();
        if let Trigger::Segment { id, .. } = &self.trigger {
            segments.insert(*id);
        }
        for condition in self.conditions() {
            segments.extend(condition.dependencies().segments);
        }
        segments
    }

    /// `(step id, channel, template)` of every send step, in step order.
    pub fn template_refs(&self) -> Vec<(String, String, String)> {
        self.steps
            .iter()
            .filter_map(|step| match &step.kind {
                StepKind::Send {
                    channel, template, ..
                } => Some((step.id.clone(), channel.clone(), template.clone())),
                _ => None,
            })
            .collect()
    }

    /// Every event name the journey reacts to or reads: the trigger, exits, the goal, waits
    /// and the events inside its conditions.
    pub fn event_names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        if let Trigger::Event { name, .. } = &self.trigger {
            names.insert(name.clone());
        }
        for matcher in self.event_matchers() {
            names.insert(matcher.name.clone());
        }
        for condition in self.conditions() {
            names.extend(condition.dependencies().events);
        }
        names
    }

    /// Every condition in the journey: entry, exits, waits, branches, splits and `skip_if`.
    pub fn conditions(&self) -> Vec<&Condition> {
        let mut all: Vec<&Condition> = Vec::new();
        all.extend(&self.entry.conditions);
        for rule in &self.exits {
            if let ExitRule::Condition { condition, .. } = rule {
                all.push(condition);
            }
        }
        for step in &self.steps {
            match &step.kind {
                StepKind::WaitUntil { condition, .. } => all.extend(condition),
                StepKind::Branch { condition, .. } => all.push(condition),
                StepKind::Split { paths, .. } => all.extend(paths.iter().map(|p| &p.condition)),
                StepKind::Send { skip_if, .. } => all.extend(skip_if),
                _ => {}
            }
        }
        all
    }

    fn event_matchers(&self) -> Vec<&EventMatch> {
        let mut all: Vec<&EventMatch> = Vec::new();
        for rule in &self.exits {
            if let ExitRule::Event { matcher, .. } = rule {
                all.push(matcher);
            }
        }
        all.extend(self.goal.as_ref().map(|g| &g.matcher));
        for step in &self.steps {
            if let StepKind::WaitUntil { event, .. } = &step.kind {
                all.extend(event);
            }
        }
        all
    }
}
