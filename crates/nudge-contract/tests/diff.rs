//! Diffs between contract versions: every kind of change, in a stable order, as text and as
//! JSON, and which declarations changed shape without a new version.

use nudge_contract::bench::D2C_CONTRACT;
use nudge_contract::{changed_without_new_version, diff, Change, Contract, Mode, Subject};
use serde_json::json;

const OLD: &str = r#"
format: 1
mode: allow
events:
  Order Completed:
    version: 1
    properties:
      order_id: {type: string, required: true}
      revenue: {type: number, required: true}
      coupon: {type: string}
      status: {type: string, enum: [paid]}
      items:
        type: array
        items:
          type: object
          properties:
            price: {type: number, required: true}
            sku: {type: string}
      tags: {type: array}
  Product Viewed:
    version: 1
  Cart Viewed:
    version: 2
person:
  attributes:
    email: {type: string}
"#;

const NEW: &str = r#"
format: 1
mode: reject
events:
  Order Completed:
    version: 2
    description: The purchase.
    mode: quarantine
    additional_properties: flag
    properties:
      order_id: {type: string, required: true, description: Our order number.}
      revenue: {type: string, required: false}
      discount_code: {type: string}
      status: {type: string, enum: [paid, refunded]}
      items:
        type: array
        items:
          type: object
          properties:
            price: {type: integer, required: true}
            sku: {type: string, format: date-time}
      tags: {type: array, items: {type: string}}
  Product Viewed:
    version: 1
    properties:
      product_id: {type: string, required: true}
  Checkout Started:
    version: 1
person:
  version: 2
  attributes:
    email: {type: string, required: true}
"#;

fn lines(old: &str, new: &str) -> Vec<String> {
    let (old, new) = (
        Contract::from_yaml(old).unwrap(),
        Contract::from_yaml(new).unwrap(),
    );
    diff(&old, &new).iter().map(ToString::to_string).collect()
}

#[test]
fn every_change_is_listed_in_a_stable_order() {
    assert_eq!(
        lines(OLD, NEW),
        vec![
            "workspace mode: allow → reject",
            "event 'Cart Viewed': removed (was version 2)",
            "event 'Checkout Started': added (version 1)",
            "event 'Order Completed': version 1 → 2",
            "event 'Order Completed': mode (workspace mode) → quarantine",
            "event 'Order Completed': additional_properties allow → flag",
            "event 'Order Completed': description changed",
            "event 'Order Completed': coupon: removed (was string, optional)",
            "event 'Order Completed': discount_code: added (string, optional)",
            "event 'Order Completed': items[].price: type number → integer",
            "event 'Order Completed': items[].sku: type string → string (date-time)",
            "event 'Order Completed': order_id: description changed",
            "event 'Order Completed': revenue: now optional",
            "event 'Order Completed': revenue: type number → string",
            "event 'Order Completed': status: allowed values \"paid\" → \"paid\", \"refunded\"",
            "event 'Order Completed': tags[]: type any → string",
            "event 'Product Viewed': product_id: added (string, required)",
            "person attributes: version 1 → 2",
            "person attributes: email: now required",
        ]
    );
}

#[test]
fn the_same_contract_has_no_changes() {
    assert!(lines(OLD, OLD).is_empty());
    assert!(lines(D2C_CONTRACT, D2C_CONTRACT).is_empty());
}

#[test]
fn diffing_back_reverses_each_change() {
    let back = lines(NEW, OLD);
    assert!(back.contains(&"event 'Cart Viewed': added (version 2)".to_string()));
    assert!(back.contains(&"event 'Order Completed': revenue: type string → number".to_string()));
    assert!(back.contains(&"event 'Order Completed': tags[]: type string → any".to_string()));
    assert!(
        back.contains(&"event 'Order Completed': mode quarantine → (workspace mode)".to_string())
    );
    assert_eq!(back.len(), lines(OLD, NEW).len());
}

#[test]
fn changes_are_machine_readable() {
    let (old, new) = (
        Contract::from_yaml(OLD).unwrap(),
        Contract::from_yaml(NEW).unwrap(),
    );
    let changes = diff(&old, &new);
    let json = serde_json::to_value(&changes).unwrap();
    assert_eq!(
        json[0],
        json!({"change": "workspace_mode_changed", "from": "allow", "to": "reject"})
    );
    assert_eq!(
        json[8],
        json!({"change": "property_added", "subject": {"event": "Order Completed"},
               "path": "discount_code", "type": "string", "required": false})
    );
    assert_eq!(
        json[14],
        json!({"change": "values_changed", "subject": {"event": "Order Completed"},
               "path": "status", "from": ["paid"], "to": ["paid", "refunded"]})
    );
    let back: Vec<Change> = serde_json::from_value(json).unwrap();
    assert_eq!(back, changes);
    assert_eq!(changes[0].subject(), None);
    assert_eq!(
        changes[1].subject(),
        Some(Subject::Event("Cart Viewed".into()))
    );
    assert_eq!(
        changes[0],
        Change::WorkspaceModeChanged {
            from: Mode::Allow,
            to: Mode::Reject
        }
    );
}

#[test]
fn shape_changes_without_a_new_version_are_found() {
    let (old, new) = (
        Contract::from_yaml(OLD).unwrap(),
        Contract::from_yaml(NEW).unwrap(),
    );
    // Order Completed and the person went up a version; Product Viewed gained a property as
    // version 1 still.
    assert_eq!(
        changed_without_new_version(&diff(&old, &new)),
        vec![Subject::Event("Product Viewed".into())]
    );
    let renamed_only = Contract::from_yaml(
        "format: 1\nevents:\n  Cart Viewed: {version: 2, description: Seen, mode: reject}\n",
    )
    .unwrap();
    let cart_only =
        Contract::from_yaml("format: 1\nevents:\n  Cart Viewed: {version: 2}\n").unwrap();
    assert!(changed_without_new_version(&diff(&cart_only, &renamed_only)).is_empty());
}
