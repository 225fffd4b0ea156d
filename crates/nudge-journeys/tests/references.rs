//! What a journey refers to, for the caller to check or read: segments, templates, event
//! names and conditions.

mod support;

use std::collections::BTreeSet;

use nudge_journeys::{SegmentEdge, Trigger};
use support::journey;

const EVERYTHING: &str = r#"
id: refs
name: References
trigger: {segment: 12, on: exited}
entry:
  conditions: {segment: {id: 3}}
exit:
  - event: Order Completed
  - conditions: {event: {name: Unsubscribed}}
goal: {event: Clicked, within: 2d}
steps:
  - id: wait
    wait_until:
      event: {name: Opened}
      conditions: {and: [{segment: {id: 4}}, {event: {name: Product Viewed, within: 1d}}]}
      timeout: 1d
  - id: branch
    branch: {if: {segment: {id: 5}}, then: sms, else: email}
  - id: sms
    send: {channel: sms, template: cart-sms}
    skip_if: {segment: {id: 6}}
  - id: email
    send: {channel: email, template: cart-email}
"#;

#[test]
fn segments_templates_events_and_conditions_are_listed() {
    let j = journey(EVERYTHING);
    assert_eq!(
        j.trigger,
        Trigger::Segment {
            id: 12,
            on: SegmentEdge::Exited
        }
    );
    assert_eq!(j.segment_refs(), BTreeSet::from([3, 4, 5, 6, 12]));
    assert_eq!(
        j.template_refs(),
        vec![
            ("sms".to_string(), "sms".to_string(), "cart-sms".to_string()),
            (
                "email".to_string(),
                "email".to_string(),
                "cart-email".to_string()
            ),
        ]
    );
    let names: BTreeSet<String> = [
        "Order Completed",
        "Unsubscribed",
        "Clicked",
        "Opened",
        "Product Viewed",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(j.event_names(), names);
    // entry, the exit condition, the wait's condition, the branch, skip_if.
    assert_eq!(j.conditions().len(), 5);
    assert_eq!(j.step("branch").map(|s| s.kind.name()), Some("branch"));
    assert!(j.step("nowhere").is_none());
}

#[test]
fn the_event_trigger_is_an_event_name_too() {
    let j = journey(
        r#"
id: t
name: T
trigger: {event: Added to Cart, where: [{field: cart_value, operator: gt, value: 60}]}
steps:
  - id: e
    emit: {event: Cart Seen}
"#,
    );
    assert_eq!(
        j.event_names(),
        BTreeSet::from(["Added to Cart".to_string()])
    );
    assert!(j.segment_refs().is_empty());
    assert!(j.template_refs().is_empty());
}
