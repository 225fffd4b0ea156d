//! Time windows: the next moment inside a weekly window (days, from, to) in a time zone,
//! daylight-saving changes included.

use chrono::{Datelike, Days, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use nudge_core::{JsonMap, Timestamp};

use crate::model::TimeWindow;

/// The person's time zone: their `timezone` attribute when it names an IANA zone, else the
/// window's fallback.
pub(crate) fn zone_of(window: &TimeWindow, attributes: &JsonMap) -> Tz {
    attributes
        .get("timezone")
        .and_then(|v| v.as_str())
        .and_then(|name| name.trim().parse::<Tz>().ok())
        .unwrap_or(window.fallback_timezone)
}

/// `at` itself when it falls inside the window, else the next time the window opens;
/// `None` only for times outside the calendar's range.
pub(crate) fn next_open(window: &TimeWindow, zone: Tz, at: Timestamp) -> Option<Timestamp> {
    let local = Utc
        .timestamp_millis_opt(at.millis())
        .single()?
        .with_timezone(&zone);
    let today = local.date_naive();
    let time = local.time();
    for day in 0..=7u64 {
        let date = today.checked_add_days(Days::new(day))?;
        if !window.days.contains(&date.weekday()) {
            continue;
        }
        if day == 0 && time >= window.from && time < window.to {
            return Some(at);
        }
        let Some(opens) = instant(zone, date.and_time(window.from)) else {
            continue;
        };
        if opens > at {
            return Some(opens);
        }
    }
    None
}

/// A local wall-clock time as an instant: the earlier one when the clock is set back; when
/// it is skipped (set forward), the same wall time an hour later.
fn instant(zone: Tz, local: NaiveDateTime) -> Option<Timestamp> {
    let resolved = match zone.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t),
        LocalResult::None => zone
            .from_local_datetime(&local.checked_add_signed(TimeDelta::hours(1))?)
            .earliest(),
    };
    resolved.map(|t| Timestamp::from_millis(t.timestamp_millis()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveTime, Weekday};

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn weekdays_nine_to_five(zone: Tz) -> TimeWindow {
        TimeWindow {
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            from: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            to: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
            fallback_timezone: zone,
        }
    }

    #[test]
    fn inside_passes_outside_waits_for_the_next_opening() {
        let w = weekdays_nine_to_five(chrono_tz::America::New_York);
        let ny = chrono_tz::America::New_York;
        // Monday 2026-03-02 10:00 in New York is 15:00 UTC (EST, UTC-5).
        let inside = at("2026-03-02T15:00:00Z");
        assert_eq!(next_open(&w, ny, inside), Some(inside));
        // Monday 18:00 New York → Tuesday 09:00 New York = 14:00 UTC.
        assert_eq!(
            next_open(&w, ny, at("2026-03-02T23:00:00Z")),
            Some(at("2026-03-03T14:00:00Z"))
        );
        // Friday 17:00 New York (closed: `to` is exclusive) → Monday 09:00.
        assert_eq!(
            next_open(&w, ny, at("2026-03-06T22:00:00Z")),
            Some(at("2026-03-09T13:00:00Z")),
            "Monday 9 March is already EDT (UTC-4)"
        );
        // Early Monday → the same day's opening.
        assert_eq!(
            next_open(&w, ny, at("2026-03-02T12:00:00Z")),
            Some(at("2026-03-02T14:00:00Z"))
        );
    }

    #[test]
    fn a_skipped_opening_moves_an_hour_later() {
        // Europe/Paris skips 02:00–03:00 on Sunday 2026-03-29.
        let paris = chrono_tz::Europe::Paris;
        let w = TimeWindow {
            days: vec![Weekday::Sun],
            from: NaiveTime::from_hms_opt(2, 30, 0).unwrap(),
            to: NaiveTime::from_hms_opt(4, 0, 0).unwrap(),
            fallback_timezone: paris,
        };
        // Saturday noon → Sunday 03:30 CEST = 01:30 UTC.
        assert_eq!(
            next_open(&w, paris, at("2026-03-28T12:00:00Z")),
            Some(at("2026-03-29T01:30:00Z"))
        );
    }

    #[test]
    fn the_zone_comes_from_the_person_when_valid() {
        let w = weekdays_nine_to_five(chrono_tz::America::New_York);
        let attrs = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(
            zone_of(&w, &attrs(serde_json::json!({"timezone": "Asia/Tokyo"}))),
            chrono_tz::Asia::Tokyo
        );
        assert_eq!(
            zone_of(&w, &attrs(serde_json::json!({"timezone": "Mars/Olympus"}))),
            chrono_tz::America::New_York
        );
        assert_eq!(zone_of(&w, &JsonMap::new()), chrono_tz::America::New_York);
    }
}
