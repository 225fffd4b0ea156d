//! The same-run baseline: the bare provider client. The messages the whole-path phase sent,
//! rebuilt from their ledger rows exactly as the worker hands them to the channel, are sent
//! again through the same `Channel` implementation (the same configured instance, so the
//! same SMTP pool and HTTP client) with as many sends in flight as the worker allows, to the
//! same sink. No ledger, no re-check, no processor: what the provider path alone sustains.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use nudge_delivery::worker::outgoing_messages;
use nudge_delivery::{Outcome, OutgoingMessage};
use nudge_store::Delivery;
use tokio::task::JoinSet;

use super::phase::{received_count, wait_for_receipts};
use super::rig::{Rig, Sink};
use super::stats::{Cpu, CpuPerMessage};

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct BareReport {
    pub messages: u64,
    pub concurrency: usize,
    /// Sends the channel reported as anything but sent.
    pub not_sent: u64,
    /// From the first send to the last receipt.
    pub seconds: f64,
    pub per_second: f64,
    pub cpu_per_message: CpuPerMessage,
}

pub(super) fn run(rig: &Rig, sink: Sink, sent: &[Delivery]) -> anyhow::Result<BareReport> {
    let links = rig.worker_config.policy.unsubscribe_links.as_ref();
    let tracking = rig.worker_config.policy.tracking_links.as_ref();
    let mut messages: Vec<OutgoingMessage> = Vec::with_capacity(sent.len());
    for delivery in sent {
        let person = rig
            .store
            .person(delivery.ws, delivery.message.person)?
            .context("a recipient of the phase is gone")?;
        messages.extend(
            outgoing_messages(delivery, &person, links, tracking)
                .map_err(|reason| anyhow::anyhow!(reason))?,
        );
    }
    let channel = rig
        .channels
        .channel(sink.channel())
        .with_context(|| format!("no {} channel", sink.channel()))?;
    let concurrency = rig.worker_config.concurrency.max(1);
    let count = messages.len();
    let before = received_count(rig, sink);
    let cpu = Cpu::now();
    let started = Instant::now();
    let not_sent = rig.worker_runtime.block_on(async move {
        let mut in_flight = JoinSet::new();
        let mut not_sent = 0u64;
        for message in messages {
            while in_flight.len() >= concurrency {
                not_sent += failed(in_flight.join_next().await);
            }
            let channel = Arc::clone(&channel);
            in_flight.spawn(async move { channel.send(&message).await });
        }
        while let Some(outcome) = in_flight.join_next().await {
            not_sent += failed(Some(outcome));
        }
        not_sent
    });
    let receipts = wait_for_receipts(rig, sink, before, count)?;
    let cpu_per_message = cpu.per_message_since(count as u64);
    let last = receipts.iter().map(|(_, at)| *at).max().unwrap_or(started);
    let seconds = last.duration_since(started).as_secs_f64().max(1e-3);
    Ok(BareReport {
        messages: count as u64,
        concurrency,
        not_sent,
        seconds,
        per_second: count as f64 / seconds,
        cpu_per_message,
    })
}

/// 1 when a send did not end `Sent` (or its task failed), else 0.
fn failed(outcome: Option<Result<Outcome, tokio::task::JoinError>>) -> u64 {
    match outcome {
        Some(Ok(Outcome::Sent { .. })) | None => 0,
        Some(_) => 1,
    }
}
