//! One attempt at one claimed delivery, once the batch's re-check has given its verdict: the
//! update a verdict that sends nothing leads to; else the channel of the delivery's workspace
//! (see [`ChannelRegistry`]; the outbox when none is configured), the circuit breaker, the
//! send, and the update to record: sent, skipped, failed, undeliverable, or queued again for a
//! retry or until a limit lets it go.

use std::sync::Arc;
use std::time::Duration;

use nudge_core::{Clock, Identifier, IdentifierKind, Operation};
use nudge_ingest::Ingestor;
use nudge_store::{Delivery, DeliveryUpdate, FinishedDelivery, PersonView, StoreResult};

use super::outgoing::{mapped_attributes, outgoing_messages};
use super::policy::UnsubscribeLinks;
use super::recheck::{Recheck, Verdict};
use super::retry::{CircuitBreaker, RetryPolicy};
use super::{millis, seconds_between, WorkerConfig};
use crate::channel::{Channel, Outcome, OutgoingMessage};
use crate::workspace_channels::{ChannelRegistry, Resolved};

/// The source of log entries the worker writes (attributes mapped from webhook responses).
pub const DELIVERY_SOURCE: &str = "delivery";

/// How soon a delivery is looked at again when the store failed during its attempt.
const STORE_RETRY: Duration = Duration::from_secs(5);

pub(super) struct Attempt {
    clock: Arc<dyn Clock>,
    channels: Arc<ChannelRegistry>,
    ingestor: Option<Ingestor>,
    recheck: Recheck,
    breaker: CircuitBreaker,
    retry: RetryPolicy,
    unsubscribe_links: Option<UnsubscribeLinks>,
    tracking_links: Option<crate::tracking::TrackingLinks>,
}

impl Attempt {
    pub(super) fn new(
        clock: Arc<dyn Clock>,
        channels: Arc<ChannelRegistry>,
        ingestor: Option<Ingestor>,
        config: &WorkerConfig,
    ) -> Self {
        Self {
            clock,
            channels,
            ingestor,
            recheck: Recheck::new(&config.policy, config.claim_for),
            breaker: CircuitBreaker::new(config.breaker.clone()),
            retry: config.retry.clone(),
            unsubscribe_links: config.policy.unsubscribe_links.clone(),
            tracking_links: config.policy.tracking_links.clone(),
        }
    }

    /// The re-check the loop runs on each claimed batch before its sends start.
    pub(super) fn recheck(&self) -> &Recheck {
        &self.recheck
    }

    /// What the re-check's verdict leads to: the person to send to, or the update to record
    /// at once (a skip, a deferral, an undeliverable message, or a retry when the store could
    /// not be read).
    pub(super) fn verdict(
        &self,
        verdict: StoreResult<Verdict>,
    ) -> Result<Arc<PersonView>, DeliveryUpdate> {
        match verdict {
            Ok(Verdict::Send(person)) => Ok(person),
            Ok(Verdict::Skip { code, detail }) => Err(DeliveryUpdate::Skipped {
                reason: format!("{code}: {detail}"),
            }),
            Ok(Verdict::Defer { until, reason }) => {
                Err(DeliveryUpdate::Retry { at: until, reason })
            }
            Ok(Verdict::Undeliverable { reason }) => Err(DeliveryUpdate::Undeliverable { reason }),
            Err(e) => Err(self.store_trouble(e.to_string())),
        }
    }

    /// Sends a delivery the re-check let through to `person` and gives the update to record.
    pub(super) async fn run(
        self: Arc<Self>,
        delivery: Delivery,
        person: Arc<PersonView>,
    ) -> FinishedDelivery {
        let update = self.send(&delivery, &person).await;
        if !matches!(update, DeliveryUpdate::Sent { .. }) {
            // What did not go out does not count toward the frequency cap.
            self.recheck.not_sent(&delivery, person.state.key);
        }
        FinishedDelivery {
            ws: delivery.ws,
            id: delivery.id,
            attempts: delivery.attempts,
            update,
        }
    }

    /// Hands a delivery the re-check let through to its channel.
    async fn send(&self, delivery: &Delivery, person: &PersonView) -> DeliveryUpdate {
        let name = delivery.message.channel.as_str();
        let now = self.clock.now();
        let (channel, note, breaker_key) = match self.channels.resolve(delivery.ws, name) {
            Resolved::Send {
                channel,
                note,
                breaker_key,
            } => (channel, note, breaker_key),
            Resolved::Unavailable { reason } => {
                let queued_at = delivery.message.created_at;
                return match self
                    .retry
                    .next_attempt(delivery.attempts, queued_at, now, None)
                {
                    Some(at) => DeliveryUpdate::Retry { at, reason },
                    None => DeliveryUpdate::Failed {
                        reason: format!("gave up after {} attempts: {reason}", delivery.attempts),
                    },
                };
            }
        };
        if let Some(until) = self.breaker.paused_until(&breaker_key, now) {
            return DeliveryUpdate::Retry {
                at: until,
                reason: format!("the {name} channel is paused after repeated failures"),
            };
        }
        let messages = match outgoing_messages(
            delivery,
            person,
            self.unsubscribe_links.as_ref(),
            self.tracking_links.as_ref(),
        ) {
            Ok(messages) => messages,
            Err(reason) => return DeliveryUpdate::Failed { reason },
        };
        let outcome = send_all(channel.as_ref(), &messages).await;
        self.settle(delivery, person, outcome, note, &breaker_key)
            .await
    }

    /// The update an outcome leads to, feeding the breaker and writing mapped attributes.
    async fn settle(
        &self,
        delivery: &Delivery,
        person: &PersonView,
        outcome: Outcome,
        note: Option<String>,
        breaker_key: &str,
    ) -> DeliveryUpdate {
        let name = delivery.message.channel.as_str();
        let now = self.clock.now();
        match outcome {
            Outcome::Sent {
                provider_message_id,
                response,
            } => {
                self.breaker.record_success(breaker_key);
                if let Err(reason) = self.write_mapped(delivery, person, response.as_ref()).await {
                    // Sent again later under the same idempotency key, and mapped then.
                    return DeliveryUpdate::Retry {
                        at: now.plus_millis(millis(STORE_RETRY)),
                        reason,
                    };
                }
                metrics::histogram!("nudge_delivery_latency_seconds", "channel" => name.to_string())
                    .record(seconds_between(delivery.message.created_at, now));
                DeliveryUpdate::Sent {
                    provider_message_id,
                    response,
                    note,
                }
            }
            Outcome::Permanent { reason } => DeliveryUpdate::Failed { reason },
            Outcome::Transient {
                reason,
                retry_after,
            } => {
                if let Some(until) = self.breaker.record_failure(breaker_key, now) {
                    tracing::warn!(channel = name, until = %until.to_rfc3339(),
                        "pausing a channel after repeated failures");
                }
                let queued_at = delivery.message.created_at;
                match self
                    .retry
                    .next_attempt(delivery.attempts, queued_at, now, retry_after)
                {
                    Some(at) => DeliveryUpdate::Retry { at, reason },
                    None => DeliveryUpdate::Failed {
                        reason: format!("gave up after {} attempts: {reason}", delivery.attempts),
                    },
                }
            }
        }
    }

    /// Writes the attributes a webhook step maps from its response, through the writer like
    /// any identify, before the delivery is recorded as sent.
    async fn write_mapped(
        &self,
        delivery: &Delivery,
        person: &PersonView,
        response: Option<&serde_json::Value>,
    ) -> Result<(), String> {
        let attributes = mapped_attributes(delivery, response);
        if attributes.is_empty() {
            return Ok(());
        }
        let Some(ingestor) = &self.ingestor else {
            return Err("no writer to store the response's attributes".into());
        };
        let person = Identifier::new(IdentifierKind::CioId, &person.state.cio_id)
            .map_err(|e| format!("the person's cio_id: {e}"))?;
        let operation = Operation::Identify {
            person,
            attributes,
            update_only: true,
            timestamp: None,
        };
        ingestor
            .submit(delivery.ws, DELIVERY_SOURCE, vec![operation.into()])
            .await
            .map(|_| ())
            .map_err(|e| format!("storing the response's attributes failed: {e}"))
    }

    fn store_trouble(&self, error: String) -> DeliveryUpdate {
        DeliveryUpdate::Retry {
            at: self.clock.now().plus_millis(millis(STORE_RETRY)),
            reason: format!("the re-check could not read the store: {error}"),
        }
    }
}

/// Sends every message (one per device for push): sent if any went out, else the first
/// transient failure (worth another try), else the first permanent one.
async fn send_all(channel: &dyn Channel, messages: &[OutgoingMessage]) -> Outcome {
    let mut transient = None;
    let mut permanent = None;
    let mut sent = None;
    for message in messages {
        match channel.send(message).await {
            outcome @ Outcome::Sent { .. } => {
                sent.get_or_insert(outcome);
            }
            outcome @ Outcome::Transient { .. } => {
                transient.get_or_insert(outcome);
            }
            outcome @ Outcome::Permanent { .. } => {
                permanent.get_or_insert(outcome);
            }
        }
    }
    sent.or(transient)
        .or(permanent)
        .unwrap_or(Outcome::Permanent {
            reason: "nothing to send".into(),
        })
}

/// Counts a recorded outcome by the state it left the delivery in.
pub(super) fn count(finished: &FinishedDelivery) {
    metrics::counter!("nudge_deliveries_total",
        "state" => finished.update.state().as_str())
    .increment(1);
}
