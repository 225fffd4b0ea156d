//! The hand-off between the delivery worker and a provider: one rendered message in, one
//! outcome out. A channel knows nothing of storage, retries or consent; it only classifies
//! what the provider said.

use std::time::Duration;

/// One message on its way to a provider.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    /// Stable across retries: the idempotency key for providers that take one.
    pub delivery_id: String,
    pub workspace: nudge_core::WorkspaceId,
    /// email | sms | push | webhook | outbox
    pub channel: String,
    /// An email address, a phone number (E.164), a device token, or for webhooks the URL.
    pub recipient: String,
    pub subject: Option<String>,
    /// Plain text (email text part, SMS text, push body, webhook body).
    pub body: String,
    /// Channel extras: email {"html", "unsubscribe_url"?, "reply_to"?}; push {"title",
    /// "data"?: {string: string}}; webhook {"method", "url", "headers": {..}}.
    pub payload: serde_json::Value,
    /// 1 for the first try.
    pub attempt: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The provider took it. `response` is the provider's JSON answer when it has one
    /// (webhooks: the parsed response body, used to map response fields to attributes).
    Sent {
        provider_message_id: Option<String>,
        response: Option<serde_json::Value>,
    },
    /// Worth retrying: timeouts, connection errors, 5xx, 429 (with its Retry-After), SMTP 4xx.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Never worth retrying: other 4xx, invalid address, SMTP 5xx, unregistered device.
    Permanent { reason: String },
}

pub trait Channel: Send + Sync {
    /// Hands one message to the provider. Never panics; every failure is an Outcome.
    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> futures::future::BoxFuture<'a, Outcome>;
}

pub(crate) fn transient(reason: impl Into<String>) -> Outcome {
    Outcome::Transient {
        reason: reason.into(),
        retry_after: None,
    }
}

pub(crate) fn permanent(reason: impl Into<String>) -> Outcome {
    Outcome::Permanent {
        reason: reason.into(),
    }
}
