//! `nudge bench batch`: Pipelines `/v1/batch` ingestion, 100 events per request over keep-alive
//! connections, against the same-run baseline of raw batched inserts of the same rows.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use clap::Args;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::Request;

use super::load::{self, LoadReport};
use super::{raw_insert, spawn_server, BenchStore};
use crate::config::StoreArgs;

#[derive(Debug, Clone, Args)]
pub struct BatchArgs {
    #[arg(long, value_enum, default_value = "both")]
    pub store: BenchStore,
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Events per `/v1/batch` request.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, serde::Serialize)]
struct BatchReport {
    store: &'static str,
    requests: LoadReport,
    events_per_second: f64,
    raw_insert_rows: usize,
    raw_insert_per_second: f64,
    batch_vs_raw_insert: f64,
}

pub fn run(args: BatchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    for store in args.store.names() {
        let report = runtime.block_on(bench_store(store, &args))?;
        if args.json {
            println!("{}", serde_json::to_string(&report)?);
        } else {
            println!(
                "store: {} ({} connections, {} events per request, {} s)",
                report.store, args.connections, args.batch, args.seconds
            );
            let r = &report.requests;
            println!(
                "  /v1/batch: {:.0} events/s ({:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, {} errors)",
                report.events_per_second, r.per_second, r.p50_ms, r.p99_ms, r.errors
            );
            println!(
                "  raw inserts ({} rows): {:.0} rows/s   batch / raw inserts = {:.2}",
                report.raw_insert_rows, report.raw_insert_per_second, report.batch_vs_raw_insert
            );
        }
    }
    Ok(())
}

/// One request body split around the places where a unique `messageId` goes, so each request
/// carries new ids (a repeated id would be skipped as a duplicate) without re-encoding JSON.
struct BodyTemplate {
    parts: Vec<Vec<u8>>,
}

impl BodyTemplate {
    const MARK: &'static str = "@MESSAGE-ID@";

    fn new(events: usize, people: usize, offset: usize) -> Self {
        let items: Vec<serde_json::Value> = (0..events)
            .map(|i| {
                serde_json::json!({
                    "type": "track", "userId": format!("bench-{}", offset + i % people),
                    "event": "Product Viewed", "messageId": Self::MARK,
                    "timestamp": "2026-11-28T10:00:00.000Z",
                    "properties": {"product_id": "p-1", "variant_id": "v-1",
                                   "category": "serum", "price": 42.5}
                })
            })
            .collect();
        let text = serde_json::json!({"batch": items}).to_string();
        let parts = text
            .split(Self::MARK)
            .map(|p| p.as_bytes().to_vec())
            .collect();
        Self { parts }
    }

    fn render(&self, connection: usize, request: u64) -> Bytes {
        let mut out = Vec::with_capacity(self.parts.iter().map(Vec::len).sum::<usize>() + 2048);
        for (i, part) in self.parts.iter().enumerate() {
            out.extend_from_slice(part);
            if i + 1 < self.parts.len() {
                out.extend_from_slice(format!("{connection}-{request}-{i}").as_bytes());
            }
        }
        Bytes::from(out)
    }
}

async fn bench_store(store: &'static str, args: &BatchArgs) -> anyhow::Result<BatchReport> {
    let dir = tempfile::tempdir()?;
    let database = super::throwaway_database(store)?;
    let database_url = database.as_ref().map(|d| d.url().to_string());
    let mut server = spawn_server(dir.path(), database_url.as_deref())?;
    let creds: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("credentials.json"))?)?;
    let key = creds["pipelines_write_key"]
        .as_str()
        .context("credentials without a write key")?;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    );
    const PEOPLE_PER_CONNECTION: usize = 100;
    let templates: Vec<BodyTemplate> = (0..args.connections)
        .map(|c| BodyTemplate::new(args.batch, PEOPLE_PER_CONNECTION, c * PEOPLE_PER_CONNECTION))
        .collect();
    let requests = load::run(
        server.addr,
        args.connections,
        Duration::from_secs(args.seconds),
        Arc::new(move |conn, n| {
            Request::post("/v1/batch")
                .header("host", "bench")
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .body(Full::new(templates[conn].render(conn, n)))
                .expect("request")
        }),
    )
    .await?;
    server.stop()?;
    let events = requests.ok as usize * args.batch;
    let store_args = StoreArgs {
        data_dir: dir.path().to_path_buf(),
        database_url,
    };
    let batch = args.connections * args.batch;
    let (rows, raw_per_second) =
        tokio::task::spawn_blocking(move || raw_insert(&store_args, events, batch)).await??;
    let events_per_second = events as f64 / requests.seconds;
    Ok(BatchReport {
        store,
        batch_vs_raw_insert: events_per_second / raw_per_second,
        events_per_second,
        requests,
        raw_insert_rows: rows,
        raw_insert_per_second: raw_per_second,
    })
}
