//! Drift classification: new events (with the declared events they likely rename), new
//! properties (with the declared siblings they likely rename), changed types and missing
//! required properties, reported once per path.

use nudge_contract::bench::D2C_CONTRACT;
use nudge_contract::{classify_event, classify_traits, Contract, Drift, JsonType, Subject};
use serde_json::{json, Value};

fn contract() -> Contract {
    Contract::from_yaml(D2C_CONTRACT).unwrap()
}

fn map(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

fn order() -> serde_json::Map<String, Value> {
    map(
        json!({"order_id": "o-1", "cart_id": "cart-1", "revenue": 84.0,
               "items": [{"product_id": "p", "variant_id": "v", "name": "n", "price": 48.0,
                          "quantity": 1, "category": "serum"}]}),
    )
}

fn completed() -> Subject {
    Subject::Event("Order Completed".into())
}

#[test]
fn a_renamed_event_names_its_likely_original() {
    let contract = contract();
    for renamed in ["order_completed", "OrderCompleted", "Order Complete"] {
        assert_eq!(
            classify_event(&contract, renamed, &order()),
            vec![Drift::UndeclaredEvent {
                event: renamed.into(),
                likely_renames: vec!["Order Completed".into()],
            }],
            "{renamed}"
        );
    }
    assert_eq!(
        classify_event(&contract, "Coupon Applied", &order()),
        vec![Drift::UndeclaredEvent {
            event: "Coupon Applied".into(),
            likely_renames: vec![],
        }]
    );
    assert!(contract.likely_event_renames("Order Completed").is_empty());
    assert!(contract.likely_event_renames("Product Viewed").is_empty());
}

#[test]
fn a_conforming_event_shows_no_drift() {
    assert_eq!(
        classify_event(&contract(), "Order Completed", &order()),
        vec![]
    );
}

#[test]
fn renamed_properties_name_the_missing_sibling() {
    let mut data = order();
    let id = data.remove("order_id").unwrap();
    data.insert("orderId".into(), id);
    data.insert("channel".into(), json!("web"));
    let drift = classify_event(&contract(), "Order Completed", &data);
    assert_eq!(
        drift,
        vec![
            Drift::MissingRequired {
                subject: completed(),
                path: "order_id".into()
            },
            Drift::UndeclaredProperty {
                subject: completed(),
                path: "orderId".into(),
                observed: JsonType::String,
                likely_renames: vec!["order_id".into()],
            },
            Drift::UndeclaredProperty {
                subject: completed(),
                path: "channel".into(),
                observed: JsonType::String,
                likely_renames: vec![],
            },
        ]
    );
    assert_eq!(
        drift[1].to_string(),
        "event 'Order Completed': orderId: never declared, seen as string (likely renames 'order_id')"
    );
}

#[test]
fn a_present_sibling_is_no_rename_candidate() {
    let mut data = order();
    data.insert("cart_ids".into(), json!(["cart-1"]));
    let drift = classify_event(&contract(), "Order Completed", &data);
    assert_eq!(
        drift,
        vec![Drift::UndeclaredProperty {
            subject: completed(),
            path: "cart_ids".into(),
            observed: JsonType::Array,
            likely_renames: vec![],
        }]
    );
}

#[test]
fn type_changes_and_element_findings_are_reported_once_per_path() {
    let mut data = order();
    data.insert("revenue".into(), json!("84.0"));
    data.insert(
        "items".into(),
        json!([{"product_id": "p", "variant_id": "v", "name": "n", "price": "48", "quantity": 1.5,
                "category": "serum", "colour": "red"},
               {"product_id": "p", "variant_id": "v", "name": "n", "price": "36", "quantity": 2,
                "category": "serum", "colour": "blue"}]),
    );
    let drift = classify_event(&contract(), "Order Completed", &data);
    let shown: Vec<String> = drift.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "event 'Order Completed': items[].price: declared number, seen as string",
            "event 'Order Completed': items[].quantity: declared integer, seen as number",
            "event 'Order Completed': items[].colour: never declared, seen as string",
            "event 'Order Completed': revenue: declared number, seen as string",
        ]
    );
}

#[test]
fn drift_ignores_values_and_the_additional_properties_setting() {
    let contract = contract();
    let viewed = map(
        json!({"product_id": "p", "variant_id": "v", "category": "perfume",
                            "price": 10, "referrer": "ad"}),
    );
    // `perfume` is a violation (not in the enum), but not a change of shape; `referrer` is
    // allowed (additional_properties: allow) but still news.
    assert_eq!(
        classify_event(&contract, "Product Viewed", &viewed),
        vec![Drift::UndeclaredProperty {
            subject: Subject::Event("Product Viewed".into()),
            path: "referrer".into(),
            observed: JsonType::String,
            likely_renames: vec![],
        }]
    );
}

#[test]
fn traits_drift_like_properties() {
    let drift = classify_traits(
        &contract(),
        &map(json!({"email": "a@example.com", "acceptsSms": true, "timezone": 2})),
    );
    assert_eq!(
        drift,
        vec![
            Drift::TypeChanged {
                subject: Subject::Person,
                path: "timezone".into(),
                declared: "string".into(),
                observed: JsonType::Integer,
            },
            Drift::UndeclaredProperty {
                subject: Subject::Person,
                path: "acceptsSms".into(),
                observed: JsonType::Boolean,
                likely_renames: vec!["accepts_sms".into()],
            },
        ]
    );
    assert_eq!(
        serde_json::to_value(&drift[1]).unwrap(),
        json!({"drift": "undeclared_property", "subject": "person", "path": "acceptsSms",
               "observed": "boolean", "likely_renames": ["accepts_sms"]})
    );
}
