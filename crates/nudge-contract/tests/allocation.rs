//! The hot-path promise: validating or classifying a conforming event or identify call
//! allocates nothing (an empty result `Vec` does not allocate). Counted with an instrumented
//! global allocator; this file holds one test so no other test allocates meanwhile.

use std::alloc::System;

use nudge_contract::bench::Workload;
use nudge_contract::{classify_event, classify_traits, validate_event, validate_traits};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

#[test]
fn conforming_calls_allocate_nothing_and_violations_do() {
    let workload = Workload::d2c();
    let contract = &workload.contract;
    let conforming: Vec<_> = workload
        .events
        .iter()
        .filter(|(name, properties)| validate_event(contract, name, properties).is_empty())
        .collect();
    assert_eq!(
        conforming.len(),
        5,
        "one conforming event of each declared name"
    );

    let region = Region::new(GLOBAL);
    let mut found = 0;
    for (name, properties) in &conforming {
        found += validate_event(contract, name, properties).len();
        found += classify_event(contract, name, properties).len();
    }
    for traits in &workload.traits {
        found += validate_traits(contract, traits).len();
        found += classify_traits(contract, traits).len();
    }
    let counted = region.change();
    assert_eq!(found, 0);
    assert_eq!(counted.allocations, 0, "{counted:?}");
    assert_eq!(counted.reallocations, 0, "{counted:?}");

    // The counter works: a violation allocates its message.
    let region = Region::new(GLOBAL);
    let (name, properties) = workload
        .events
        .iter()
        .find(|(name, properties)| !validate_event(contract, name, properties).is_empty())
        .expect("the workload has a violation");
    let before = region.change().allocations;
    assert!(!validate_event(contract, name, properties).is_empty());
    assert!(region.change().allocations > before);
}
