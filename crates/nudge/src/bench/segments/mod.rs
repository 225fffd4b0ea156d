//! `nudge bench segments`: segments and computed attributes at scale. Loads people and their
//! event history into a fresh store through the real writer, backfills 20 segments and the
//! d2c computed attributes (against a raw read of the same data), then runs the processor
//! thread under a sustained event rate, measuring its CPU per event against the writer's,
//! its lag, the event-to-transition latency and peak memory. Everything runs in this process
//! on one virtual clock, so runs are reproducible.

mod backfill;
mod data;
mod definitions;
mod live;
mod load;
pub(super) mod usage;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use nudge_api::credentials::new_workspace;
use nudge_core::{Env, ManualClock, Timestamp, WorkspaceId};
use nudge_ingest::{CommitHook, ComputedKeys, Ingestor, WriterConfig};
use nudge_process::{Processor, ProcessorConfig, Waker};
use nudge_store::Store;

use super::{throwaway_database, BenchStore};
use crate::config::StoreArgs;
use backfill::BackfillReport;
use live::{LiveReport, Pace};
use load::LoadReport;

/// The virtual "now" of every run: 2026-03-02T10:00:00Z.
const NOW: Timestamp = Timestamp::from_millis(1_772_445_600_000);

#[derive(Debug, Clone, Args)]
pub struct SegmentsBenchArgs {
    /// Which store(s) to measure. PostgreSQL uses a throwaway database on 127.0.0.1:5432.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub store: BenchStore,
    /// People to load.
    #[arg(long, default_value_t = 1_000_000)]
    pub people: u64,
    /// Events to load, spread over the 180 days before the virtual now.
    #[arg(long, default_value_t = 10_000_000)]
    pub events: u64,
    /// Events per second submitted during the incremental phase.
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// Length of the incremental phase, in seconds.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Print one JSON object per store instead of a report.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    store: &'static str,
    segments: usize,
    computed_attributes: usize,
    load: LoadReport,
    /// Size of the SQLite database files after the load (0 for PostgreSQL).
    database_mib: f64,
    peak_rss_after_load_mib: f64,
    backfill: BackfillReport,
    peak_rss_after_backfill_mib: f64,
    live: LiveReport,
    peak_rss_at_end_mib: f64,
}

/// The engine under measurement: a store, the real writer and a processor on one virtual
/// clock, wired as `server::launch` wires them.
pub(super) struct Rig {
    store: Arc<dyn Store>,
    ws: WorkspaceId,
    clock: ManualClock,
    ingestor: Ingestor,
}

pub fn run(args: SegmentsBenchArgs) -> anyhow::Result<()> {
    for store in args.store.names() {
        let report = bench_store(store, &args)?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print_report(&report, &args);
        }
    }
    Ok(())
}

fn bench_store(store_name: &'static str, args: &SegmentsBenchArgs) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let database = throwaway_database(store_name)?;
    let store_args = StoreArgs {
        data_dir: dir.path().to_path_buf(),
        database_url: database.as_ref().map(|d| d.url().to_string()),
    };
    let store = crate::server::open_store(&store_args)?;
    let (new, _keys) = new_workspace("bench", Env::Development, NOW);
    let ws = store.create_workspace(&new)?.id;
    let clock = ManualClock::starting_at(NOW);
    let computed_keys = Arc::new(ComputedKeys::default());
    let mut processor = Processor::new(
        store.clone(),
        Arc::new(clock.clone()),
        ProcessorConfig::default(),
    )
    .on_reload({
        let keys = computed_keys.clone();
        Box::new(move |ws, names| keys.set(ws, names))
    });
    // The processor thread starts after the backfill; until then commits wake nobody.
    let waker: Arc<Mutex<Option<Waker>>> = Arc::default();
    let on_commit = CommitHook(Arc::new({
        let waker = waker.clone();
        move || {
            if let Some(w) = waker.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                w.wake();
            }
        }
    }));
    let (ingestor, writer) = Ingestor::start(
        store.clone(),
        Arc::new(clock.clone()),
        WriterConfig {
            computed_keys,
            on_commit: Some(on_commit),
            ..WriterConfig::default()
        },
    );
    let rig = Rig {
        store,
        ws,
        clock,
        ingestor,
    };

    eprintln!("[{store_name}] phase 1: load");
    let load = load::run(&rig, args.people, args.events, NOW)?;
    // With no definitions the processor only moves its offset to the head of the log, as a
    // running server's would have while the data came in.
    processor.run_until_idle()?;
    let database_mib = directory_mib(dir.path());
    let peak_rss_after_load_mib = usage::peak_rss_mib();

    eprintln!("[{store_name}] phase 2: backfill");
    let defined = definitions::define(rig.store.as_ref(), ws, NOW)?;
    let backfill = backfill::run(&rig, &mut processor, &defined)?;
    let peak_rss_after_backfill_mib = usage::peak_rss_mib();

    eprintln!(
        "[{store_name}] phases 3 and 4: incremental at {} events/s",
        args.rate
    );
    let handle = processor.spawn();
    *waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle.waker());
    let live = live::run(
        &rig,
        &Pace {
            people: args.people,
            rate: args.rate,
            duration: Duration::from_secs(args.seconds),
            start_at: NOW,
            first_event: args.events,
            probe_segment: defined.probe,
        },
    );
    handle.stop();
    drop(rig);
    writer.join();
    let live = live?;
    Ok(Report {
        store: store_name,
        segments: defined.segments.len(),
        computed_attributes: defined.computed,
        load,
        database_mib,
        peak_rss_after_load_mib,
        backfill,
        peak_rss_after_backfill_mib,
        live,
        peak_rss_at_end_mib: usage::peak_rss_mib(),
    })
}

/// The size of the files directly in `dir` (the SQLite database, its WAL), in MiB.
fn directory_mib(dir: &std::path::Path) -> f64 {
    let bytes: u64 = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    bytes as f64 / (1024.0 * 1024.0)
}

fn print_report(r: &Report, args: &SegmentsBenchArgs) {
    let l = &r.load;
    println!(
        "store: {} ({} people, {} events, {} segments + the probe's, {} computed attributes)",
        r.store, l.people, l.events, r.segments, r.computed_attributes
    );
    println!(
        "  load       people {:>9.0}/s ({:.1} s, writer {:.1} µs CPU each)   events {:>9.0}/s ({:.1} s, writer {:.1} µs CPU each)",
        l.people_per_second,
        l.people_seconds,
        l.writer_us_per_person,
        l.events_per_second,
        l.events_seconds,
        l.writer_us_per_event,
    );
    if r.store == "sqlite" {
        println!(
            "             database {:.0} MiB, {:.1} KiB written to its files per event",
            r.database_mib, l.written_kib_per_event
        );
    }
    let b = &r.backfill;
    println!(
        "  backfill   {:>9.0} people/s   {:.1} s ({:.1} s CPU)   raw read {:.1} s ({:.1} s CPU, {} events)   backfill / raw read = {:.2}",
        b.people_per_second, b.seconds, b.cpu_seconds, b.raw_read_seconds, b.raw_read_cpu_seconds, b.raw_read_events, b.backfill_vs_raw_read
    );
    let members: Vec<String> = b.members.iter().map(|(n, c)| format!("{n} {c}")).collect();
    println!("  members    {}", members.join(", "));
    let v = &r.live;
    println!(
        "  incremental {:.0} events/s submitted for {:.1} s ({} asked, {:.0}/s acknowledged): processor {:.1} µs CPU/event, writer {:.1} µs CPU/event, processor / writer = {:.2}",
        v.events_per_second, v.seconds, args.rate, v.acknowledged_per_second, v.processor_us_per_event, v.writer_us_per_event, v.processor_vs_writer
    );
    let catch_up = v
        .catch_up_ms
        .map_or("never".to_string(), |ms| format!("{ms:.0} ms"));
    println!(
        "             max lag {} entries, caught up {catch_up} after the last submission ({}), {} errors",
        v.max_lag_entries,
        if v.kept_up { "kept up" } else { "fell behind" },
        v.errors
    );
    for (when, t) in [("under load", &v.latency), ("idle", &v.idle_latency)] {
        println!(
            "  latency    ack → transition, {when}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples, {} timeouts)",
            t.p50_ms, t.p99_ms, t.max_ms, t.samples, t.timeouts
        );
    }
    println!(
        "  memory     peak RSS {:.0} MiB after load, {:.0} MiB after backfill, {:.0} MiB at the end",
        r.peak_rss_after_load_mib, r.peak_rss_after_backfill_mib, r.peak_rss_at_end_mib
    );
}
