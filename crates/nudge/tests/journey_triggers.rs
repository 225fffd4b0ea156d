//! Journey triggers and effects through the production processor, driven by the simulator on
//! a virtual clock: an attribute change (and not a write of the same value), a date attribute
//! with an offset (firing at that exact moment with no event), a segment exit, attribute
//! updates and emitted events that other journeys and segments see.

use std::path::Path;

use nudge::simulate::{scenario, simulate};
use serde_json::{json, Value};

const TEMPLATE: &str = "kind: template\nformat: 1\nid: note\nchannel: email\n\
    subject: \"Hello\"\nbody: \"Hi {{ customer.first_name | default: 'there' }}\"\n";

/// Runs `scenario` (NDJSON) against `definitions` (YAML documents) and returns the timeline
/// lines that are not segment transitions.
fn run(definitions: &str, scenario_text: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("definitions.yaml"), definitions).unwrap();
    std::fs::write(dir.path().join("template.yaml"), TEMPLATE).unwrap();
    let lines = scenario::parse(scenario_text).unwrap();
    simulate(Path::new(dir.path()), &lines, None)
        .unwrap()
        .iter()
        .map(|e| e.to_json())
        .filter(|l| !l["kind"].as_str().unwrap_or("").starts_with("segment_"))
        .collect()
}

fn kinds(timeline: &[Value]) -> Vec<(String, String, String)> {
    timeline
        .iter()
        .map(|l| {
            (
                l["at"].as_str().unwrap().to_string(),
                l["kind"].as_str().unwrap().to_string(),
                l["journey"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn identify(at: &str, traits: Value) -> String {
    json!({"type": "identify", "userId": "c-1", "traits": traits, "timestamp": at}).to_string()
}

fn owned(items: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[test]
fn an_attribute_change_triggers_and_a_rewrite_of_the_same_value_does_not() {
    let journey = "kind: journey\nformat: 1\nid: upgraded\nname: Upgraded\n\
        trigger: {attribute_changed: plan}\n\
        steps:\n  - {id: mail, send: {channel: email, template: note}}\n";
    let scenario = [
        identify(
            "2026-03-02T09:00:00Z",
            json!({"email": "a@example.com", "plan": "basic"}),
        ),
        identify(
            "2026-03-02T10:00:00Z",
            json!({"plan": "basic", "first_name": "Ana"}),
        ),
        identify("2026-03-02T11:00:00Z", json!({"plan": "pro"})),
    ]
    .join("\n");
    let timeline = run(journey, &scenario);
    assert_eq!(
        kinds(&timeline),
        owned(&[
            ("2026-03-02T09:00:00Z", "journey_entered", "upgraded"),
            ("2026-03-02T09:00:00Z", "message_sent", "upgraded"),
            ("2026-03-02T09:00:00Z", "journey_exited", "upgraded"),
            ("2026-03-02T11:00:00Z", "journey_entered", "upgraded"),
            ("2026-03-02T11:00:00Z", "message_sent", "upgraded"),
            ("2026-03-02T11:00:00Z", "journey_exited", "upgraded"),
        ]),
        "appearing counts as a change, the same value rewritten does not: {timeline:#?}"
    );
    assert_eq!(timeline[4]["body"], json!("Hi Ana"));
}

#[test]
fn a_nested_field_triggers_only_when_that_field_changes() {
    let journey = "kind: journey\nformat: 1\nid: moved\nname: Moved\n\
        trigger: {attribute_changed: address.city}\n\
        steps:\n  - {id: mail, send: {channel: email, template: note}}\n";
    let scenario = [
        identify(
            "2026-03-02T09:00:00Z",
            json!({"email": "a@example.com", "address": {"city": "Lisbon", "zip": "1000"}}),
        ),
        identify(
            "2026-03-02T10:00:00Z",
            json!({"address": {"city": "Lisbon", "zip": "1100"}}),
        ),
        identify(
            "2026-03-02T11:00:00Z",
            json!({"address": {"city": "Porto", "zip": "4000"}}),
        ),
    ]
    .join("\n");
    let entered: Vec<String> = run(journey, &scenario)
        .iter()
        .filter(|l| l["kind"] == "journey_entered")
        .map(|l| l["at"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        entered,
        ["2026-03-02T09:00:00Z", "2026-03-02T11:00:00Z"],
        "a new zip in the same city is not a move"
    );
}

#[test]
fn a_date_attribute_with_an_offset_fires_at_that_moment_without_an_event() {
    let journey = "kind: journey\nformat: 1\nid: reorder\nname: Reorder\n\
        trigger: {date: last_order_date, offset: 21d}\n\
        steps:\n  - {id: mail, send: {channel: email, template: note}}\n";
    // 2026-03-02T10:20:00Z as unix seconds.
    let ordered = 1_772_446_800;
    let scenario = [
        identify(
            "2026-03-02T10:20:00Z",
            json!({"email": "a@example.com", "last_order_date": ordered}),
        ),
        r#"{"type":"advance","until":"2026-04-30T00:00:00Z"}"#.to_string(),
    ]
    .join("\n");
    let timeline = run(journey, &scenario);
    assert_eq!(
        kinds(&timeline),
        owned(&[
            ("2026-03-23T10:20:00Z", "journey_entered", "reorder"),
            ("2026-03-23T10:20:00Z", "message_sent", "reorder"),
            ("2026-03-23T10:20:00Z", "journey_exited", "reorder"),
        ]),
        "{timeline:#?}"
    );
}

#[test]
fn a_later_date_fires_again_and_an_old_date_never_does() {
    let journey = "kind: journey\nformat: 1\nid: reorder\nname: Reorder\n\
        trigger: {date: last_order_date, offset: 1d}\n\
        steps:\n  - {id: mail, send: {channel: email, template: note}}\n";
    let scenario = [
        // Ten days old already: past the 72-hour rule, so never.
        identify(
            "2026-03-02T10:00:00Z",
            json!({"email": "a@example.com", "last_order_date": "2026-02-20T10:00:00Z"}),
        ),
        identify(
            "2026-03-05T10:00:00Z",
            json!({"last_order_date": "2026-03-05T09:00:00Z"}),
        ),
        // Looked at again soon after it fired (still within 72 hours): not again.
        identify("2026-03-06T12:00:00Z", json!({"first_name": "Ana"})),
        identify(
            "2026-03-09T10:00:00Z",
            json!({"last_order_date": "2026-03-09T09:30:00Z"}),
        ),
    ]
    .join("\n");
    let entered: Vec<String> = run(journey, &scenario)
        .iter()
        .filter(|l| l["kind"] == "journey_entered")
        .map(|l| l["at"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(entered, ["2026-03-06T09:00:00Z", "2026-03-10T09:30:00Z"]);
}

#[test]
fn leaving_a_segment_triggers_and_updates_and_emitted_events_reach_other_journeys() {
    let definitions = "kind: segment\nformat: 1\nid: 501\nname: Pro\n\
        conditions: {attribute: {field: plan, operator: eq, value: pro}}\n---\n\
        kind: journey\nformat: 1\nid: churned\nname: Churned\n\
        trigger: {segment: 501, on: exited}\n\
        steps:\n\
        \x20 - {id: tag, update: {attributes: {churn_flag: true}}}\n\
        \x20 - {id: tell, emit: {event: Churn Noted, data: {source: journey}}}\n---\n\
        kind: journey\nformat: 1\nid: follow-up\nname: Follow-up\n\
        trigger: {event: Churn Noted, where: [{field: source, operator: eq, value: journey}]}\n\
        entry:\n  conditions: {attribute: {field: churn_flag, operator: eq, value: true}}\n\
        steps:\n  - {id: mail, send: {channel: email, template: note}}\n";
    let scenario = [
        identify(
            "2026-03-02T09:00:00Z",
            json!({"email": "a@example.com", "plan": "pro"}),
        ),
        identify("2026-03-02T10:00:00Z", json!({"plan": "basic"})),
    ]
    .join("\n");
    let timeline = run(definitions, &scenario);
    assert_eq!(
        kinds(&timeline),
        owned(&[
            ("2026-03-02T10:00:00Z", "journey_entered", "churned"),
            ("2026-03-02T10:00:00Z", "journey_exited", "churned"),
            ("2026-03-02T10:00:00Z", "journey_entered", "follow-up"),
            ("2026-03-02T10:00:00Z", "message_sent", "follow-up"),
            ("2026-03-02T10:00:00Z", "journey_exited", "follow-up"),
        ]),
        "the update is applied before the emitted event is processed: {timeline:#?}"
    );
}
