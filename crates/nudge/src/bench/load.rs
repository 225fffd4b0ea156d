//! A closed-loop HTTP load generator: N keep-alive connections, each sending its next request
//! as soon as the previous answer arrived, for a fixed time. Latencies go to an HDR histogram.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;

/// What one load phase measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoadReport {
    pub requests: u64,
    pub ok: u64,
    pub errors: u64,
    pub seconds: f64,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Builds the request a connection sends as its `n`-th.
pub type MakeRequest = dyn Fn(usize, u64) -> Request<Full<Bytes>> + Send + Sync;

pub async fn run(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    make: std::sync::Arc<MakeRequest>,
) -> anyhow::Result<LoadReport> {
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            drive(addr, connection, deadline, make).await
        }));
    }
    let mut histogram = Histogram::<u64>::new(3)?;
    let (mut ok, mut errors) = (0u64, 0u64);
    for task in tasks {
        let (h, o, e) = task.await??;
        histogram.add(h)?;
        ok += o;
        errors += e;
    }
    let seconds = started.elapsed().as_secs_f64();
    let requests = ok + errors;
    Ok(LoadReport {
        requests,
        ok,
        errors,
        seconds,
        per_second: ok as f64 / seconds,
        p50_ms: histogram.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: histogram.value_at_quantile(0.99) as f64 / 1000.0,
    })
}

async fn drive(
    addr: SocketAddr,
    connection: usize,
    deadline: Instant,
    make: std::sync::Arc<MakeRequest>,
) -> anyhow::Result<(Histogram<u64>, u64, u64)> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .context("connecting to the server")?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut histogram = Histogram::<u64>::new(3)?;
    let (mut ok, mut errors) = (0u64, 0u64);
    let mut n = 0u64;
    while Instant::now() < deadline {
        let request = make(connection, n);
        n += 1;
        let sent = Instant::now();
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        histogram.record(sent.elapsed().as_micros() as u64)?;
        if status.is_success() {
            ok += 1;
        } else {
            errors += 1;
        }
    }
    Ok((histogram, ok, errors))
}
