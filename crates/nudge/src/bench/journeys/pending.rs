//! Phase 1: a million waiting instances, made the way production makes them. People are
//! identified through the writer, then each books an appointment: the event goes through the
//! writer, and the processor thread starts the reminder journey for it, which waits until the
//! booking's `due_at`, a second of the next 24 hours. Measures the rate of each stage and the
//! writer's and the processor's CPU per operation.

use std::time::{Duration, Instant};

use super::definitions::REMINDER_JOURNEY;
use super::people::{Cohort, Day};
use super::submit::Submitter;
use super::Rig;
use crate::bench::segments::usage::thread_cpu;

/// Operations per submission (two fill one of the writer's largest commits) and how many
/// are queued at once: a bulk load, as `nudge import` submits.
const SUBMISSION: usize = 2048;
const IN_FLIGHT: usize = 8;
/// Progress is printed every this many operations.
const PROGRESS_EVERY: u64 = 100_000;
/// How long the processor may take to start the last instances once the writer is done.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct PendingReport {
    pub people: u64,
    pub people_seconds: f64,
    pub people_per_second: f64,
    pub writer_us_per_person: f64,
    /// From the first booking submitted to the processor having started the last instance.
    pub instances_seconds: f64,
    pub instances_per_second: f64,
    /// Bookings over the time the writer took to acknowledge them all.
    pub bookings_acknowledged_per_second: f64,
    pub writer_us_per_booking: f64,
    pub processor_us_per_instance: f64,
    /// Active instances of the reminder journey once all were started (those due while
    /// the phase ran have fired already).
    pub waiting: u64,
}

/// Creates `people` people and a reminder for each, due over `day`.
pub(super) fn run(rig: &Rig, people: u64, day: Day) -> anyhow::Result<PendingReport> {
    let writer_before = thread_cpu("nudge-writer");
    let started = Instant::now();
    let mut submitter = Submitter::new(rig, SUBMISSION, IN_FLIGHT);
    for n in 0..people {
        submitter.push(Cohort::Pending.identify(n)?)?;
        progress("people", n, started);
    }
    submitter.finish()?;
    let people_seconds = started.elapsed().as_secs_f64();
    let writer_people = thread_cpu("nudge-writer").saturating_sub(writer_before);
    // The processor reads past the identifies before the bookings start, so its CPU below
    // is the bookings' alone.
    rig.wait_caught_up(CATCH_UP_TIMEOUT)?;

    let writer_before = thread_cpu("nudge-writer");
    let processor_before = thread_cpu("nudge-processor");
    let started = Instant::now();
    let mut submitter = Submitter::new(rig, SUBMISSION, IN_FLIGHT);
    for n in 0..people {
        submitter.push(Cohort::Pending.booking(n, day.due_seconds(n))?)?;
        progress("bookings", n, started);
    }
    submitter.finish()?;
    let acknowledged_seconds = started.elapsed().as_secs_f64();
    let writer_bookings = thread_cpu("nudge-writer").saturating_sub(writer_before);
    if rig.wait_caught_up(CATCH_UP_TIMEOUT)?.is_none() {
        anyhow::bail!("the processor had not started every instance after an hour");
    }
    let instances_seconds = started.elapsed().as_secs_f64();
    let processor = thread_cpu("nudge-processor").saturating_sub(processor_before);
    let waiting = rig.waiting(REMINDER_JOURNEY)?;
    let micros = |cpu: Duration| cpu.as_secs_f64() * 1e6 / people.max(1) as f64;
    Ok(PendingReport {
        people,
        people_seconds,
        people_per_second: people as f64 / people_seconds,
        writer_us_per_person: micros(writer_people),
        instances_seconds,
        instances_per_second: people as f64 / instances_seconds,
        bookings_acknowledged_per_second: people as f64 / acknowledged_seconds,
        writer_us_per_booking: micros(writer_bookings),
        processor_us_per_instance: micros(processor),
        waiting,
    })
}

fn progress(what: &str, n: u64, started: Instant) {
    if (n + 1).is_multiple_of(PROGRESS_EVERY) {
        eprintln!(
            "  {} {what} submitted in {:.1} s",
            n + 1,
            started.elapsed().as_secs_f64()
        );
    }
}
