//! Points in time and the injected clock: production reads the system clock through
//! [`SystemClock`], tests and the simulator drive a [`ManualClock`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    /// Whole seconds as the Track API sends them; `None` when out of chrono's range.
    pub fn from_unix_seconds(secs: i64) -> Option<Self> {
        secs.checked_mul(1000)
            .filter(|ms| Utc.timestamp_millis_opt(*ms).single().is_some())
            .map(Self)
    }

    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| Self(t.with_timezone(&Utc).timestamp_millis()))
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn to_rfc3339(self) -> String {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    }

    pub const fn plus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    pub const fn minus_millis(self, ms: i64) -> Self {
        Self(self.0.saturating_sub(ms))
    }
}

/// The one way any component learns what time it is.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The production clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(Utc::now().timestamp_millis())
    }
}

/// A clock that only moves when told to; shared by clones.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn starting_at(at: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(at.0)))
    }

    pub fn set(&self, at: Timestamp) {
        self.0.store(at.0, Ordering::SeqCst);
    }

    pub fn advance_millis(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_round_trip() {
        let t = Timestamp::from_unix_seconds(1_700_000_000).unwrap();
        assert_eq!(t.millis(), 1_700_000_000_000);
        assert_eq!(t.unix_seconds(), 1_700_000_000);
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.000Z");
        assert_eq!(Timestamp::parse_rfc3339("2023-11-14T22:13:20Z"), Some(t));
    }

    #[test]
    fn absurd_seconds_are_refused() {
        assert_eq!(Timestamp::from_unix_seconds(i64::MAX), None);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::starting_at(Timestamp::from_millis(5));
        assert_eq!(clock.now().millis(), 5);
        clock.advance_millis(10);
        assert_eq!(clock.clone().now().millis(), 15);
    }
}
