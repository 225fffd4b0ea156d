//! The outbox channel: takes every message and sends it nowhere. The delivery ledger's record
//! is the whole effect, so `nudge serve` works with no provider configured and shows what
//! would have gone out.

use futures::future::BoxFuture;

use crate::channel::{Channel, Outcome, OutgoingMessage};

#[derive(Debug, Default, Clone, Copy)]
pub struct OutboxChannel;

impl Channel for OutboxChannel {
    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> BoxFuture<'a, Outcome> {
        tracing::debug!(
            delivery_id = %message.delivery_id,
            channel = %message.channel,
            "recorded in the outbox, not sent"
        );
        Box::pin(std::future::ready(Outcome::Sent {
            provider_message_id: None,
            response: None,
        }))
    }
}
