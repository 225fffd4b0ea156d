//! Phase 2: the backfill of every definition over every loaded person, driven to completion
//! with `run_until_idle`, against the same run's raw-read baseline: the same people read
//! page by page, each with their events of every name the definitions read, in the same kind
//! of transaction, with no evaluation and no writes.

use std::time::Instant;

use anyhow::Context;
use nudge_process::{Processor, ProcessorConfig};
use nudge_store::EventRead;

use super::definitions::Defined;
use super::usage::own_cpu;
use super::Rig;

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct BackfillReport {
    pub people: u64,
    pub seconds: f64,
    pub people_per_second: f64,
    /// CPU time of the thread that ran it (wall time includes waiting for the machine).
    pub cpu_seconds: f64,
    pub raw_read_seconds: f64,
    pub raw_read_cpu_seconds: f64,
    /// Events the raw read loaded (every event of the names the definitions read).
    pub raw_read_events: u64,
    pub backfill_vs_raw_read: f64,
    /// Members of each benchmark segment once the backfill completed.
    pub members: Vec<(String, u64)>,
}

/// Times the raw read, then the backfill.
pub(super) fn run(
    rig: &Rig,
    processor: &mut Processor,
    defined: &Defined,
) -> anyhow::Result<BackfillReport> {
    let page = ProcessorConfig::default().backfill_page;
    let (started, cpu) = (Instant::now(), own_cpu());
    let (people, raw_read_events) = raw_read(rig, &defined.event_reads, page)?;
    let raw_read_seconds = started.elapsed().as_secs_f64();
    let raw_read_cpu_seconds = (own_cpu().saturating_sub(cpu)).as_secs_f64();
    eprintln!(
        "raw read of {people} people and {raw_read_events} events in {raw_read_seconds:.1} s"
    );

    let (started, cpu) = (Instant::now(), own_cpu());
    processor.run_until_idle().context("backfilling")?;
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = (own_cpu().saturating_sub(cpu)).as_secs_f64();
    let incomplete = rig
        .store
        .segment_definitions(rig.ws)?
        .iter()
        .filter(|s| !s.backfill.complete)
        .count()
        + rig
            .store
            .computed_definitions(rig.ws)?
            .iter()
            .filter(|c| !c.backfill.complete)
            .count();
    anyhow::ensure!(incomplete == 0, "{incomplete} backfills did not complete");
    eprintln!("backfill of {people} people in {seconds:.1} s");

    let mut members = Vec::new();
    for (name, id) in &defined.segments {
        members.push((
            name.to_string(),
            rig.store.segment_member_count(rig.ws, *id)?,
        ));
    }
    Ok(BackfillReport {
        people,
        seconds,
        people_per_second: people as f64 / seconds,
        cpu_seconds,
        raw_read_seconds,
        raw_read_cpu_seconds,
        raw_read_events,
        backfill_vs_raw_read: seconds / raw_read_seconds,
        members,
    })
}

/// Reads every person and their events as a backfill page does, a page of people per
/// transaction; returns (people, events) read.
fn raw_read(rig: &Rig, reads: &[EventRead], page: usize) -> anyhow::Result<(u64, u64)> {
    let (mut people, mut events) = (0u64, 0u64);
    let mut after = 0;
    loop {
        let (mut visited, mut read, mut last) = (0u64, 0u64, after);
        rig.store.write(&mut |tx| {
            let paged = tx.people_page(rig.ws, after, page, reads)?;
            visited = paged.len() as u64;
            read = paged.iter().map(|p| p.events.len() as u64).sum();
            last = paged.last().map_or(after, |p| p.state.key.0);
            Ok(())
        })?;
        people += visited;
        events += read;
        after = last;
        if visited < page as u64 {
            return Ok((people, events));
        }
    }
}
