//! `nudge bench track`: measures Track API ingestion against two baselines taken in the same
//! run — the server's own `/healthz` rate (the HTTP ceiling) and raw inserts of the same rows
//! into the same store — and prints events/s, p50/p99 latency and the ratios.

pub mod batch;
pub mod delivery;
pub mod import;
mod journey_documents;
pub mod journeys;
mod load;
pub mod segments;
mod summary;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use clap::{Args, ValueEnum};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::Request;
use nudge_core::{Activity, ActivityKind, EventKind, EventRecord, Identifier, IdentifierKind};
use nudge_core::{Clock, Operation, PersonKey, SystemClock, WorkspaceId};
use nudge_store::LogEntry;
use serde_json::json;

use crate::config::{Database, StoreArgs};
use load::LoadReport;

/// Distinct people each connection sends events for (6,400 people at 64 connections).
const PEOPLE_PER_CONNECTION: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchStore {
    Sqlite,
    Postgres,
    Both,
}

impl BenchStore {
    pub(crate) fn names(self) -> &'static [&'static str] {
        match self {
            BenchStore::Sqlite => &["sqlite"],
            BenchStore::Postgres => &["postgres"],
            BenchStore::Both => &["sqlite", "postgres"],
        }
    }
}

/// A throwaway PostgreSQL database for the "postgres" store, nothing for SQLite.
pub(crate) fn throwaway_database(
    store: &str,
) -> anyhow::Result<Option<nudge_store_postgres::test_database::TestDatabase>> {
    match store {
        "postgres" => Ok(Some(
            nudge_store_postgres::test_database::TestDatabase::create()
                .context("benchmarking PostgreSQL needs a server at 127.0.0.1:5432")?,
        )),
        _ => Ok(None),
    }
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Which store(s) to measure. PostgreSQL uses a throwaway database on 127.0.0.1:5432.
    #[arg(long, value_enum, default_value = "both")]
    pub store: BenchStore,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Seconds per load phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Print one JSON object per store instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, serde::Serialize)]
struct StoreReport {
    store: &'static str,
    healthz: LoadReport,
    track: LoadReport,
    raw_insert_rows: usize,
    raw_insert_per_second: f64,
    track_vs_healthz: f64,
    track_vs_raw_insert: f64,
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    let stores = args.store.names();
    let runtime = tokio::runtime::Runtime::new()?;
    for store in stores {
        let report = runtime.block_on(bench_store(store, &args))?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            print_table(&report, &args);
        }
    }
    Ok(())
}

async fn bench_store(store: &'static str, args: &BenchArgs) -> anyhow::Result<StoreReport> {
    let dir = tempfile::tempdir()?;
    let database = throwaway_database(store)?;
    let database_url = database.as_ref().map(|d| d.url().to_string());
    let mut server = spawn_server(dir.path(), database_url.as_deref())?;
    let creds: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("credentials.json"))?)?;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            creds["site_id"].as_str().unwrap_or_default(),
            creds["track_api_key"].as_str().unwrap_or_default()
        ))
    );
    let duration = Duration::from_secs(args.seconds);
    let healthz = load::run(
        server.addr,
        args.connections,
        duration,
        Arc::new(|_, _| {
            Request::get("/healthz")
                .header("host", "bench")
                .body(Full::new(Bytes::new()))
                .expect("request")
        }),
    )
    .await?;
    // Bodies and paths are built once, so the load generator spends its CPU on HTTP, not on
    // formatting JSON: on two shared cores every cycle it saves goes to the server.
    let body = Bytes::from(
        json!({"name": "Product Viewed", "data": {"product_id": "p-1", "variant_id": "v-1",
            "category": "serum", "price": 42.5}})
        .to_string(),
    );
    let paths: Vec<String> = (0..args.connections * PEOPLE_PER_CONNECTION)
        .map(|i| format!("/api/v1/customers/bench-{i}/events"))
        .collect();
    let track = load::run(
        server.addr,
        args.connections,
        duration,
        Arc::new(move |conn, n| {
            let person = conn * PEOPLE_PER_CONNECTION + (n as usize % PEOPLE_PER_CONNECTION);
            Request::post(paths[person].as_str())
                .header("host", "bench")
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .body(Full::new(body.clone()))
                .expect("request")
        }),
    )
    .await?;
    server.stop()?;
    let store_args = StoreArgs {
        data_dir: dir.path().to_path_buf(),
        database_url,
    };
    let (rows, raw_per_second) = tokio::task::spawn_blocking({
        let rows = track.ok as usize;
        let batch = args.connections.max(1);
        move || raw_insert(&store_args, rows, batch)
    })
    .await??;
    Ok(StoreReport {
        store,
        track_vs_healthz: track.per_second / healthz.per_second,
        track_vs_raw_insert: track.per_second / raw_per_second,
        healthz,
        track,
        raw_insert_rows: rows,
        raw_insert_per_second: raw_per_second,
    })
}

/// One row of the raw-insert baseline: what ingestion writes for one event.
type BaselineRow = (WorkspaceId, LogEntry, PersonKey, Activity);

/// Inserts `rows` event-log and activity rows, the same rows the Track phase wrote, in
/// transactions of `batch` rows, straight into the store.
pub(crate) fn raw_insert(
    args: &StoreArgs,
    rows: usize,
    batch: usize,
) -> anyhow::Result<(usize, f64)> {
    let ws = WorkspaceId(1);
    let now = SystemClock.now();
    let person = Identifier::new(IdentifierKind::Id, "bench-0")?;
    let make = |n: usize, key: PersonKey| -> BaselineRow {
        let data = json!({"product_id": format!("p-{n}"), "variant_id": "v-1",
            "category": "serum", "price": 42.5});
        let data = data.as_object().cloned().unwrap_or_default();
        let event = EventRecord {
            kind: EventKind::Event,
            name: "Product Viewed".into(),
            id: None,
            timestamp: None,
            data: data.clone(),
        };
        let operation = Operation::Track {
            person: person.clone(),
            event,
        };
        let entry = LogEntry {
            source: "track_v1".into(),
            received_at: now,
            operation,
            raw: None,
        };
        let activity = Activity {
            kind: ActivityKind::Event,
            name: "Product Viewed".into(),
            timestamp: now,
            data,
            event_id: None,
            can_trigger: true,
        };
        (ws, entry, key, activity)
    };
    let timed = |key: PersonKey,
                 insert: &dyn Fn(&[BaselineRow]) -> nudge_store::StoreResult<()>| {
        let all: Vec<BaselineRow> = (0..rows).map(|n| make(n, key)).collect();
        let started = Instant::now();
        for chunk in all.chunks(batch) {
            insert(chunk)?;
        }
        anyhow::Ok(rows as f64 / started.elapsed().as_secs_f64())
    };
    let per_second = match args.database()? {
        Database::Sqlite(path) => {
            let store = nudge_store_sqlite::SqliteStore::open(&path)?;
            let key = nudge_store::Store::resolve(&store, ws, &person)?.context("bench person")?;
            timed(key, &|chunk| store.raw_insert_baseline(chunk))?
        }
        Database::Postgres(url) => {
            let store = nudge_store_postgres::PostgresStore::connect(&url)?;
            let key = nudge_store::Store::resolve(&store, ws, &person)?.context("bench person")?;
            timed(key, &|chunk| store.raw_insert_baseline(chunk))?
        }
    };
    Ok((rows, per_second))
}

pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) addr: SocketAddr,
}

impl ServerProcess {
    /// SIGTERM, then wait: the server drains and exits.
    pub(crate) fn stop(&mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        self.child.wait()?;
        Ok(())
    }
}

pub(crate) fn spawn_server(
    data_dir: &Path,
    database_url: Option<&str>,
) -> anyhow::Result<ServerProcess> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("serve")
        .env("NUDGE_DATA_DIR", data_dir)
        .env("NUDGE_LISTEN", "127.0.0.1:0")
        .env("NUDGE_LOG", "warn")
        .stdout(Stdio::piped());
    match database_url {
        Some(url) => command.env("NUDGE_DATABASE_URL", url),
        None => command.env_remove("NUDGE_DATABASE_URL"),
    };
    let mut child = command.spawn().context("starting nudge serve")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .context("the server exited before listening")??;
        if let Some(url) = line.strip_prefix("listening on http://") {
            break url.parse()?;
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Ok(ServerProcess { child, addr })
}

fn print_table(r: &StoreReport, args: &BenchArgs) {
    println!(
        "store: {} ({} connections, {} s per phase)",
        r.store, args.connections, args.seconds
    );
    println!(
        "  {:<28} {:>12} {:>10} {:>10}",
        "phase", "per second", "p50 ms", "p99 ms"
    );
    for (name, l) in [
        ("GET /healthz (HTTP ceiling)", &r.healthz),
        ("Track v1 event (durable)", &r.track),
    ] {
        println!(
            "  {name:<28} {:>12.0} {:>10.2} {:>10.2}",
            l.per_second, l.p50_ms, l.p99_ms
        );
    }
    println!(
        "  {:<28} {:>12.0}",
        format!("raw inserts ({} rows)", r.raw_insert_rows),
        r.raw_insert_per_second
    );
    println!(
        "  track / healthz = {:.2}   track / raw inserts = {:.2}   errors = {}",
        r.track_vs_healthz,
        r.track_vs_raw_insert,
        r.track.errors + r.healthz.errors
    );
}
