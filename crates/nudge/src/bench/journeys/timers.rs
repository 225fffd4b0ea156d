//! Phase 2: journey timers on the real clock with a million instances waiting. For a window
//! of `--seconds`, every reminder due in it is timed from its due second to its send being
//! visible in the outbox (the processor wakes it, renders the email and commits the message
//! in one transaction). Then a burst: extra people whose reminders are all due in the same
//! second, and how long until the last of them has gone out.

use std::cell::Cell;
use std::time::{Duration, Instant};

use nudge_core::Timestamp;

use super::definitions::REMINDER_JOURNEY;
use super::outbox::watch;
use super::people::{Cohort, Day};
use super::submit::Submitter;
use super::Rig;
use crate::bench::segments::usage::thread_cpu;
use crate::bench::summary::Summary;

/// How often the outbox is polled: the resolution of every lateness measured here.
const POLL: Duration = Duration::from_millis(1);
/// How long after its window a timer due in it may still fire to be counted.
const GRACE: Duration = Duration::from_secs(60);
/// How long after its due second the burst may take.
const BURST_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the processor may take to reach the head of the log before a measurement.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(600);
const SUBMISSION: usize = 2048;
const IN_FLIGHT: usize = 8;

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct TimersReport {
    pub window_seconds: u64,
    /// Active reminder instances when the window opened.
    pub pending_at_start: u64,
    pub due_in_window: u64,
    pub fired: u64,
    /// From the due second to the send being visible, for each timer due in the window.
    pub lateness: Summary,
    /// The processor thread's CPU time over the window, per timer fired.
    pub processor_us_per_timer: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct BurstReport {
    pub instances: u64,
    pub due_at: String,
    /// How long before the due second the last burst instance had been started (negative:
    /// after it, and the burst started late).
    pub ready_before_due_seconds: f64,
    pub fired: u64,
    /// From the due second to the last burst send being visible.
    pub last_fired_after_due_ms: f64,
    pub lateness: Summary,
}

/// Times every reminder due in the next `seconds` seconds.
pub(super) fn window(
    rig: &Rig,
    people: u64,
    day: Day,
    seconds: u64,
) -> anyhow::Result<TimersReport> {
    rig.wait_caught_up(CATCH_UP_TIMEOUT)?;
    let pending_at_start = rig.waiting(REMINDER_JOURNEY)?;
    let opened = Instant::now();
    let start = rig.clock.now();
    let end = start.plus_millis(seconds as i64 * 1000);
    let in_window = |due_ms: i64| (start.millis()..end.millis()).contains(&due_ms);
    let due_in_window = (0..people)
        .filter(|&n| in_window(day.due_seconds(n) * 1000))
        .count() as u64;
    let processor_before = thread_cpu("nudge-processor");
    let fired = Cell::new(0u64);
    let mut lateness = Vec::new();
    watch(
        rig,
        POLL,
        opened + Duration::from_secs(seconds) + GRACE,
        |message, seen| {
            if message.journey != REMINDER_JOURNEY {
                return;
            }
            let Some(n) = Cohort::Pending.number_of(&message.recipient) else {
                return;
            };
            let due_ms = day.due_seconds(n) * 1000;
            if in_window(due_ms) {
                fired.set(fired.get() + 1);
                lateness.push((seen.at.millis() - due_ms) as f64);
            }
        },
        || rig.clock.now() >= end && fired.get() >= due_in_window,
    )?;
    let processor = thread_cpu("nudge-processor").saturating_sub(processor_before);
    Ok(TimersReport {
        window_seconds: seconds,
        pending_at_start,
        due_in_window,
        fired: fired.get(),
        lateness: Summary::of(lateness),
        processor_us_per_timer: processor.as_secs_f64() * 1e6 / fired.get().max(1) as f64,
    })
}

/// Creates `count` people whose reminders are all due in the first whole second at least
/// `lead` from now, and times them.
pub(super) fn burst(rig: &Rig, count: u64, lead: Duration) -> anyhow::Result<BurstReport> {
    let due_seconds = rig
        .clock
        .now()
        .plus_millis(lead.as_millis() as i64)
        .millis()
        .div_euclid(1000)
        + 1;
    let due_ms = due_seconds * 1000;
    let mut submitter = Submitter::new(rig, SUBMISSION, IN_FLIGHT);
    for n in 0..count {
        submitter.push(Cohort::Burst.identify(n)?)?;
        submitter.push(Cohort::Burst.booking(n, due_seconds)?)?;
    }
    submitter.finish()?;
    rig.wait_caught_up(CATCH_UP_TIMEOUT)?;
    let ready_before_due_seconds = (due_ms - rig.clock.now().millis()) as f64 / 1000.0;
    let waited_until = Instant::now()
        + Duration::from_millis((due_ms - rig.clock.now().millis()).max(0) as u64)
        + BURST_TIMEOUT;
    let fired = Cell::new(0u64);
    let (mut lateness, mut last_ms) = (Vec::new(), 0i64);
    watch(
        rig,
        POLL,
        waited_until,
        |message, seen| {
            let ours = message.journey == REMINDER_JOURNEY
                && Cohort::Burst.number_of(&message.recipient).is_some();
            if ours {
                fired.set(fired.get() + 1);
                lateness.push((seen.at.millis() - due_ms) as f64);
                last_ms = last_ms.max(seen.at.millis() - due_ms);
            }
        },
        || fired.get() >= count,
    )?;
    Ok(BurstReport {
        instances: count,
        due_at: Timestamp::from_millis(due_ms).to_rfc3339(),
        ready_before_due_seconds,
        fired: fired.get(),
        last_fired_after_due_ms: last_ms as f64,
        lateness: Summary::of(lateness),
    })
}
