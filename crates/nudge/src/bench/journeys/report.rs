//! What `nudge bench journeys` reports: every phase's figures in one JSON object per store,
//! or printed as a few readable lines.

use super::baseline::BaselineReport;
use super::latency::LatencyReport;
use super::pending::PendingReport;
use super::throughput::ThroughputReport;
use super::timers::{BurstReport, TimersReport};

/// What the four phases measured, with peak memory after each.
#[derive(Debug, serde::Serialize)]
pub(super) struct Phases {
    pub pending: PendingReport,
    pub peak_rss_after_pending_mib: f64,
    pub timers: TimersReport,
    pub burst: BurstReport,
    pub peak_rss_after_timers_mib: f64,
    pub throughput: ThroughputReport,
    pub peak_rss_after_throughput_mib: f64,
    pub latency: LatencyReport,
    pub peak_rss_at_end_mib: f64,
}

#[derive(Debug, serde::Serialize)]
pub(super) struct Report {
    pub store: &'static str,
    pub journeys: usize,
    #[serde(flatten)]
    pub phases: Phases,
    pub raw_insert: BaselineReport,
    /// Instances started per second through the writer and the processor, over raw inserts
    /// of the same rows per second.
    pub creation_vs_raw_insert: f64,
}

impl Report {
    pub(super) fn new(
        store: &'static str,
        journeys: usize,
        phases: Phases,
        raw_insert: BaselineReport,
    ) -> Self {
        Report {
            store,
            journeys,
            creation_vs_raw_insert: phases.pending.instances_per_second
                / raw_insert.rows_per_second.max(1e-9),
            phases,
            raw_insert,
        }
    }
}

pub(super) fn print(r: &Report) {
    let (p, m) = (&r.phases.pending, &r.phases);
    println!(
        "store: {} ({} journeys, {} pending instances)",
        r.store, r.journeys, p.people
    );
    println!(
        "  pending    people {:.0}/s ({:.1} s, writer {:.1} µs CPU each); instances {:.0}/s ({:.1} s; writer acknowledged {:.0} bookings/s at {:.1} µs CPU each, processor {:.1} µs CPU per instance); {} waiting",
        p.people_per_second,
        p.people_seconds,
        p.writer_us_per_person,
        p.instances_per_second,
        p.instances_seconds,
        p.bookings_acknowledged_per_second,
        p.writer_us_per_booking,
        p.processor_us_per_instance,
        p.waiting
    );
    let b = &r.raw_insert;
    println!(
        "  raw insert {} rows in transactions of {}: {:.0} rows/s ({:.1} s)   instances / raw inserts = {:.2}",
        b.rows, b.rows_per_transaction, b.rows_per_second, b.seconds, r.creation_vs_raw_insert
    );
    let t = &m.timers;
    println!(
        "  timers     {} s window, {} pending: {} of {} due fired, lateness {}; processor {:.0} µs CPU per timer",
        t.window_seconds,
        t.pending_at_start,
        t.fired,
        t.due_in_window,
        t.lateness.describe(),
        t.processor_us_per_timer
    );
    let u = &m.burst;
    println!(
        "  burst      {} due at {} (ready {:.1} s before): {} fired, the last {:.0} ms after the due second; lateness {}",
        u.instances,
        u.due_at,
        u.ready_before_due_seconds,
        u.fired,
        u.last_fired_after_due_ms,
        u.lateness.describe()
    );
    let h = &m.throughput;
    let catch_up = h
        .catch_up_ms
        .map_or("never".to_string(), |ms| format!("{ms:.0} ms"));
    println!(
        "  throughput {} cart events in {:.1} s: acknowledged {:.0}/s, processed {:.0}/s; processor {:.1} µs CPU/event, writer {:.1}, processor / writer = {:.2}; max lag {} entries, caught up {catch_up} after; {} carts waiting",
        h.events,
        h.seconds,
        h.acknowledged_per_second,
        h.processed_per_second,
        h.processor_us_per_event,
        h.writer_us_per_event,
        h.processor_vs_writer,
        h.max_lag_entries,
        h.waiting_carts
    );
    let l = &m.latency;
    println!(
        "  latency    {} events at {}/s ({:.0}/s acknowledged): ack → send {}, {} missing; processor {:.1} µs CPU/event, writer {:.1}",
        l.events,
        l.rate,
        l.acknowledged_per_second,
        l.latency.describe(),
        l.missing,
        l.processor_us_per_event,
        l.writer_us_per_event
    );
    println!(
        "             idle: {}, {} missing",
        l.idle.describe(),
        l.idle_missing
    );
    println!(
        "  memory     peak RSS {:.0} MiB after pending, {:.0} after timers, {:.0} after throughput, {:.0} at the end",
        m.peak_rss_after_pending_mib,
        m.peak_rss_after_timers_mib,
        m.peak_rss_after_throughput_mib,
        m.peak_rss_at_end_mib
    );
}
