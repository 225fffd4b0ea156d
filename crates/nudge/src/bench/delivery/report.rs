//! What `nudge bench delivery` reports: per channel the whole path, the worker draining a
//! full ledger and the bare client, with the ratios and the goals; the ledger's cost
//! per message; in one JSON object per store, or printed as a few readable lines.

use super::baseline::BareReport;
use super::ledger::LedgerReport;
use super::phase::PhaseReport;

/// The goals: messages per second to a local sink, and the share of the bare
/// client's rate the whole path must reach.
const EMAIL_GOAL_PER_SECOND: f64 = 2_000.0;
const WEBHOOK_GOAL_PER_SECOND: f64 = 5_000.0;
const BARE_SHARE_GOAL: f64 = 0.5;

#[derive(Debug, serde::Serialize)]
pub(super) struct ChannelReport {
    pub channel: &'static str,
    pub whole_path: PhaseReport,
    pub worker_backlog: PhaseReport,
    pub bare_client: BareReport,
    pub whole_path_vs_bare: f64,
    pub worker_backlog_vs_bare: f64,
    pub goal_per_second: f64,
    /// The whole path reached the goal rate, and half the bare client's.
    pub rate_goal_met: bool,
    pub bare_share_goal_met: bool,
}

impl ChannelReport {
    pub(super) fn new(
        channel: &'static str,
        whole_path: PhaseReport,
        worker_backlog: PhaseReport,
        bare_client: BareReport,
    ) -> Self {
        let goal_per_second = match channel {
            "email" => EMAIL_GOAL_PER_SECOND,
            _ => WEBHOOK_GOAL_PER_SECOND,
        };
        let bare = bare_client.per_second.max(1e-9);
        let whole_path_vs_bare = whole_path.per_second / bare;
        ChannelReport {
            channel,
            rate_goal_met: whole_path.per_second >= goal_per_second,
            bare_share_goal_met: whole_path_vs_bare >= BARE_SHARE_GOAL,
            whole_path_vs_bare,
            worker_backlog_vs_bare: worker_backlog.per_second / bare,
            goal_per_second,
            whole_path,
            worker_backlog,
            bare_client,
        }
    }
}

#[derive(Debug, serde::Serialize)]
pub(super) struct Report {
    pub store: &'static str,
    pub messages: u64,
    /// The worker's sends in flight and claim batch, and the SMTP pool's connections.
    pub concurrency: usize,
    pub batch: usize,
    pub smtp_connections: u64,
    /// The 1-minute load average at the end of the run (the benchmark's own threads count).
    pub load_average: Option<f64>,
    pub channels: Vec<ChannelReport>,
    pub ledger: LedgerReport,
}

/// The 1-minute load average, where Linux reports it.
pub(super) fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn met(yes: bool) -> &'static str {
    if yes {
        "met"
    } else {
        "not met"
    }
}

pub(super) fn print(r: &Report) {
    let load = r
        .load_average
        .map_or("unknown".to_string(), |l| format!("{l:.2}"));
    println!(
        "store: {} ({} messages per phase, {} in flight, claims of {}, {} SMTP connections; load average {load})",
        r.store, r.messages, r.concurrency, r.batch, r.smtp_connections
    );
    for c in &r.channels {
        let (w, b, bare) = (&c.whole_path, &c.worker_backlog, &c.bare_client);
        println!(
            "  {:<8} whole path  {:>7.0}/s ({} received in {:.2} s from the first row queued; {:.2} s from the first event; queued at {:.0}/s), enqueue → receipt p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} sent, {} duplicates",
            c.channel,
            w.per_second,
            w.received,
            w.seconds,
            w.submitted_to_last_receipt_seconds,
            w.queued_per_second,
            w.latency.p50_ms,
            w.latency.p99_ms,
            w.latency.max_ms,
            w.sent,
            w.duplicates
        );
        println!(
            "           CPU per message: worker {:.1} µs, processor {:.1} µs, sink {:.1} µs",
            w.cpu_per_message.worker_us, w.cpu_per_message.processor_us, w.cpu_per_message.sinks_us
        );
        println!(
            "           worker alone {:>7.0}/s ({} received in {:.2} s from its start; worker {:.1} µs CPU per message); {} sent, {} duplicates",
            b.per_second, b.received, b.seconds, b.cpu_per_message.worker_us, b.sent, b.duplicates
        );
        println!(
            "           bare client  {:>7.0}/s ({} in {:.2} s, {} in flight, {} not sent; client {:.1} µs CPU per message)",
            bare.per_second,
            bare.messages,
            bare.seconds,
            bare.concurrency,
            bare.not_sent,
            bare.cpu_per_message.worker_us
        );
        println!(
            "           whole path / bare = {:.2} (goal ≥ {BARE_SHARE_GOAL}: {}), worker alone / bare = {:.2}; goal {:.0}/s: {}",
            c.whole_path_vs_bare,
            met(c.bare_share_goal_met),
            c.worker_backlog_vs_bare,
            c.goal_per_second,
            met(c.rate_goal_met)
        );
    }
    let l = &r.ledger;
    println!(
        "  ledger   {} deliveries claimed and finished in batches of {}: claim {:.1} µs + finish {:.1} µs = {:.1} µs per message ({:.1} µs CPU in this process), {:.0}/s",
        l.deliveries,
        l.batch,
        l.claim_us_per_message,
        l.finish_us_per_message,
        l.us_per_message,
        l.cpu_us_per_message,
        l.per_second
    );
}
