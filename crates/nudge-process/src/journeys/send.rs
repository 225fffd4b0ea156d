//! What a send step puts in the outbox: the person's address for the channel, consent (an
//! unsubscribed person gets nothing), and the template rendered with the person, the trigger
//! and the journey; or why it cannot go out, as a reason the timeline records.

use nudge_core::{JsonMap, Timestamp};
use nudge_journeys::{Instance, Journey};
use nudge_store::OutboxMessage;
use nudge_templates::{EventContext, RenderContext};
use serde_json::{json, Value};

use super::effects::Subject;
use super::JourneyCatalog;

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
        payload: json!({"html": rendered.html, "title": rendered.title}),
        created_at: Timestamp::from_millis(0),
    })
}

/// What a template sees: the person, the trigger event, and where in which journey it is.
pub(super) fn render_context(
    subject: &Subject,
    journey: &Journey,
    instance: &Instance,
    step: &str,
    message_id: &str,
) -> RenderContext {
    let mut customer = subject.state.attributes.clone();
    for (name, value) in [
        ("id", &subject.state.id),
        ("email", &subject.state.email),
        ("phone", &subject.state.phone),
    ] {
        if let Some(value) = value {
            customer.insert(name.into(), Value::String(value.clone()));
        }
    }
    let event = instance.trigger.event.as_ref().map(|name| EventContext {
        name: name.clone(),
        timestamp: instance.trigger.timestamp,
        data: instance.trigger.data.clone(),
    });
    let trigger = if event.is_none() {
        instance.trigger.data.clone()
    } else {
        JsonMap::new()
    };
    let mut journey_vars = JsonMap::new();
    journey_vars.insert("id".into(), Value::String(journey.id.clone()));
    journey_vars.insert("name".into(), Value::String(journey.name.clone()));
    journey_vars.insert("step".into(), Value::String(step.to_string()));
    journey_vars.insert("message_id".into(), Value::String(message_id.to_string()));
    RenderContext {
        customer,
        event,
        trigger,
        journey: journey_vars,
    }
}
