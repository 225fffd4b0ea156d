//! Phases 3 and 4: the processor on its own thread, woken by the writer's commits, while a
//! pacer submits events at a sustained rate (moving the virtual clock in step with real time)
//! and a probe toggles an attribute its own segment reads. Measures the processor's CPU per
//! event against the writer's, how far it fell behind, and the time from the writer's
//! acknowledgement of each toggle to its transition being visible in the store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use nudge_core::{Operation, Timestamp};
use nudge_ingest::{Accepted, Outcome, Pending};

use super::data::{self, Rng};
use super::load::{probe_id, probe_identify};
use super::usage::thread_cpu;
use super::Rig;

/// How often the pacer submits: every tick carries the events due since the last one.
const TICK: Duration = Duration::from_millis(5);
/// How often the probe toggles its attribute.
const PROBE_EVERY: Duration = Duration::from_millis(50);
/// How often the processed offset is compared with the log head.
const LAG_EVERY: Duration = Duration::from_millis(100);
/// A toggle whose transition takes longer than this is counted as missing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the processor to reach the log head once the pacer stopped.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the probe runs alone once the processor has caught up (the latency floor).
const IDLE_PROBE: Duration = Duration::from_secs(5);
const SEED: u64 = 0x11fe_5e9e;

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct LiveReport {
    pub seconds: f64,
    pub events: u64,
    pub events_per_second: f64,
    /// Events over the time from the first submission to the last answer: below
    /// `events_per_second` when the writer could not keep up.
    pub acknowledged_per_second: f64,
    pub probe_toggles: u64,
    pub errors: u64,
    pub processor_cpu_seconds: f64,
    pub writer_cpu_seconds: f64,
    pub processor_us_per_event: f64,
    pub writer_us_per_event: f64,
    pub processor_vs_writer: f64,
    /// The most log entries seen waiting for the processor at one sample.
    pub max_lag_entries: u64,
    /// From the pacer's last submission to the processed offset reaching the log head
    /// (`None`: not within ten minutes).
    pub catch_up_ms: Option<f64>,
    /// Caught up within a second of the last submission.
    pub kept_up: bool,
    /// Under the sustained rate.
    pub latency: LatencyReport,
    /// The probe alone, once the processor has caught up.
    pub idle_latency: LatencyReport,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct LatencyReport {
    pub samples: u64,
    pub timeouts: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// What the run is asked to do.
pub(super) struct Pace {
    pub people: u64,
    pub rate: u64,
    pub duration: Duration,
    /// The virtual time the phase starts at.
    pub start_at: Timestamp,
    /// Numbers events after those already loaded, so order ids stay unique.
    pub first_event: u64,
    pub probe_segment: i64,
}

pub(super) fn run(rig: &Rig, pace: &Pace) -> anyhow::Result<LiveReport> {
    let processor_before = thread_cpu("nudge-processor");
    let writer_before = thread_cpu("nudge-writer");
    let stop_probe = AtomicBool::new(false);
    let paced_done = AtomicBool::new(false);
    let (acks, answers) = mpsc::channel::<Pending>();
    let started = Instant::now();
    let result = std::thread::scope(|scope| -> anyhow::Result<LiveReport> {
        let acknowledger = scope.spawn(move || acknowledge(answers));
        let prober = scope.spawn(|| probe(rig, pace.probe_segment, &stop_probe, None));
        let pacer = scope.spawn(|| {
            let sent = submit_paced(rig, pace, acks);
            paced_done.store(true, Ordering::SeqCst);
            sent
        });
        let mut max_lag_entries = 0;
        while !paced_done.load(Ordering::SeqCst) {
            std::thread::sleep(LAG_EVERY);
            // A failed sample is skipped: returning here would leave the probe running.
            if let Ok(entries) = lag(rig) {
                max_lag_entries = max_lag_entries.max(entries);
            }
        }
        let paced = pacer.join().expect("the pacer panicked");
        let ended = Instant::now();
        let seconds = started.elapsed().as_secs_f64();
        stop_probe.store(true, Ordering::SeqCst);
        let probed = prober.join().expect("the probe panicked");
        let acknowledged = acknowledger.join().expect("the acknowledger panicked");
        let (events, (errors, last_answer)) = (paced?, acknowledged?);
        let (histogram, probe_toggles, timeouts) = probed?;
        let mut catch_up = None;
        while ended.elapsed() < CATCH_UP_TIMEOUT {
            if lag(rig)? == 0 {
                catch_up = Some(ended.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let processor = thread_cpu("nudge-processor").saturating_sub(processor_before);
        let writer = thread_cpu("nudge-writer").saturating_sub(writer_before);
        let idle = match catch_up {
            Some(_) => {
                let stop = AtomicBool::new(false);
                let (h, _, t) = probe(
                    rig,
                    pace.probe_segment,
                    &stop,
                    Some(Instant::now() + IDLE_PROBE),
                )?;
                latency(&h, t)
            }
            None => latency(&Histogram::new(3)?, 0),
        };
        let operations = (events + probe_toggles).max(1) as f64;
        let micros = |d: Duration| d.as_secs_f64() * 1e6 / operations;
        Ok(LiveReport {
            seconds,
            events,
            events_per_second: events as f64 / seconds,
            acknowledged_per_second: events as f64
                / last_answer
                    .duration_since(started)
                    .as_secs_f64()
                    .max(seconds),
            probe_toggles,
            errors,
            processor_cpu_seconds: processor.as_secs_f64(),
            writer_cpu_seconds: writer.as_secs_f64(),
            processor_us_per_event: micros(processor),
            writer_us_per_event: micros(writer),
            processor_vs_writer: processor.as_secs_f64() / writer.as_secs_f64().max(1e-9),
            max_lag_entries,
            catch_up_ms: catch_up.map(|d| d.as_secs_f64() * 1000.0),
            kept_up: catch_up.is_some_and(|d| d <= Duration::from_secs(1)),
            latency: latency(&histogram, timeouts),
            idle_latency: idle,
        })
    });
    result
}

fn latency(histogram: &Histogram<u64>, timeouts: u64) -> LatencyReport {
    let ms = |micros: u64| micros as f64 / 1000.0;
    LatencyReport {
        samples: histogram.len(),
        timeouts,
        p50_ms: ms(histogram.value_at_quantile(0.50)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        max_ms: ms(histogram.max()),
    }
}

/// Log entries the processor has not reached yet.
fn lag(rig: &Rig) -> anyhow::Result<u64> {
    let processed = rig.store.processed_offset(rig.ws)?;
    Ok(rig.store.log_extent(rig.ws, processed)?.entries)
}

/// Submits events for random people at `pace.rate` for `pace.duration`, a small submission
/// every tick, without waiting for the answers (the acknowledger does); returns how many.
fn submit_paced(rig: &Rig, pace: &Pace, acks: mpsc::Sender<Pending>) -> anyhow::Result<u64> {
    let mut rng = Rng::new(SEED);
    let started = Instant::now();
    let mut next_tick = started;
    let mut sent = 0u64;
    loop {
        let elapsed = started.elapsed();
        if elapsed >= pace.duration {
            return Ok(sent);
        }
        // Time-driven checks fire as they would in production: the virtual clock keeps up
        // with the real one.
        rig.clock
            .set(pace.start_at.plus_millis(elapsed.as_millis() as i64));
        let due = (u128::from(pace.rate) * elapsed.as_micros() / 1_000_000) as u64;
        if due > sent {
            let batch: Vec<Accepted> = (sent..due)
                .map(|n| {
                    let person = data::person_id(data::event_person(&mut rng, pace.people.max(1)));
                    let event = data::event(&mut rng, pace.first_event + n, None);
                    Accepted::from(Operation::Track { person, event })
                })
                .collect();
            acks.send(rig.ingestor.enqueue_blocking(rig.ws, "track_v1", batch)?)
                .context("the acknowledger stopped")?;
            sent = due;
        }
        next_tick += TICK;
        std::thread::sleep(next_tick.saturating_duration_since(Instant::now()));
    }
}

/// Waits for every submission's answer; returns how many operations were not applied, and
/// when the last answer came.
fn acknowledge(answers: mpsc::Receiver<Pending>) -> anyhow::Result<(u64, Instant)> {
    let (mut errors, mut last) = (0, Instant::now());
    for pending in answers {
        let outcomes = pending.wait().context("the writer refused a submission")?;
        errors += outcomes
            .iter()
            .filter(|o| !matches!(o, Outcome::Applied))
            .count() as u64;
        last = Instant::now();
    }
    Ok((errors, last))
}

/// Toggles the probe's attribute every [`PROBE_EVERY`] until stopped (or `until`), timing
/// each toggle from the writer's answer to its transition showing in the store; returns the
/// latencies (µs), the toggles made and those whose transition never showed.
fn probe(
    rig: &Rig,
    segment: i64,
    stop: &AtomicBool,
    until: Option<Instant>,
) -> anyhow::Result<(Histogram<u64>, u64, u64)> {
    let person = rig
        .store
        .resolve(rig.ws, &probe_id())?
        .context("the latency probe was not loaded")?;
    let newest = || -> anyhow::Result<Option<nudge_store::SegmentTransition>> {
        Ok(rig.store.segment_transitions(rig.ws, person, 1)?.pop())
    };
    // Start from where the last run of the probe left the attribute (the backfill records
    // no transition, and the load set it to false).
    let last = newest()?;
    let mut seen = last.as_ref().map_or(0, |t| t.id);
    let mut value = last.is_some_and(|t| t.entered);
    let mut histogram = Histogram::<u64>::new(3)?;
    let (mut toggles, mut timeouts) = (0u64, 0u64);
    while !stop.load(Ordering::SeqCst) && until.is_none_or(|t| Instant::now() < t) {
        let started = Instant::now();
        value = !value;
        toggles += 1;
        rig.ingestor
            .enqueue_blocking(rig.ws, "track_v1", vec![probe_identify(value).into()])?
            .wait()
            .context("the writer refused the probe")?;
        let acknowledged = Instant::now();
        loop {
            if let Some(t) = newest()?.filter(|t| t.id > seen) {
                seen = t.id;
                // Anything else is a late answer to a toggle that timed out.
                if t.segment_id == segment && t.entered == value {
                    histogram.record(acknowledged.elapsed().as_micros() as u64)?;
                    break;
                }
            }
            if acknowledged.elapsed() > PROBE_TIMEOUT {
                timeouts += 1;
                seen = newest()?.map_or(seen, |t| t.id);
                break;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
        std::thread::sleep((started + PROBE_EVERY).saturating_duration_since(Instant::now()));
    }
    Ok((histogram, toggles, timeouts))
}
