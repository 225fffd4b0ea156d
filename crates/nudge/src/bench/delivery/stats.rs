//! Summaries of latency samples (count, median, 99th percentile, maximum by the nearest-rank
//! rule) and CPU per thread group between two moments. Arithmetic and `/proc` reads only.

use std::time::Duration;

use super::rig::{PROCESSOR_THREAD, SINK_THREADS, WORKER_THREADS};
use crate::bench::segments::usage::thread_cpu;

/// A set of latency samples, in milliseconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(super) struct Summary {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    /// Summarises `samples_ms` (in any order); all zeros when there are none.
    pub(super) fn of(mut samples_ms: Vec<f64>) -> Self {
        samples_ms.sort_by(f64::total_cmp);
        Summary {
            samples: samples_ms.len(),
            p50_ms: percentile(&samples_ms, 50),
            p99_ms: percentile(&samples_ms, 99),
            max_ms: samples_ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// The nearest-rank `percent` percentile of `sorted` (ascending): the sample at rank
/// ⌈percent × n / 100⌉, counting from 1; 0 for no samples.
fn percentile(sorted: &[f64], percent: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (percent * sorted.len()).div_ceil(100);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(samples: &[f64], p50: f64, p99: f64, max: f64) {
        let summary = Summary::of(samples.to_vec());
        assert_eq!(
            (
                summary.samples,
                summary.p50_ms,
                summary.p99_ms,
                summary.max_ms
            ),
            (samples.len(), p50, p99, max),
            "{samples:?}"
        );
    }

    #[test]
    fn percentiles_follow_the_nearest_rank_rule() {
        check(&[], 0.0, 0.0, 0.0);
        check(&[7.0], 7.0, 7.0, 7.0);
        check(&[2.0, 1.0], 1.0, 2.0, 2.0);
        let thousand: Vec<f64> = (1..=1000).rev().map(f64::from).collect();
        check(&thousand, 500.0, 990.0, 1000.0);
    }
}
