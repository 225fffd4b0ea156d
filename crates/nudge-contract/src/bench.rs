//! A micro benchmark of what the contract adds to ingest: validation and drift classification
//! of Lumen Skin's events (docs/contract.md) against its contract, for `nudge bench` and
//! BENCHMARKS.md to call. The crate reads no clock: the caller hands [`measure`] its stopwatch.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::drift::classify_event;
use crate::model::Contract;
use crate::validate::{validate_event, validate_traits};
use nudge_core::JsonMap;

/// The contract of the docs' complete example (Lumen Skin, a D2C skincare brand).
pub const D2C_CONTRACT: &str = include_str!("d2c.yaml");

/// A contract and a batch of events and identify calls to check against it.
#[derive(Debug, Clone)]
pub struct Workload {
    pub contract: Contract,
    pub events: Vec<(String, JsonMap)>,
    pub traits: Vec<JsonMap>,
}

impl Workload {
    /// Lumen Skin's contract and one of each of its events, plus three that break it (a
    /// revenue sent as text, an item without its price, an undeclared rename), and one
    /// identify call: the mix a real batch has, mostly conforming.
    pub fn d2c() -> Self {
        let item = |id: &str, price: Value| {
            json!({"product_id": id, "variant_id": format!("{id}-30ml"), "name": "Vitamin C Serum",
                   "price": price, "quantity": 1, "category": "serum"})
        };
        let items = json!([
            item("p-serum", json!(48.0)),
            item("p-cleanser", json!(36.0))
        ]);
        let events = [
            (
                "Product Viewed",
                json!({"product_id": "p-serum", "variant_id": "serum-30ml",
                                      "category": "serum", "price": 48.0}),
            ),
            (
                "Added to Cart",
                json!({"cart_id": "cart-1", "cart_value": 84.0, "items": items}),
            ),
            (
                "Checkout Started",
                json!({"cart_id": "cart-1", "checkout_id": "co-1",
                                        "cart_value": 84.0, "items": items}),
            ),
            (
                "Order Completed",
                json!({"order_id": "o-1", "cart_id": "cart-1", "revenue": 84.0,
                                       "items": items}),
            ),
            ("Order Refunded", json!({"order_id": "o-1", "amount": 36.0})),
            (
                "Order Completed",
                json!({"order_id": "o-2", "cart_id": "cart-2", "revenue": "84.0",
                                       "items": items}),
            ),
            (
                "Added to Cart",
                json!({"cart_id": "cart-3", "cart_value": 48.0,
                                     "items": [item("p-serum", Value::Null)]}),
            ),
            ("order_completed", json!({"order_id": "o-3"})),
        ];
        Self {
            contract: Contract::from_yaml(D2C_CONTRACT).expect("the example contract parses"),
            events: events
                .into_iter()
                .map(|(name, data)| (name.to_string(), object(data)))
                .collect(),
            traits: vec![object(
                json!({"email": "ana@example.com", "first_name": "Ana",
                                       "accepts_sms": true, "timezone": "America/New_York"}),
            )],
        }
    }
}

fn object(value: Value) -> JsonMap {
    match value {
        Value::Object(map) => map,
        _ => JsonMap::new(),
    }
}

/// What [`measure`] counted and how long it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Events and identify calls validated (each also classified for drift).
    pub checked: u64,
    pub violations: u64,
    pub drift_findings: u64,
    pub validating: Duration,
    pub classifying: Duration,
}

impl Measurement {
    pub fn validate_ns_per_call(&self) -> f64 {
        per_call(self.validating, self.checked)
    }

    pub fn classify_ns_per_call(&self) -> f64 {
        per_call(self.classifying, self.checked)
    }
}

fn per_call(spent: Duration, calls: u64) -> f64 {
    if calls == 0 {
        return 0.0;
    }
    spent.as_nanos() as f64 / calls as f64
}

/// Validates, then classifies, every event and identify call of the workload `rounds` times,
/// timing each pass with `now` (the caller's stopwatch, `Instant::now` in production).
pub fn measure(workload: &Workload, rounds: u32, now: impl Fn() -> Instant) -> Measurement {
    let contract = &workload.contract;
    let mut violations = 0u64;
    let started = now();
    for _ in 0..rounds {
        for (name, properties) in &workload.events {
            violations += black_box(validate_event(contract, name, properties)).len() as u64;
        }
        for traits in &workload.traits {
            violations += black_box(validate_traits(contract, traits)).len() as u64;
        }
    }
    let validated = now();
    let mut drift_findings = 0u64;
    for _ in 0..rounds {
        for (name, properties) in &workload.events {
            drift_findings += black_box(classify_event(contract, name, properties)).len() as u64;
        }
        for traits in &workload.traits {
            drift_findings +=
                black_box(crate::drift::classify_traits(contract, traits)).len() as u64;
        }
    }
    let classified = now();
    Measurement {
        checked: u64::from(rounds) * (workload.events.len() + workload.traits.len()) as u64,
        violations,
        drift_findings,
        validating: validated.saturating_duration_since(started),
        classifying: classified.saturating_duration_since(validated),
    }
}
