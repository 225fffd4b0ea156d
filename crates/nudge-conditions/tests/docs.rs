//! docs/conditions.md stays true: every JSON example in it parses, and its schema is JSON
//! whose operator list matches the operators the parser knows.

use std::path::Path;

fn doc(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs")
            .join(name),
    )
    .unwrap()
}

#[test]
fn every_json_example_in_the_docs_parses() {
    let text = doc("conditions.md");
    let examples: Vec<&str> = text
        .split("```json")
        .skip(1)
        .map(|block| block.split("```").next().unwrap())
        .collect();
    assert!(examples.len() >= 4);
    for example in examples {
        let value: serde_json::Value = serde_json::from_str(example).expect("example is JSON");
        nudge_conditions::parse(&value).unwrap_or_else(|e| panic!("{e} in {example}"));
    }
}

#[test]
fn the_schema_lists_exactly_the_parser_operators() {
    let schema: serde_json::Value = serde_json::from_str(&doc("conditions.schema.json")).unwrap();
    let listed = schema["$defs"]["filter"]["properties"]["operator"]["enum"]
        .as_array()
        .unwrap()
        .clone();
    for operator in &listed {
        let op = operator.as_str().unwrap();
        let value = match op {
            "exists" | "not_exists" => None,
            "gt" | "gte" | "lt" | "lte" => Some(serde_json::json!(1)),
            "in" | "not_in" => Some(serde_json::json!(["a"])),
            "before" | "after" => Some(serde_json::json!("2026-01-01T00:00:00Z")),
            "within_last" | "more_than_ago" => Some(serde_json::json!("7d")),
            _ => Some(serde_json::json!("a")),
        };
        let mut filter = serde_json::json!({"field": "f", "operator": op});
        if let Some(v) = value {
            filter["value"] = v;
        }
        let parsed = nudge_conditions::parse(&serde_json::json!({"attribute": filter}))
            .unwrap_or_else(|e| panic!("schema operator {op} refused: {e}"));
        let nudge_conditions::Condition::Attribute(f) = parsed else {
            panic!("attribute")
        };
        assert_eq!(f.op.name(), op);
    }
    assert_eq!(listed.len(), 17, "the schema lists every operator");
}
