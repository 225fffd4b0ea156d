//! Reading the waiting steps: `delay_until` (where its time comes from), `wait_until` (an
//! event, a condition, a timeout) and `time_window` (days, hours, a time zone).

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use serde_json::Value;

use super::reader::{
    child, condition, duration, event_match, fail, field_path, identifier, object, only_keys,
    required, signed_duration, text, Parsed,
};
use crate::model::{StepKind, TimeSource, TimeWindow};

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
    let offset = match map.get("offset") {
        None => 0,
        Some(v) => signed_duration(v, &child(at, "offset"))?,
    };
    Ok(StepKind::DelayUntil { time, offset })
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
