//! Inference from observed traffic: types (integers and numbers merged), required by presence
//! rate, date-times, nesting, mixed types noted, no enums, and a diffable YAML that parses back.

use nudge_contract::{
    infer, validate_event, InferOptions, Inferrer, JsonType, Note, Property, Schema, StringFormat,
    Subject, MAX_INFERRED_KEYS,
};
use serde_json::{json, Value};

fn map(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

fn property<'a>(inference: &'a nudge_contract::Inference, event: &str, name: &str) -> &'a Property {
    &inference
        .contract
        .event(event)
        .expect("declared")
        .properties[name]
}

#[test]
fn presence_decides_required_at_the_threshold() {
    let mut inferrer = Inferrer::new(InferOptions::default());
    for i in 0..100 {
        let mut data = map(json!({"order_id": format!("o-{i}"), "revenue": 10}));
        if i != 0 {
            data.insert("cart_id".into(), json!("c"));
        }
        if i >= 2 {
            data.insert("email".into(), json!("a@example.com"));
        }
        if i == 5 {
            data.insert("discount_code".into(), json!("SPRING"));
        }
        if i == 7 {
            data.insert("order_id".into(), Value::Null);
        }
        inferrer.observe_event("Order Completed", &data);
    }
    let inference = inferrer.finish();
    let required = |name| property(&inference, "Order Completed", name).required;
    assert!(required("revenue"), "present in 100%");
    assert!(required("cart_id"), "present in 99%: the threshold");
    assert!(required("order_id"), "null once: 99%");
    assert!(!required("email"), "present in 98%");
    assert!(!required("discount_code"));
    assert_eq!(inference.events_seen["Order Completed"], 100);

    let mut lenient = Inferrer::new(InferOptions {
        required_presence: 0.95,
    });
    for i in 0..100 {
        let data = if i < 97 {
            map(json!({"a": 1}))
        } else {
            map(json!({}))
        };
        lenient.observe_event("E", &data);
    }
    assert!(property(&lenient.finish(), "E", "a").required);
}

#[test]
fn types_are_inferred_and_numbers_merge() {
    let events = [
        map(
            json!({"count": 1, "price": 10, "ok": true, "name": "a", "at": "2026-03-02T10:00:00Z",
                   "when": "2026-03-02T10:00:00Z", "tags": ["x"], "meta": {"source": "web", "n": 1}}),
        ),
        map(
            json!({"count": 2, "price": 10.5, "ok": false, "name": "b", "at": "2026-03-03T10:00:00+01:00",
                   "when": "soon", "tags": [], "meta": {"source": "app"}}),
        ),
    ];
    let inference = infer(events.iter().map(|e| ("Seen", e)));
    let schema = |name| property(&inference, "Seen", name).schema.clone();
    assert_eq!(schema("count"), Schema::Integer { values: None });
    assert_eq!(schema("price"), Schema::Number { values: None });
    assert_eq!(schema("ok"), Schema::Boolean);
    assert_eq!(
        schema("name"),
        Schema::String {
            format: None,
            values: None
        },
        "no enum"
    );
    assert_eq!(
        schema("at"),
        Schema::String {
            format: Some(StringFormat::DateTime),
            values: None
        }
    );
    assert_eq!(
        schema("when"),
        Schema::String {
            format: None,
            values: None
        }
    );
    assert_eq!(
        schema("tags"),
        Schema::Array {
            items: Some(Box::new(Schema::String {
                format: None,
                values: None
            }))
        }
    );
    let Schema::Object { properties } = schema("meta") else {
        panic!("an object")
    };
    assert!(properties["source"].required);
    assert!(!properties["n"].required);
    assert!(inference.notes.is_empty(), "{:?}", inference.notes);
}

#[test]
fn array_items_merge_over_elements() {
    let events = [
        map(
            json!({"items": [{"sku": "a", "price": 1}, {"sku": "b", "price": 2.5, "servings": 45}]}),
        ),
        map(json!({"items": [{"sku": "c", "price": 3}], "empty": []})),
    ];
    let inference = infer(events.iter().map(|e| ("Ordered", e)));
    let Schema::Array { items: Some(items) } = &property(&inference, "Ordered", "items").schema
    else {
        panic!("an array with items")
    };
    let Schema::Object { properties } = items.as_ref() else {
        panic!("objects")
    };
    assert!(properties["sku"].required && properties["price"].required);
    assert_eq!(properties["price"].schema, Schema::Number { values: None });
    assert!(!properties["servings"].required, "one element in three");
    assert_eq!(
        property(&inference, "Ordered", "empty").schema,
        Schema::Array { items: None }
    );
}

#[test]
fn mixed_types_take_the_most_frequent_and_say_so() {
    let mut events: Vec<_> = (0..9).map(|i| map(json!({"price": i}))).collect();
    events.push(map(json!({"price": "12.5"})));
    events.push(map(json!({"price": 1.5})));
    let inference = infer(events.iter().map(|e| ("Viewed", e)));
    let price = property(&inference, "Viewed", "price");
    assert_eq!(price.schema, Schema::Number { values: None });
    assert_eq!(
        price.description.as_deref(),
        Some("Inferred as number; also seen as string (1).")
    );
    assert_eq!(
        inference.notes,
        vec![Note::MixedTypes {
            subject: Subject::Event("Viewed".into()),
            path: "price".into(),
            seen: [
                (JsonType::Integer, 9),
                (JsonType::Number, 1),
                (JsonType::String, 1)
            ]
            .into_iter()
            .collect(),
            declared: "number".into(),
        }]
    );
}

#[test]
fn names_a_contract_cannot_hold_are_skipped_with_a_note() {
    let data = map(json!({"ok": 1, "a.b": 2, "nested": {"x[0]": 1, "y": 2}}));
    let mut inferrer = Inferrer::new(InferOptions::default());
    inferrer.observe_event("Fine", &data);
    inferrer.observe_event(" padded", &data);
    inferrer.observe_event("", &data);
    let inference = inferrer.finish();
    assert_eq!(
        inference.contract.events().keys().collect::<Vec<_>>(),
        vec!["Fine"]
    );
    let notes: Vec<String> = inference
        .notes
        .iter()
        .map(|n| {
            serde_json::to_value(n).unwrap()["note"]
                .as_str()
                .unwrap()
                .to_string()
                + ":"
                + &match n {
                    Note::SkippedEvent { event, .. } => event.clone(),
                    Note::SkippedProperty { path, name, .. } => format!("{path}/{name}"),
                    other => panic!("{other:?}"),
                }
        })
        .collect();
    assert_eq!(
        notes,
        vec![
            "skipped_event:",
            "skipped_event: padded",
            "skipped_property:/a.b",
            "skipped_property:nested/x[0]",
        ]
    );
    assert_eq!(inference.events_seen.len(), 3);
}

#[test]
fn objects_with_too_many_keys_are_free_form() {
    let mut data = serde_json::Map::new();
    for i in 0..=MAX_INFERRED_KEYS {
        data.insert(format!("sku-{i}"), json!(1));
    }
    let observed = map(json!({"stock": data, "store": "lisbon"}));
    let inference = infer([("Stock Counted", &observed)]);
    assert_eq!(
        property(&inference, "Stock Counted", "stock").schema,
        Schema::Object {
            properties: Default::default()
        }
    );
    assert_eq!(
        inference.notes,
        vec![Note::FreeFormObject {
            subject: Subject::Event("Stock Counted".into()),
            path: "stock".into()
        }]
    );
}

#[test]
fn traits_infer_person_attributes() {
    let mut inferrer = Inferrer::new(InferOptions::default());
    inferrer.observe_traits(&map(json!({"email": "a@example.com", "accepts_sms": true})));
    inferrer.observe_traits(&map(json!({"email": "b@example.com", "plan": "pro"})));
    let inference = inferrer.finish();
    let person = inference.contract.person();
    assert!(person.properties["email"].required);
    assert!(!person.properties["plan"].required);
    assert_eq!(person.properties["accepts_sms"].schema, Schema::Boolean);
    assert_eq!(inference.identify_calls, 2);
}

#[test]
fn the_inferred_yaml_is_deterministic_and_parses_back() {
    let a = map(json!({"z": 1, "a": "x", "m": {"k": [1.5]}}));
    let b = map(json!({"a": "y", "z": 2}));
    let forward = infer([("B", &a), ("A", &b), ("B", &b)]);
    let backward = infer([("B", &b), ("A", &b), ("B", &a)]);
    let yaml = forward.contract.to_yaml();
    assert_eq!(
        yaml,
        backward.contract.to_yaml(),
        "order of traffic does not matter"
    );
    assert_eq!(
        nudge_contract::Contract::from_yaml(&yaml).unwrap(),
        forward.contract
    );
    assert!(yaml.find("  A:").unwrap() < yaml.find("  B:").unwrap());
    // The traffic it was inferred from conforms to it.
    for (name, data) in [("B", &a), ("A", &b), ("B", &b)] {
        assert_eq!(validate_event(&forward.contract, name, data), vec![]);
    }
}

#[test]
fn null_elements_are_noted_and_only_null_arrays_take_anything() {
    let events = [
        map(json!({"sizes": [30, null], "gaps": [null]})),
        map(json!({"sizes": [50], "gaps": [], "gone": null})),
    ];
    let inference = infer(events.iter().map(|e| ("Sized", e)));
    assert_eq!(
        property(&inference, "Sized", "sizes").schema,
        Schema::Array {
            items: Some(Box::new(Schema::Integer { values: None }))
        }
    );
    assert_eq!(
        property(&inference, "Sized", "gaps").schema,
        Schema::Array { items: None }
    );
    assert!(
        !inference
            .contract
            .event("Sized")
            .unwrap()
            .properties
            .contains_key("gone"),
        "a property only ever null is not declared"
    );
    assert_eq!(
        inference.notes,
        vec![Note::MixedTypes {
            subject: Subject::Event("Sized".into()),
            path: "sizes[]".into(),
            seen: [(JsonType::Integer, 2), (JsonType::Null, 1)]
                .into_iter()
                .collect(),
            declared: "integer".into(),
        }]
    );
}
