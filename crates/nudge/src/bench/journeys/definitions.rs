//! The three journeys the benchmark runs and their templates, as one definition file: an
//! appointment reminder that waits until the time its trigger event names, a cart reminder
//! 30 minutes after the last change of a cart, and a sign-in code sent at once. Validated with
//! `compile_journeys` exactly as `nudge apply` validates them, then stored with `put_document`.

use anyhow::Context;
use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{Document, DocumentKind, Store};

use crate::bench::journey_documents::journey_documents;

/// Phase 1 and 2: starts on [`BOOKED_EVENT`], waits until its `due_at`, then sends.
pub(super) const REMINDER_JOURNEY: &str = "appointment-reminder";
pub(super) const BOOKED_EVENT: &str = "Appointment Booked";
/// Phase 3: one instance per cart, restarted by every change of it.
pub(super) const CART_JOURNEY: &str = "cart-reminder";
pub(super) const CART_EVENT: &str = "Added to Cart";
/// Phase 4: a send with no delay.
pub(super) const CODE_JOURNEY: &str = "sign-in-code";
pub(super) const CODE_EVENT: &str = "Sign-in Code Requested";
/// What the sign-in email's body says before the code (see [`code_of`]).
const CODE_PREFIX: &str = "Your sign-in code is ";

const DEFINITIONS: &str = r#"
kind: template
format: 1
id: appointment-reminder-email
channel: email
subject: "Your appointment starts now"
body: "Hi {{ customer.first_name | default: 'there' }}, appointment {{ event.appointment_id }} starts now."
---
kind: journey
format: 1
id: appointment-reminder
name: Appointment reminder
description: An email at the moment the booking event names.
trigger:
  event: Appointment Booked
steps:
  - id: until-due
    delay_until: {time: trigger.due_at}
  - id: remind
    send: {channel: email, template: appointment-reminder-email}
---
kind: template
format: 1
id: cart-reminder-email
channel: email
subject: "You left something in your cart"
body: "Hi {{ customer.first_name | default: 'there' }}, cart {{ event.cart_id }} is waiting."
---
kind: journey
format: 1
id: cart-reminder
name: Cart reminder
description: An email 30 minutes after the last change of a cart.
trigger:
  event: Added to Cart
entry:
  key: cart_id
  on_retrigger: restart
steps:
  - id: wait-30m
    delay: 30m
  - id: remind
    send: {channel: email, template: cart-reminder-email}
---
kind: template
format: 1
id: sign-in-code-email
channel: email
subject: "Your sign-in code"
body: "Your sign-in code is {{ event.code }}."
---
kind: journey
format: 1
id: sign-in-code
name: Sign-in code
description: The code, at once.
trigger:
  event: Sign-in Code Requested
steps:
  - id: send-code
    send: {channel: email, template: sign-in-code-email}
"#;

/// The benchmark's journeys and templates as documents, validated as a set.
fn documents(now: Timestamp) -> anyhow::Result<Vec<Document>> {
    journey_documents("journeys.yaml", DEFINITIONS, now)
}

/// Stores the templates, then the journeys, in workspace `ws`; returns how many journeys.
pub(super) fn define(store: &dyn Store, ws: WorkspaceId, now: Timestamp) -> anyhow::Result<usize> {
    let mut documents = documents(now)?;
    documents.sort_by_key(|d| d.kind == DocumentKind::Journey);
    for d in &documents {
        store
            .put_document(ws, d.kind, &d.name, &d.body, now)
            .with_context(|| format!("storing {} {}", d.kind, d.name))?;
    }
    Ok(documents
        .iter()
        .filter(|d| d.kind == DocumentKind::Journey)
        .count())
}

/// The code a sign-in email carries, from its body.
pub(super) fn code_of(body: &str) -> Option<u64> {
    body.strip_prefix(CODE_PREFIX)?
        .strip_suffix('.')?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_compile_into_three_journeys_and_three_templates() {
        let documents = documents(Timestamp::from_millis(0)).expect("valid definitions");
        let names = |kind: DocumentKind| -> Vec<&str> {
            documents
                .iter()
                .filter(|d| d.kind == kind)
                .map(|d| d.name.as_str())
                .collect()
        };
        assert_eq!(
            names(DocumentKind::Journey),
            [REMINDER_JOURNEY, CART_JOURNEY, CODE_JOURNEY]
        );
        assert_eq!(names(DocumentKind::Template).len(), 3);
    }

    #[test]
    fn codes_are_read_back_from_the_body_the_template_renders() {
        assert_eq!(code_of("Your sign-in code is 4711."), Some(4711));
        assert_eq!(code_of("Your sign-in code is 0."), Some(0));
        assert_eq!(code_of("Your sign-in code is ."), None);
        assert_eq!(code_of("Your sign-in code is 12"), None);
        assert_eq!(code_of("Hi there, appointment a-1 starts now."), None);
    }
}
