//! The micro benchmark counts what it checked and divides the time it was handed.

use std::cell::Cell;
use std::time::{Duration, Instant};

use nudge_contract::bench::{measure, Workload};

#[test]
fn the_workload_is_mostly_conforming_and_the_arithmetic_holds() {
    let workload = Workload::d2c();
    assert_eq!(workload.events.len(), 8);
    assert_eq!(workload.traits.len(), 1);
    let start = Instant::now();
    let ticks = Cell::new(0u32);
    // A stopwatch that moves 1 ms, then 3 ms: validating took 1 ms, classifying 2 ms.
    let stopwatch = || {
        let t = ticks.get();
        ticks.set(t + 1);
        start + Duration::from_millis([0, 1, 3][t as usize])
    };
    let measured = measure(&workload, 10, stopwatch);
    assert_eq!(measured.checked, 90);
    assert_eq!(measured.violations, 30, "three violations a round");
    assert_eq!(measured.drift_findings, 30, "three findings a round");
    assert_eq!(measured.validating, Duration::from_millis(1));
    assert_eq!(measured.classifying, Duration::from_millis(2));
    assert!((measured.validate_ns_per_call() - 1_000_000.0 / 90.0).abs() < 1e-6);
    assert!((measured.classify_ns_per_call() - 2_000_000.0 / 90.0).abs() < 1e-6);
    let none = measure(&workload, 0, || start);
    assert_eq!((none.checked, none.validate_ns_per_call()), (0, 0.0));
}
