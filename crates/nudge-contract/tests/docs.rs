//! docs/contract.md stays true: its contracts parse (the complete example is the one the
//! benchmark uses), its validation and drift examples print what it says, its error examples
//! are the parser's, and its JSON Schema lists exactly the keys and values the parser takes.

use std::collections::BTreeSet;
use std::path::Path;

use nudge_contract::bench::D2C_CONTRACT;
use nudge_contract::{
    classify_event, keys, parse, validate_event, AdditionalProperties, Contract, Mode,
};
use serde_json::{json, Value};

fn doc(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("docs/{name}: {e}"))
}

/// The fenced blocks of one language, in order.
fn blocks(text: &str, language: &str) -> Vec<String> {
    text.split(&format!("```{language}\n"))
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .map(str::to_string)
        .collect()
}

/// The text of the section under `## {title}`, up to the next `## `.
fn section(text: &str, title: &str) -> String {
    let start = text
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("a section '{title}'"));
    let rest = &text[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    rest[..end].to_string()
}

fn example_contract() -> Contract {
    Contract::from_yaml(D2C_CONTRACT).unwrap()
}

#[test]
fn every_contract_in_the_docs_parses_and_the_complete_one_is_the_example() {
    let text = doc("contract.md");
    let contracts: Vec<String> = blocks(&text, "yaml")
        .into_iter()
        .filter(|b| b.lines().any(|l| l.trim() == "format: 1"))
        .collect();
    assert!(!contracts.is_empty());
    for block in &contracts {
        Contract::from_yaml(block).unwrap_or_else(|e| panic!("{e} in {block}"));
    }
    assert_eq!(
        Contract::from_yaml(&contracts[0]).unwrap(),
        example_contract(),
        "the complete example is the benchmark's contract"
    );
    assert_eq!(contracts[0], D2C_CONTRACT, "and reads the same");
}

/// The example event (`{"event", "properties"}`) and the lines printed for it in a section.
fn example(text: &str, title: &str) -> (String, serde_json::Map<String, Value>, Vec<String>) {
    let section = section(text, title);
    let input: Value = serde_json::from_str(&blocks(&section, "json")[0]).expect("JSON");
    let lines = blocks(&section, "text")[0]
        .lines()
        .map(str::to_string)
        .collect();
    (
        input["event"].as_str().unwrap().to_string(),
        input["properties"].as_object().unwrap().clone(),
        lines,
    )
}

#[test]
fn the_validation_example_prints_what_the_docs_say() {
    let (name, properties, lines) = example(&doc("contract.md"), "Validation");
    let shown: Vec<String> = validate_event(&example_contract(), &name, &properties)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown, lines);
}

#[test]
fn the_drift_example_prints_what_the_docs_say() {
    let text = doc("contract.md");
    let (name, properties, lines) = example(&text, "Drift and likely renames");
    let contract = example_contract();
    let shown: Vec<String> = classify_event(&contract, &name, &properties)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(shown, lines);
    let renamed = classify_event(&contract, "order_completed", &properties)[0].to_string();
    assert!(
        text.replace('\n', " ").contains(&format!("`{renamed}`")),
        "{renamed}"
    );
}

#[test]
fn the_error_examples_are_the_parser_errors() {
    let text = doc("contract.md");
    let section = section(&text, "Errors");
    let lines: Vec<String> = blocks(&section, "text")[0]
        .lines()
        .map(str::to_string)
        .collect();
    let property =
        |p: Value| json!({"format": 1, "events": {"Order Completed": {"properties": p}}});
    let produced: Vec<String> = [
        property(json!({"price": {"type": "float"}})),
        property(json!({"status": {"type": "string", "enum": ["paid", "paid"]}})),
        json!({"format": 1, "events": {"Viewed": {"version": 0}}}),
        json!({"format": 1, "person": {"attributes": {"address.city": {"type": "string"}}}}),
        property(json!({"price": {"type": "number", "format": "date-time"}})),
    ]
    .iter()
    .map(|document| parse(document).unwrap_err().to_string())
    .chain([Contract::from_yaml(
        "format: 1\nevents:\n  Order Completed: {}\n  Order Completed: {}\n",
    )
    .unwrap_err()
    .to_string()])
    .collect();
    assert_eq!(produced, lines);
}

fn schema() -> Value {
    serde_json::from_str(&doc("contract.schema.json")).expect("the schema is JSON")
}

fn listed_keys(node: &Value) -> BTreeSet<String> {
    node["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

fn strings(values: &Value) -> BTreeSet<String> {
    values
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| v.as_str().expect("text").to_string())
        .collect()
}

#[test]
fn the_schema_and_the_parser_agree_on_keys_and_values() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        json!("https://json-schema.org/draft/2020-12/schema")
    );
    let defs = &schema["$defs"];
    assert_eq!(listed_keys(&schema), set(keys::DOCUMENT));
    assert_eq!(listed_keys(&defs["event"]), set(keys::EVENT));
    assert_eq!(listed_keys(&defs["person"]), set(keys::PERSON));
    assert_eq!(listed_keys(&defs["property"]), set(keys::PROPERTY));
    assert_eq!(listed_keys(&defs["items"]), set(keys::ITEMS));
    assert_eq!(strings(&schema["required"]), set(&["format"]));
    assert_eq!(schema["properties"]["format"], json!({"const": 1}));
    assert_eq!(schema["properties"]["kind"], json!({"const": "contract"}));
    assert_eq!(
        strings(&defs["property"]["properties"]["type"]["enum"]),
        set(keys::TYPES)
    );
    assert_eq!(
        strings(&defs["mode"]["enum"]),
        Mode::ALL.iter().map(|m| m.name().to_string()).collect()
    );
    assert_eq!(
        strings(&defs["event"]["properties"]["additional_properties"]["enum"]),
        AdditionalProperties::ALL
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    );
    assert_eq!(
        defs["property"]["properties"]["format"],
        json!({"const": "date-time", "description": "For type string: an RFC 3339 timestamp."})
    );
}

#[test]
fn the_parser_takes_every_key_the_schema_lists_and_no_other() {
    let with = |property: Value| {
        parse(&json!({"format": 1, "kind": "contract", "mode": "reject",
                      "events": {"E": {"version": 2, "description": "d", "mode": "allow",
                                       "additional_properties": "flag",
                                       "properties": {"p": property}}},
                      "person": {"version": 1, "description": "d", "mode": "allow",
                                 "additional_properties": "flag", "attributes": {}}}))
    };
    for key in keys::PROPERTY {
        let mut property = json!({"type": "string"});
        match *key {
            "type" => {}
            "required" => property[key] = json!(true),
            "description" => property[key] = json!("d"),
            "format" => property[key] = json!("date-time"),
            "enum" => property[key] = json!(["a"]),
            "properties" => property = json!({"type": "object", "properties": {}}),
            "items" => property = json!({"type": "array", "items": {"type": "string"}}),
            other => panic!("no example for the key '{other}': add one here"),
        }
        with(property).unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    let unknown = with(json!({"type": "string", "minLength": 1})).unwrap_err();
    assert!(
        unknown.message.contains("unknown key 'minLength'"),
        "{unknown}"
    );
}

#[test]
fn the_docs_name_every_key_and_violation() {
    let text = doc("contract.md");
    for key in keys::DOCUMENT
        .iter()
        .chain(keys::EVENT)
        .chain(keys::PERSON)
        .chain(keys::PROPERTY)
        .chain(keys::TYPES)
    {
        assert!(
            text.contains(&format!("`{key}`")),
            "docs/contract.md names `{key}`"
        );
    }
    use nudge_contract::ViolationKind::*;
    for kind in [
        UndeclaredEvent,
        MissingRequired,
        WrongType,
        NotInEnum,
        BadDateTime,
        UndeclaredProperty,
    ] {
        assert!(
            text.contains(&format!("| `{}` |", kind.name())),
            "{}",
            kind.name()
        );
    }
}
