//! A `delay_until`'s offset: a fixed duration (`6h`, `-3d`), or a number of minutes, hours
//! or days computed with Liquid from the instance's variables
//! (`{days: "{{ event.servings | divided_by: event.servings_per_day }}"}`). The Liquid is
//! compiled when the journey is read; rendering it is pure, and a text that does not render
//! to a number gives the reason instead of a time.

use std::fmt;

use chrono::{TimeZone, Utc};
use nudge_conditions::DurationMs;
use nudge_core::Timestamp;
use nudge_templates::{parse_template, RenderContext, Template};
use serde_json::json;

/// How far a `delay_until` moves the time it reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Offset {
    /// A duration, negative for "before".
    Fixed(DurationMs),
    /// A number of units rendered from the instance's variables each time the wait starts.
    Computed(ComputedOffset),
}

/// The unit a computed offset's number counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetUnit {
    Minutes,
    Hours,
    Days,
}

impl OffsetUnit {
    pub const ALL: [OffsetUnit; 3] = [OffsetUnit::Minutes, OffsetUnit::Hours, OffsetUnit::Days];

    /// The key that names the unit in a document.
    pub fn as_str(self) -> &'static str {
        match self {
            OffsetUnit::Minutes => "minutes",
            OffsetUnit::Hours => "hours",
            OffsetUnit::Days => "days",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|unit| unit.as_str() == key)
    }

    fn millis(self) -> f64 {
        match self {
            OffsetUnit::Minutes => 60_000.0,
            OffsetUnit::Hours => 3_600_000.0,
            OffsetUnit::Days => 86_400_000.0,
        }
    }
}

/// Liquid text that renders to a number of `unit`s, compiled once.
#[derive(Clone)]
pub struct ComputedOffset {
    unit: OffsetUnit,
    source: String,
    compiled: Template,
}

/// Why a computed offset gave no time.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OffsetError {
    /// The Liquid failed: an undefined variable (named in the message), a filter's error.
    #[error("{0}")]
    Render(String),
    #[error("it renders '{0}', which is not a number")]
    NotANumber(String),
    #[error("{0} moves the time outside the calendar")]
    OutOfRange(String),
}

impl ComputedOffset {
    /// Compiles `source`; the error is Liquid's message with its line and column.
    pub fn compile(unit: OffsetUnit, source: &str) -> Result<Self, String> {
        let document = json!({"id": "offset", "channel": "webhook", "body": source});
        let compiled = parse_template(&document).map_err(|error| error.message)?;
        Ok(Self {
            unit,
            source: source.to_string(),
            compiled,
        })
    }

    pub fn unit(&self) -> OffsetUnit {
        self.unit
    }

    /// The Liquid text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variable paths the text reads where an undefined value fails it (as a template
    /// lists them: `event.items`, `customer.first_name`).
    pub fn variables(&self) -> Vec<String> {
        self.compiled
            .variables()
            .into_iter()
            .map(|variable| variable.path)
            .collect()
    }

    /// The number the text renders to with `context`: decimals and a sign allowed, spaces
    /// around it ignored.
    pub fn number(&self, context: &RenderContext) -> Result<f64, OffsetError> {
        let rendered = self
            .compiled
            .render(context)
            .map_err(|error| OffsetError::Render(error.message))?;
        let text = rendered.body.trim();
        text.parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| OffsetError::NotANumber(text.to_string()))
    }

    /// `at` moved by the rendered number of units, to the nearest millisecond.
    pub fn shift(&self, at: Timestamp, context: &RenderContext) -> Result<Timestamp, OffsetError> {
        let number = self.number(context)?;
        let out_of_range = || OffsetError::OutOfRange(format!("{number} {}", self.unit.as_str()));
        let millis = (number * self.unit.millis()).round();
        // Beyond 2^53 an f64 no longer holds every whole millisecond; far past any calendar.
        if millis.abs() > 9_007_199_254_740_992.0 {
            return Err(out_of_range());
        }
        let shifted = at
            .millis()
            .checked_add(millis as i64)
            .ok_or_else(out_of_range)?;
        match Utc.timestamp_millis_opt(shifted).single() {
            Some(_) => Ok(Timestamp::from_millis(shifted)),
            None => Err(out_of_range()),
        }
    }
}

impl PartialEq for ComputedOffset {
    fn eq(&self, other: &Self) -> bool {
        self.unit == other.unit && self.source == other.source
    }
}

impl fmt::Debug for ComputedOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ComputedOffset")
            .field("unit", &self.unit)
            .field("source", &self.source)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_templates::EventContext;

    fn with_event(data: serde_json::Value) -> RenderContext {
        RenderContext {
            event: Some(EventContext {
                name: "Order Completed".into(),
                timestamp: Timestamp::from_millis(0),
                data: data.as_object().cloned().unwrap_or_default(),
            }),
            ..RenderContext::default()
        }
    }

    fn number(source: &str, data: serde_json::Value) -> Result<f64, OffsetError> {
        ComputedOffset::compile(OffsetUnit::Days, source)
            .unwrap()
            .number(&with_event(data))
    }

    #[test]
    fn numbers_in_every_written_form() {
        let data = serde_json::json!({"n": 7, "half": 0.5, "text": " 12 "});
        assert_eq!(number("{{ event.n }}", data.clone()), Ok(7.0));
        assert_eq!(number("{{ event.half }}", data.clone()), Ok(0.5));
        assert_eq!(number("-{{ event.n }}", data.clone()), Ok(-7.0));
        assert_eq!(number("{{ event.text }}", data.clone()), Ok(12.0));
        assert_eq!(number(" 1.25\n", data), Ok(1.25));
    }

    #[test]
    fn anything_else_is_not_a_number() {
        for source in ["", "  ", "abc", "1 day", "inf", "NaN", "1,5"] {
            // An empty text does not compile; an empty output does, through a tag.
            let text = format!("{source}{{{{ '' }}}}");
            let offset = ComputedOffset::compile(OffsetUnit::Days, &text);
            let result = offset.unwrap().number(&RenderContext::default());
            assert_eq!(
                result,
                Err(OffsetError::NotANumber(source.trim().to_string())),
                "{source:?}"
            );
        }
    }

    #[test]
    fn a_shift_outside_the_calendar_is_refused() {
        let offset = ComputedOffset::compile(OffsetUnit::Days, "{{ event.n }}").unwrap();
        let at = Timestamp::from_millis(1_772_449_200_000);
        let huge = with_event(serde_json::json!({"n": 1e300}));
        assert!(matches!(
            offset.shift(at, &huge),
            Err(OffsetError::OutOfRange(_))
        ));
        let past_chrono = with_event(serde_json::json!({"n": 100_000_000}));
        assert!(matches!(
            offset.shift(at, &past_chrono),
            Err(OffsetError::OutOfRange(_))
        ));
        let minute = ComputedOffset::compile(OffsetUnit::Minutes, "1.5").unwrap();
        assert_eq!(
            minute.shift(at, &RenderContext::default()),
            Ok(at.plus_millis(90_000))
        );
    }
}
