//! The webhook channel: sends the rendered body with the method, URL and headers the payload
//! names, plus `Idempotency-Key` (the delivery id), `X-Nudge-Timestamp` (from the injected
//! clock) and, with a signing secret, `X-Nudge-Signature` as described in [`signature`]. A
//! JSON answer comes back in `Sent.response`.

pub mod signature;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use nudge_core::Clock;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::{Method, Url};

use super::http::{transport_failure, Answer};
use crate::channel::{permanent, Channel, Outcome, OutgoingMessage};

pub use signature::{sign, verify, SignatureError};

/// How webhooks are sent.
#[derive(Clone)]
pub struct WebhookSettings {
    /// Signs every webhook when set.
    pub secret: Option<String>,
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            secret: None,
            timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub struct WebhookChannel {
    client: reqwest::Client,
    settings: WebhookSettings,
    clock: Arc<dyn Clock>,
}

impl WebhookChannel {
    pub fn new(client: reqwest::Client, settings: WebhookSettings, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            settings,
            clock,
        }
    }

    async fn deliver(&self, message: &OutgoingMessage) -> Outcome {
        let request = match WebhookRequest::read(message) {
            Ok(request) => request,
            Err(reason) => return permanent(reason),
        };
        let mut headers = request.headers;
        if !headers.contains_key(CONTENT_TYPE) && !message.body.is_empty() {
            let json = serde_json::from_str::<serde_json::Value>(&message.body).is_ok();
            let content_type = if json {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        // Ours win over a template's: the key must stay the delivery id across retries.
        match HeaderValue::from_str(&message.delivery_id) {
            Ok(key) => {
                headers.insert(signature::IDEMPOTENCY_HEADER, key);
            }
            Err(_) => return permanent("delivery id cannot be sent as a header"),
        }
        let timestamp = self.clock.now().unix_seconds();
        headers.insert(signature::TIMESTAMP_HEADER, HeaderValue::from(timestamp));
        if let Some(secret) = &self.settings.secret {
            let signed = sign(secret.as_bytes(), timestamp, message.body.as_bytes());
            if let Ok(value) = HeaderValue::from_str(&signed) {
                headers.insert(signature::SIGNATURE_HEADER, value);
            }
        }
        let mut builder = self
            .client
            .request(request.method, request.url)
            .headers(headers)
            .timeout(self.settings.timeout);
        if !message.body.is_empty() {
            builder = builder.body(message.body.clone());
        }
        let timeout = self.settings.timeout;
        let response = match builder.send().await {
            Ok(response) => response,
            Err(error) => return transport_failure("webhook", &error, timeout),
        };
        let answer = match Answer::read(response, self.clock.now()).await {
            Ok(answer) => answer,
            Err(error) => return transport_failure("webhook", &error, timeout),
        };
        if answer.status.is_success() {
            return Outcome::Sent {
                provider_message_id: None,
                response: answer.json(),
            };
        }
        let mut reason = format!("webhook answered {}", answer.status);
        if answer.status.is_redirection() {
            reason.push_str(" (redirects are not followed)");
        }
        let snippet = answer.snippet();
        if !snippet.is_empty() {
            reason = format!("{reason}: {snippet}");
        }
        answer.failure(reason)
    }
}

impl Channel for WebhookChannel {
    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> BoxFuture<'a, Outcome> {
        Box::pin(self.deliver(message))
    }
}

/// The request a webhook payload describes.
struct WebhookRequest {
    method: Method,
    url: Url,
    headers: HeaderMap,
}

impl WebhookRequest {
    /// Reads `{"method"?, "url"?, "headers"?}`; the URL falls back to the recipient.
    fn read(message: &OutgoingMessage) -> Result<Self, String> {
        let payload = &message.payload;
        let method = match payload.get("method") {
            None | Some(serde_json::Value::Null) => Method::POST,
            Some(serde_json::Value::String(name)) => {
                Method::from_bytes(name.trim().to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("webhook method '{name}' is not an HTTP method"))?
            }
            Some(other) => return Err(format!("webhook method must be a string, got {other}")),
        };
        let url = match payload.get("url") {
            Some(serde_json::Value::String(url)) if !url.trim().is_empty() => url.trim(),
            None | Some(serde_json::Value::Null) => message.recipient.trim(),
            Some(serde_json::Value::String(_)) => message.recipient.trim(),
            Some(other) => return Err(format!("webhook url must be a string, got {other}")),
        };
        let url =
            Url::parse(url).map_err(|error| format!("webhook url '{url}' is invalid: {error}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("webhook url '{url}' is not http or https"));
        }
        let mut headers = HeaderMap::new();
        match payload.get("headers") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(given)) => {
                for (name, value) in given {
                    let text = match value {
                        serde_json::Value::String(text) => text.clone(),
                        serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {
                            value.to_string()
                        }
                        _ => return Err(format!("webhook header '{name}' must be a string")),
                    };
                    let header = HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| format!("webhook header name '{name}' is invalid"))?;
                    let value = HeaderValue::from_str(&text)
                        .map_err(|_| format!("webhook header '{name}' has an invalid value"))?;
                    headers.append(header, value);
                }
            }
            Some(_) => return Err("webhook headers must be an object of strings".to_string()),
        }
        Ok(Self {
            method,
            url,
            headers,
        })
    }
}
