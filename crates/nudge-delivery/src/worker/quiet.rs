//! Quiet hours: a daily stretch of local time (`21:00-08:00`, in the person's `timezone`
//! attribute, else UTC) during which marketing messages wait instead of going out. A message
//! due inside it is deferred to its end, never dropped. Daylight-saving changes are handled:
//! an end time the clock skips is taken an hour later; one it repeats, the first time.

use chrono::{Days, LocalResult, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use nudge_core::{JsonMap, Timestamp};

/// From `start` to `end` every day, local time; wraps past midnight when `end` is earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl QuietHours {
    /// Reads `21:00-08:00` (24-hour `HH:MM`, start and end).
    pub fn parse(text: &str) -> Result<QuietHours, String> {
        let wrong = || format!("'{text}' is not quiet hours such as 21:00-08:00");
        let (start, end) = text.split_once('-').ok_or_else(wrong)?;
        let time =
            |part: &str| NaiveTime::parse_from_str(part.trim(), "%H:%M").map_err(|_| wrong());
        let hours = QuietHours {
            start: time(start)?,
            end: time(end)?,
        };
        if hours.start == hours.end {
            return Err(format!("'{text}' starts and ends at the same time"));
        }
        Ok(hours)
    }

    /// As written: `21:00-08:00`.
    pub fn describe(&self) -> String {
        format!(
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }

    fn contains(&self, time: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        }
    }

    /// When a message due at `now` to someone in `zone` may go: `None` outside quiet hours,
    /// else the moment they end.
    pub fn deferred_until(&self, zone: Tz, now: Timestamp) -> Option<Timestamp> {
        let local = Utc
            .timestamp_millis_opt(now.millis())
            .single()?
            .with_timezone(&zone)
            .naive_local();
        if !self.contains(local.time()) {
            return None;
        }
        let today = local.date();
        let ends_tomorrow = self.start > self.end && local.time() >= self.start;
        let day = if ends_tomorrow {
            today.checked_add_days(Days::new(1))?
        } else {
            today
        };
        instant(zone, day.and_time(self.end))
    }
}

/// The person's time zone: their `timezone` attribute when it names an IANA zone, else UTC.
pub fn zone_of(attributes: &JsonMap) -> Tz {
    attributes
        .get("timezone")
        .and_then(|v| v.as_str())
        .and_then(|name| name.trim().parse::<Tz>().ok())
        .unwrap_or(Tz::UTC)
}

/// A local wall-clock time as an instant: the earlier one when the clock is set back; when it
/// is skipped (set forward), the same wall time an hour later.
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
    use serde_json::json;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn check(hours: &str, zone: Tz, now: &str, want: Option<&str>) {
        let quiet = QuietHours::parse(hours).unwrap();
        assert_eq!(
            quiet.deferred_until(zone, at(now)),
            want.map(at),
            "{hours} in {zone} at {now}"
        );
    }

    #[test]
    fn overnight_hours_defer_to_the_morning() {
        let utc = Tz::UTC;
        check("21:00-08:00", utc, "2026-03-02T20:59:59Z", None);
        check(
            "21:00-08:00",
            utc,
            "2026-03-02T21:00:00Z",
            Some("2026-03-03T08:00:00Z"),
        );
        check(
            "21:00-08:00",
            utc,
            "2026-03-02T23:30:00Z",
            Some("2026-03-03T08:00:00Z"),
        );
        check(
            "21:00-08:00",
            utc,
            "2026-03-03T03:00:00Z",
            Some("2026-03-03T08:00:00Z"),
        );
        check("21:00-08:00", utc, "2026-03-03T08:00:00Z", None);
        check(
            "12:00-14:00",
            utc,
            "2026-03-03T13:00:00Z",
            Some("2026-03-03T14:00:00Z"),
        );
        check("12:00-14:00", utc, "2026-03-03T14:00:00Z", None);
    }

    #[test]
    fn hours_are_the_persons_local_time() {
        let ny = chrono_tz::America::New_York;
        // 02:00 UTC is 21:00 in New York (EST): quiet until 08:00 EST, 13:00 UTC.
        check(
            "21:00-08:00",
            ny,
            "2026-03-03T02:00:00Z",
            Some("2026-03-03T13:00:00Z"),
        );
        check("21:00-08:00", ny, "2026-03-03T00:00:00Z", None);
        // The night the clocks go forward (8 March 2026), 08:00 is EDT: 12:00 UTC.
        check(
            "21:00-08:00",
            ny,
            "2026-03-08T04:00:00Z",
            Some("2026-03-08T12:00:00Z"),
        );
        // An end inside the skipped hour is taken an hour later.
        check(
            "01:00-02:30",
            ny,
            "2026-03-08T06:30:00Z",
            Some("2026-03-08T07:30:00Z"),
        );
        assert_eq!(
            zone_of(json!({"timezone": "America/New_York"}).as_object().unwrap()),
            ny
        );
        assert_eq!(
            zone_of(json!({"timezone": "Mars/Olympus"}).as_object().unwrap()),
            Tz::UTC
        );
        assert_eq!(zone_of(&JsonMap::new()), Tz::UTC);
    }

    #[test]
    fn quiet_hours_read_as_written() {
        assert_eq!(
            QuietHours::parse(" 21:00 - 08:00 ").unwrap().describe(),
            "21:00-08:00"
        );
        for bad in ["21:00", "21-08", "25:00-08:00", "08:00-08:00", "9pm-8am"] {
            assert!(QuietHours::parse(bad).is_err(), "{bad}");
        }
    }
}
