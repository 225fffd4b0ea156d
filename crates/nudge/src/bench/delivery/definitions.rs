//! The two journeys the delivery benchmark runs and the people they send to: an order
//! confirmation email sent at once, and a shipping webhook called at once, each triggered by
//! its own event. Validated with `compile_journeys` as `nudge apply` validates them, then
//! stored with `put_document`. Builds values only; submits nothing.

use anyhow::Context;
use nudge_core::{EventKind, EventRecord, Identifier, IdentifierKind, JsonMap, Operation};
use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{Document, DocumentKind, Store};
use serde_json::Value;

use crate::bench::journey_documents::journey_documents;

/// The email journey's trigger, and the webhook journey's.
pub(super) const EMAIL_EVENT: &str = "Order Confirmed";
pub(super) const WEBHOOK_EVENT: &str = "Order Shipped";
/// Where the webhook step posts, under the webhook sink's URL.
pub(super) const WEBHOOK_PATH: &str = "/hooks/shipping";
const EMAIL_DOMAIN: &str = "@bench.example";

/// The definitions, the webhook pointing at `webhook_base` (a URL without a trailing slash).
fn definitions(webhook_base: &str) -> String {
    format!(
        r#"
kind: template
format: 1
id: order-confirmation-email
channel: email
subject: "Order {{{{ event.order }}}} is confirmed"
body: "Hi {{{{ customer.first_name | default: 'there' }}}}, order {{{{ event.order }}}} ({{{{ event.total }}}}) is confirmed."
---
kind: journey
format: 1
id: order-confirmation
name: Order confirmation
description: An email as soon as an order is confirmed.
trigger:
  event: {EMAIL_EVENT}
steps:
  - id: confirm
    send: {{channel: email, template: order-confirmation-email}}
---
kind: journey
format: 1
id: shipping-notice
name: Shipping notice
description: The fulfilment system's webhook as soon as an order ships.
trigger:
  event: {WEBHOOK_EVENT}
steps:
  - id: notify
    webhook:
      url: {webhook_base}{WEBHOOK_PATH}
      headers: {{X-Source: nudge}}
      body: '{{"email": "{{{{ customer.email }}}}", "order": {{{{ event.order }}}}}}'
"#
    )
}

/// The benchmark's journeys and templates as documents, validated as a set.
fn documents(webhook_base: &str, now: Timestamp) -> anyhow::Result<Vec<Document>> {
    journey_documents("delivery.yaml", &definitions(webhook_base), now)
}

/// Stores the template, then the journeys, in workspace `ws`.
pub(super) fn define(
    store: &dyn Store,
    ws: WorkspaceId,
    webhook_base: &str,
    now: Timestamp,
) -> anyhow::Result<()> {
    let mut documents = documents(webhook_base, now)?;
    documents.sort_by_key(|d| d.kind == DocumentKind::Journey);
    for d in &documents {
        store
            .put_document(ws, d.kind, &d.name, &d.body, now)
            .with_context(|| format!("storing {} {}", d.kind, d.name))?;
    }
    Ok(())
}

fn person(n: u64) -> anyhow::Result<Identifier> {
    Ok(Identifier::new(IdentifierKind::Id, &format!("d{n}"))?)
}

/// Person `n`'s email address.
pub(super) fn email(n: u64) -> String {
    format!("d{n}{EMAIL_DOMAIN}")
}

/// Creates person `n` with an email and a first name.
pub(super) fn identify(n: u64) -> anyhow::Result<Operation> {
    let mut attributes = JsonMap::new();
    attributes.insert("email".into(), Value::String(email(n)));
    attributes.insert("first_name".into(), Value::String(format!("Reader {n}")));
    Ok(Operation::Identify {
        person: person(n)?,
        attributes,
        update_only: false,
        timestamp: None,
    })
}

/// Order `order` of person `n`, confirmed (`event` [`EMAIL_EVENT`]) or shipped.
pub(super) fn order_event(event: &str, n: u64, order: u64) -> anyhow::Result<Operation> {
    let mut data = JsonMap::new();
    data.insert("order".into(), Value::from(order));
    data.insert("total".into(), Value::from(20 + order % 180));
    Ok(Operation::Track {
        person: person(n)?,
        event: EventRecord {
            kind: EventKind::Event,
            name: event.into(),
            id: None,
            timestamp: None,
            data,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_compile_into_two_journeys_and_a_template() {
        let documents =
            documents("http://127.0.0.1:9", Timestamp::from_millis(0)).expect("valid definitions");
        let names = |kind: DocumentKind| -> Vec<&str> {
            documents
                .iter()
                .filter(|d| d.kind == kind)
                .map(|d| d.name.as_str())
                .collect()
        };
        assert_eq!(
            names(DocumentKind::Journey),
            ["order-confirmation", "shipping-notice"]
        );
        assert_eq!(names(DocumentKind::Template), ["order-confirmation-email"]);
        let webhook = documents
            .iter()
            .find(|d| d.name == "shipping-notice")
            .expect("the webhook journey");
        assert!(
            webhook
                .body
                .to_string()
                .contains("http://127.0.0.1:9/hooks/shipping"),
            "{}",
            webhook.body
        );
    }

    #[test]
    fn events_carry_what_the_journeys_read() {
        let Operation::Track { person, event } = order_event(WEBHOOK_EVENT, 7, 41).expect("valid")
        else {
            panic!("an order event is a track");
        };
        assert_eq!(person.value(), "d7");
        assert_eq!(event.name, WEBHOOK_EVENT);
        assert_eq!(event.data["order"], Value::from(41));
        assert_eq!(email(7), "d7@bench.example");
    }
}
