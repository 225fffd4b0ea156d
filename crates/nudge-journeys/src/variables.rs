//! What Liquid inside a journey reads: a message template's variables (`customer`, `event`
//! with `event_name` and `event_timestamp`, `trigger`, `journey`) for one instance at one
//! step. They are built here, once, for the messages a journey sends and for the waits it
//! computes, so both read the same values; and here is decided which variables a journey can
//! ever supply. Pure: the caller hands in the person.

use nudge_core::JsonMap;
use nudge_templates::{EventContext, RenderContext};
use serde_json::Value;

use crate::instance::Instance;
use crate::model::{Journey, Trigger};

/// The variables of `instance` at `step`. `customer` is the person as conditions read them:
/// their attributes with `id`, `email`, `phone` and `cio_id`. An event-triggered instance
/// shows its trigger data as `event.*` (and `trigger` is empty); any other shows it as
/// `trigger.*`. `journey.message_id` exists only while a message is rendered.
pub fn render_context(
    customer: &JsonMap,
    journey: &Journey,
    instance: &Instance,
    step: &str,
    message_id: Option<&str>,
) -> RenderContext {
    let trigger = &instance.trigger;
    let event = trigger.event.as_ref().map(|name| EventContext {
        name: name.clone(),
        timestamp: trigger.timestamp,
        data: trigger.data.clone(),
    });
    let trigger_data = if event.is_none() {
        trigger.data.clone()
    } else {
        JsonMap::new()
    };
    let mut journey_vars = JsonMap::new();
    journey_vars.insert("id".into(), Value::String(journey.id.clone()));
    journey_vars.insert("name".into(), Value::String(journey.name.clone()));
    journey_vars.insert("step".into(), Value::String(step.to_string()));
    if let Some(message_id) = message_id {
        journey_vars.insert("message_id".into(), Value::String(message_id.to_string()));
    }
    RenderContext {
        customer: customer.clone(),
        event,
        trigger: trigger_data,
        journey: journey_vars,
    }
}

/// Why a journey started by `trigger` can never supply the variable at `path`
/// (`event.items[].price`): an unknown root, the trigger event in a journey no event starts,
/// or API trigger data in one an event starts. `None` when it can. Whether an event carries a
/// given property is the event contract's business, not this check's.
pub fn unsupplied_variable(trigger: &Trigger, path: &str) -> Option<&'static str> {
    let has_event = matches!(trigger, Trigger::Event { .. });
    let root = path.split(['.', '[']).next().unwrap_or_default();
    match root {
        "customer" | "journey" => None,
        "event" | "event_name" | "event_timestamp" if has_event => None,
        "trigger" if !has_event => None,
        "event" | "event_name" | "event_timestamp" => Some("no event starts this journey"),
        "trigger" => Some("an event starts this journey: its data is under event"),
        _ => Some("there is no such variable (customer, event, trigger, journey)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::{Status, TriggerData};
    use nudge_core::Timestamp;
    use serde_json::json;

    fn journey(trigger: Trigger) -> Journey {
        Journey {
            id: "replenishment".into(),
            name: "Replenishment".into(),
            description: String::new(),
            trigger,
            entry: Default::default(),
            exits: Vec::new(),
            goal: None,
            max_lateness: None,
            migrate: Default::default(),
            steps: Vec::new(),
            index: Default::default(),
        }
    }

    fn instance(event: Option<&str>) -> Instance {
        let at = Timestamp::from_millis(1_772_449_200_000);
        Instance {
            journey: "replenishment".into(),
            version: 1,
            key: String::new(),
            trigger: TriggerData {
                event: event.map(str::to_string),
                timestamp: at,
                data: json!({"order_id": "o-1"}).as_object().cloned().unwrap(),
                offset: 4,
            },
            entered_at: at,
            status: Status::Active,
            step: None,
            step_started: at,
            wake_at: None,
            visits: 0,
            seen_offset: 4,
            last_message: None,
            goal_until: None,
        }
    }

    fn event_trigger() -> Trigger {
        Trigger::Event {
            name: "Order Completed".into(),
            filters: Vec::new(),
        }
    }

    #[test]
    fn an_event_trigger_is_event_data_and_a_message_has_its_id() {
        let customer = json!({"first_name": "Ana"}).as_object().cloned().unwrap();
        let j = journey(event_trigger());
        let context = render_context(
            &customer,
            &j,
            &instance(Some("Order Completed")),
            "email",
            Some("m-1"),
        );
        assert_eq!(context.customer, customer);
        let event = context.event.expect("an event started it");
        assert_eq!(event.name, "Order Completed");
        assert_eq!(event.data["order_id"], json!("o-1"));
        assert!(context.trigger.is_empty());
        assert_eq!(
            Value::Object(context.journey),
            json!({"id": "replenishment", "name": "Replenishment", "step": "email", "message_id": "m-1"})
        );
    }

    #[test]
    fn other_triggers_are_trigger_data_and_a_wait_has_no_message_id() {
        let j = journey(Trigger::Broadcast);
        let context = render_context(&JsonMap::new(), &j, &instance(None), "wait", None);
        assert!(context.event.is_none());
        assert_eq!(context.trigger["order_id"], json!("o-1"));
        assert_eq!(context.journey.get("step"), Some(&json!("wait")));
        assert!(!context.journey.contains_key("message_id"));
    }

    #[test]
    fn variables_a_trigger_cannot_supply() {
        let event = event_trigger();
        let broadcast = Trigger::Broadcast;
        for path in ["customer.first_name", "journey.id", "event.items[].price"] {
            assert_eq!(unsupplied_variable(&event, path), None, "{path}");
        }
        assert_eq!(unsupplied_variable(&event, "event_timestamp"), None);
        assert_eq!(unsupplied_variable(&broadcast, "trigger.coupon"), None);
        assert_eq!(
            unsupplied_variable(&broadcast, "event.order_id"),
            Some("no event starts this journey")
        );
        assert_eq!(
            unsupplied_variable(&event, "trigger.coupon"),
            Some("an event starts this journey: its data is under event")
        );
        assert_eq!(
            unsupplied_variable(&event, "order.id"),
            Some("there is no such variable (customer, event, trigger, journey)")
        );
    }
}
