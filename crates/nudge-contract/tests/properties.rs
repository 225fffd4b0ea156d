//! Properties over generated input: validation and drift never panic on arbitrary JSON and
//! agree on what conforms; any contract written to YAML (or JSON) reads back unchanged; a
//! contract inferred from traffic accepts that traffic.

use nudge_contract::bench::D2C_CONTRACT;
use nudge_contract::{
    classify_event, infer, parse, validate_event, Contract, Drift, ViolationKind,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        Just(json!(3.0)),
        "[a-z0-9 .:-]{0,12}".prop_map(Value::from),
        Just(json!("2026-03-02T10:02:00Z")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Keys that are often the declared ones, so that the walk goes deep.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "order_id",
            "cart_id",
            "revenue",
            "items",
            "price",
            "quantity",
            "category",
            "product_id",
            "servings",
            "email",
            "accepts_sms",
            "orderId",
            "a.b",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z_]{1,6}",
    ]
}

fn properties() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(key(), json_value(), 0..8).prop_map(|m| m.into_iter().collect())
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "Order Completed",
            "Added to Cart",
            "Product Viewed",
            "order_completed",
            "",
        ])
        .prop_map(str::to_string),
        "\\PC{0,10}",
    ]
}

proptest! {
    #[test]
    fn validation_and_drift_never_panic_and_agree(name in event_name(), data in properties()) {
        let contract = Contract::from_yaml(D2C_CONTRACT).unwrap();
        let violations = validate_event(&contract, &name, &data);
        let drift = classify_event(&contract, &name, &data);
        for violation in &violations {
            prop_assert_eq!(violation.path.is_empty(), violation.kind == ViolationKind::UndeclaredEvent);
            prop_assert!(!violation.to_string().is_empty());
        }
        // A shape problem is both a violation and drift; drift alone may add allowed extras.
        let shape = |kind| matches!(kind, ViolationKind::MissingRequired | ViolationKind::WrongType | ViolationKind::UndeclaredEvent);
        let shape_violations = violations.iter().filter(|v| shape(v.kind)).count();
        let shape_drift = drift.iter().filter(|d| !matches!(d, Drift::UndeclaredProperty { .. })).count();
        prop_assert_eq!(shape_violations == 0, shape_drift == 0);
        prop_assert!(shape_drift <= shape_violations);
    }

    #[test]
    fn traits_never_panic(data in properties()) {
        let contract = Contract::from_yaml(D2C_CONTRACT).unwrap();
        let _ = nudge_contract::validate_traits(&contract, &data);
        let _ = nudge_contract::classify_traits(&contract, &data);
    }

    #[test]
    fn any_parsed_contract_round_trips(document in contract_document()) {
        let contract = parse(&document).map_err(|e| TestCaseError::fail(format!("{e}: {document}")))?;
        let yaml = contract.to_yaml();
        let back = Contract::from_yaml(&yaml).map_err(|e| TestCaseError::fail(format!("{e}:\n{yaml}")))?;
        prop_assert_eq!(&back, &contract, "{}", yaml);
        prop_assert_eq!(back.to_yaml(), yaml);
        prop_assert_eq!(&parse(&contract.to_json()).unwrap(), &contract);
    }

    #[test]
    fn inferred_contracts_accept_their_traffic(
        traffic in prop::collection::vec((prop::sample::select(vec!["A", "B", "C"]), properties()), 1..12)
    ) {
        let inference = infer(traffic.iter().map(|(name, data)| (*name, data)));
        let yaml = inference.contract.to_yaml();
        prop_assert_eq!(&Contract::from_yaml(&yaml).unwrap(), &inference.contract);
        // Every observation conforms when no property's types were mixed.
        if inference.notes.iter().all(|n| !matches!(n, nudge_contract::Note::MixedTypes { .. })) {
            for (name, data) in &traffic {
                let violations: Vec<_> = validate_event(&inference.contract, name, data)
                    .into_iter()
                    .filter(|v| v.kind != ViolationKind::MissingRequired)
                    .collect();
                prop_assert!(violations.is_empty(), "{:?}", violations);
            }
        }
    }
}

/// Text that YAML is tempted to read as something else.
fn tricky_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "yes",
            "no",
            "null",
            "~",
            "true",
            "1",
            "1.5",
            "0x1F",
            "",
            " lead",
            "trail ",
            "a: b",
            "- x",
            "#hash",
            "multi\nline",
            "tab\there",
            "quote'\"",
            "é😀",
            "@at",
            "*star",
            "{x}",
        ])
        .prop_map(str::to_string),
        "[ -~]{0,10}",
    ]
}

fn name() -> impl Strategy<Value = String> {
    tricky_text().prop_filter("a declarable name", |n| {
        nudge_contract::property_name_problem(n).is_none()
    })
}

fn schema_document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        (
            any::<bool>(),
            prop::option::of(prop::collection::btree_set(tricky_text(), 1..4))
        )
            .prop_map(|(date_time, values)| {
                let mut s = json!({"type": "string"});
                if date_time {
                    s["format"] = json!("date-time");
                }
                if let Some(values) = values {
                    s["enum"] = json!(values);
                }
                s
            }),
        prop::option::of(prop::collection::btree_set(any::<i64>(), 1..4)).prop_map(|values| {
            match values {
                Some(v) => json!({"type": "integer", "enum": v}),
                None => json!({"type": "integer"}),
            }
        }),
        prop::option::of(prop::collection::vec(-1e9f64..1e9, 1..3)).prop_map(|values| {
            match values {
                Some(mut v) => {
                    v.dedup();
                    json!({"type": "number", "enum": v})
                }
                None => json!({"type": "number"}),
            }
        }),
        Just(json!({"type": "boolean"})),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::btree_map(
                name(),
                (
                    inner.clone(),
                    any::<bool>(),
                    prop::option::of(tricky_text())
                ),
                0..4
            )
            .prop_map(
                |properties| json!({"type": "object", "properties": as_properties(properties)})
            ),
            prop::option::of(inner).prop_map(|items| match items {
                Some(items) => json!({"type": "array", "items": items}),
                None => json!({"type": "array"}),
            }),
        ]
    })
}

fn as_properties(
    properties: std::collections::BTreeMap<String, (Value, bool, Option<String>)>,
) -> Value {
    let mut out = Map::new();
    for (name, (mut schema, required, description)) in properties {
        schema["required"] = json!(required);
        if let Some(description) = description {
            schema["description"] = json!(description);
        }
        out.insert(name, schema);
    }
    Value::Object(out)
}

fn section_document(properties_key: &'static str) -> impl Strategy<Value = Value> {
    (
        1u32..1000,
        prop::option::of(tricky_text()),
        prop::option::of(prop::sample::select(vec!["allow", "quarantine", "reject"])),
        prop::option::of(prop::sample::select(vec!["allow", "flag"])),
        prop::collection::btree_map(
            name(),
            (
                schema_document(),
                any::<bool>(),
                prop::option::of(tricky_text()),
            ),
            0..4,
        ),
    )
        .prop_map(
            move |(version, description, mode, additional, properties)| {
                let mut section =
                    json!({"version": version, properties_key: as_properties(properties)});
                if let Some(d) = description {
                    section["description"] = json!(d);
                }
                if let Some(m) = mode {
                    section["mode"] = json!(m);
                }
                if let Some(a) = additional {
                    section["additional_properties"] = json!(a);
                }
                section
            },
        )
}

fn contract_document() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["allow", "quarantine", "reject"]),
        prop::collection::btree_map(
            tricky_text().prop_filter("an event name", |n| {
                nudge_contract::event_name_problem(n).is_none()
            }),
            section_document("properties"),
            0..4,
        ),
        prop::option::of(section_document("attributes")),
    )
        .prop_map(|(mode, events, person)| {
            let mut document = json!({"format": 1, "mode": mode, "events": events});
            if let Some(person) = person {
                document["person"] = person;
            }
            document
        })
}
