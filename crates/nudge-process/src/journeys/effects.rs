//! Carrying out what a journey step decided, in the processor's transaction: timeline rows
//! and counters for every effect; sends rendered and queued in the outbox (or skipped with a
//! recorded reason: no address, unsubscribed, a template that does not render); attribute
//! updates and emitted events appended to the person's log and applied like any other entry,
//! so segments and other journeys see them; webhooks queued for delivery.

use nudge_core::{
    EventKind, EventRecord, Identifier, IdentifierKind, JsonMap, Operation, PersonKey, PersonState,
    Timestamp, WorkspaceId,
};
use nudge_journeys::{Effect, Instance, Journey};
use nudge_store::{JourneyEvent, LogEntry, OutboxMessage, StoreResult, WriteTx};
use nudge_templates::{EventContext, RenderContext};
use serde_json::{json, Value};

use super::JourneyCatalog;

/// Whom the effects concern.
pub struct Subject {
    pub ws: WorkspaceId,
    pub key: PersonKey,
    pub state: PersonState,
    /// How timelines name the person: their id, else their email, else an anonymous id,
    /// else their cio_id.
    pub label: String,
}

impl Subject {
    pub fn new(tx: &mut dyn WriteTx, ws: WorkspaceId, state: &PersonState) -> StoreResult<Self> {
        let label = match state.id.clone().or_else(|| state.email.clone()) {
            Some(label) => label,
            None => tx
                .person_identifiers(ws, state.key)?
                .into_iter()
                .find(|i| i.kind() == IdentifierKind::AnonymousId)
                .map_or_else(|| state.cio_id.clone(), |i| i.value().to_string()),
        };
        Ok(Self {
            ws,
            key: state.key,
            state: state.clone(),
            label,
        })
    }

    /// The address a channel sends to: the identifier, or the attribute of that name.
    fn address(&self, channel: &str) -> Option<String> {
        let (identifier, attribute) = match channel {
            "email" => (&self.state.email, "email"),
            "sms" => (&self.state.phone, "phone"),
            "push" => return Some(self.state.cio_id.clone()),
            _ => return None,
        };
        identifier.clone().or_else(|| {
            self.state
                .attributes
                .get(attribute)
                .and_then(Value::as_str)
                .filter(|a| !a.trim().is_empty())
                .map(str::to_string)
        })
    }
}

/// The source log entries written by journeys carry.
pub const JOURNEY_SOURCE: &str = "journey";

#[allow(clippy::too_many_arguments)]
pub(super) fn apply_effects(
    tx: &mut dyn WriteTx,
    journeys: &JourneyCatalog,
    subject: &Subject,
    journey: &Journey,
    instance_id: i64,
    instance: &mut Instance,
    effects: &[Effect],
    now: Timestamp,
) -> StoreResult<()> {
    let record = |tx: &mut dyn WriteTx,
                  step: Option<&str>,
                  kind: &str,
                  reason: Option<&str>,
                  mut detail: Value| {
        if let Value::Object(map) = &mut detail {
            map.insert("person".into(), Value::String(subject.label.clone()));
        }
        let event = JourneyEvent {
            at: now,
            person: subject.key,
            journey: journey.id.clone(),
            version: instance.version,
            instance: instance_id,
            step: step.map(str::to_string),
            kind: kind.to_string(),
            reason: reason.map(str::to_string),
            detail,
        };
        tx.record_journey_event(subject.ws, &event).map(drop)
    };
    for effect in effects {
        match effect {
            Effect::Entered => {
                let detail = json!({"key": instance.key, "trigger": instance.trigger.event});
                record(tx, None, "entered", None, detail)?;
                metrics::counter!("nudge_journey_entered_total").increment(1);
            }
            Effect::StepReached { step } => {
                record(tx, Some(step), "step_reached", None, json!({}))?;
            }
            Effect::Send {
                step,
                channel,
                template,
                message_id,
            } => {
                let send = Send {
                    step,
                    channel,
                    template,
                    message_id,
                };
                match prepare(journeys, subject, journey, instance, &send) {
                    Ok(message) => {
                        let detail = json!({
                            "channel": channel, "to": message.recipient,
                            "subject": message.subject, "body": message.body,
                            "template": template, "message_id": message_id,
                        });
                        let message = OutboxMessage {
                            instance: instance_id,
                            created_at: now,
                            ..message
                        };
                        if tx.enqueue_message(subject.ws, &message)? {
                            record(tx, Some(step), "message_sent", None, detail)?;
                            metrics::counter!("nudge_journey_messages_total", "channel" => channel.clone())
                                .increment(1);
                        }
                    }
                    Err(reason) => {
                        // Nothing went out: no conversion can be attributed to it.
                        if instance
                            .last_message
                            .as_ref()
                            .is_some_and(|m| &m.message_id == message_id)
                        {
                            instance.last_message = None;
                            instance.goal_until = None;
                        }
                        let detail = json!({"channel": channel, "template": template, "detail": reason.detail});
                        record(tx, Some(step), "message_skipped", Some(reason.code), detail)?;
                    }
                }
            }
            Effect::Skipped { step, reason } => match send_channel(journey, step) {
                Some(channel) => {
                    let detail = json!({"channel": channel});
                    record(tx, Some(step), "message_skipped", Some(reason), detail)?;
                }
                None => record(tx, Some(step), "step_skipped", Some(reason), json!({}))?,
            },
            Effect::UpdateAttributes { step, attributes } => {
                let operation = Operation::Identify {
                    person: cio_identifier(subject)?,
                    attributes: attributes.clone(),
                    update_only: true,
                    timestamp: None,
                };
                append_and_apply(tx, subject.ws, operation, now)?;
                let detail = json!({"attributes": attributes});
                record(tx, Some(step), "attributes_updated", None, detail)?;
            }
            Effect::EmitEvent { step, name, data } => {
                let operation = Operation::Track {
                    person: cio_identifier(subject)?,
                    event: EventRecord {
                        kind: EventKind::Event,
                        name: name.clone(),
                        id: None,
                        timestamp: Some(now),
                        data: data.clone(),
                    },
                };
                append_and_apply(tx, subject.ws, operation, now)?;
                record(tx, Some(step), "event_emitted", None, json!({"name": name}))?;
            }
            Effect::Webhook {
                step, message_id, ..
            } => {
                let message = webhook_message(subject, journey, instance, effect, now)?;
                let message = OutboxMessage {
                    instance: instance_id,
                    ..message
                };
                if tx.enqueue_message(subject.ws, &message)? {
                    let detail = json!({"message_id": message_id, "request": message.payload});
                    record(tx, Some(step), "webhook_queued", None, detail)?;
                }
            }
            Effect::Converted { step, message_id } => {
                record(
                    tx,
                    Some(step),
                    "converted",
                    None,
                    json!({"message_id": message_id}),
                )?;
                metrics::counter!("nudge_journey_conversions_total").increment(1);
            }
            Effect::Exited { reason } => {
                record(
                    tx,
                    instance.step.as_deref(),
                    "exited",
                    Some(reason),
                    json!({}),
                )?;
                metrics::counter!("nudge_journey_exited_total", "reason" => reason.clone())
                    .increment(1);
            }
        }
    }
    Ok(())
}

struct Send<'a> {
    step: &'a str,
    channel: &'a str,
    template: &'a str,
    message_id: &'a str,
}

/// Why a send was skipped: a short code for counters and a human detail.
struct SkipReason {
    code: &'static str,
    detail: String,
}

fn skip(code: &'static str, detail: impl Into<String>) -> SkipReason {
    SkipReason {
        code,
        detail: detail.into(),
    }
}

/// The message a send puts in the outbox, or why it cannot go out.
fn prepare(
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

/// The channel of a send step; `None` for any other step.
fn send_channel<'j>(journey: &'j Journey, step: &str) -> Option<&'j str> {
    match &journey.step(step)?.kind {
        nudge_journeys::StepKind::Send { channel, .. } => Some(channel),
        _ => None,
    }
}

fn cio_identifier(subject: &Subject) -> StoreResult<Identifier> {
    Identifier::new(IdentifierKind::CioId, &subject.state.cio_id)
        .map_err(|e| nudge_store::StoreError::Corrupt(format!("stored cio_id: {e}")))
}

/// Appends `operation` to the workspace's log and applies it, in this transaction, exactly as
/// the writer would: the processor reaches the entry later like any other.
fn append_and_apply(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    operation: Operation,
    now: Timestamp,
) -> StoreResult<()> {
    let entry = LogEntry {
        source: JOURNEY_SOURCE.to_string(),
        received_at: now,
        operation,
        raw: None,
    };
    let offset = tx.append_log(ws, &entry)?;
    nudge_ingest::apply_entry(tx, ws, offset, &entry)?;
    Ok(())
}

/// A webhook step's request, rendered, as the outbox keeps it for delivery.
fn webhook_message(
    subject: &Subject,
    journey: &Journey,
    instance: &Instance,
    effect: &Effect,
    now: Timestamp,
) -> StoreResult<OutboxMessage> {
    let Effect::Webhook {
        step, message_id, ..
    } = effect
    else {
        return Err(nudge_store::StoreError::Backend("not a webhook".into()));
    };
    let context = render_context(subject, journey, instance, step, message_id);
    let payload = super::webhook::request_payload(effect, &context);
    Ok(OutboxMessage {
        message_id: message_id.clone(),
        person: subject.key,
        journey: journey.id.clone(),
        step: step.clone(),
        instance: 0,
        channel: "webhook".into(),
        recipient: payload
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        subject: None,
        body: payload
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        payload,
        created_at: now,
    })
}
