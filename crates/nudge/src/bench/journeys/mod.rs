//! `nudge bench journeys`: journeys at scale on the real clock. Starts a million reminder
//! instances through the writer and the processor (against raw inserts of the same rows),
//! times their timers as they fire with all of them pending and a burst due in one second,
//! then measures event-triggered journeys at full speed and the event-to-send latency of a
//! journey with no delay, with peak memory after each phase. Everything runs in this process
//! on a fresh store, wired as `server::launch` wires it.

mod baseline;
mod definitions;
mod latency;
mod outbox;
mod pending;
mod people;
mod report;
mod submit;
mod throughput;
mod timers;

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use nudge_api::credentials::new_workspace;
use nudge_core::{Clock, Env, SystemClock, WorkspaceId};
use nudge_ingest::{CommitHook, Ingestor, WriterConfig};
use nudge_process::{Processor, ProcessorConfig};
use nudge_store::Store;

use super::segments::usage::peak_rss_mib;
use super::{throwaway_database, BenchStore};
use crate::config::StoreArgs;
use people::Day;
use report::{Phases, Report};

#[derive(Debug, Clone, Args)]
pub struct JourneysBenchArgs {
    /// Which store(s) to measure. PostgreSQL uses a throwaway database on 127.0.0.1:5432.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub store: BenchStore,
    /// Reminder instances waiting, their timers spread over the next 24 hours.
    #[arg(long, default_value_t = 1_000_000)]
    pub pending: u64,
    /// Extra instances all due in the same second.
    #[arg(long, default_value_t = 10_000)]
    pub burst: u64,
    /// Events per second for the event-to-send latency phase.
    #[arg(long, default_value_t = 1_000)]
    pub rate: u64,
    /// Length of the timer window, the throughput phase and the latency phase, in seconds.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Print one JSON object per store instead of a report.
    #[arg(long)]
    pub json: bool,
}

/// The engine under measurement: a store, the real writer and the processor thread on the
/// system clock.
pub(super) struct Rig {
    store: Arc<dyn Store>,
    ws: WorkspaceId,
    clock: Arc<dyn Clock>,
    ingestor: Ingestor,
    /// The newest outbox message any watch has seen.
    outbox_seen: AtomicI64,
}

impl Rig {
    /// Active instances of `journey`.
    fn waiting(&self, journey: &str) -> anyhow::Result<u64> {
        Ok(self
            .store
            .waiting_instances(self.ws, journey)?
            .iter()
            .map(|(_, _, count)| count)
            .sum())
    }
}

pub fn run(args: JourneysBenchArgs) -> anyhow::Result<()> {
    for store in args.store.names() {
        let report = bench_store(store, &args)?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            report::print(&report);
        }
    }
    Ok(())
}

fn bench_store(store_name: &'static str, args: &JourneysBenchArgs) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let database = throwaway_database(store_name)?;
    let store = crate::server::open_store(&StoreArgs {
        data_dir: dir.path().to_path_buf(),
        database_url: database.as_ref().map(|d| d.url().to_string()),
    })?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (new, _keys) = new_workspace("bench", Env::Development, clock.now());
    let ws = store.create_workspace(&new)?.id;
    let journeys = definitions::define(store.as_ref(), ws, clock.now())?;
    let processor = Processor::new(store.clone(), clock.clone(), ProcessorConfig::default());
    let handle = processor.spawn();
    let waker = handle.waker();
    let on_commit = CommitHook(Arc::new(move || waker.wake()));
    let (ingestor, writer) = Ingestor::start(
        store.clone(),
        clock.clone(),
        WriterConfig {
            on_commit: Some(on_commit),
            ..WriterConfig::default()
        },
    );
    let rig = Rig {
        store,
        ws,
        clock: clock.clone(),
        ingestor,
        outbox_seen: AtomicI64::new(0),
    };
    let measured = measure(&rig, store_name, args).and_then(|phases| {
        eprintln!("[{store_name}] phase 1 baseline: reading the instance rows back");
        Ok((phases, baseline::read_rows(&rig, args.pending.max(1))?))
    });
    handle.stop();
    drop(rig);
    writer.join();
    // The benchmark's store goes before the baseline's is filled: they never share the disk.
    drop(database);
    drop(dir);
    let (phases, rows) = measured?;
    eprintln!(
        "[{store_name}] phase 1 baseline: raw inserts of {} rows",
        rows.len()
    );
    let raw_insert = baseline::insert(store_name, rows, clock.now())?;
    Ok(Report::new(store_name, journeys, phases, raw_insert))
}

fn measure(
    rig: &Rig,
    store_name: &'static str,
    args: &JourneysBenchArgs,
) -> anyhow::Result<Phases> {
    let pending = args.pending.max(1);
    let day = Day {
        start_seconds: rig.clock.now().millis().div_euclid(1000) + 1,
    };
    eprintln!("[{store_name}] phase 1: {pending} pending instances");
    let created = pending::run(rig, pending, day)?;
    let peak_rss_after_pending_mib = peak_rss_mib();

    eprintln!(
        "[{store_name}] phase 2: timers due in the next {} s",
        args.seconds
    );
    let timers = timers::window(rig, pending, day, args.seconds)?;
    // The burst is due once its people and instances surely exist: twice the time phase 1's
    // rates say creating them takes, and five seconds.
    let per_burst = 1.0 / created.people_per_second + 1.0 / created.instances_per_second;
    let lead = Duration::from_secs_f64(2.0 * args.burst as f64 * per_burst + 5.0);
    eprintln!(
        "[{store_name}] phase 2: a burst of {} due in {:.0} s",
        args.burst,
        lead.as_secs_f64()
    );
    let burst = timers::burst(rig, args.burst, lead)?;
    let peak_rss_after_timers_mib = peak_rss_mib();

    eprintln!("[{store_name}] phase 3: cart events as fast as the writer takes them");
    let throughput = throughput::run(rig, pending, args.seconds)?;
    let peak_rss_after_throughput_mib = peak_rss_mib();

    eprintln!(
        "[{store_name}] phase 4: sign-in codes at {} events/s",
        args.rate
    );
    let latency = latency::run(rig, pending, args.rate, args.seconds)?;
    Ok(Phases {
        pending: created,
        peak_rss_after_pending_mib,
        timers,
        burst,
        peak_rss_after_timers_mib,
        throughput,
        peak_rss_after_throughput_mib,
        latency,
        peak_rss_at_end_mib: peak_rss_mib(),
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{BenchCommand, Cli, Command};

    fn parse(args: &[&str]) -> Result<JourneysBenchArgs, String> {
        let line = ["nudge", "bench", "journeys"].iter().chain(args);
        match Cli::try_parse_from(line)
            .map_err(|e| e.kind().to_string())?
            .command
        {
            Command::Bench(BenchCommand::Journeys(args)) => Ok(args),
            other => Err(format!("parsed as {other:?}")),
        }
    }

    #[test]
    fn the_defaults_are_the_issues_sizes() {
        let args = parse(&[]).expect("no arguments are needed");
        assert_eq!(args.store, BenchStore::Sqlite);
        assert_eq!(
            (args.pending, args.burst, args.rate, args.seconds, args.json),
            (1_000_000, 10_000, 1_000, 60, false)
        );
    }

    #[test]
    fn every_size_can_be_chosen() {
        let args = parse(&[
            "--store",
            "postgres",
            "--pending",
            "100000",
            "--burst",
            "500",
            "--rate",
            "200",
            "--seconds",
            "20",
            "--json",
        ])
        .expect("valid arguments");
        assert_eq!(args.store, BenchStore::Postgres);
        assert_eq!(
            (args.pending, args.burst, args.rate, args.seconds, args.json),
            (100_000, 500, 200, 20, true)
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--store", "mysql"]).is_err());
        assert!(parse(&["--pending", "a million"]).is_err());
        assert!(parse(&["--rate", "-5"]).is_err());
    }
}
