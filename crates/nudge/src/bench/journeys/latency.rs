//! Phase 4: event-to-send latency of a journey with no delay. `Sign-in Code Requested`
//! events go to the writer at `--rate` per second for `--seconds`, a small submission every
//! 5 ms; each is timed from the writer's acknowledgement to its email being visible in the
//! outbox (the code in the body says which event it answers). Then, with nothing else
//! submitted, one event at a time every 50 ms for 5 s: the floor.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use nudge_ingest::{Accepted, Outcome, Pending};

use super::definitions::{code_of, CODE_JOURNEY};
use super::outbox::watch;
use super::people::Cohort;
use super::Rig;
use crate::bench::segments::usage::thread_cpu;
use crate::bench::summary::Summary;

/// How often the pacer submits: every tick carries the events due since the last one.
const TICK: Duration = Duration::from_millis(5);
/// How often the outbox is polled under load, and when idle.
const POLL: Duration = Duration::from_millis(1);
const IDLE_POLL: Duration = Duration::from_micros(100);
/// A send not visible this long after the last submission counts as missing.
const TIMEOUT: Duration = Duration::from_secs(60);
const IDLE_EVERY: Duration = Duration::from_millis(50);
const IDLE_FOR: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct LatencyReport {
    pub rate: u64,
    pub seconds: f64,
    pub events: u64,
    pub acknowledged_per_second: f64,
    /// From the writer's acknowledgement to the send being visible, under the rate.
    pub latency: Summary,
    pub missing: u64,
    pub processor_us_per_event: f64,
    pub writer_us_per_event: f64,
    /// One event at a time.
    pub idle: Summary,
    pub idle_missing: u64,
}

/// One submission: its first code, how many events, and when the writer answered.
type Acknowledged = (u64, u64, Instant);

pub(super) fn run(
    rig: &Rig,
    people: u64,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<LatencyReport> {
    let duration = Duration::from_secs(seconds);
    let processor_before = thread_cpu("nudge-processor");
    let writer_before = thread_cpu("nudge-writer");
    let sent = AtomicU64::new(0);
    let paced = AtomicBool::new(false);
    let (acks, answers) = mpsc::channel::<(u64, u64, Pending)>();
    let started = Instant::now();
    let (acknowledged, seen) = std::thread::scope(|scope| -> anyhow::Result<_> {
        let acknowledger = scope.spawn(move || acknowledge(answers));
        let watcher = scope.spawn(|| -> anyhow::Result<HashMap<u64, Instant>> {
            let mut seen = HashMap::new();
            let count = Cell::new(0u64);
            watch(
                rig,
                POLL,
                started + duration + TIMEOUT,
                |message, at| {
                    if message.journey == CODE_JOURNEY {
                        if let Some(code) = code_of(&message.body) {
                            seen.entry(code).or_insert(at.instant);
                            count.set(seen.len() as u64);
                        }
                    }
                },
                || paced.load(Ordering::SeqCst) && count.get() >= sent.load(Ordering::SeqCst),
            )?;
            Ok(seen)
        });
        let pacing = submit_paced(rig, people, rate, duration, &sent, acks);
        paced.store(true, Ordering::SeqCst);
        let acknowledged = acknowledger.join().expect("the acknowledger panicked");
        let seen = watcher.join().expect("the watcher panicked");
        pacing?;
        Ok((acknowledged?, seen?))
    })?;
    let processor = thread_cpu("nudge-processor").saturating_sub(processor_before);
    let writer = thread_cpu("nudge-writer").saturating_sub(writer_before);
    let events = sent.load(Ordering::SeqCst);
    let last_answer = acknowledged.last().map_or(started, |a| a.2);
    let (samples, missing) = latencies(&acknowledged, &seen);
    let (idle, idle_missing) = idle(rig, people, events)?;
    let micros = |cpu: Duration| cpu.as_secs_f64() * 1e6 / events.max(1) as f64;
    Ok(LatencyReport {
        rate,
        seconds: duration.as_secs_f64(),
        events,
        acknowledged_per_second: events as f64
            / last_answer
                .duration_since(started)
                .as_secs_f64()
                .max(duration.as_secs_f64()),
        latency: Summary::of(samples),
        missing,
        processor_us_per_event: micros(processor),
        writer_us_per_event: micros(writer),
        idle: Summary::of(idle),
        idle_missing,
    })
}

/// Milliseconds from acknowledgement to visibility of every event seen, and how many were
/// never seen. A send seen before the acknowledgement reached this process counts as 0.
fn latencies(acknowledged: &[Acknowledged], seen: &HashMap<u64, Instant>) -> (Vec<f64>, u64) {
    let (mut samples, mut missing) = (Vec::new(), 0);
    for &(first, count, answered) in acknowledged {
        for code in first..first + count {
            match seen.get(&code) {
                Some(at) => {
                    samples.push(at.saturating_duration_since(answered).as_secs_f64() * 1000.0)
                }
                None => missing += 1,
            }
        }
    }
    (samples, missing)
}

/// Submits code requests at `rate` for `duration`, a submission every tick, without waiting
/// for answers (the acknowledger does); counts them in `sent`.
fn submit_paced(
    rig: &Rig,
    people: u64,
    rate: u64,
    duration: Duration,
    sent: &AtomicU64,
    acks: mpsc::Sender<(u64, u64, Pending)>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut next_tick = started;
    let mut submitted = 0u64;
    while started.elapsed() < duration {
        let due = (u128::from(rate) * started.elapsed().as_micros() / 1_000_000) as u64;
        if due > submitted {
            let batch = (submitted..due)
                .map(|code| request(code, people).map(Accepted::from))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let pending = rig.ingestor.enqueue_blocking(rig.ws, "track_v1", batch)?;
            acks.send((submitted, due - submitted, pending))
                .context("the acknowledger stopped")?;
            submitted = due;
            sent.store(submitted, Ordering::SeqCst);
        }
        next_tick += TICK;
        std::thread::sleep(next_tick.saturating_duration_since(Instant::now()));
    }
    Ok(())
}

/// The request carrying `code`: people take turns.
fn request(code: u64, people: u64) -> anyhow::Result<nudge_core::Operation> {
    Cohort::Pending.code_request(code % people.max(1), code)
}

/// Waits for every submission's answer, in order; when each came.
fn acknowledge(answers: mpsc::Receiver<(u64, u64, Pending)>) -> anyhow::Result<Vec<Acknowledged>> {
    let mut acknowledged = Vec::new();
    for (first, count, pending) in answers {
        let outcomes = pending.wait().context("the writer refused a submission")?;
        let answered = Instant::now();
        if let Some(bad) = outcomes.iter().find(|o| !matches!(o, Outcome::Applied)) {
            anyhow::bail!("a code request was not applied: {bad:?}");
        }
        acknowledged.push((first, count, answered));
    }
    Ok(acknowledged)
}

/// One request at a time every [`IDLE_EVERY`] for [`IDLE_FOR`], codes from `first_code` on:
/// the latencies, and how many never showed.
fn idle(rig: &Rig, people: u64, first_code: u64) -> anyhow::Result<(Vec<f64>, u64)> {
    let (mut samples, mut missing) = (Vec::new(), 0);
    let started = Instant::now();
    let mut code = first_code;
    while started.elapsed() < IDLE_FOR {
        let round = Instant::now();
        rig.ingestor
            .enqueue_blocking(rig.ws, "track_v1", vec![request(code, people)?.into()])?
            .wait()
            .context("the writer refused a code request")?;
        let answered = Instant::now();
        let found = Cell::new(None);
        watch(
            rig,
            IDLE_POLL,
            answered + TIMEOUT,
            |message, at| {
                if message.journey == CODE_JOURNEY && code_of(&message.body) == Some(code) {
                    found.set(Some(at.instant));
                }
            },
            || found.get().is_some(),
        )?;
        match found.get() {
            Some(at) => samples.push(at.saturating_duration_since(answered).as_secs_f64() * 1000.0),
            None => missing += 1,
        }
        code += 1;
        std::thread::sleep((round + IDLE_EVERY).saturating_duration_since(Instant::now()));
    }
    Ok((samples, missing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_is_timed_from_its_own_submissions_answer() {
        let base = Instant::now();
        let at = |ms: u64| base + Duration::from_millis(ms);
        // Codes 0–2 answered at 0 ms, codes 3–4 at 10 ms.
        let acknowledged = [(0, 3, at(0)), (3, 2, at(10))];
        let seen = HashMap::from([(0, at(5)), (1, at(1)), (3, at(30)), (4, at(8))]);
        let (samples, missing) = latencies(&acknowledged, &seen);
        let rounded: Vec<u64> = samples.iter().map(|ms| ms.round() as u64).collect();
        // Code 2 never showed; code 4 showed before its answer arrived.
        assert_eq!(rounded, [5, 1, 20, 0]);
        assert_eq!(missing, 1);
    }
}
