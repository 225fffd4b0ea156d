//! The condition tree, as validated by `parse`.

use nudge_core::Timestamp;
use serde_json::Value;

use crate::{DurationMs, FieldPath};

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Segment { id: i64 },
    Attribute(AttributeFilter),
    Event(EventCondition),
}

/// A test on one field: of a person's attributes, or of an event's data in `where`.
#[derive(Debug, Clone, PartialEq)]
pub struct AttributeFilter {
    pub field: FieldPath,
    pub op: AttributeOp,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttributeOp {
    Eq(Value),
    Neq(Value),
    Exists,
    NotExists,
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
    Contains(Value),
    NotContains(Value),
    StartsWith(String),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    /// The field holds a time earlier than this one.
    Before(Timestamp),
    After(Timestamp),
    /// The field holds a time less than this long ago (and not in the future).
    WithinLast(DurationMs),
    /// The field holds a time at least this long ago.
    MoreThanAgo(DurationMs),
}

impl AttributeOp {
    pub fn name(&self) -> &'static str {
        match self {
            AttributeOp::Eq(_) => "eq",
            AttributeOp::Neq(_) => "neq",
            AttributeOp::Exists => "exists",
            AttributeOp::NotExists => "not_exists",
            AttributeOp::Gt(_) => "gt",
            AttributeOp::Gte(_) => "gte",
            AttributeOp::Lt(_) => "lt",
            AttributeOp::Lte(_) => "lte",
            AttributeOp::Contains(_) => "contains",
            AttributeOp::NotContains(_) => "not_contains",
            AttributeOp::StartsWith(_) => "starts_with",
            AttributeOp::In(_) => "in",
            AttributeOp::NotIn(_) => "not_in",
            AttributeOp::Before(_) => "before",
            AttributeOp::After(_) => "after",
            AttributeOp::WithinLast(_) => "within_last",
            AttributeOp::MoreThanAgo(_) => "more_than_ago",
        }
    }

    pub(crate) fn depends_on_now(&self) -> bool {
        matches!(
            self,
            AttributeOp::WithinLast(_) | AttributeOp::MoreThanAgo(_)
        )
    }
}

/// "Did this event happen N times (within a window)?"
#[derive(Debug, Clone, PartialEq)]
pub struct EventCondition {
    pub name: String,
    /// Every filter must hold on the event's data.
    pub filters: Vec<AttributeFilter>,
    pub count: CountOp,
    /// Only events less than this long ago count.
    pub within: Option<DurationMs>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountOp {
    Gte(u64),
    Lte(u64),
    Eq(u64),
}

impl CountOp {
    pub fn holds(self, n: u64) -> bool {
        match self {
            CountOp::Gte(m) => n >= m,
            CountOp::Lte(m) => n <= m,
            CountOp::Eq(m) => n == m,
        }
    }
}
