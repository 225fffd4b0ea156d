//! What a workspace's configuration reads from events and person attributes, as the
//! contract check takes it ([`nudge_contract::Usage`]): journeys (trigger, `where` fields,
//! `match` fields, exits, the goal, waits, `delay_until` times read from the trigger event,
//! the entry key, event conditions), segments' and computed attributes' event conditions and
//! sources, and the variables templates render: `event.*` against the trigger event of every
//! journey that sends the template, `customer.*` against person attributes. Each usage names
//! its document and the JSON pointer of the node in it. Pure: the caller hands in the
//! documents, `nudge apply` and the App API alike.

use std::collections::{BTreeMap, BTreeSet};

use nudge_contract::{Read, Usage};
use nudge_process::journeys::{journey_subject, template_subject};
use nudge_process::{computed_subject, segment_subject};
use nudge_store::{ComputedDefinition, Document, SegmentDefinition};
use nudge_templates::parse_template;
use serde_json::Value;

/// A workspace's live configuration, as the check reads it.
#[derive(Debug, Clone, Copy)]
pub struct Configuration<'a> {
    /// The live version of each journey.
    pub journeys: &'a [Document],
    /// The live templates.
    pub templates: &'a [Document],
    pub segments: &'a [SegmentDefinition],
    pub computed: &'a [ComputedDefinition],
}

/// Every read of `config`, and the person attributes Nudge writes itself (computed
/// attributes, and attributes journeys' `update` steps set), which the contract does not
/// declare.
pub fn usages(config: Configuration<'_>) -> (Vec<Usage>, BTreeSet<String>) {
    let mut out = Vec::new();
    let mut derived: BTreeSet<String> = config.computed.iter().map(|c| c.name.clone()).collect();
    let templates: BTreeMap<&str, &Document> = config
        .templates
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    for journey in config.journeys.iter().filter(|j| !j.deleted) {
        journey_usages(journey, &templates, &mut out, &mut derived);
    }
    for template in config.templates {
        template_person_usages(template, &mut out);
    }
    for segment in config.segments {
        if let Some(conditions) = &segment.conditions {
            let subject = segment_subject(segment.id, &segment.name);
            conditions_usages(&subject, conditions, "/conditions", &mut out);
        }
    }
    for computed in config.computed {
        computed_usages(computed, &mut out);
    }
    (out, derived)
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn at(base: &str, key: impl std::fmt::Display) -> String {
    format!("{base}/{}", escape(&key.to_string()))
}

fn event_read(name: &str) -> Read {
    Read::Event(name.to_string())
}

fn property_read(event: &str, path: &str) -> Read {
    Read::EventProperty {
        event: event.to_string(),
        path: path.to_string(),
    }
}

/// The `field` of each entry of a `where` list.
fn where_usages(
    subject: &str,
    event: &str,
    list: Option<&Value>,
    base: &str,
    out: &mut Vec<Usage>,
) {
    let Some(Value::Array(filters)) = list else {
        return;
    };
    for (index, filter) in filters.iter().enumerate() {
        if let Some(field) = filter.get("field").and_then(Value::as_str) {
            let pointer = at(&at(&at(base, "where"), index), "field");
            out.push(Usage::new(subject, pointer, property_read(event, field)));
        }
    }
}

struct JourneyReads<'a> {
    subject: String,
    trigger: Option<&'a str>,
}

impl JourneyReads<'_> {
    /// An event the journey reacts to (`event` or `name` under `base`), its `where` fields,
    /// and its `match` fields, which must be in this event and in the trigger event.
    fn matcher(&self, map: &Value, name_key: &str, base: &str, out: &mut Vec<Usage>) {
        let Some(name) = map.get(name_key).and_then(Value::as_str) else {
            return;
        };
        out.push(Usage::new(
            &self.subject,
            at(base, name_key),
            event_read(name),
        ));
        where_usages(&self.subject, name, map.get("where"), base, out);
        let Some(Value::Array(fields)) = map.get("match") else {
            return;
        };
        for (index, field) in fields.iter().enumerate() {
            let Some(field) = field.as_str() else {
                continue;
            };
            let pointer = at(&at(base, "match"), index);
            out.push(Usage::new(
                &self.subject,
                &pointer,
                property_read(name, field),
            ));
            if let Some(trigger) = self.trigger {
                out.push(
                    Usage::new(&self.subject, &pointer, property_read(trigger, field))
                        .with_context(format!("match compares {field} with the trigger event")),
                );
            }
        }
    }
}

fn journey_usages(
    journey: &Document,
    templates: &BTreeMap<&str, &Document>,
    out: &mut Vec<Usage>,
    derived: &mut BTreeSet<String>,
) {
    let body = &journey.body;
    let reads = JourneyReads {
        subject: journey_subject(&journey.name),
        trigger: body.pointer("/trigger/event").and_then(Value::as_str),
    };
    let subject = reads.subject.as_str();
    if let Some(trigger) = body.get("trigger") {
        reads.matcher(trigger, "event", "/trigger", out);
    }
    if let Some(entry) = body.get("entry") {
        if let (Some(trigger), Some(key)) =
            (reads.trigger, entry.get("key").and_then(Value::as_str))
        {
            out.push(Usage::new(
                subject,
                "/entry/key",
                property_read(trigger, key),
            ));
        }
        if let Some(conditions) = entry.get("conditions") {
            conditions_usages(subject, conditions, "/entry/conditions", out);
        }
    }
    if let Some(Value::Array(exits)) = body.get("exit") {
        for (index, exit) in exits.iter().enumerate() {
            let base = at("/exit", index);
            reads.matcher(exit, "event", &base, out);
            if let Some(conditions) = exit.get("conditions") {
                conditions_usages(subject, conditions, &at(&base, "conditions"), out);
            }
        }
    }
    if let Some(goal) = body.get("goal") {
        reads.matcher(goal, "event", "/goal", out);
    }
    let Some(Value::Array(steps)) = body.get("steps") else {
        return;
    };
    for (index, step) in steps.iter().enumerate() {
        let Value::Object(step) = step else { continue };
        let base = at("/steps", index);
        let step_id = step.get("id").and_then(Value::as_str).unwrap_or_default();
        for (key, value) in step {
            let here = at(&base, key);
            match key.as_str() {
                "wait_until" => {
                    if let Some(event) = value.get("event") {
                        reads.matcher(event, "name", &at(&here, "event"), out);
                    }
                    if let Some(conditions) = value.get("conditions") {
                        conditions_usages(subject, conditions, &at(&here, "conditions"), out);
                    }
                }
                "delay_until" => {
                    let time = value.get("time").and_then(Value::as_str);
                    let field = time.and_then(|t| t.strip_prefix("trigger."));
                    if let (Some(trigger), Some(field)) = (reads.trigger, field) {
                        if field != "timestamp" {
                            let pointer = at(&here, "time");
                            out.push(Usage::new(subject, pointer, property_read(trigger, field)));
                        }
                    }
                }
                "branch" | "split" | "skip_if" => conditions_usages(subject, value, &here, out),
                "update" => {
                    if let Some(Value::Object(attributes)) = value.get("attributes") {
                        derived.extend(attributes.keys().cloned());
                    }
                }
                "send" => {
                    let template = value.get("template").and_then(Value::as_str);
                    let found = template.and_then(|t| templates.get(t));
                    if let (Some(trigger), Some(template)) = (reads.trigger, found) {
                        let sent_by = format!("sent by {subject}, step {step_id}");
                        template_event_usages(template, trigger, &sent_by, out);
                    }
                }
                _ => {}
            }
        }
    }
}

/// Every `{"event": {"name", "where"}}` inside a condition tree.
fn conditions_usages(subject: &str, value: &Value, base: &str, out: &mut Vec<Usage>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let here = at(base, key);
                match (key.as_str(), inner.get("name").and_then(Value::as_str)) {
                    ("event", Some(name)) => {
                        out.push(Usage::new(subject, at(&here, "name"), event_read(name)));
                        where_usages(subject, name, inner.get("where"), &here, out);
                    }
                    _ => conditions_usages(subject, inner, &here, out),
                }
            }
        }
        Value::Array(items) => {
            for (index, inner) in items.iter().enumerate() {
                conditions_usages(subject, inner, &at(base, index), out);
            }
        }
        _ => {}
    }
}

/// A computed attribute's sources (`event`, `value`, `where`, alone or under `sources`) and
/// the events it is reset on.
fn computed_usages(computed: &ComputedDefinition, out: &mut Vec<Usage>) {
    let subject = computed_subject(&computed.name);
    let definition = &computed.definition;
    let mut source = |source: &Value, base: &str| {
        let Some(event) = source.get("event").and_then(Value::as_str) else {
            return;
        };
        out.push(Usage::new(&subject, at(base, "event"), event_read(event)));
        if let Some(value) = source.get("value").and_then(Value::as_str) {
            if !value.starts_with('@') {
                out.push(Usage::new(
                    &subject,
                    at(base, "value"),
                    property_read(event, value),
                ));
            }
        }
        where_usages(&subject, event, source.get("where"), base, out);
    };
    source(definition, "");
    if let Some(Value::Array(sources)) = definition.get("sources") {
        for (index, one) in sources.iter().enumerate() {
            source(one, &at("/sources", index));
        }
    }
    if let Some(Value::Array(resets)) = definition.get("reset_on") {
        for (index, name) in resets.iter().enumerate() {
            if let Some(name) = name.as_str() {
                out.push(Usage::new(
                    &subject,
                    at("/reset_on", index),
                    event_read(name),
                ));
            }
        }
    }
}

/// The variables a template reads where a missing value fails the message (those under a
/// `default` or an existence test are not), part by part. A template that does not parse
/// reads nothing here: the compile check refuses it with its own message.
fn template_reads(template: &Document) -> Vec<(String, String)> {
    match parse_template(&template.body) {
        Ok(parsed) => parsed
            .variables()
            .into_iter()
            .map(|v| (v.part, v.path))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn template_event_usages(template: &Document, trigger: &str, sent_by: &str, out: &mut Vec<Usage>) {
    let subject = template_subject(&template.name);
    for (part, path) in template_reads(template) {
        let Some(rest) = path.strip_prefix("event.") else {
            continue;
        };
        out.push(
            Usage::new(&subject, at("", &part), property_read(trigger, rest))
                .with_context(format!("reads {path} ({sent_by})")),
        );
    }
}

fn template_person_usages(template: &Document, out: &mut Vec<Usage>) {
    let subject = template_subject(&template.name);
    for (part, path) in template_reads(template) {
        let Some(rest) = path.strip_prefix("customer.") else {
            continue;
        };
        out.push(
            Usage::new(
                &subject,
                at("", &part),
                Read::PersonAttribute(rest.to_string()),
            )
            .with_context(format!("reads {path}")),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::Timestamp;
    use serde_json::json;

    fn document(kind: nudge_store::DocumentKind, name: &str, body: Value) -> Document {
        Document {
            kind,
            name: name.into(),
            version: 1,
            body,
            created_at: Timestamp::from_millis(0),
            deleted: false,
        }
    }

    fn reads(usages: &[Usage]) -> Vec<(String, String, Read)> {
        usages
            .iter()
            .map(|u| (u.document.clone(), u.pointer.clone(), u.read.clone()))
            .collect()
    }

    #[test]
    fn journeys_templates_segments_and_computed_attributes_list_what_they_read() {
        use nudge_store::DocumentKind::{Journey, Template};
        let journey = document(
            Journey,
            "cart",
            json!({
                "trigger": {"event": "Added to Cart", "where": [{"field": "cart_value", "operator": "gt", "value": 60}]},
                "entry": {"key": "cart_id"},
                "exit": [{"event": "Order Completed", "match": ["cart_id"], "reason": "bought"}],
                "goal": {"event": "Order Completed", "within": "3d"},
                "steps": [
                    {"id": "w", "wait_until": {"event": {"name": "Checkout Started"}, "timeout": "1h"}},
                    {"id": "d", "delay_until": {"time": "trigger.ship_at"}},
                    {"id": "b", "branch": {"conditions": {"event": {"name": "Viewed", "where": [{"field": "url", "operator": "exists"}]}}, "then": "s", "otherwise": "s"}},
                    {"id": "u", "update": {"attributes": {"vip": true}}},
                    {"id": "s", "send": {"channel": "email", "template": "cart-email"}}
                ]
            }),
        );
        let template = document(
            Template,
            "cart-email",
            json!({"id": "cart-email", "channel": "email", "subject": "Cart",
                   "body": "{{ customer.first_name }}: {{ event.cart_value }}{% for i in event.items %}{{ i.name }}{% endfor %}"}),
        );
        let segment = SegmentDefinition {
            id: 7,
            name: "Buyers".into(),
            description: String::new(),
            conditions: Some(
                json!({"and": [{"event": {"name": "Order Completed", "where": [{"field": "revenue", "operator": "gt", "value": 1}]}}]}),
            ),
            version: 1,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            backfill: nudge_store::Backfill::COMPLETE,
        };
        let computed = ComputedDefinition::proposed(
            "ltv",
            &json!({"name": "ltv", "aggregate": "sum", "sources": [{"event": "Order Completed", "value": "revenue"}, {"event": "Order Completed", "value": "@timestamp"}], "reset_on": ["Refund"]}),
            Timestamp::from_millis(0),
        );
        let (usages, derived) = usages(Configuration {
            journeys: &[journey],
            templates: &[template],
            segments: &[segment],
            computed: &[computed],
        });
        assert_eq!(
            derived,
            BTreeSet::from(["ltv".to_string(), "vip".to_string()])
        );
        let found = reads(&usages);
        let j = |pointer: &str, read: Read| ("journey cart".to_string(), pointer.to_string(), read);
        let p = property_read;
        for expected in [
            j("/trigger/event", event_read("Added to Cart")),
            j("/trigger/where/0/field", p("Added to Cart", "cart_value")),
            j("/entry/key", p("Added to Cart", "cart_id")),
            j("/exit/0/event", event_read("Order Completed")),
            j("/exit/0/match/0", p("Order Completed", "cart_id")),
            j("/exit/0/match/0", p("Added to Cart", "cart_id")),
            j("/goal/event", event_read("Order Completed")),
            j(
                "/steps/0/wait_until/event/name",
                event_read("Checkout Started"),
            ),
            j("/steps/1/delay_until/time", p("Added to Cart", "ship_at")),
            j(
                "/steps/2/branch/conditions/event/name",
                event_read("Viewed"),
            ),
            j(
                "/steps/2/branch/conditions/event/where/0/field",
                p("Viewed", "url"),
            ),
            (
                "template cart-email".into(),
                "/body".into(),
                p("Added to Cart", "cart_value"),
            ),
            (
                "template cart-email".into(),
                "/body".into(),
                p("Added to Cart", "items[].name"),
            ),
            (
                "template cart-email".into(),
                "/body".into(),
                Read::PersonAttribute("first_name".into()),
            ),
            (
                "segment 7 (Buyers)".into(),
                "/conditions/and/0/event/name".into(),
                event_read("Order Completed"),
            ),
            (
                "segment 7 (Buyers)".into(),
                "/conditions/and/0/event/where/0/field".into(),
                p("Order Completed", "revenue"),
            ),
            (
                "computed attribute ltv".into(),
                "/sources/0/value".into(),
                p("Order Completed", "revenue"),
            ),
            (
                "computed attribute ltv".into(),
                "/reset_on/0".into(),
                event_read("Refund"),
            ),
        ] {
            assert!(found.contains(&expected), "{expected:?} not in {found:#?}");
        }
        assert!(
            !found
                .iter()
                .any(|(_, _, read)| *read == p("Order Completed", "@timestamp")),
            "a source's time is no property"
        );
        let sent = usages
            .iter()
            .find(|u| {
                u.document == "template cart-email" && u.read == p("Added to Cart", "cart_value")
            })
            .unwrap();
        assert_eq!(
            sent.context.as_deref(),
            Some("reads event.cart_value (sent by journey cart, step s)")
        );
    }
}
