//! The validated journey: what `parse_journey` returns and the engine runs. Every reference
//! between steps in it names an existing step; every step is reachable from the first.

use std::collections::BTreeMap;

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use nudge_conditions::{AttributeFilter, Condition, DurationMs, FieldPath};
use nudge_core::JsonMap;

use crate::offset::Offset;

#[derive(Debug, Clone)]
pub struct Journey {
    pub id: String,
    pub name: String,
    /// `""` when the document has none.
    pub description: String,
    pub trigger: Trigger,
    pub entry: Entry,
    pub exits: Vec<ExitRule>,
    pub goal: Option<Goal>,
    /// A send whose scheduled time is older than this when it runs is skipped ("late").
    pub max_lateness: Option<DurationMs>,
    pub migrate: Migration,
    pub steps: Vec<Step>,
    /// Step id → position in `steps`.
    pub(crate) index: BTreeMap<String, usize>,
}

/// What starts an instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// An event of this name whose data passes every filter.
    Event {
        name: String,
        filters: Vec<AttributeFilter>,
    },
    /// Entering or leaving a segment.
    Segment { id: i64, on: SegmentEdge },
    /// A change of this attribute's value.
    AttributeChanged { field: FieldPath },
    /// The time in this attribute (unix seconds or RFC 3339), shifted by `offset` (may be
    /// negative: three days before a renewal).
    Date {
        attribute: FieldPath,
        offset: DurationMs,
    },
    /// Only the API starts it.
    Broadcast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentEdge {
    Entered,
    Exited,
}

/// Who may enter, how often, and what identifies an instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Checked on the person when the trigger arrives.
    pub conditions: Option<Condition>,
    pub frequency: Frequency,
    /// A path into the trigger data whose value keys the instance (`cart_id`): at most one
    /// live instance per person and key.
    pub key: Option<FieldPath>,
    /// What a trigger does when an instance with its key is live.
    pub on_retrigger: Retrigger,
}

impl Default for Entry {
    fn default() -> Self {
        Self {
            conditions: None,
            frequency: Frequency::EveryTime,
            key: None,
            on_retrigger: Retrigger::Restart,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    /// Never again after a first entry.
    Once,
    EveryTime,
    /// Not again within this long after the latest entry.
    OncePer(DurationMs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retrigger {
    /// Take the new trigger data and restart the waiting step from the new trigger's time.
    Restart,
    /// Take the new trigger data and keep waiting as before.
    Update,
    /// Drop the new trigger.
    Ignore,
}

/// Ends an instance at once, whatever step it waits at.
#[derive(Debug, Clone, PartialEq)]
pub enum ExitRule {
    Event {
        matcher: EventMatch,
        reason: String,
    },
    Condition {
        condition: Condition,
        reason: String,
    },
}

/// An event a journey reacts to: by name, filters on its data, and fields that must equal
/// the trigger data's (`cart_id`: the order of this cart).
#[derive(Debug, Clone, PartialEq)]
pub struct EventMatch {
    pub name: String,
    pub filters: Vec<AttributeFilter>,
    pub matching: Vec<FieldPath>,
}

/// A conversion: this event within `within` after the instance's most recent message,
/// credited to that message when it reached `attribution`.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    pub matcher: EventMatch,
    pub within: DurationMs,
    pub attribution: Attribution,
}

/// How far the most recent message must have got for a goal event to be credited to it.
/// The engine emits every conversion in the window; the caller, which knows the message's
/// delivery, checks `Opened` and `Clicked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Attribution {
    /// Queued is enough (the default).
    #[default]
    Sent,
    /// The recipient opened it (or clicked in it) before the goal event.
    Opened,
    /// The recipient clicked a link in it before the goal event.
    Clicked,
}

impl Attribution {
    pub const ALL: [Attribution; 3] =
        [Attribution::Sent, Attribution::Opened, Attribution::Clicked];

    /// The name documents use (`sent`, `opened`, `clicked`).
    pub fn as_str(self) -> &'static str {
        match self {
            Attribution::Sent => "sent",
            Attribution::Opened => "opened",
            Attribution::Clicked => "clicked",
        }
    }

    pub fn parse(name: &str) -> Option<Attribution> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// How a new version takes over the live instances of older ones. The default moves none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migration {
    /// Old step id → step id in this version.
    pub steps: BTreeMap<String, String>,
    /// Steps not in `steps` move to the step of the same id, when this version has one.
    pub by_step_id: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    /// Where to go after this step instead of the next one in order.
    pub next: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// Wait this long.
    Delay { duration: DurationMs },
    /// Wait until a time read from the trigger or the person, shifted by `offset` (fixed, or
    /// computed from the instance's variables).
    DelayUntil { time: TimeSource, offset: Offset },
    /// Wait for an event or a condition, at most `timeout`; then go to `on_timeout`, or
    /// exit ("timeout") without it.
    WaitUntil {
        event: Option<EventMatch>,
        condition: Option<Condition>,
        timeout: DurationMs,
        on_timeout: Option<String>,
    },
    /// Wait for the next moment inside a weekly window in the person's time zone.
    TimeWindow(TimeWindow),
    /// Two ways.
    Branch {
        condition: Condition,
        then: String,
        otherwise: String,
    },
    /// The first path whose condition holds, else `otherwise`.
    Split {
        paths: Vec<SplitPath>,
        otherwise: String,
    },
    /// A weighted random path; `holdout` percent exit first.
    Random { paths: Vec<RandomPath>, holdout: u8 },
    /// A message through a channel, rendered from a template.
    Send {
        channel: String,
        template: String,
        skip_if: Option<Condition>,
        /// Email only: links and an open pixel are rewritten so opens and clicks are recorded.
        tracked: bool,
    },
    /// Set these attributes on the person.
    Update { attributes: JsonMap },
    /// Call out over HTTP.
    Webhook(WebhookRequest),
    /// Record an event on the person.
    Emit { event: String, data: JsonMap },
    /// End the instance.
    Exit { reason: String },
}

impl StepKind {
    /// The key that names this kind in a document.
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Delay { .. } => "delay",
            StepKind::DelayUntil { .. } => "delay_until",
            StepKind::WaitUntil { .. } => "wait_until",
            StepKind::TimeWindow(_) => "time_window",
            StepKind::Branch { .. } => "branch",
            StepKind::Split { .. } => "split",
            StepKind::Random { .. } => "random",
            StepKind::Send { .. } => "send",
            StepKind::Update { .. } => "update",
            StepKind::Webhook(_) => "webhook",
            StepKind::Emit { .. } => "emit",
            StepKind::Exit { .. } => "exit",
        }
    }

    /// Whether an instance can wait at a step of this kind.
    pub fn waits(&self) -> bool {
        matches!(
            self,
            StepKind::Delay { .. }
                | StepKind::DelayUntil { .. }
                | StepKind::WaitUntil { .. }
                | StepKind::TimeWindow(_)
        )
    }

    /// Whether the step chooses its own way on (so takes no `next` and never falls through).
    pub fn chooses_next(&self) -> bool {
        matches!(
            self,
            StepKind::Branch { .. }
                | StepKind::Split { .. }
                | StepKind::Random { .. }
                | StepKind::Exit { .. }
        )
    }
}

/// Where a `delay_until` reads its time.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeSource {
    /// The trigger's own time.
    TriggerTimestamp,
    /// A field of the trigger data (`trigger.renewal_date`).
    Trigger(FieldPath),
    /// One of the person's attributes (`attribute.trial_ends_at`).
    Attribute(FieldPath),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimeWindow {
    /// The days the window opens on, in the person's time zone.
    pub days: Vec<Weekday>,
    pub from: NaiveTime,
    /// Exclusive; later than `from` on the same day.
    pub to: NaiveTime,
    /// Used when the person's `timezone` attribute is absent or not an IANA name.
    pub fallback_timezone: Tz,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SplitPath {
    pub condition: Condition,
    pub next: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RandomPath {
    pub weight: u32,
    pub next: String,
}

/// An HTTP call; the caller renders `body` (Liquid) and performs it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRequest {
    /// Upper case: GET, POST, PUT, PATCH or DELETE.
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    /// `""` when the document has none.
    pub body: String,
    /// Attribute name → JSON pointer into the response body.
    pub map_response: BTreeMap<String, String>,
}
