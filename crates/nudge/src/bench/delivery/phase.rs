//! One measured phase: `messages` trigger events for people `0..messages`, each starting a
//! journey whose first step sends to one sink, and every message followed to the sink. Either
//! the worker runs while the events arrive (the whole path: the processor queues and the
//! worker drains at the same time), or it starts only once the processor has queued them all
//! (the worker alone, draining a full ledger). Each receipt is matched to its ledger row (the
//! recipient for email, the `Idempotency-Key` for webhooks) for the enqueue-to-receipt latency.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use nudge_store::{Delivery, DeliveryQuery, DeliveryState};

use super::definitions::order_event;
use super::rig::{Rig, Sink};
use super::stats::{Cpu, CpuPerMessage};
use crate::bench::summary::Summary;

/// The longest a phase may wait for its last message to reach the sink.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(900);
/// Ledger rows read per query.
const PAGE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// The worker runs while the events are submitted.
    Pipelined,
    /// The worker starts once every message is queued.
    Backlog,
}

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct PhaseReport {
    pub messages: u64,
    /// Distinct messages the sink received, and receipts beyond the first of one message.
    pub received: u64,
    pub duplicates: u64,
    /// Ledger rows the phase queued, and how many of them ended `sent`.
    pub queued: u64,
    pub sent: u64,
    /// The measured span: from the first row queued in the ledger (whole path) or the
    /// worker's start (backlog) to the last receipt.
    pub seconds: f64,
    pub per_second: f64,
    /// From the first event submitted to the last receipt.
    pub submitted_to_last_receipt_seconds: f64,
    /// From the first row queued to the last: the rate the processor queued at.
    pub queued_per_second: f64,
    /// From the row's `created_at` to the sink's receipt (ms, both on the system clock).
    pub latency: Summary,
    pub cpu_per_message: CpuPerMessage,
}

/// Runs one phase; also returns the ledger rows it queued (the bare client resends them).
pub(super) fn run(
    rig: &Rig,
    sink: Sink,
    messages: u64,
    mode: Mode,
) -> anyhow::Result<(PhaseReport, Vec<Delivery>)> {
    let after_id = newest_delivery_id(rig)?;
    let received_before = received_count(rig, sink);
    let cpu = Cpu::now();
    let pipelined_worker = (mode == Mode::Pipelined).then(|| rig.spawn_worker());
    let submitted = Instant::now();
    rig.submit((0..messages).map(|n| order_event(sink.event(), n, n)))?;
    let (worker, worker_started) = match pipelined_worker {
        Some(worker) => (worker, submitted),
        None => {
            rig.wait_caught_up()?;
            let started = Instant::now();
            (rig.spawn_worker(), started)
        }
    };
    let receipts = wait_for_receipts(rig, sink, received_before, messages as usize);
    rig.stop_worker(worker);
    let receipts = receipts?;
    let cpu_per_message = cpu.per_message_since(messages);
    let deliveries = deliveries_after(rig, after_id)?;

    let created: HashMap<&str, i64> = deliveries
        .iter()
        .map(|d| (key_of(sink, d), d.message.created_at.millis()))
        .collect();
    let mut seen: HashMap<&str, f64> = HashMap::new();
    let mut duplicates = 0u64;
    for (key, at) in &receipts {
        if seen.insert(key.as_str(), rig.millis_at(*at)).is_some() {
            duplicates += 1;
        }
    }
    let latencies: Vec<f64> = seen
        .iter()
        .filter_map(|(key, &received)| Some((received - *created.get(key)? as f64).max(0.0)))
        .collect();
    let last_receipt = seen.values().copied().fold(f64::MIN, f64::max);
    let first_queued = created.values().copied().min().unwrap_or_default() as f64;
    let last_queued = created.values().copied().max().unwrap_or_default() as f64;
    let start = match mode {
        Mode::Pipelined => first_queued,
        Mode::Backlog => rig.millis_at(worker_started),
    };
    let seconds = ((last_receipt - start) / 1000.0).max(1e-3);
    let sent = deliveries
        .iter()
        .filter(|d| d.state == DeliveryState::Sent)
        .count() as u64;
    let report = PhaseReport {
        messages,
        received: seen.len() as u64,
        duplicates,
        queued: deliveries.len() as u64,
        sent,
        seconds,
        per_second: seen.len() as f64 / seconds,
        submitted_to_last_receipt_seconds: (last_receipt - rig.millis_at(submitted)) / 1000.0,
        queued_per_second: deliveries.len() as f64
            / ((last_queued - first_queued) / 1000.0).max(1e-3),
        latency: Summary::of(latencies),
        cpu_per_message,
    };
    Ok((report, deliveries))
}

/// What matches a ledger row to a receipt: the recipient of an email (each person gets one
/// per phase), the delivery id a webhook carries as its `Idempotency-Key`.
fn key_of(sink: Sink, delivery: &Delivery) -> &str {
    match sink {
        Sink::Smtp => &delivery.message.recipient,
        Sink::Webhook => &delivery.message.message_id,
    }
}

/// How many messages or requests the sink has received so far.
pub(super) fn received_count(rig: &Rig, sink: Sink) -> usize {
    match sink {
        Sink::Smtp => rig.smtp.message_count(),
        Sink::Webhook => rig.webhook.request_count(),
    }
}

/// Waits until the sink has received `wanted` more than `before`; the key and arrival of
/// each of those.
pub(super) fn wait_for_receipts(
    rig: &Rig,
    sink: Sink,
    before: usize,
    wanted: usize,
) -> anyhow::Result<Vec<(String, Instant)>> {
    let total = before + wanted;
    Ok(match sink {
        Sink::Smtp => rig
            .on_sinks(rig.smtp.wait_for_messages(total, RECEIPT_TIMEOUT))?
            .into_iter()
            .skip(before)
            .map(|mail| (mail.rcpt_to.join(","), mail.received_at))
            .collect(),
        Sink::Webhook => rig
            .on_sinks(rig.webhook.wait_for_requests(total, RECEIPT_TIMEOUT))?
            .into_iter()
            .skip(before)
            .map(|request| {
                let key = request.header("idempotency-key").unwrap_or_default();
                (key.to_string(), request.received_at)
            })
            .collect(),
    })
}

/// The id of the newest ledger row (0 for none).
fn newest_delivery_id(rig: &Rig) -> anyhow::Result<i64> {
    let newest = rig.store.deliveries(
        rig.ws,
        &DeliveryQuery {
            newest_first: true,
            limit: 1,
            ..DeliveryQuery::default()
        },
    )?;
    Ok(newest.first().map_or(0, |d| d.id))
}

/// Every ledger row after `after_id`, oldest first.
pub(super) fn deliveries_after(rig: &Rig, mut after_id: i64) -> anyhow::Result<Vec<Delivery>> {
    let mut all = Vec::new();
    loop {
        let page = rig
            .store
            .deliveries(
                rig.ws,
                &DeliveryQuery {
                    after_id,
                    limit: PAGE,
                    ..DeliveryQuery::default()
                },
            )
            .context("reading the ledger")?;
        let Some(last) = page.last() else {
            return Ok(all);
        };
        after_id = last.id;
        all.extend(page);
    }
}
