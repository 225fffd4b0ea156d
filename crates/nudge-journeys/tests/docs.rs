//! docs/journeys.md stays true: every journey example in it parses, and the schema's step
//! kinds are exactly the parser's, each accepted under the name the schema gives it.

use std::collections::BTreeSet;
use std::path::Path;

use nudge_journeys::{parse_journey, STEP_KINDS};
use serde_json::{json, Value};

fn doc(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("docs/{name}: {e}"))
}

/// The fenced ```yaml blocks that are journey files.
fn journey_examples(text: &str) -> Vec<String> {
    text.split("```yaml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter(|block| block.lines().any(|line| line.trim() == "kind: journey"))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_journey_example_in_the_docs_parses() {
    let examples = journey_examples(&doc("journeys.md"));
    assert!(examples.len() >= 5, "found {} examples", examples.len());
    let mut ids = BTreeSet::new();
    for example in examples {
        let mut value: Value =
            serde_norway::from_str(&example).unwrap_or_else(|e| panic!("{e} in {example}"));
        let file = value.as_object_mut().expect("a journey file is a mapping");
        assert_eq!(file.remove("kind"), Some(json!("journey")), "{example}");
        assert_eq!(file.remove("format"), Some(json!(1)), "{example}");
        let journey = parse_journey(&value).unwrap_or_else(|e| panic!("{e} in {example}"));
        assert!(ids.insert(journey.id.clone()), "examples have distinct ids");
    }
    assert!(
        ids.contains("cart-recovery"),
        "the complete example is there"
    );
}

/// A smallest valid value for each step kind, and what its step needs around it.
fn minimal(kind: &str) -> Value {
    match kind {
        "delay" => json!("1h"),
        "delay_until" => json!({"time": "trigger.timestamp", "offset": "1h"}),
        "wait_until" => json!({"event": {"name": "Clicked"}, "timeout": "1d"}),
        "time_window" => json!({"from": "09:00", "to": "17:00"}),
        "branch" => json!({"if": {"segment": {"id": 1}}, "then": "end", "else": "end"}),
        "split" => json!({"paths": [{"if": {"segment": {"id": 1}}, "next": "end"}], "else": "end"}),
        "random" => json!({"paths": [{"weight": 1, "next": "end"}]}),
        "send" => json!({"channel": "email", "template": "t"}),
        "update" => json!({"attributes": {"a": 1}}),
        "webhook" => json!({"url": "https://example.com/hook"}),
        "emit" => json!({"event": "Touched"}),
        "exit" => json!({}),
        other => panic!("no minimal value for step kind '{other}': add one here"),
    }
}

#[test]
fn the_schema_lists_exactly_the_parser_step_kinds() {
    let schema: Value =
        serde_json::from_str(&doc("journeys.schema.json")).expect("the schema is JSON");
    let step = &schema["$defs"]["step"];
    let listed: BTreeSet<String> = step["oneOf"]
        .as_array()
        .expect("step.oneOf lists the kinds")
        .iter()
        .map(|alternative| {
            alternative["required"][0]
                .as_str()
                .expect("a kind name")
                .to_string()
        })
        .collect();
    let parser: BTreeSet<String> = STEP_KINDS.iter().map(|k| k.to_string()).collect();
    assert_eq!(listed, parser);
    for kind in &listed {
        assert!(
            step["properties"].get(kind).is_some(),
            "the schema describes {kind}"
        );
        let mut steps = vec![json!({"id": "first", kind.as_str(): minimal(kind)})];
        if kind != "exit" {
            steps.push(json!({"id": "end", "exit": {}}));
        }
        let document =
            json!({"id": "j", "name": "J", "trigger": {"broadcast": true}, "steps": steps});
        let journey = parse_journey(&document).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(journey.first_step().kind.name(), kind);
    }
}

#[test]
fn the_schema_requires_the_file_keys() {
    let schema: Value =
        serde_json::from_str(&doc("journeys.schema.json")).expect("the schema is JSON");
    assert_eq!(
        schema["$schema"],
        json!("https://json-schema.org/draft/2020-12/schema")
    );
    assert_eq!(schema["properties"]["kind"], json!({"const": "journey"}));
    assert_eq!(schema["properties"]["format"], json!({"const": 1}));
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .expect("required keys")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        required,
        BTreeSet::from(["kind", "format", "id", "name", "trigger", "steps"])
    );
}

#[test]
fn the_schema_and_the_parser_agree_on_computed_offsets() {
    let schema: Value =
        serde_json::from_str(&doc("journeys.schema.json")).expect("the schema is JSON");
    let offset = &schema["$defs"]["step"]["properties"]["delay_until"]["properties"]["offset"];
    let forms: Vec<&str> = offset["oneOf"]
        .as_array()
        .expect("a duration or a computed offset")
        .iter()
        .filter_map(|form| form["$ref"].as_str())
        .collect();
    assert_eq!(forms, ["#/$defs/offset", "#/$defs/computedOffset"]);
    let computed = &schema["$defs"]["computedOffset"];
    assert_eq!(
        (&computed["minProperties"], &computed["maxProperties"]),
        (&json!(1), &json!(1)),
        "exactly one unit"
    );
    let units: Vec<&String> = computed["properties"]
        .as_object()
        .expect("the units")
        .keys()
        .collect();
    let parsed = |offset: Value| {
        let step =
            json!({"id": "wait", "delay_until": {"time": "trigger.timestamp", "offset": offset}});
        let document =
            json!({"id": "j", "name": "J", "trigger": {"event": "Ordered"}, "steps": [step]});
        parse_journey(&document)
    };
    for unit in &units {
        parsed(json!({unit.as_str(): "{{ event.n }}"}))
            .unwrap_or_else(|e| panic!("the schema's unit {unit} is refused: {e}"));
    }
    assert_eq!(units, ["minutes", "hours", "days"]);
    for unlisted in ["seconds", "weeks", "d"] {
        assert!(
            parsed(json!({unlisted: "1"})).is_err(),
            "{unlisted} is not in the schema but the parser takes it"
        );
    }
    assert!(parsed(json!({"days": "1", "hours": "1"})).is_err());
}

/// The replenishment example's own claim: an order at 11:00 on 2 March with 45 servings, two a
/// day, gets the email at 23:00 on 24 March.
#[test]
fn the_replenishment_example_waits_as_the_docs_say() {
    use nudge_conditions::{EventFact, PersonFacts};
    use nudge_journeys::{start, step, Context, Input, JsonMap, Timestamp, TriggerData};

    struct NoFacts(JsonMap);
    impl PersonFacts for NoFacts {
        fn attributes(&self) -> &JsonMap {
            &self.0
        }
        fn in_segment(&self, _: i64) -> bool {
            false
        }
        fn events(&self, _: &str) -> Vec<EventFact<'_>> {
            Vec::new()
        }
    }

    let text = doc("journeys.md");
    let example = journey_examples(&text)
        .into_iter()
        .find(|e| e.contains("id: replenishment"))
        .expect("the replenishment example");
    let mut value: Value = serde_norway::from_str(&example).unwrap();
    let file = value.as_object_mut().unwrap();
    file.remove("kind");
    file.remove("format");
    let journey = parse_journey(&value).unwrap();
    assert!(text.contains("45 servings, two a day, gets the email at 23:00 on 24 March"));
    let ordered = Timestamp::parse_rfc3339("2026-03-02T11:00:00Z").unwrap();
    let items = json!({"items": [
        {"product_id": "p-serum", "category": "serum", "price": 48.0},
        {"product_id": "p-collagen", "category": "supplement", "servings": 45, "servings_per_day": 2}
    ]});
    let trigger = TriggerData {
        event: Some("Order Completed".into()),
        timestamp: ordered,
        data: items.as_object().cloned().unwrap(),
        offset: 1,
    };
    let instance = start(&journey, 1, trigger, String::new(), ordered);
    let facts = NoFacts(JsonMap::new());
    let context = Context {
        now: ordered,
        facts: &facts,
    };
    let entered = step(&journey, &instance, Input::Enter, &context);
    assert_eq!(
        entered.instance.wake_at,
        Timestamp::parse_rfc3339("2026-03-24T23:00:00Z")
    );
}
