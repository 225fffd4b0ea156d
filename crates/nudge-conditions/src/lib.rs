//! The one condition grammar Nudge uses for segments and, later, journey filters, branches and
//! exits. `parse` turns JSON into a validated [`Condition`] (errors point at the offending
//! node); `evaluate` decides it for one person from facts the caller supplies; `next_change`
//! says when the passing of time alone could flip the answer, so callers schedule exactly one
//! re-evaluation instead of scanning. No IO and no clock: `now` is always an argument.

mod ast;
pub mod computed;
mod duration;
mod eval;
mod parse;
mod path;
pub mod segments;
mod time_flip;

pub use ast::{AttributeFilter, AttributeOp, Condition, CountOp, EventCondition};
pub use duration::{parse_duration, DurationMs};
pub use eval::{evaluate, filters_match, EventFact, PersonFacts};
pub use parse::{parse, parse_filters, ConditionError};
pub use path::FieldPath;
pub use time_flip::next_change;

/// What a condition reads: the caller re-evaluates it only when one of these changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// Top-level attribute names (`address` for `address.city`).
    pub attributes: std::collections::BTreeSet<String>,
    pub events: std::collections::BTreeSet<String>,
    pub segments: std::collections::BTreeSet<i64>,
    /// Whether the passing of time alone can change the result.
    pub time: bool,
}

impl Condition {
    pub fn dependencies(&self) -> Dependencies {
        let mut deps = Dependencies::default();
        self.collect(&mut deps);
        deps
    }

    fn collect(&self, deps: &mut Dependencies) {
        match self {
            Condition::And(all) | Condition::Or(all) => all.iter().for_each(|c| c.collect(deps)),
            Condition::Not(inner) => inner.collect(deps),
            Condition::Segment { id } => {
                deps.segments.insert(*id);
            }
            Condition::Attribute(filter) => {
                deps.attributes.insert(filter.field.root().to_string());
                deps.time |= filter.op.depends_on_now();
            }
            Condition::Event(event) => {
                deps.events.insert(event.name.clone());
                deps.time |= event.within.is_some();
            }
        }
    }
}
