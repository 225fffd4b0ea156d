//! What the benchmark asks the processor to maintain: the d2c computed attributes and 20
//! segments mixing attribute, event-count-in-window, time, `not`/`or` and segment-of-segment
//! conditions, plus the latency probe's segment. Stores definitions only; evaluates nothing.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{EventRead, NewSegment, Store};
use serde_json::{json, Value};

use crate::apply::files::{self, Definition};

/// The attribute the latency probe toggles, and the name of the segment that reads it.
pub(super) const PROBE_ATTRIBUTE: &str = "bench_probe";
const PROBE_SEGMENT: &str = "Latency probe";

/// The d2c brand's computed attributes, read from `examples/d2c/definitions/computed.yaml` as
/// `nudge apply` reads it.
fn computed() -> Vec<Value> {
    const D2C: &str = include_str!("../../../../../examples/d2c/definitions/computed.yaml");
    let (definitions, problems) = files::parse_file(Path::new("computed.yaml"), D2C);
    assert!(
        problems.is_empty(),
        "the d2c example is valid: {problems:?}"
    );
    definitions
        .into_iter()
        .filter_map(|located| match located.definition {
            Definition::Computed { definition, .. } => Some(definition),
            Definition::Segment { .. } | Definition::Document { .. } => None,
        })
        .collect()
}

fn attribute(field: &str, operator: &str, value: Value) -> Value {
    json!({"attribute": {"field": field, "operator": operator, "value": value}})
}

fn event(name: &str, count: Value, within: Option<&str>) -> Value {
    let mut event = json!({"name": name, "count": count});
    if let Some(within) = within {
        event["within"] = json!(within);
    }
    json!({ "event": event })
}

/// The 18 segments that read people's data directly.
fn direct_segments() -> Vec<(&'static str, Value)> {
    vec![
        ("Pro plan", attribute("plan", "eq", json!("pro"))),
        (
            "North America",
            attribute("country", "in", json!(["US", "CA"])),
        ),
        ("VIP", attribute("lifetime_value", "gte", json!(500))),
        ("SMS opt-in", attribute("accepts_sms", "eq", json!(true))),
        (
            "Browsing this week",
            event("Product Viewed", json!({"gte": 2}), Some("7d")),
        ),
        (
            "Cart abandoned",
            json!({"and": [event("Added to Cart", json!({"gte": 1}), Some("24h")),
                           event("Order Completed", json!({"eq": 0}), Some("24h"))]}),
        ),
        (
            "Lapsed buyers",
            attribute("last_order_date", "more_than_ago", json!("90d")),
        ),
        (
            "Active this month",
            attribute("last_site_activity", "within_last", json!("30d")),
        ),
        (
            "New sign-ups",
            attribute("created_at", "within_last", json!("60d")),
        ),
        (
            "Big carts",
            json!({"event": {"name": "Added to Cart", "within": "7d",
                "where": [{"field": "cart_value", "operator": "gt", "value": 150}]}}),
        ),
        ("Repeat buyers", attribute("order_count", "gte", json!(3))),
        (
            "Win-back",
            json!({"and": [attribute("last_order_date", "more_than_ago", json!("90d")),
                {"not": attribute("last_site_activity", "within_last", json!("90d"))}]}),
        ),
        (
            "US SMS",
            json!({"and": [attribute("country", "eq", json!("US")),
                           attribute("accepts_sms", "eq", json!(true))]}),
        ),
        (
            "Refunded recently",
            event("Order Refunded", json!({"gte": 1}), Some("90d")),
        ),
        (
            "Enterprise or big spender",
            json!({"or": [attribute("plan", "eq", json!("enterprise")),
                          attribute("lifetime_value", "gte", json!(1000))]}),
        ),
        (
            "Checkout dropouts",
            json!({"and": [event("Checkout Started", json!({"gte": 1}), Some("3d")),
                           event("Order Completed", json!({"eq": 0}), Some("3d"))]}),
        ),
        (
            "Serum fans",
            json!({"event": {"name": "Product Viewed", "within": "30d", "count": {"gte": 3},
                "where": [{"field": "category", "operator": "eq", "value": "serum"}]}}),
        ),
        (
            "Never ordered",
            json!({"and": [event("Order Completed", json!({"eq": 0}), None),
                attribute("created_at", "more_than_ago", json!("30d"))]}),
        ),
    ]
}

/// The 2 segments built on others, given the ids the direct ones were created with.
fn composite_segments(ids: &BTreeMap<&'static str, i64>) -> Vec<(&'static str, Value)> {
    let segment = |name: &str| json!({"segment": {"id": ids[name]}});
    vec![
        (
            "VIP at risk",
            json!({"and": [segment("VIP"), segment("Lapsed buyers")]}),
        ),
        (
            "SMS cart recovery",
            json!({"and": [segment("Cart abandoned"), segment("SMS opt-in"),
                           {"not": segment("Pro plan")}]}),
        ),
    ]
}

/// The stored definitions.
pub(super) struct Defined {
    /// The 20 benchmark segments, by name, with their ids, in creation order.
    pub segments: Vec<(&'static str, i64)>,
    pub probe: i64,
    pub computed: usize,
    /// The events a full evaluation reads: what a backfill page and the raw-read baseline
    /// load.
    pub event_reads: Vec<EventRead>,
}

/// Stores every definition (each starts a backfill over all existing people) and checks that
/// the set compiles as the processor will compile it.
pub(super) fn define(
    store: &dyn Store,
    ws: WorkspaceId,
    now: Timestamp,
) -> anyhow::Result<Defined> {
    let computed = computed();
    for definition in &computed {
        let name = definition["name"].as_str().unwrap_or_default();
        store
            .put_computed_definition(ws, name, definition, now)
            .with_context(|| format!("defining {name}"))?;
    }
    let create = |name: &str, conditions: Value| -> anyhow::Result<i64> {
        let new = NewSegment {
            id: None,
            name: name.to_string(),
            description: String::new(),
            conditions: Some(conditions),
        };
        Ok(store
            .create_segment(ws, &new, now)
            .with_context(|| format!("creating segment {name}"))?
            .id)
    };
    let mut ids = BTreeMap::new();
    let mut segments = Vec::new();
    for (name, conditions) in direct_segments() {
        let id = create(name, conditions)?;
        ids.insert(name, id);
        segments.push((name, id));
    }
    for (name, conditions) in composite_segments(&ids) {
        segments.push((name, create(name, conditions)?));
    }
    let probe = create(PROBE_SEGMENT, attribute(PROBE_ATTRIBUTE, "eq", json!(true)))?;
    let catalog = nudge_process::compile(
        &store.segment_definitions(ws)?,
        &store.computed_definitions(ws)?,
    )
    .context("the benchmark's definitions do not compile")?;
    Ok(Defined {
        segments,
        probe,
        computed: computed.len(),
        event_reads: catalog.full_event_reads(now),
    })
}
