//! A workspace's segment and computed-attribute definitions, validated and compiled for
//! evaluation. The processor, the App API and `nudge apply` all go through [`compile`], so a
//! set of definitions the API accepts is exactly a set the processor can run.

use std::collections::{BTreeMap, BTreeSet};

use nudge_conditions::computed::{parse_computed, ComputedAttribute};
use nudge_conditions::segments::{SegmentRule, SegmentSet, SegmentSetError};
use nudge_conditions::{Condition, DurationMs};
use nudge_core::Timestamp;
use nudge_store::{ComputedDefinition, EventRead, SegmentDefinition};
use serde_json::Value;

/// Attributes that name a person rather than describe them: never computed.
const IDENTITY_ATTRIBUTES: [&str; 4] = ["id", "email", "phone", "cio_id"];

/// `segment 6 (VIP)`: how refusals name a segment.
pub fn segment_subject(id: i64, name: &str) -> String {
    format!("segment {id} ({name})")
}

/// `computed attribute lifetime_value`: how refusals name a computed attribute.
pub fn computed_subject(name: &str) -> String {
    format!("computed attribute {name}")
}

/// Why a set of definitions was refused: which definition, where in it, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{subject}: {pointer}: {message}")]
pub struct CatalogError {
    /// `segment 6 (VIP)` or `computed attribute lifetime_value`.
    pub subject: String,
    /// JSON pointer inside the definition's document (`""` for the whole of it).
    pub pointer: String,
    pub message: String,
}

/// Definitions ready to evaluate.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub segments: SegmentSet,
    /// Every segment, manual or data-driven, by id.
    pub definitions: BTreeMap<i64, SegmentDefinition>,
    pub computed: Vec<ComputedAttribute>,
    /// The stored definitions of `computed`, in the same order.
    pub computed_definitions: Vec<ComputedDefinition>,
    /// Event names the segments read, with how far back any of them looks (`None`: all
    /// time, some condition counts every such event).
    segment_events: BTreeMap<String, Option<DurationMs>>,
    /// The names whose data a segment's `where` filter reads, with how far back.
    segment_event_data: BTreeMap<String, Option<DurationMs>>,
    /// The same two, per data-driven segment.
    reads_by_segment: BTreeMap<i64, (Lookbacks, Lookbacks)>,
    /// Journeys and the templates they send.
    pub journeys: crate::journeys::JourneyCatalog,
}

/// Event names with how far back they are read (`None`: all of time).
type Lookbacks = BTreeMap<String, Option<DurationMs>>;

impl Catalog {
    pub fn is_computed(&self, attribute: &str) -> bool {
        self.computed.iter().any(|c| c.name == attribute)
    }

    /// The version of the named computed attribute's definition (0 if there is none).
    pub fn computed_version(&self, name: &str) -> i64 {
        self.computed_definitions
            .iter()
            .find(|d| d.name == name)
            .map_or(0, |d| d.version)
    }

    pub fn computed_names(&self) -> BTreeSet<String> {
        self.computed.iter().map(|c| c.name.clone()).collect()
    }

    /// Whether an event of this name can change anything: a computed attribute or a segment.
    pub fn reads_event(&self, name: &str) -> bool {
        self.segments.reads_event(name) || self.computed.iter().any(|c| c.reads(name))
    }

    /// Every event name a segment reads: what a full evaluation of a person loads.
    pub fn segment_events(&self) -> impl Iterator<Item = &String> {
        self.segment_events.keys()
    }

    /// The events an evaluation of these segments needs: each name from the longest window
    /// any of their conditions reads it over (all of it when one counts every such event),
    /// with data only where a `where` filter reads it. Older events cannot change any answer.
    pub fn segment_event_reads_for(
        &self,
        segments: &BTreeSet<i64>,
        now: Timestamp,
    ) -> Vec<EventRead> {
        let (mut times, mut data) = (Lookbacks::new(), Lookbacks::new());
        for id in segments {
            if let Some((their_times, their_data)) = self.reads_by_segment.get(id) {
                merge_lookbacks(&mut times, their_times);
                merge_lookbacks(&mut data, their_data);
            }
        }
        event_reads(&times, &data, now)
    }

    /// The events a full evaluation of a person needs (every computed attribute recomputed
    /// from all of its events, every segment evaluated): what a backfill page reads ahead.
    pub fn full_event_reads(&self, now: Timestamp) -> Vec<EventRead> {
        let mut times = self.segment_events.clone();
        let mut data = self.segment_event_data.clone();
        for attribute in &self.computed {
            for name in attribute.event_names() {
                if attribute.reads_event_data() {
                    data.insert(name.clone(), None);
                }
                times.insert(name, None);
            }
        }
        event_reads(&times, &data, now)
    }

    /// How the computed attribute reads its events: all of them, with data if it folds any.
    pub fn computed_event_read(attribute: &ComputedAttribute) -> EventRead {
        EventRead {
            names: attribute.event_names().into_iter().collect(),
            since: None,
            with_data: attribute.reads_event_data(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty() && self.computed.is_empty() && self.journeys.is_empty()
    }

    /// These definitions with `journeys` added.
    pub fn with_journeys(self, journeys: crate::journeys::JourneyCatalog) -> Self {
        Catalog { journeys, ..self }
    }
}

/// Validates and compiles a workspace's definitions. Refuses a condition that does not parse,
/// a reference to a segment that does not exist, segments that depend on each other in a
/// cycle, and a computed attribute that does not parse, names an identity attribute or does
/// not match the name it is stored under.
pub fn compile(
    segments: &[SegmentDefinition],
    computed: &[ComputedDefinition],
) -> Result<Catalog, CatalogError> {
    let ids: BTreeSet<i64> = segments.iter().map(|s| s.id).collect();
    let mut rules = Vec::new();
    let mut segment_events = BTreeMap::new();
    let mut segment_event_data = BTreeMap::new();
    let mut reads_by_segment = BTreeMap::new();
    for segment in segments {
        let Some(document) = &segment.conditions else {
            continue;
        };
        let subject = || segment_subject(segment.id, &segment.name);
        let condition = nudge_conditions::parse(document).map_err(|e| CatalogError {
            subject: subject(),
            pointer: e.pointer,
            message: e.message,
        })?;
        if let Some((pointer, missing)) = segment_references(document, "")
            .into_iter()
            .find(|(_, id)| !ids.contains(id))
        {
            return Err(CatalogError {
                subject: subject(),
                pointer,
                message: format!("there is no segment {missing}"),
            });
        }
        let (mut times, mut data) = (Lookbacks::new(), Lookbacks::new());
        collect_lookbacks(&condition, &mut times, false);
        collect_lookbacks(&condition, &mut data, true);
        merge_lookbacks(&mut segment_events, &times);
        merge_lookbacks(&mut segment_event_data, &data);
        reads_by_segment.insert(segment.id, (times, data));
        rules.push(SegmentRule {
            id: segment.id,
            condition,
        });
    }
    let set = SegmentSet::new(rules).map_err(|SegmentSetError::Cycle(ids)| CatalogError {
        subject: format!("segments {ids:?}"),
        pointer: String::new(),
        message: "these segments depend on each other in a cycle".into(),
    })?;
    let mut attributes = Vec::new();
    for definition in computed {
        let subject = || computed_subject(&definition.name);
        let attribute = parse_computed(&definition.definition).map_err(|e| CatalogError {
            subject: subject(),
            pointer: e.pointer,
            message: e.message,
        })?;
        if attribute.name != definition.name {
            return Err(CatalogError {
                subject: subject(),
                pointer: "/name".into(),
                message: format!(
                    "the definition computes '{}', not '{}'",
                    attribute.name, definition.name
                ),
            });
        }
        if IDENTITY_ATTRIBUTES.contains(&attribute.name.as_str()) {
            return Err(CatalogError {
                subject: subject(),
                pointer: "/name".into(),
                message: format!(
                    "'{}' identifies a person and cannot be computed",
                    attribute.name
                ),
            });
        }
        attributes.push(attribute);
    }
    Ok(Catalog {
        segments: set,
        definitions: segments.iter().map(|s| (s.id, s.clone())).collect(),
        computed: attributes,
        computed_definitions: computed.to_vec(),
        segment_events,
        segment_event_data,
        reads_by_segment,
        journeys: Default::default(),
    })
}

/// Records, per event name, the longest window any event condition reads it through (`None`
/// once one reads it without a window).
/// How far back `condition` reads each event name (`None`: all of time); with `data`, only
/// the names whose data a `where` filter reads.
fn collect_lookbacks(
    condition: &Condition,
    into: &mut BTreeMap<String, Option<DurationMs>>,
    data: bool,
) {
    match condition {
        Condition::And(all) | Condition::Or(all) => {
            all.iter().for_each(|c| collect_lookbacks(c, into, data))
        }
        Condition::Not(inner) => collect_lookbacks(inner, into, data),
        Condition::Event(event) if !data || !event.filters.is_empty() => {
            merge_lookback(into, &event.name, event.within);
        }
        Condition::Event(_) | Condition::Segment { .. } | Condition::Attribute(_) => {}
    }
}

/// Adds every lookback of `from` to `into`.
fn merge_lookbacks(into: &mut Lookbacks, from: &Lookbacks) {
    for (name, lookback) in from {
        merge_lookback(into, name, *lookback);
    }
}

/// Reads `name` at least `lookback` far back (`None`: all of time) as well.
fn merge_lookback(into: &mut Lookbacks, name: &str, lookback: Option<DurationMs>) {
    let entry = into.entry(name.to_string()).or_insert(lookback);
    *entry = match (*entry, lookback) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    };
}

/// Reads covering `times` (each name's events from its lookback) and `data` (the same with
/// their data): a name whose data is read at least as far back needs no separate read. Names
/// that look back over windows share one read from the longest of them.
fn event_reads(
    times: &BTreeMap<String, Option<DurationMs>>,
    data: &BTreeMap<String, Option<DurationMs>>,
    now: Timestamp,
) -> Vec<EventRead> {
    // (all time, windowed, longest window), without and with data.
    let mut groups: [(Vec<String>, Vec<String>, DurationMs); 2] = Default::default();
    let mut add = |name: &String, lookback: Option<DurationMs>, with_data: bool| {
        let group = &mut groups[usize::from(with_data)];
        match lookback {
            None => group.0.push(name.clone()),
            Some(window) => {
                group.1.push(name.clone());
                group.2 = group.2.max(window);
            }
        }
    };
    for (name, lookback) in times {
        let covered = match (data.get(name), lookback) {
            (Some(None), _) => true,
            (Some(Some(d)), Some(t)) => d >= t,
            _ => false,
        };
        if !covered {
            add(name, *lookback, false);
        }
    }
    for (name, lookback) in data {
        add(name, *lookback, true);
    }
    let mut reads = Vec::new();
    for (with_data, (all_time, windowed, longest)) in [false, true].into_iter().zip(groups) {
        if !all_time.is_empty() {
            reads.push(EventRead {
                names: all_time,
                since: None,
                with_data,
            });
        }
        if !windowed.is_empty() {
            reads.push(EventRead {
                names: windowed,
                since: Some(now.minus_millis(longest)),
                with_data,
            });
        }
    }
    reads
}

/// Every `{"segment": {"id": N}}` inside a condition document, with its JSON pointer.
fn segment_references(value: &Value, at: &str) -> Vec<(String, i64)> {
    let mut found = Vec::new();
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                if key == "segment" {
                    if let Some(id) = inner.get("id").and_then(Value::as_i64) {
                        found.push((format!("{here}/id"), id));
                    }
                }
                found.extend(segment_references(inner, &here));
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                found.extend(segment_references(inner, &format!("{at}/{i}")));
            }
        }
        _ => {}
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::Timestamp;
    use nudge_store::Backfill;
    use serde_json::json;

    fn segment(id: i64, conditions: Option<Value>) -> SegmentDefinition {
        SegmentDefinition {
            id,
            name: format!("s{id}"),
            description: String::new(),
            conditions,
            version: 1,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            backfill: Backfill::COMPLETE,
        }
    }

    fn computed(name: &str, definition: Value) -> ComputedDefinition {
        ComputedDefinition {
            name: name.into(),
            definition,
            version: 1,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            backfill: Backfill::COMPLETE,
        }
    }

    #[test]
    fn a_valid_set_compiles_and_knows_what_it_reads() {
        let catalog = compile(
            &[
                segment(1, None),
                segment(
                    2,
                    Some(json!({"and": [{"segment": {"id": 1}},
                    {"event": {"name": "Order Completed", "within": "30d"}}]})),
                ),
            ],
            &[computed(
                "order_count",
                json!({"name": "order_count", "aggregate": "count", "event": "Order Placed"}),
            )],
        )
        .unwrap();
        assert!(catalog.reads_event("Order Completed"));
        assert!(catalog.reads_event("Order Placed"));
        assert!(!catalog.reads_event("Page Viewed"));
        assert!(catalog.is_computed("order_count"));
        assert_eq!(
            catalog.segment_events().collect::<Vec<_>>(),
            ["Order Completed"]
        );
        let now = Timestamp::from_millis(100 * 86_400_000);
        assert_eq!(
            catalog.segment_event_reads_for(&BTreeSet::from([1, 2]), now),
            [EventRead {
                names: vec!["Order Completed".to_string()],
                since: Some(Timestamp::from_millis(70 * 86_400_000)),
                with_data: false,
            }]
        );
        assert_eq!(
            catalog.full_event_reads(now),
            [
                EventRead {
                    names: vec!["Order Placed".to_string()],
                    since: None,
                    with_data: false,
                },
                EventRead {
                    names: vec!["Order Completed".to_string()],
                    since: Some(Timestamp::from_millis(70 * 86_400_000)),
                    with_data: false,
                }
            ]
        );
    }

    #[test]
    fn refusals_name_the_definition_and_the_node() {
        let unknown = compile(
            &[segment(
                3,
                Some(
                    json!({"or": [{"attribute": {"field": "a", "operator": "exists"}},
                                    {"segment": {"id": 99}}]}),
                ),
            )],
            &[],
        )
        .unwrap_err();
        assert_eq!(unknown.subject, "segment 3 (s3)");
        assert_eq!(unknown.pointer, "/or/1/segment/id");
        assert!(unknown.message.contains("99"), "{unknown}");

        let bad = compile(
            &[segment(
                4,
                Some(json!({"attribute": {"field": "a", "operator": "equals", "value": 1}})),
            )],
            &[],
        )
        .unwrap_err();
        assert_eq!(bad.pointer, "/attribute/operator");

        let cycle = compile(
            &[
                segment(5, Some(json!({"segment": {"id": 6}}))),
                segment(6, Some(json!({"segment": {"id": 5}}))),
            ],
            &[],
        )
        .unwrap_err();
        assert!(cycle.message.contains("cycle"), "{cycle}");

        let renamed = compile(
            &[],
            &[computed(
                "ltv",
                json!({"name": "lifetime_value", "aggregate": "count", "event": "x"}),
            )],
        )
        .unwrap_err();
        assert_eq!(
            (renamed.subject.as_str(), renamed.pointer.as_str()),
            ("computed attribute ltv", "/name")
        );
        let identity = compile(
            &[],
            &[computed(
                "email",
                json!({"name": "email", "aggregate": "last", "event": "x", "value": "e"}),
            )],
        )
        .unwrap_err();
        assert!(identity.message.contains("identifies"), "{identity}");
    }
}
