//! CPU per thread group between two moments (the latency summaries are `bench::summary`).
//! `/proc` reads and arithmetic only.

use std::time::Duration;

use super::rig::{PROCESSOR_THREAD, SINK_THREADS, WORKER_THREADS};
use crate::bench::segments::usage::thread_cpu;

/// CPU used so far by the delivery worker's runtime (its blocking store calls included),
/// the processor thread and the sinks' runtime.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cpu {
    worker: Duration,
    processor: Duration,
    sinks: Duration,
}

/// CPU per message of each thread group between two readings, in microseconds.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct CpuPerMessage {
    pub worker_us: f64,
    pub processor_us: f64,
    pub sinks_us: f64,
}

impl Cpu {
    pub(super) fn now() -> Cpu {
        Cpu {
            worker: thread_cpu(WORKER_THREADS),
            processor: thread_cpu(PROCESSOR_THREAD),
            sinks: thread_cpu(SINK_THREADS),
        }
    }

    /// What each group used since `self`, per message of `messages`.
    pub(super) fn per_message_since(self, messages: u64) -> CpuPerMessage {
        let now = Cpu::now();
        let micros = |after: Duration, before: Duration| {
            after.saturating_sub(before).as_secs_f64() * 1e6 / messages.max(1) as f64
        };
        CpuPerMessage {
            worker_us: micros(now.worker, self.worker),
            processor_us: micros(now.processor, self.processor),
            sinks_us: micros(now.sinks, self.sinks),
        }
    }
}
