//! Summaries of latency samples: how many, the median, the 99th percentile and the maximum,
//! by the nearest-rank rule (the smallest sample at or above the wanted share of samples).
//! Pure arithmetic; measures nothing. Shared by the benchmarks that report latencies.

/// A set of latency samples, in milliseconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Summary {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    /// Summarises `samples_ms` (in any order); all zeros when there are none.
    pub(crate) fn of(mut samples_ms: Vec<f64>) -> Self {
        samples_ms.sort_by(f64::total_cmp);
        Summary {
            samples: samples_ms.len(),
            p50_ms: percentile(&samples_ms, 50),
            p99_ms: percentile(&samples_ms, 99),
            max_ms: samples_ms.last().copied().unwrap_or(0.0),
        }
    }

    /// "p50 1.20 ms, p99 3.40 ms, max 5.00 ms (120 samples)".
    pub(crate) fn describe(&self) -> String {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            self.p50_ms, self.p99_ms, self.max_ms, self.samples
        )
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
        // Two samples: the median is the first (rank ⌈1⌉), p99 the second (rank ⌈1.98⌉).
        check(&[2.0, 1.0], 1.0, 2.0, 2.0);
        check(&[3.0, 1.0, 2.0], 2.0, 3.0, 3.0);
        // 1..=100: p50 is 50 and p99 is 99, whatever the order they came in.
        let hundred: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        check(&hundred, 50.0, 99.0, 100.0);
        // 1..=1000: rank 990 for p99.
        let thousand: Vec<f64> = (1..=1000).map(f64::from).collect();
        check(&thousand, 500.0, 990.0, 1000.0);
    }

    #[test]
    fn one_slow_sample_in_a_hundred_shows_only_in_the_maximum() {
        let mut samples = vec![1.0; 99];
        samples.push(250.0);
        check(&samples, 1.0, 1.0, 250.0);
        samples.push(300.0);
        check(&samples, 1.0, 250.0, 300.0);
    }
}
