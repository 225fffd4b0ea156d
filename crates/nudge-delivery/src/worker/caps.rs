//! The workspace-wide frequency cap: at most N marketing messages per person per period,
//! across all journeys. Counted from the ledger's `sent_at` of the person's marketing
//! messages, plus the sends this process has let through whose outcome is not recorded yet
//! (so two messages to one person claimed together cannot both slip under the cap). A message
//! over the cap waits until the window frees up, unless that is past its deadline: then it is
//! undeliverable.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::MarketingSend;

use super::millis;

/// N messages per period, and how long a message may wait for room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequencyCap {
    pub limit: u32,
    pub period: Duration,
    /// A message still over the cap this long after it was queued is undeliverable.
    pub deadline: Duration,
}

impl FrequencyCap {
    /// Reads `3/1d` (N, a slash, and a period: a number with `s`, `m`, `h`, `d` or `w`).
    pub fn parse(text: &str, deadline: Duration) -> Result<FrequencyCap, String> {
        let (limit, period) = text
            .split_once('/')
            .ok_or_else(|| format!("'{text}' is not a cap such as 3/1d (messages/period)"))?;
        let limit: u32 = limit
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("'{limit}' is not a positive number of messages"))?;
        Ok(FrequencyCap {
            limit,
            period: parse_period(period)?,
            deadline,
        })
    }

    /// As it was written: `3/1d`.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.limit, describe_period(self.period))
    }
}

/// A period such as `90s`, `30m`, `12h`, `1d` or `2w`.
pub fn parse_period(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "'{text}' is not a period such as 30m, 12h, 1d or 2w"
            ))
        }
    };
    let count: u64 = number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("'{text}' is not a period such as 30m, 12h, 1d or 2w"))?;
    count
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{text}' is too long a period"))
}

/// The shortest spelling of a period [`parse_period`] reads back.
pub fn describe_period(period: Duration) -> String {
    let secs = period.as_secs();
    for (unit, size) in [("w", 7 * 86_400), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// A moment as a reason shows it: RFC 3339 in UTC, with milliseconds only when it has some.
pub(super) fn describe_time(at: Timestamp) -> String {
    use chrono::{SecondsFormat, TimeZone, Utc};
    match Utc.timestamp_millis_opt(at.millis()).single() {
        Some(time) => time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => at.to_rfc3339(),
    }
}

/// What the cap says about one message.
#[derive(Debug, Clone, PartialEq)]
pub enum CapDecision {
    /// Room left: the send is reserved until its outcome is recorded.
    Within,
    /// Over the cap until `until`.
    Deferred { until: Timestamp, reason: String },
    /// Over the cap past the message's deadline.
    Exhausted { reason: String },
}

type Reservations = HashMap<(WorkspaceId, PersonKey), Vec<(String, Timestamp)>>;

/// The cap, with the sends this process let through recently.
#[derive(Debug)]
pub struct CapTracker {
    cap: FrequencyCap,
    /// How long a send stays reserved: longer than it takes for its outcome to reach the
    /// ledger (or for its claim to run out).
    hold: Duration,
    reserved: Mutex<Reservations>,
}

/// People with reservations past which a whole sweep of expired ones is done.
const SWEEP_AT: usize = 10_000;

impl CapTracker {
    pub fn new(cap: FrequencyCap, hold: Duration) -> Self {
        Self {
            cap,
            hold,
            reserved: Mutex::default(),
        }
    }

    /// Where a person's window starts at `now`: sends at or after it count.
    pub fn window_start(&self, now: Timestamp) -> Timestamp {
        now.minus_millis(millis(self.cap.period)).plus_millis(1)
    }

    /// Decides on delivery `delivery_id` (queued at `queued_at`) to the person, given their
    /// marketing sends the ledger holds since [`window_start`](Self::window_start); when it
    /// is within the cap, reserves its send.
    pub fn admit(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        delivery_id: &str,
        recorded: &[MarketingSend],
        queued_at: Timestamp,
        now: Timestamp,
    ) -> CapDecision {
        let start = self.window_start(now);
        let mut reserved = self.lock();
        if reserved.len() > SWEEP_AT {
            let expired_before = now.minus_millis(millis(self.hold));
            reserved.retain(|_, sends| {
                sends.retain(|(_, at)| *at >= expired_before);
                !sends.is_empty()
            });
        }
        let held = reserved.entry((ws, person)).or_default();
        let expired_before = now.minus_millis(millis(self.hold));
        held.retain(|(id, at)| *at >= expired_before && id != delivery_id);
        let mut times: Vec<Timestamp> = recorded
            .iter()
            .filter(|send| send.delivery_id != delivery_id && send.sent_at >= start)
            .map(|send| send.sent_at)
            .collect();
        times.extend(
            (held.iter())
                .filter(|(id, at)| *at >= start && !recorded.iter().any(|s| &s.delivery_id == id))
                .map(|(_, at)| *at),
        );
        let limit = self.cap.limit as usize;
        if times.len() < limit {
            held.push((delivery_id.to_string(), now));
            return CapDecision::Within;
        }
        times.sort();
        // Never `now` itself: a retry due at once would find the same window.
        let until = (times[times.len() - limit].plus_millis(millis(self.cap.period)))
            .max(now.plus_millis(1));
        let cap = self.cap.describe();
        let deadline = queued_at.plus_millis(millis(self.cap.deadline));
        if until > deadline {
            CapDecision::Exhausted {
                reason: format!(
                    "frequency cap {cap}: no room before the deadline of {}",
                    describe_period(self.cap.deadline)
                ),
            }
        } else {
            CapDecision::Deferred {
                until,
                reason: format!(
                    "frequency cap {cap} reached; deferred until {}",
                    describe_time(until)
                ),
            }
        }
    }

    /// Gives back the reservation of a delivery that did not go out.
    pub fn release(&self, ws: WorkspaceId, person: PersonKey, delivery_id: &str) {
        let mut reserved = self.lock();
        if let Some(held) = reserved.get_mut(&(ws, person)) {
            held.retain(|(id, _)| id != delivery_id);
            if held.is_empty() {
                reserved.remove(&(ws, person));
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Reservations> {
        self.reserved.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn tracker(limit: u32) -> CapTracker {
        let cap = FrequencyCap::parse(&format!("{limit}/1h"), Duration::from_secs(3 * 3600));
        CapTracker::new(cap.unwrap(), Duration::from_secs(120))
    }

    fn sends(minutes: &[i64]) -> Vec<MarketingSend> {
        (minutes.iter().enumerate())
            .map(|(n, m)| MarketingSend {
                delivery_id: format!("sent-{n}"),
                sent_at: Timestamp::from_millis(m * MIN),
            })
            .collect()
    }

    fn at(minute: i64) -> Timestamp {
        Timestamp::from_millis(minute * MIN)
    }

    #[test]
    fn caps_and_periods_read_as_written() {
        let cap = FrequencyCap::parse("3/1d", Duration::from_secs(60)).unwrap();
        assert_eq!((cap.limit, cap.period), (3, Duration::from_secs(86_400)));
        assert_eq!(cap.describe(), "3/1d");
        assert_eq!(parse_period("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(describe_period(Duration::from_secs(5400)), "90m");
        assert_eq!(describe_period(Duration::from_secs(14 * 86_400)), "2w");
        for bad in ["3", "0/1d", "x/1d", "3/1y", "3/d", "3/0h", "3/-1d"] {
            assert!(FrequencyCap::parse(bad, Duration::ZERO).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_message_over_the_cap_waits_until_the_oldest_send_leaves_the_window() {
        let cap = tracker(2);
        let (ws, person) = (WorkspaceId(1), PersonKey(7));
        let recorded = sends(&[10, 40]);
        assert_eq!(
            cap.admit(ws, person, "new", &recorded, at(60), at(60)),
            CapDecision::Deferred {
                until: at(70),
                reason: "frequency cap 2/1h reached; deferred until 1970-01-01T01:10:00Z".into()
            }
        );
        // At 70 the send at 10 has left the window (sends after 10:00 count).
        assert_eq!(
            cap.admit(ws, person, "new", &sends(&[40]), at(60), at(70)),
            CapDecision::Within
        );
        // Its own earlier send (a retry of a delivery that went out) does not count.
        assert_eq!(
            cap.admit(
                ws,
                PersonKey(8),
                "sent-0",
                &sends(&[50, 55]),
                at(60),
                at(60)
            ),
            CapDecision::Within
        );
    }

    #[test]
    fn reserved_sends_count_until_recorded_and_released_ones_do_not() {
        let cap = tracker(2);
        let (ws, ana, bob) = (WorkspaceId(1), PersonKey(7), PersonKey(8));
        assert_eq!(
            cap.admit(ws, ana, "a", &[], at(0), at(0)),
            CapDecision::Within
        );
        assert_eq!(
            cap.admit(ws, ana, "b", &[], at(0), at(0)),
            CapDecision::Within
        );
        assert!(matches!(
            cap.admit(ws, ana, "c", &[], at(0), at(0)),
            CapDecision::Deferred { until, .. } if until == at(60)
        ));
        assert_eq!(
            cap.admit(ws, bob, "d", &[], at(0), at(0)),
            CapDecision::Within
        );
        cap.release(ws, ana, "b");
        assert_eq!(
            cap.admit(ws, ana, "c", &[], at(0), at(0)),
            CapDecision::Within
        );
        // Recorded and reserved, the same send counts once.
        let recorded = vec![MarketingSend {
            delivery_id: "a".into(),
            sent_at: at(0),
        }];
        assert!(matches!(
            cap.admit(ws, ana, "e", &recorded, at(1), at(1)),
            CapDecision::Deferred { .. }
        ));
        // A reservation expires once its outcome must have been recorded.
        assert_eq!(
            cap.admit(ws, ana, "e", &[], at(5), at(5)),
            CapDecision::Within
        );
    }

    #[test]
    fn past_the_deadline_a_message_is_exhausted() {
        let cap = tracker(1);
        let (ws, person) = (WorkspaceId(1), PersonKey(7));
        assert_eq!(
            cap.admit(ws, person, "late", &sends(&[200]), at(0), at(200)),
            CapDecision::Exhausted {
                reason: "frequency cap 1/1h: no room before the deadline of 3h".into()
            }
        );
        assert!(matches!(
            cap.admit(ws, person, "on-time", &sends(&[100]), at(0), at(120)),
            CapDecision::Deferred { until, .. } if until == at(160)
        ));
    }
}
