//! The ledger's write cost on its own: `messages` email deliveries are queued by the
//! processor with no worker running, then claimed and finished (`sent`) straight through the
//! store in the worker's batch size, one thread, nothing sent. Reports the time per message
//! in `claim_deliveries` and in `finish_deliveries` (commits included) and the calling
//! thread's CPU (for PostgreSQL most of the work is in the server process).

use std::time::{Duration, Instant};

use nudge_store::{DeliveryUpdate, FinishedDelivery};

use super::definitions::order_event;
use super::rig::{Rig, Sink};
use crate::bench::segments::usage::thread_cpu;

/// The measuring thread's name, for its CPU time.
const LEDGER_THREAD: &str = "bench-ledger";

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct LedgerReport {
    pub deliveries: u64,
    pub batch: usize,
    pub claim_us_per_message: f64,
    pub finish_us_per_message: f64,
    /// Claim and finish together, in time and in this process's CPU.
    pub us_per_message: f64,
    pub cpu_us_per_message: f64,
    /// Claim plus finish of every delivery back to back: the most the ledger could take.
    pub per_second: f64,
}

pub(super) fn run(rig: &Rig, messages: u64) -> anyhow::Result<LedgerReport> {
    rig.submit((0..messages).map(|n| order_event(Sink::Smtp.event(), n, n)))?;
    rig.wait_caught_up()?;
    let batch = rig.worker_config.batch.max(1);
    let claim_for = rig.worker_config.claim_for;
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name(LEDGER_THREAD.into())
            .spawn_scoped(scope, || measure(rig, batch, claim_for))?
            .join()
            .map_err(|_| anyhow::anyhow!("the ledger measurement panicked"))?
    })
}

fn measure(rig: &Rig, batch: usize, claim_for: Duration) -> anyhow::Result<LedgerReport> {
    let cpu_before = thread_cpu(LEDGER_THREAD);
    let (mut claiming, mut finishing) = (Duration::ZERO, Duration::ZERO);
    let mut deliveries = 0u64;
    loop {
        let now = rig.clock.now();
        let until = now.plus_millis(i64::try_from(claim_for.as_millis()).unwrap_or(i64::MAX));
        let started = Instant::now();
        let claimed = rig.store.claim_deliveries(now, until, batch)?;
        claiming += started.elapsed();
        if claimed.is_empty() {
            break;
        }
        let finished: Vec<FinishedDelivery> = claimed
            .iter()
            .map(|d| FinishedDelivery {
                ws: d.ws,
                id: d.id,
                attempts: d.attempts,
                update: DeliveryUpdate::Sent {
                    provider_message_id: Some(format!("bench-{}", d.id)),
                    response: None,
                    note: None,
                },
            })
            .collect();
        let started = Instant::now();
        let kept = rig.store.finish_deliveries(&finished, rig.clock.now())?;
        finishing += started.elapsed();
        if kept.iter().any(|kept| !kept) {
            anyhow::bail!("a claim was lost while nothing else held the ledger");
        }
        deliveries += claimed.len() as u64;
    }
    let cpu = thread_cpu(LEDGER_THREAD).saturating_sub(cpu_before);
    let micros = |d: Duration| d.as_secs_f64() * 1e6 / deliveries.max(1) as f64;
    let total = claiming + finishing;
    Ok(LedgerReport {
        deliveries,
        batch,
        claim_us_per_message: micros(claiming),
        finish_us_per_message: micros(finishing),
        us_per_message: micros(total),
        cpu_us_per_message: micros(cpu),
        per_second: deliveries as f64 / total.as_secs_f64().max(1e-9),
    })
}
