//! What a send step puts in the outbox: the person's address for the channel, consent (an
//! unsubscribed person gets nothing), and the template rendered with the person, the trigger
//! and the journey; or why it cannot go out, as a reason the timeline records.

use std::collections::BTreeSet;

use nudge_core::Timestamp;
use nudge_journeys::{Instance, Journey};
use nudge_store::{OutboxMessage, StoredEvent};
use nudge_templates::RenderContext;
use serde_json::{json, Value};

use super::effects::Subject;
use super::JourneyCatalog;
use crate::PersonData;

pub(super) struct Send<'a> {
    pub step: &'a str,
    pub channel: &'a str,
    pub template: &'a str,
    pub message_id: &'a str,
}

/// Why a send was skipped: a short code for counters and a human detail.
pub(super) struct SkipReason {
    pub code: &'static str,
    pub detail: String,
}

fn skip(code: &'static str, detail: impl Into<String>) -> SkipReason {
    SkipReason {
        code,
        detail: detail.into(),
    }
}

/// The message a send puts in the outbox, or why it cannot go out.
pub(super) fn prepare(
    journeys: &JourneyCatalog,
    subject: &Subject,
    journey: &Journey,
    instance: &Instance,
    send: &Send<'_>,
) -> Result<OutboxMessage, SkipReason> {
    let attributes = &subject.state.attributes;
    if attributes.get("unsubscribed") == Some(&Value::Bool(true)) {
        return Err(skip("unsubscribed", "the person is unsubscribed"));
    }
    let Some(recipient) = subject.address(send.channel) else {
        return Err(skip(
            "no_recipient",
            format!("the person has no address for {}", send.channel),
        ));
    };
    let Some(template) = journeys.template(send.template) else {
        return Err(skip(
            "failed_render",
            format!("there is no template '{}'", send.template),
        ));
    };
    let rendered = template
        .render(&render_context(
            subject,
            journey,
            instance,
            send.step,
            send.message_id,
        ))
        .map_err(|e| skip("failed_render", e.to_string()))?;
    let mut payload = json!({"html": rendered.html, "title": rendered.title});
    if let Some(topic) = &template.topic {
        // The subscription topic the delivery worker checks the person's preferences for.
        payload["topic"] = json!(topic);
    }
    Ok(OutboxMessage {
        message_id: send.message_id.to_string(),
        person: subject.key,
        journey: journey.id.clone(),
        step: send.step.to_string(),
        instance: 0,
        channel: send.channel.to_string(),
        recipient,
        subject: rendered.subject.clone().or(rendered.title.clone()),
        body: rendered.body.clone(),
        payload,
        created_at: Timestamp::from_millis(0),
    })
}

/// What a template sees: the person, the trigger event, and where in which journey it is;
/// built by the journey engine's own `render_context`, so a message and a computed wait read
/// the same variables. The person is the one the engine's conditions read (attributes with
/// their identifiers).
pub(super) fn render_context(
    subject: &Subject,
    journey: &Journey,
    instance: &Instance,
    step: &str,
    message_id: &str,
) -> RenderContext {
    let person = PersonData::for_person(
        subject.state.clone(),
        BTreeSet::new(),
        std::iter::empty::<StoredEvent>(),
    );
    nudge_journeys::render_context(
        &person.attributes,
        journey,
        instance,
        step,
        Some(message_id),
    )
}
