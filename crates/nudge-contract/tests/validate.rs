//! Validation: every type, every kind of violation, the paths they name, and the rules the
//! docs state (null is absent, 3.0 is an integer, undeclared properties only where flagged).

use nudge_contract::{validate_event, validate_traits, Contract, Mode, Subject, ViolationKind};
use serde_json::{json, Value};

const CONTRACT: &str = r#"
format: 1
mode: quarantine
events:
  Order Completed:
    version: 1
    mode: reject
    properties:
      order_id: {type: string, required: true}
      revenue: {type: number, required: true}
      quantity: {type: integer}
      paid: {type: boolean}
      status: {type: string, enum: [paid, refunded]}
      tier: {type: integer, enum: [1, 2]}
      rate: {type: number, enum: [0.5, 1]}
      placed_at: {type: string, format: date-time}
      address:
        type: object
        properties:
          city: {type: string, required: true}
      metadata: {type: object}
      tags: {type: array, items: {type: string}}
      anything: {type: array}
      items:
        type: array
        items:
          type: object
          properties:
            price: {type: number, required: true}
            sizes: {type: array, items: {type: integer}}
  Strict:
    additional_properties: flag
    properties:
      a: {type: string}
      nested:
        type: object
        properties:
          b: {type: string}
      free: {type: object}
person:
  additional_properties: flag
  attributes:
    email: {type: string, required: true}
    accepts_sms: {type: boolean}
"#;

fn contract() -> Contract {
    Contract::from_yaml(CONTRACT).unwrap()
}

fn map(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

/// The violations of an `Order Completed` with a valid order plus `extra`, as
/// `(kind, path, expected, actual)`.
fn order(extra: Value) -> Vec<(ViolationKind, String, String, String)> {
    let mut properties = map(json!({"order_id": "o-1", "revenue": 12.5}));
    properties.extend(map(extra));
    validate_event(&contract(), "Order Completed", &properties)
        .into_iter()
        .map(|v| {
            assert_eq!(v.subject, Subject::Event("Order Completed".into()));
            (v.kind, v.path, v.expected, v.actual)
        })
        .collect()
}

fn one(
    kind: ViolationKind,
    path: &str,
    expected: &str,
    actual: &str,
) -> Vec<(ViolationKind, String, String, String)> {
    vec![(kind, path.into(), expected.into(), actual.into())]
}

#[test]
fn a_conforming_event_has_no_violations() {
    assert_eq!(order(json!({})), vec![]);
    assert_eq!(
        order(
            json!({"quantity": 2, "paid": true, "status": "paid", "tier": 2, "rate": 0.5,
                     "placed_at": "2026-03-02T10:20:00Z", "address": {"city": "Lisbon", "zip": "1000"},
                     "metadata": {"any": ["thing"]}, "tags": ["a"], "anything": [1, "two", null],
                     "items": [{"price": 48.0, "sizes": [30, 50]}, {"price": 36}],
                     "undeclared": "is allowed here"})
        ),
        vec![]
    );
}

#[test]
fn each_type_refuses_the_others() {
    use ViolationKind::WrongType;
    assert_eq!(
        order(json!({"revenue": "12.5"})),
        one(WrongType, "revenue", "number", "string \"12.5\"")
    );
    assert_eq!(
        order(json!({"quantity": 2.5})),
        one(WrongType, "quantity", "integer", "number 2.5")
    );
    assert_eq!(
        order(json!({"quantity": "2"})),
        one(WrongType, "quantity", "integer", "string \"2\"")
    );
    assert_eq!(
        order(json!({"paid": "true"})),
        one(WrongType, "paid", "boolean", "string \"true\"")
    );
    assert_eq!(
        order(json!({"paid": 1})),
        one(WrongType, "paid", "boolean", "integer 1")
    );
    assert_eq!(
        order(json!({"order_id": 7})),
        one(WrongType, "order_id", "string", "integer 7")
    );
    assert_eq!(
        order(json!({"address": "Lisbon"})),
        one(WrongType, "address", "object", "string \"Lisbon\"")
    );
    assert_eq!(
        order(json!({"metadata": [1]})),
        one(WrongType, "metadata", "object", "an array of 1 item")
    );
    assert_eq!(
        order(json!({"tags": {"a": 1}})),
        one(WrongType, "tags", "array", "an object")
    );
    assert_eq!(
        order(json!({"anything": "x"})),
        one(WrongType, "anything", "array", "string \"x\"")
    );
    assert_eq!(
        order(json!({"placed_at": 1772445600})),
        one(
            WrongType,
            "placed_at",
            "string (date-time)",
            "integer 1772445600"
        )
    );
}

#[test]
fn whole_numbers_are_integers_and_integers_are_numbers() {
    assert_eq!(order(json!({"quantity": 3.0, "tier": 2.0})), vec![]);
    assert_eq!(order(json!({"revenue": 12, "rate": 1})), vec![]);
    assert_eq!(order(json!({"quantity": -4})), vec![]);
}

#[test]
fn null_counts_as_absent() {
    assert_eq!(
        order(json!({"order_id": null, "quantity": null})),
        one(
            ViolationKind::MissingRequired,
            "order_id",
            "string",
            "nothing"
        )
    );
}

#[test]
fn missing_required_properties_are_named_at_every_depth() {
    let violations = validate_event(
        &contract(),
        "Order Completed",
        &map(json!({
            "address": {"zip": "1000"},
            "items": [{"price": 1}, {"sizes": []}]
        })),
    );
    let found: Vec<(ViolationKind, &str)> = violations
        .iter()
        .map(|v| (v.kind, v.path.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (ViolationKind::MissingRequired, "address.city"),
            (ViolationKind::MissingRequired, "items[1].price"),
            (ViolationKind::MissingRequired, "order_id"),
            (ViolationKind::MissingRequired, "revenue"),
        ]
    );
    assert_eq!(
        violations[1].to_string(),
        "event 'Order Completed': items[1].price: expected number, got nothing"
    );
}

#[test]
fn array_elements_are_checked_with_their_position() {
    assert_eq!(
        order(json!({"items": [{"price": 1}, {"price": 2}, {"price": "12.5"}]})),
        one(
            ViolationKind::WrongType,
            "items[2].price",
            "number",
            "string \"12.5\""
        )
    );
    assert_eq!(
        order(json!({"items": [{"price": 1, "sizes": [30, "L"]}]})),
        one(
            ViolationKind::WrongType,
            "items[0].sizes[1]",
            "integer",
            "string \"L\""
        )
    );
    assert_eq!(
        order(json!({"tags": ["a", null]})),
        one(ViolationKind::WrongType, "tags[1]", "string", "null")
    );
}

#[test]
fn enums_and_date_times_check_values() {
    assert_eq!(
        order(json!({"status": "shipped"})),
        one(
            ViolationKind::NotInEnum,
            "status",
            "one of \"paid\", \"refunded\"",
            "string \"shipped\""
        )
    );
    assert_eq!(
        order(json!({"tier": 3})),
        one(ViolationKind::NotInEnum, "tier", "one of 1, 2", "integer 3")
    );
    assert_eq!(
        order(json!({"rate": 0.25})),
        one(
            ViolationKind::NotInEnum,
            "rate",
            "one of 0.5, 1.0",
            "number 0.25"
        )
    );
    assert_eq!(
        order(json!({"placed_at": "yesterday"})),
        one(
            ViolationKind::BadDateTime,
            "placed_at",
            "an RFC 3339 date-time",
            "string \"yesterday\""
        )
    );
    assert_eq!(
        order(json!({"placed_at": "2026-03-02T10:20:00+01:00"})),
        vec![]
    );
}

#[test]
fn undeclared_properties_are_violations_only_where_flagged() {
    let contract = contract();
    let strict = |data: Value| -> Vec<(ViolationKind, String, String)> {
        validate_event(&contract, "Strict", &map(data))
            .into_iter()
            .map(|v| (v.kind, v.path, v.actual))
            .collect()
    };
    assert_eq!(strict(json!({"a": "x", "free": {"anything": 1}})), vec![]);
    assert_eq!(
        strict(json!({"a": "x", "b": 1, "nested": {"b": "y", "c": true}, "gone": null})),
        vec![
            (
                ViolationKind::UndeclaredProperty,
                "nested.c".into(),
                "boolean true".into()
            ),
            (
                ViolationKind::UndeclaredProperty,
                "b".into(),
                "integer 1".into()
            ),
        ]
    );
    let shown = validate_event(&contract, "Strict", &map(json!({"colour": "red"})));
    assert_eq!(
        shown[0].to_string(),
        "event 'Strict': colour: not declared in the contract, got string \"red\""
    );
}

#[test]
fn undeclared_events_are_one_violation() {
    let violations = validate_event(&contract(), "order_completed", &map(json!({"x": 1})));
    assert_eq!(violations.len(), 1);
    let violation = &violations[0];
    assert_eq!(violation.kind, ViolationKind::UndeclaredEvent);
    assert_eq!(violation.subject, Subject::Event("order_completed".into()));
    assert_eq!(violation.path, "");
    assert_eq!(violation.actual, "an event named \"order_completed\"");
    assert_eq!(
        violation.to_string(),
        "event 'order_completed': not declared in the contract"
    );
}

#[test]
fn traits_are_checked_per_call() {
    let contract = contract();
    assert_eq!(
        validate_traits(
            &contract,
            &map(json!({"email": "a@example.com", "accepts_sms": true}))
        ),
        vec![]
    );
    let violations = validate_traits(
        &contract,
        &map(json!({"accepts_sms": "yes", "plan": "pro"})),
    );
    let shown: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        vec![
            "person attributes: accepts_sms: expected boolean, got string \"yes\"",
            "person attributes: email: expected string, got nothing",
            "person attributes: plan: not declared in the contract, got string \"pro\"",
        ]
    );
    assert!(violations.iter().all(|v| v.subject == Subject::Person));
}

#[test]
fn violations_serialise_for_the_api() {
    let violations = validate_event(
        &contract(),
        "Order Completed",
        &map(json!({"order_id": "o", "revenue": "12.5"})),
    );
    assert_eq!(
        serde_json::to_value(&violations).unwrap(),
        json!([{"kind": "wrong_type", "subject": {"event": "Order Completed"}, "path": "revenue",
                "expected": "number", "actual": "string \"12.5\""}])
    );
    let back: Vec<nudge_contract::Violation> =
        serde_json::from_value(serde_json::to_value(&violations).unwrap()).unwrap();
    assert_eq!(back, violations);
    let person = validate_traits(&contract(), &map(json!({})));
    assert_eq!(
        serde_json::to_value(&person[0]).unwrap()["subject"],
        json!("person")
    );
}

#[test]
fn modes_fall_back_to_the_workspace() {
    let contract = contract();
    assert_eq!(contract.mode_for_event("Order Completed"), Mode::Reject);
    assert_eq!(contract.mode_for_event("Strict"), Mode::Quarantine);
    assert_eq!(contract.mode_for_event("never declared"), Mode::Quarantine);
    assert_eq!(contract.mode_for_traits(), Mode::Quarantine);
    let person_mode =
        Contract::from_yaml("format: 1\nperson: {mode: allow}\nmode: reject\n").unwrap();
    assert_eq!(person_mode.mode_for_traits(), Mode::Allow);
}
