//! Carrying out what a journey step decided, in the processor's transaction: timeline rows
//! and counters for every effect; sends rendered and queued in the outbox (or skipped with a
//! recorded reason: no address, unsubscribed, a template that does not render); attribute
//! updates and emitted events appended to the person's log and applied like any other entry,
//! so segments and other journeys see them; webhooks queued for delivery; conversions
//! credited when the message got as far as the goal's attribution asks (opened, clicked).

use nudge_core::{
    EventKind, EventRecord, Identifier, IdentifierKind, Operation, PersonKey, PersonState,
    Timestamp, WorkspaceId,
};
use nudge_journeys::{Attribution, Effect, Instance, Journey, SentMessage};
use nudge_store::{DeliveryState, JourneyEvent, LogEntry, OutboxMessage, StoreResult, WriteTx};
use serde_json::{json, Value};

use super::send::{prepare, render_context, Send};
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

    /// A message's id in the outbox, its idempotency key: the engine's id (journey, version,
    /// trigger, step, visit, key) made the person's own, since one trigger (a segment entry
    /// in a batch, a broadcast) can start the same journey for many people.
    pub fn message_id(&self, engine_id: &str) -> String {
        format!("{}:{engine_id}", self.state.cio_id)
    }

    /// The address a channel sends to: the identifier, or the attribute of that name.
    pub(super) fn address(&self, channel: &str) -> Option<String> {
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
    from_step: Option<String>,
) -> StoreResult<()> {
    // The step each effect happened at: where the instance was, then each step it reached.
    let mut current_step = from_step;
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
                metrics::counter!("nudge_journey_entered_total", "journey" => journey.id.clone())
                    .increment(1);
            }
            Effect::StepReached { step } => {
                current_step = Some(step.clone());
                record(tx, Some(step), "step_reached", None, json!({}))?;
            }
            Effect::Send {
                step,
                channel,
                template,
                message_id,
            } => {
                let outbox_id = subject.message_id(message_id);
                let send = Send {
                    step,
                    channel,
                    template,
                    message_id: &outbox_id,
                };
                match prepare(journeys, subject, journey, instance, &send) {
                    Ok(mut message) => {
                        if is_tracked(journey, step) {
                            message.payload["tracked"] = json!(true);
                        }
                        let detail = json!({
                            "channel": channel, "to": message.recipient,
                            "subject": message.subject, "body": message.body,
                            "template": template, "message_id": outbox_id,
                        });
                        let message = OutboxMessage {
                            instance: instance_id,
                            created_at: now,
                            ..message
                        };
                        if tx.enqueue_message(subject.ws, &message)? {
                            record(tx, Some(step), "message_sent", None, detail)?;
                            metrics::counter!("nudge_journey_messages_total",
                                "journey" => journey.id.clone(), "step" => step.clone(),
                                "channel" => channel.clone())
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
            Effect::Webhook { step, .. } => {
                let message = webhook_message(subject, journey, instance, effect, now)?;
                let message = OutboxMessage {
                    instance: instance_id,
                    ..message
                };
                if tx.enqueue_message(subject.ws, &message)? {
                    let detail =
                        json!({"message_id": message.message_id, "request": message.payload});
                    record(tx, Some(step), "webhook_queued", None, detail)?;
                }
            }
            Effect::Converted { step, message_id } => {
                let outbox_id = subject.message_id(message_id);
                if !credited(tx, subject.ws, journey, &outbox_id)? {
                    // Not engaged enough yet: the window stays open for a later goal event.
                    instance.goal_until =
                        reopened_goal(journey, instance.last_message.as_ref(), message_id, now)
                            .or(instance.goal_until);
                    continue;
                }
                record(
                    tx,
                    Some(step),
                    "converted",
                    None,
                    json!({"message_id": outbox_id}),
                )?;
                metrics::counter!("nudge_journey_conversions_total", "journey" => journey.id.clone())
                    .increment(1);
            }
            Effect::Exited { reason } => {
                let at_step = instance.step.clone().or_else(|| current_step.clone());
                record(tx, at_step.as_deref(), "exited", Some(reason), json!({}))?;
                metrics::counter!("nudge_journey_exited_total",
                    "journey" => journey.id.clone(), "reason" => reason.clone())
                .increment(1);
            }
        }
    }
    Ok(())
}

/// Whether a send step asks for open and click tracking.
fn is_tracked(journey: &Journey, step: &str) -> bool {
    journey
        .step(step)
        .is_some_and(|s| matches!(s.kind, nudge_journeys::StepKind::Send { tracked: true, .. }))
}

/// Whether a conversion counts for the message `outbox_id` under the goal's attribution:
/// always for `sent`; for `opened` and `clicked`, when the ledger says the message got that
/// far (a click counts as an open) by the time the goal event is processed.
fn credited(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    journey: &Journey,
    outbox_id: &str,
) -> StoreResult<bool> {
    let attribution = journey.goal.as_ref().map(|g| g.attribution);
    let wanted = match attribution.unwrap_or_default() {
        Attribution::Sent => return Ok(true),
        Attribution::Opened => [DeliveryState::Opened, DeliveryState::Clicked].as_slice(),
        Attribution::Clicked => [DeliveryState::Clicked].as_slice(),
    };
    let state = tx.delivery_state(ws, outbox_id)?;
    Ok(state.is_some_and(|state| wanted.contains(&state)))
}

/// The engine closed the conversion window of the message `engine_id` when it emitted the
/// conversion; one that was not credited opens again until its end, so a goal event after
/// the open or click still counts.
fn reopened_goal(
    journey: &Journey,
    last_message: Option<&SentMessage>,
    engine_id: &str,
    now: Timestamp,
) -> Option<Timestamp> {
    let (goal, message) = (journey.goal.as_ref()?, last_message?);
    let until = message.at.plus_millis(goal.within);
    (message.message_id == engine_id && until > now).then_some(until)
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
    let message_id = subject.message_id(message_id);
    let context = render_context(subject, journey, instance, step, &message_id);
    let payload = super::webhook::request_payload(effect, &context);
    Ok(OutboxMessage {
        message_id,
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
