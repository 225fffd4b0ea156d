//! Push through the FCM HTTP v1 API: `POST {base}/v1/projects/{project}/messages:send` with
//! `{"message": {"token", "notification": {"title", "body"}, "data"}}` and a bearer token
//! from the service account. Unregistered devices and invalid arguments are permanent;
//! quota (429) and 5xx are retried with the provider's `Retry-After`; a refused access token
//! is dropped from the cache and the message retried.

mod token;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use nudge_core::Clock;
use reqwest::{StatusCode, Url};
use serde_json::{json, Map, Value};

use super::http::{transport_failure, Answer};
use crate::channel::{permanent, Channel, Outcome, OutgoingMessage};

use token::AccessTokens;
pub use token::{ServiceAccount, FCM_SCOPE};

pub const DEFAULT_FCM_BASE_URL: &str = "https://fcm.googleapis.com";

/// How to reach FCM.
#[derive(Clone)]
pub struct PushSettings {
    pub base_url: String,
    pub account: ServiceAccount,
    pub timeout: Duration,
}

impl fmt::Debug for PushSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushSettings")
            .field("base_url", &self.base_url)
            .field("account", &self.account)
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub struct FcmPushChannel {
    client: reqwest::Client,
    endpoint: Url,
    tokens: AccessTokens,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl FcmPushChannel {
    /// Fails when the key cannot sign or a URL is invalid; the error says which.
    pub fn new(
        client: reqwest::Client,
        settings: PushSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let base = settings.base_url.trim_end_matches('/');
        let project = &settings.account.project_id;
        let endpoint = Url::parse(&format!("{base}/v1/projects/{project}/messages:send"))
            .map_err(|error| format!("base url '{}' is invalid: {error}", settings.base_url))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(format!(
                "base url '{}' is not http or https",
                settings.base_url
            ));
        }
        let tokens = AccessTokens::new(
            settings.account,
            client.clone(),
            settings.timeout,
            Arc::clone(&clock),
        )?;
        Ok(Self {
            client,
            endpoint,
            tokens,
            timeout: settings.timeout,
            clock,
        })
    }

    pub fn project_id(&self) -> &str {
        self.tokens.project_id()
    }

    async fn deliver(&self, message: &OutgoingMessage) -> Outcome {
        let body = match fcm_message(message) {
            Ok(body) => body,
            Err(reason) => return permanent(reason),
        };
        let token = match self.tokens.token().await {
            Ok(token) => token,
            Err(outcome) => return outcome,
        };
        let response = self
            .client
            .post(self.endpoint.clone())
            .bearer_auth(&token)
            .json(&body)
            .timeout(self.timeout)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(error) => return transport_failure("fcm", &error, self.timeout),
        };
        let answer = match Answer::read(response, self.clock.now()).await {
            Ok(answer) => answer,
            Err(error) => return transport_failure("fcm", &error, self.timeout),
        };
        let json = answer.json();
        if answer.status.is_success() {
            let name = json
                .as_ref()
                .and_then(|body| body.get("name"))
                .and_then(|name| name.as_str())
                .map(str::to_string);
            return Outcome::Sent {
                provider_message_id: name,
                response: json,
            };
        }
        let reason = fcm_reason(&answer, json.as_ref());
        if answer.status == StatusCode::UNAUTHORIZED {
            self.tokens.forget(&token).await;
            return Outcome::Transient {
                reason: format!("{reason} (the access token will be renewed)"),
                retry_after: answer.retry_after,
            };
        }
        answer.failure(reason)
    }
}

impl Channel for FcmPushChannel {
    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> BoxFuture<'a, Outcome> {
        Box::pin(self.deliver(message))
    }
}

/// The v1 request body. The title is the payload's, else the subject; `data` values that
/// are not strings are sent as their JSON text, since FCM takes strings only.
fn fcm_message(message: &OutgoingMessage) -> Result<Value, String> {
    let device = message.recipient.trim();
    if device.is_empty() {
        return Err("push recipient (a device token) is empty".to_string());
    }
    let payload = &message.payload;
    let title = match payload.get("title") {
        Some(Value::String(title)) => Some(title.clone()),
        None | Some(Value::Null) => message.subject.clone(),
        Some(other) => return Err(format!("push title must be a string, got {other}")),
    };
    let mut notification = Map::new();
    if let Some(title) = title {
        notification.insert("title".into(), Value::String(title));
    }
    notification.insert("body".into(), Value::String(message.body.clone()));
    let mut fcm = Map::new();
    fcm.insert("token".into(), Value::String(device.to_string()));
    fcm.insert("notification".into(), Value::Object(notification));
    match payload.get("data") {
        None | Some(Value::Null) => {}
        Some(Value::Object(data)) => {
            let data: Map<String, Value> = data
                .iter()
                .map(|(key, value)| {
                    let text = match value {
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    (key.clone(), Value::String(text))
                })
                .collect();
            fcm.insert("data".into(), Value::Object(data));
        }
        Some(_) => return Err("push data must be an object of strings".to_string()),
    }
    Ok(json!({ "message": fcm }))
}

/// `fcm 404 UNREGISTERED: Requested entity was not found.` from FCM's error JSON: the
/// `errorCode` of its `FcmError` detail when present, else the canonical `status`.
fn fcm_reason(answer: &Answer, json: Option<&Value>) -> String {
    let status = answer.status.as_u16();
    let error = json.and_then(|body| body.get("error"));
    let detail_code = error
        .and_then(|error| error.get("details"))
        .and_then(|details| details.as_array())
        .and_then(|details| {
            details
                .iter()
                .find_map(|detail| detail.get("errorCode").and_then(|code| code.as_str()))
        });
    let code = detail_code.or_else(|| {
        error
            .and_then(|error| error.get("status"))
            .and_then(|status| status.as_str())
    });
    let text = error
        .and_then(|error| error.get("message"))
        .and_then(|text| text.as_str());
    match (code, text) {
        (Some(code), Some(text)) => format!("fcm {status} {code}: {text}"),
        (Some(code), None) => format!("fcm {status} {code}"),
        (None, Some(text)) => format!("fcm {status}: {text}"),
        (None, None) => match answer.snippet() {
            snippet if snippet.is_empty() => format!("fcm {status}"),
            snippet => format!("fcm {status}: {snippet}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::WorkspaceId;

    fn message(payload: Value, subject: Option<&str>) -> OutgoingMessage {
        OutgoingMessage {
            delivery_id: "d1".into(),
            workspace: WorkspaceId(1),
            channel: "push".into(),
            recipient: "device-token".into(),
            subject: subject.map(str::to_string),
            body: "Your cart misses you".into(),
            payload,
            attempt: 1,
        }
    }

    #[test]
    fn the_title_falls_back_to_the_subject_and_data_becomes_strings() {
        let body = fcm_message(&message(
            json!({"data": {"cart": 3, "coupon": "X", "nested": {"a": true}}}),
            Some("Hello"),
        ))
        .unwrap();
        assert_eq!(
            body,
            json!({"message": {
                "token": "device-token",
                "notification": {"title": "Hello", "body": "Your cart misses you"},
                "data": {"cart": "3", "coupon": "X", "nested": "{\"a\":true}"}
            }})
        );
    }

    #[test]
    fn bad_payloads_are_refused_with_the_field() {
        let refused = fcm_message(&message(json!({"title": 3}), None)).unwrap_err();
        assert!(refused.contains("title"), "{refused}");
        let refused = fcm_message(&message(json!({"data": [1]}), None)).unwrap_err();
        assert!(refused.contains("data"), "{refused}");
    }
}
