//! Journeys: triggered automations with delays, waits, branches, sends and exits. This crate
//! is the pure part: the document format and its validation (`parse_journey`, errors naming
//! the JSON pointer of the offending node), the admission of a trigger (`admit`), the step
//! function that moves one instance (`step`: instance, input, facts, now → instance, effects)
//! and the migration of live instances to a new version (`migrate`); and the variables Liquid
//! inside a journey reads (`render_context`), shared by the messages it sends and the waits
//! it computes. It does no IO, stores nothing and never reads a clock: `now` is always an
//! argument. docs/journeys.md describes the format and the semantics.

mod admission;
mod document;
mod engine;
mod error;
mod instance;
mod matching;
mod migration;
mod model;
mod offset;
mod references;
mod variables;

pub use admission::{admit, instance_key, Admission, TRIGGER_MAX_AGE_MS};
pub use document::{parse_journey, STEP_KINDS};
pub use engine::{start, step, Context, Effect, EventInput, Input, Outcome};
pub use error::JourneyError;
pub use instance::{Instance, SentMessage, Status, TriggerData};
pub use migration::migrate;
pub use model::{
    Attribution, Entry, EventMatch, ExitRule, Frequency, Goal, Journey, Migration, RandomPath,
    Retrigger, SegmentEdge, SplitPath, Step, StepKind, TimeSource, TimeWindow, Trigger,
    WebhookRequest,
};
pub use nudge_core::{JsonMap, Timestamp};
pub use offset::{ComputedOffset, Offset, OffsetError, OffsetUnit};
pub use variables::{render_context, unsupplied_variable};

/// Reasons the engine writes into `Exited`, `Skipped` and `Status::Finished`, besides the
/// ones a journey names itself (exit rules and exit steps).
pub mod reasons {
    /// The instance ran past its last step.
    pub const COMPLETED: &str = "completed";
    /// An exit event that is also the goal's event.
    pub const CONVERTED: &str = "converted";
    /// Default reason of an exit rule on an event.
    pub const EXIT_EVENT: &str = "exit_event";
    /// Default reason of an exit rule on a condition.
    pub const EXIT_CONDITION: &str = "exit_condition";
    /// Default reason of an `exit` step.
    pub const EXIT_STEP: &str = "exit_step";
    /// A `wait_until` ran out of time and names no `on_timeout` step.
    pub const TIMEOUT: &str = "timeout";
    /// The holdout share of a `random` step.
    pub const HOLDOUT: &str = "holdout";
    /// A send's `skip_if` held.
    pub const SKIP_CONDITION: &str = "skip_condition";
    /// A send ran later than `max_lateness` after its scheduled time.
    pub const LATE: &str = "late";
    /// A `delay_until` found no usable time; the wait is skipped.
    pub const NO_TIME: &str = "no_time";
    /// One input executed more steps than any sensible journey does (a runaway loop).
    pub const STEP_LIMIT: &str = "step_limit";
    /// Admission refusals.
    pub const TOO_OLD: &str = "too old";
    pub const MISSING_KEY: &str = "missing key";
    pub const LIVE_KEY: &str = "live key";
    pub const ENTRY_CONDITIONS: &str = "entry conditions";
    pub const FREQUENCY: &str = "frequency";
}
