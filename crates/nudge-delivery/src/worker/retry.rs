//! When a delivery that failed for a passing reason is tried again, and when a channel that
//! keeps failing is paused: exponential backoff with a cap and a deadline, a provider's
//! `Retry-After` honoured, and a circuit breaker per channel that holds messages back (they
//! stay queued) instead of hammering a provider that is down.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use nudge_core::Timestamp;

/// Backoff for transient failures.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; doubled after each further one.
    pub first: Duration,
    /// No wait is longer than this.
    pub cap: Duration,
    /// A message still failing this long after it was queued fails for good.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first: Duration::from_secs(10),
            cap: Duration::from_secs(3600),
            deadline: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// When to try again after attempt number `attempts` failed at `now` (`retry_after` is the
    /// provider's own answer and wins when longer), or `None` once that would pass the
    /// deadline of a message queued at `queued_at`.
    pub fn next_attempt(
        &self,
        attempts: u32,
        queued_at: Timestamp,
        now: Timestamp,
        retry_after: Option<Duration>,
    ) -> Option<Timestamp> {
        let doublings = attempts.saturating_sub(1).min(30);
        let backoff = self
            .first
            .saturating_mul(1u32 << doublings)
            .min(self.cap)
            .max(retry_after.unwrap_or_default());
        let at = now.plus_millis(millis(backoff));
        (at <= queued_at.plus_millis(millis(self.deadline))).then_some(at)
    }
}

/// When a channel is paused.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerPolicy {
    /// Consecutive transient failures of one channel that pause it.
    pub failures: u32,
    /// The first pause; doubled for each pause that ends in another failure.
    pub pause: Duration,
    pub max_pause: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failures: 20,
            pause: Duration::from_secs(30),
            max_pause: Duration::from_secs(600),
        }
    }
}

/// Per-channel failure counts and pauses. A success closes the breaker.
#[derive(Debug, Default)]
pub struct CircuitBreaker {
    policy: BreakerPolicy,
    channels: Mutex<HashMap<String, ChannelHealth>>,
}

#[derive(Debug, Default, Clone)]
struct ChannelHealth {
    consecutive_failures: u32,
    /// Pauses in a row without a success between them.
    pauses: u32,
    paused_until: Option<Timestamp>,
}

impl CircuitBreaker {
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            channels: Mutex::default(),
        }
    }

    /// Until when `channel` is paused at `now`, if it is.
    pub fn paused_until(&self, channel: &str, now: Timestamp) -> Option<Timestamp> {
        let channels = self.lock();
        channels
            .get(channel)
            .and_then(|h| h.paused_until)
            .filter(|until| *until > now)
    }

    /// A message went out on `channel`: it is healthy again.
    pub fn record_success(&self, channel: &str) {
        if let Some(health) = self.lock().get_mut(channel) {
            *health = ChannelHealth::default();
        }
    }

    /// A transient failure on `channel` at `now`; returns the end of the pause it started, if
    /// this failure opened the breaker.
    pub fn record_failure(&self, channel: &str, now: Timestamp) -> Option<Timestamp> {
        let mut channels = self.lock();
        let health = channels.entry(channel.to_string()).or_default();
        health.consecutive_failures += 1;
        if health.consecutive_failures < self.policy.failures {
            return None;
        }
        let pause = self
            .policy
            .pause
            .saturating_mul(1u32 << health.pauses.min(20))
            .min(self.policy.max_pause);
        health.pauses += 1;
        health.consecutive_failures = 0;
        let until = now.plus_millis(millis(pause));
        health.paused_until = Some(until);
        Some(until)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ChannelHealth>> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_millis(seconds * 1000)
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_stops_at_the_deadline() {
        let policy = RetryPolicy {
            first: Duration::from_secs(10),
            cap: Duration::from_secs(60),
            deadline: Duration::from_secs(300),
        };
        let queued = at(0);
        assert_eq!(policy.next_attempt(1, queued, at(0), None), Some(at(10)));
        assert_eq!(policy.next_attempt(2, queued, at(10), None), Some(at(30)));
        assert_eq!(policy.next_attempt(3, queued, at(30), None), Some(at(70)));
        assert_eq!(policy.next_attempt(4, queued, at(70), None), Some(at(130)));
        assert_eq!(policy.next_attempt(9, queued, at(200), None), Some(at(260)));
        assert_eq!(policy.next_attempt(10, queued, at(260), None), None);
    }

    #[test]
    fn a_longer_retry_after_wins() {
        let policy = RetryPolicy::default();
        let later = policy.next_attempt(1, at(0), at(0), Some(Duration::from_secs(120)));
        assert_eq!(later, Some(at(120)));
        let shorter = policy.next_attempt(1, at(0), at(0), Some(Duration::from_secs(1)));
        assert_eq!(shorter, Some(at(10)));
    }

    #[test]
    fn the_breaker_opens_after_consecutive_failures_and_a_success_closes_it() {
        let breaker = CircuitBreaker::new(BreakerPolicy {
            failures: 3,
            pause: Duration::from_secs(30),
            max_pause: Duration::from_secs(100),
        });
        assert_eq!(breaker.record_failure("sms", at(0)), None);
        assert_eq!(breaker.record_failure("sms", at(1)), None);
        assert_eq!(breaker.record_failure("sms", at(2)), Some(at(32)));
        assert_eq!(breaker.paused_until("sms", at(10)), Some(at(32)));
        assert_eq!(breaker.paused_until("email", at(10)), None);
        assert_eq!(breaker.paused_until("sms", at(32)), None);
        for s in 33..35 {
            assert_eq!(breaker.record_failure("sms", at(s)), None);
        }
        // The second pause in a row is twice as long; the third is capped.
        assert_eq!(breaker.record_failure("sms", at(35)), Some(at(95)));
        for s in 96..98 {
            breaker.record_failure("sms", at(s));
        }
        assert_eq!(breaker.record_failure("sms", at(98)), Some(at(198)));
        breaker.record_success("sms");
        assert_eq!(breaker.paused_until("sms", at(99)), None);
        assert_eq!(breaker.record_failure("sms", at(100)), None);
    }
}
