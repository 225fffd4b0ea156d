//! Phase 3: event-triggered journeys at full speed. `Added to Cart` events (every cart
//! changes twice, so half the events restart a live instance) for the people who hold the
//! pending reminders go to the writer as fast as it takes them for `--seconds`, held back only
//! while more than [`MAX_BACKLOG`] entries wait for the processor, so the processor always has
//! a full backlog and the phase ends with little left to catch up. Measures the rate the
//! processor gets through them (its processed offset over time) and the processor's CPU per
//! event against the writer's.

use std::time::{Duration, Instant};

use super::definitions::CART_JOURNEY;
use super::people::Cohort;
use super::submit::Submitter;
use super::Rig;
use crate::bench::segments::usage::thread_cpu;

/// Events per submission and submissions queued: up to 4,096 events per commit, as many
/// concurrent API requests would give the group commit.
const SUBMISSION: usize = 256;
const IN_FLIGHT: usize = 16;
/// Log entries allowed to wait for the processor before the submitter holds back.
const MAX_BACKLOG: u64 = 20_000;
/// How long the submitter waits before looking at the backlog again when it is full.
const HOLD: Duration = Duration::from_millis(20);
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct ThroughputReport {
    pub seconds: f64,
    pub events: u64,
    pub acknowledged_per_second: f64,
    /// Log entries the processor got through during the submission window, per second.
    pub processed_per_second: f64,
    pub max_lag_entries: u64,
    /// Log entries processed in each second of the window.
    pub processed_each_second: Vec<u64>,
    /// From the end of the window to the processor reaching the head of the log.
    pub catch_up_ms: Option<f64>,
    pub processor_us_per_event: f64,
    pub writer_us_per_event: f64,
    pub processor_vs_writer: f64,
    /// Active cart-reminder instances at the end (one per cart).
    pub waiting_carts: u64,
}

pub(super) fn run(rig: &Rig, people: u64, seconds: u64) -> anyhow::Result<ThroughputReport> {
    let window = Duration::from_secs(seconds);
    let processor_before = thread_cpu("nudge-processor");
    let writer_before = thread_cpu("nudge-writer");
    let processed_before = rig.store.processed_offset(rig.ws)?;
    let started = Instant::now();
    let mut submitter = Submitter::new(rig, SUBMISSION, IN_FLIGHT);
    let (mut next, mut max_lag) = (0u64, 0u64);
    let (mut each_second, mut counted) = (Vec::new(), processed_before);
    while started.elapsed() < window {
        if started.elapsed() >= Duration::from_secs(each_second.len() as u64 + 1) {
            let processed = rig.store.processed_offset(rig.ws)?;
            each_second.push((processed - counted).max(0) as u64);
            counted = processed;
        }
        let lag = rig.lag()?;
        max_lag = max_lag.max(lag);
        if lag > MAX_BACKLOG {
            std::thread::sleep(HOLD);
            continue;
        }
        for _ in 0..SUBMISSION {
            let cart = next / 2;
            submitter.push(Cohort::Pending.cart_change(shopper(cart, people), cart)?)?;
            next += 1;
        }
    }
    let processed = rig.store.processed_offset(rig.ws)? - processed_before;
    let elapsed = started.elapsed().as_secs_f64();
    let events = submitter.finish()?;
    let acknowledged = started.elapsed().as_secs_f64();
    let ended = Instant::now();
    let catch_up = rig
        .wait_caught_up(CATCH_UP_TIMEOUT)?
        .map(|_| ended.elapsed().as_secs_f64() * 1000.0);
    let processor = thread_cpu("nudge-processor").saturating_sub(processor_before);
    let writer = thread_cpu("nudge-writer").saturating_sub(writer_before);
    let micros = |cpu: Duration| cpu.as_secs_f64() * 1e6 / events.max(1) as f64;
    Ok(ThroughputReport {
        seconds: elapsed,
        events,
        acknowledged_per_second: events as f64 / acknowledged,
        processed_per_second: processed as f64 / elapsed,
        max_lag_entries: max_lag,
        processed_each_second: each_second,
        catch_up_ms: catch_up,
        processor_us_per_event: micros(processor),
        writer_us_per_event: micros(writer),
        processor_vs_writer: processor.as_secs_f64() / writer.as_secs_f64().max(1e-9),
        waiting_carts: rig.waiting(CART_JOURNEY)?,
    })
}

/// Who owns cart `cart`: the carts are scattered over the people.
fn shopper(cart: u64, people: u64) -> u64 {
    cart.wrapping_mul(2_654_435_761) % people.max(1)
}
