//! Phase 1: filling a fresh store through the real group-commit writer, as a bulk import
//! would — large submissions, several in flight — with people first, then their history of
//! events. No definitions exist yet, so nothing is evaluated while loading.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::Context;
use nudge_core::{Operation, Timestamp};
use nudge_ingest::{Accepted, Outcome, Pending};

use super::data::{self, Rng};
use super::definitions::PROBE_ATTRIBUTE;
use super::usage::{bytes_written, thread_cpu};
use super::Rig;

/// Operations per submission: half the writer's largest group commit, so two submissions
/// fill one commit.
const SUBMISSION: usize = 2048;
/// Submissions queued at once, so the writer always finds the next commit's worth waiting.
const IN_FLIGHT: usize = 8;
const SEED: u64 = 0x5e67_e475;
/// Progress is printed every this many events.
const PROGRESS_EVERY: u64 = 1_000_000;

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct LoadReport {
    pub people: u64,
    pub events: u64,
    pub people_seconds: f64,
    pub events_seconds: f64,
    pub people_per_second: f64,
    pub events_per_second: f64,
    /// The writer thread's CPU time per operation: with other work on the machine, wall
    /// time alone overstates the cost.
    pub writer_us_per_person: f64,
    pub writer_us_per_event: f64,
    /// Bytes written to the database files (WAL and checkpoints) per event; SQLite only
    /// (PostgreSQL writes from its own processes).
    pub written_kib_per_event: f64,
}

/// Submissions on their way through the writer, answered in the order they were queued.
struct Submitter<'r> {
    rig: &'r Rig,
    batch: Vec<Accepted>,
    pending: VecDeque<Pending>,
}

impl Submitter<'_> {
    fn push(&mut self, operation: Operation) -> anyhow::Result<()> {
        self.batch.push(Accepted::from(operation));
        if self.batch.len() >= SUBMISSION {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            let pending = self
                .rig
                .ingestor
                .enqueue_blocking(self.rig.ws, "import", batch)?;
            self.pending.push_back(pending);
        }
        while self.pending.len() >= IN_FLIGHT {
            self.settle_one()?;
        }
        Ok(())
    }

    fn settle_one(&mut self) -> anyhow::Result<()> {
        if let Some(pending) = self.pending.pop_front() {
            let outcomes = pending.wait().context("the writer refused a submission")?;
            if let Some(bad) = outcomes.iter().find(|o| !matches!(o, Outcome::Applied)) {
                anyhow::bail!("an operation was not applied: {bad:?}");
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.flush()?;
        while !self.pending.is_empty() {
            self.settle_one()?;
        }
        Ok(())
    }
}

/// Loads `people` people (and the latency probe) and `events` events dated over the 180 days
/// before `now`.
pub(super) fn run(
    rig: &Rig,
    people: u64,
    events: u64,
    now: Timestamp,
) -> anyhow::Result<LoadReport> {
    let mut rng = Rng::new(SEED);
    let mut submitter = Submitter {
        rig,
        batch: Vec::with_capacity(SUBMISSION),
        pending: VecDeque::new(),
    };
    let writer_before = thread_cpu("nudge-writer");
    let started = Instant::now();
    for n in 0..people {
        submitter.push(data::identify(&mut rng, n, now))?;
    }
    submitter.push(probe_identify(false))?;
    submitter.finish()?;
    let people_seconds = started.elapsed().as_secs_f64();
    let writer_people = thread_cpu("nudge-writer").saturating_sub(writer_before);
    eprintln!("loaded {people} people in {people_seconds:.1} s");

    let (started, written) = (Instant::now(), bytes_written());
    for n in 0..events {
        let person = data::person_id(data::event_person(&mut rng, people.max(1)));
        let event = data::past_event(&mut rng, n, now);
        submitter.push(Operation::Track { person, event })?;
        if (n + 1) % PROGRESS_EVERY == 0 {
            eprintln!(
                "loaded {} events in {:.1} s",
                n + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    submitter.finish()?;
    let events_seconds = started.elapsed().as_secs_f64();
    let written = bytes_written().saturating_sub(written);
    let writer_events = thread_cpu("nudge-writer").saturating_sub(writer_before + writer_people);
    let micros = |cpu: Duration, n: u64| cpu.as_secs_f64() * 1e6 / n.max(1) as f64;
    Ok(LoadReport {
        people,
        events,
        people_seconds,
        events_seconds,
        people_per_second: people as f64 / people_seconds,
        events_per_second: events as f64 / events_seconds,
        writer_us_per_person: micros(writer_people, people + 1),
        writer_us_per_event: micros(writer_events, events),
        written_kib_per_event: written as f64 / 1024.0 / events.max(1) as f64,
    })
}

/// The latency probe's identify, setting the attribute its segment reads.
pub(super) fn probe_identify(value: bool) -> Operation {
    let mut attributes = nudge_core::JsonMap::new();
    attributes.insert(PROBE_ATTRIBUTE.into(), value.into());
    Operation::Identify {
        person: probe_id(),
        attributes,
        update_only: false,
        timestamp: None,
    }
}

pub(super) fn probe_id() -> nudge_core::Identifier {
    nudge_core::Identifier::new(nudge_core::IdentifierKind::Id, "latency-probe")
        .expect("a valid id")
}
