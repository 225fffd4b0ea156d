//! Reading the waiting steps: `delay_until` (where its time comes from, and its offset: a
//! duration, or Liquid compiled here that computes one), `wait_until` (an event, a condition,
//! a timeout) and `time_window` (days, hours, a time zone).

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use super::reader::{
    child, condition, duration, event_match, fail, field_path, identifier, object, only_keys,
    required, signed_duration, text, Parsed,
};
use crate::model::{Step, StepKind, TimeSource, TimeWindow, Trigger};
use crate::offset::{ComputedOffset, Offset, OffsetUnit};
use crate::variables::unsupplied_variable;

pub(super) fn delay_until(value: &Value, at: &str) -> Parsed<StepKind> {
    let map = object(value, at, "delay_until")?;
    only_keys(map, &["time", "offset"], at)?;
    let time_at = child(at, "time");
    let source = text(required(map, "time", at)?, &time_at)?;
    let path = |rest: &str| field_path(&Value::String(rest.to_string()), &time_at);
    let time = if source == "trigger.timestamp" {
        TimeSource::TriggerTimestamp
    } else if let Some(rest) = source.strip_prefix("trigger.") {
        TimeSource::Trigger(path(rest)?)
    } else if let Some(rest) = source.strip_prefix("attribute.") {
        TimeSource::Attribute(path(rest)?)
    } else {
        return fail(
            &time_at,
            "time is trigger.timestamp, trigger.<field> or attribute.<field>",
        );
    };
    let offset_at = child(at, "offset");
    let offset = match map.get("offset") {
        None => Offset::Fixed(0),
        Some(Value::Object(units)) => Offset::Computed(computed_offset(units, &offset_at)?),
        Some(v) => match signed_duration(v, &offset_at) {
            Ok(duration) => Offset::Fixed(duration),
            Err(_) => return fail(&offset_at, OFFSET_FORMS),
        },
    };
    Ok(StepKind::DelayUntil { time, offset })
}

const OFFSET_FORMS: &str = "an offset is a duration such as 6h or -3d, or one unit (minutes, \
     hours or days) with Liquid text that renders a number, such as {days: \"{{ event.days }}\"}";

/// `{days: "<Liquid>"}`: exactly one unit, its Liquid compiled now so a syntax error refuses
/// the journey.
fn computed_offset(units: &Map<String, Value>, at: &str) -> Parsed<ComputedOffset> {
    let mut entries = units.iter();
    let (Some((key, value)), None) = (entries.next(), entries.next()) else {
        return fail(at, OFFSET_FORMS);
    };
    let here = child(at, key);
    let Some(unit) = OffsetUnit::parse(key) else {
        return fail(
            &here,
            "the unit of a computed offset is minutes, hours or days",
        );
    };
    let Some(source) = value.as_str().filter(|s| !s.trim().is_empty()) else {
        return fail(
            &here,
            "a computed offset is Liquid text that renders a number, such as \"{{ event.days }}\"",
        );
    };
    ComputedOffset::compile(unit, source).or_else(|message| fail(&here, message))
}

/// Refuses a computed offset that reads a variable the journey can never supply: the
/// trigger event in a journey no event starts, API trigger data in one an event starts, an
/// unknown root, or `journey.message_id` (a wait sends no message).
pub(super) fn check_computed_offsets(trigger: &Trigger, steps: &[Step], at: &str) -> Parsed<()> {
    for (i, step) in steps.iter().enumerate() {
        let StepKind::DelayUntil {
            offset: Offset::Computed(offset),
            ..
        } = &step.kind
        else {
            continue;
        };
        for path in offset.variables() {
            let why = if path == "journey.message_id" {
                Some("a wait sends no message, so it has no message id")
            } else {
                unsupplied_variable(trigger, &path)
            };
            if let Some(why) = why {
                return fail(
                    &format!("{at}/{i}/delay_until/offset/{}", offset.unit().as_str()),
                    format!("the offset reads {path}, but {why}"),
                );
            }
        }
    }
    Ok(())
}

pub(super) fn wait_until(value: &Value, at: &str) -> Parsed<StepKind> {
    let map = object(value, at, "wait_until")?;
    only_keys(map, &["event", "conditions", "timeout", "on_timeout"], at)?;
    let event = match map.get("event") {
        None => None,
        Some(v) => {
            let event_at = child(at, "event");
            let event_map = object(v, &event_at, "the awaited event")?;
            only_keys(event_map, &["name", "where", "match"], &event_at)?;
            Some(event_match(event_map, "name", &event_at)?)
        }
    };
    let condition = map
        .get("conditions")
        .map(|v| condition(v, &child(at, "conditions")))
        .transpose()?;
    if event.is_none() && condition.is_none() {
        return fail(at, "wait_until waits for an event, conditions, or both");
    }
    Ok(StepKind::WaitUntil {
        event,
        condition,
        timeout: duration(required(map, "timeout", at)?, &child(at, "timeout"))?,
        on_timeout: map
            .get("on_timeout")
            .map(|v| identifier(v, &child(at, "on_timeout")))
            .transpose()?,
    })
}

pub(super) fn time_window(value: &Value, at: &str) -> Parsed<TimeWindow> {
    let map = object(value, at, "time_window")?;
    only_keys(map, &["days", "from", "to", "fallback_timezone"], at)?;
    let days = match map.get("days") {
        None => ALL_DAYS.iter().map(|(_, d)| *d).collect(),
        Some(v) => weekdays(v, &child(at, "days"))?,
    };
    let from = clock_time(required(map, "from", at)?, &child(at, "from"))?;
    let to = clock_time(required(map, "to", at)?, &child(at, "to"))?;
    if from >= to {
        return fail(
            &child(at, "to"),
            "to must be later than from on the same day",
        );
    }
    let fallback_timezone = match map.get("fallback_timezone") {
        None => Tz::UTC,
        Some(v) => {
            let tz_at = child(at, "fallback_timezone");
            let name = text(v, &tz_at)?;
            name.parse::<Tz>().or_else(|_| {
                fail(
                    &tz_at,
                    format!("'{name}' is not an IANA time zone such as Europe/Paris"),
                )
            })?
        }
    };
    Ok(TimeWindow {
        days,
        from,
        to,
        fallback_timezone,
    })
}

const ALL_DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

fn weekdays(value: &Value, at: &str) -> Parsed<Vec<Weekday>> {
    let Some(items) = value.as_array().filter(|a| !a.is_empty()) else {
        return fail(
            at,
            "days is a non-empty list of mon, tue, wed, thu, fri, sat, sun",
        );
    };
    let mut days = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let found = ALL_DAYS
            .iter()
            .find(|(name, _)| Some(*name) == item.as_str());
        let Some((_, day)) = found else {
            return fail(
                &format!("{at}/{i}"),
                "a day is one of mon, tue, wed, thu, fri, sat, sun",
            );
        };
        if !days.contains(day) {
            days.push(*day);
        }
    }
    Ok(days)
}

/// `"09:00"`: hours and minutes on a 24-hour clock.
fn clock_time(value: &Value, at: &str) -> Parsed<NaiveTime> {
    value
        .as_str()
        .filter(|s| s.len() == 5)
        .and_then(|s| NaiveTime::parse_from_str(s, "%H:%M").ok())
        .map_or_else(
            || fail(at, "a time of day is \"HH:MM\", such as \"09:00\""),
            Ok,
        )
}
