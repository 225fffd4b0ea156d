//! `nudge bench import`: generates N events as NDJSON, runs `nudge import` on them as a child
//! process (so the peak RSS it reports is the import's own) into a fresh SQLite store and a
//! throwaway PostgreSQL database, and sets events/s against the same run's raw-insert
//! baseline: the same event-log and activity rows inserted straight into the same store.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::Context;
use clap::Args;
use nudge_api::credentials::new_workspace;
use nudge_core::{Clock, Env, SystemClock};
use serde_json::{json, Value};

use super::BenchStore;
use crate::config::StoreArgs;

/// Events per raw-insert transaction: the writer's largest group commit.
const BASELINE_BATCH: usize = 4096;

#[derive(Debug, Clone, Args)]
pub struct ImportBenchArgs {
    /// Which store(s) to measure. PostgreSQL uses a throwaway database on 127.0.0.1:5432.
    #[arg(long, value_enum, default_value = "both")]
    pub store: BenchStore,
    /// Events in the generated file.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// Distinct people the events belong to.
    #[arg(long, default_value_t = 10_000)]
    pub people: usize,
    /// Print one JSON object per store instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, serde::Serialize)]
struct Report {
    store: &'static str,
    events: usize,
    file_mib: f64,
    import_seconds: f64,
    import_per_second: f64,
    import_peak_rss_mib: f64,
    raw_insert_per_second: f64,
    import_vs_raw_insert: f64,
}

pub fn run(args: ImportBenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("events.ndjson");
    generate(&file, args.events, args.people.max(1))?;
    let stores: &[&'static str] = match args.store {
        BenchStore::Sqlite => &["sqlite"],
        BenchStore::Postgres => &["postgres"],
        BenchStore::Both => &["sqlite", "postgres"],
    };
    for store in stores {
        let report = bench_store(store, &file, &args)?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print_table(&report);
        }
    }
    Ok(())
}

/// `events` events of `people` people, one per line, a second apart.
fn generate(path: &Path, events: usize, people: usize) -> anyhow::Result<()> {
    let mut out = BufWriter::new(std::fs::File::create(path)?);
    let start = SystemClock.now().unix_seconds() - events as i64;
    for n in 0..events {
        let row = json!({"id": format!("bench-{}", n % people), "name": "Product Viewed",
            "timestamp": start + n as i64, "data": {"product_id": format!("p-{n}"),
            "variant_id": "v-1", "category": "serum", "price": 42.5}});
        serde_json::to_writer(&mut out, &row)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn bench_store(store: &'static str, file: &Path, args: &ImportBenchArgs) -> anyhow::Result<Report> {
    let dir = tempfile::tempdir()?;
    let database = match store {
        "postgres" => Some(
            nudge_store_postgres::test_database::TestDatabase::create()
                .context("benchmarking PostgreSQL needs a server at 127.0.0.1:5432")?,
        ),
        _ => None,
    };
    let store_args = StoreArgs {
        data_dir: dir.path().to_path_buf(),
        database_url: database.as_ref().map(|d| d.url().to_string()),
    };
    {
        // The first workspace of a fresh store, which the raw-insert baseline writes to.
        let opened = crate::server::open_store(&store_args)?;
        let (new, _keys) = new_workspace("bench", Env::Development, SystemClock.now());
        opened.create_workspace(&new)?;
    }
    let summary = import(file, &store_args)?;
    let seconds = summary["elapsed_seconds"].as_f64().unwrap_or_default();
    let per_second = summary["rows_per_second"].as_f64().unwrap_or_default();
    let imported = summary["imported"].as_u64().unwrap_or_default() as usize;
    anyhow::ensure!(
        imported == args.events,
        "the import stored {imported} of {} events: {summary}",
        args.events
    );
    let (_, raw_per_second) = super::raw_insert(&store_args, args.events, BASELINE_BATCH)?;
    Ok(Report {
        store,
        events: args.events,
        file_mib: std::fs::metadata(file)?.len() as f64 / (1024.0 * 1024.0),
        import_seconds: seconds,
        import_per_second: per_second,
        import_peak_rss_mib: summary["peak_rss_kib"].as_f64().unwrap_or_default() / 1024.0,
        raw_insert_per_second: raw_per_second,
        import_vs_raw_insert: per_second / raw_per_second,
    })
}

/// Runs `nudge import` as a child process and returns its JSON summary.
fn import(file: &Path, store: &StoreArgs) -> anyhow::Result<Value> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["import", "--workspace", "bench", "--type", "events"])
        .args(["--format", "ndjson", "--json"])
        .arg(file)
        .env("NUDGE_DATA_DIR", &store.data_dir)
        .env("NUDGE_LOG", "warn")
        .stderr(Stdio::inherit());
    match &store.database_url {
        Some(url) => command.env("NUDGE_DATABASE_URL", url),
        None => command.env_remove("NUDGE_DATABASE_URL"),
    };
    let output = command.output().context("running nudge import")?;
    anyhow::ensure!(
        output.status.success(),
        "nudge import failed: {}",
        output.status
    );
    serde_json::from_slice(&output.stdout).context("reading the import's summary")
}

fn print_table(r: &Report) {
    println!(
        "store: {} ({} events, {:.0} MiB of NDJSON)",
        r.store, r.events, r.file_mib
    );
    println!(
        "  nudge import      {:>10.0} events/s  {:>7.1} s  peak RSS {:.0} MiB",
        r.import_per_second, r.import_seconds, r.import_peak_rss_mib
    );
    println!(
        "  raw inserts       {:>10.0} rows/s",
        r.raw_insert_per_second
    );
    println!("  import / raw inserts = {:.2}", r.import_vs_raw_insert);
}
