//! SMS through a Twilio-compatible REST API: `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`
//! with `To`, `From` and `Body` form-encoded, HTTP basic auth, and the delivery id as
//! `I-Twilio-Idempotency-Token` so a retry is not sent twice. Twilio's error JSON (`code`,
//! `message`) becomes the reason.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use nudge_core::Clock;
use reqwest::Url;

use super::http::{transport_failure, Answer};
use crate::channel::{permanent, Channel, Outcome, OutgoingMessage};

pub const DEFAULT_TWILIO_BASE_URL: &str = "https://api.twilio.com";
pub const IDEMPOTENCY_HEADER: &str = "I-Twilio-Idempotency-Token";

/// How to reach the SMS provider.
#[derive(Clone)]
pub struct SmsSettings {
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: String,
    /// The sending number (E.164) or sender id.
    pub from: String,
    pub timeout: Duration,
}

impl fmt::Debug for SmsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsSettings")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

pub struct TwilioSmsChannel {
    client: reqwest::Client,
    settings: SmsSettings,
    endpoint: Url,
    clock: Arc<dyn Clock>,
}

impl TwilioSmsChannel {
    /// Fails when the base URL or the account sid cannot form the endpoint.
    pub fn new(
        client: reqwest::Client,
        settings: SmsSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let sid = &settings.account_sid;
        if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("account sid '{sid}' must be letters and digits"));
        }
        let base = settings.base_url.trim_end_matches('/');
        let endpoint = format!("{base}/2010-04-01/Accounts/{sid}/Messages.json");
        let endpoint = Url::parse(&endpoint)
            .map_err(|error| format!("base url '{}' is invalid: {error}", settings.base_url))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(format!(
                "base url '{}' is not http or https",
                settings.base_url
            ));
        }
        Ok(Self {
            client,
            settings,
            endpoint,
            clock,
        })
    }

    async fn deliver(&self, message: &OutgoingMessage) -> Outcome {
        if !is_e164(&message.recipient) {
            return permanent(format!(
                "invalid 'To' phone number '{}': E.164 expected, such as +14155550100",
                message.recipient
            ));
        }
        let settings = &self.settings;
        let form = [
            ("To", message.recipient.as_str()),
            ("From", settings.from.as_str()),
            ("Body", message.body.as_str()),
        ];
        let response = self
            .client
            .post(self.endpoint.clone())
            .basic_auth(&settings.account_sid, Some(&settings.auth_token))
            .header(IDEMPOTENCY_HEADER, &message.delivery_id)
            .form(&form)
            .timeout(settings.timeout)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(error) => return transport_failure("twilio", &error, settings.timeout),
        };
        let answer = match Answer::read(response, self.clock.now()).await {
            Ok(answer) => answer,
            Err(error) => return transport_failure("twilio", &error, settings.timeout),
        };
        let json = answer.json();
        if answer.status.is_success() {
            let sid = json
                .as_ref()
                .and_then(|body| body.get("sid"))
                .and_then(|sid| sid.as_str())
                .map(str::to_string);
            return Outcome::Sent {
                provider_message_id: sid,
                response: json,
            };
        }
        answer.failure(twilio_reason(&answer, json.as_ref()))
    }
}

impl Channel for TwilioSmsChannel {
    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> BoxFuture<'a, Outcome> {
        Box::pin(self.deliver(message))
    }
}

/// `twilio 400 code 21211: Invalid 'To' Phone Number`, or the body when it is not Twilio's.
fn twilio_reason(answer: &Answer, json: Option<&serde_json::Value>) -> String {
    let status = answer.status.as_u16();
    let code = json
        .and_then(|body| body.get("code"))
        .and_then(|code| code.as_i64());
    let text = json
        .and_then(|body| body.get("message"))
        .and_then(|text| text.as_str());
    match (code, text) {
        (Some(code), Some(text)) => format!("twilio {status} code {code}: {text}"),
        (Some(code), None) => format!("twilio {status} code {code}"),
        (None, Some(text)) => format!("twilio {status}: {text}"),
        (None, None) => match answer.snippet() {
            snippet if snippet.is_empty() => format!("twilio {status}"),
            snippet => format!("twilio {status}: {snippet}"),
        },
    }
}

/// `+` then 2 to 15 digits, the first not 0 (ITU-T E.164).
fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[cfg(test)]
mod tests {
    use super::is_e164;

    #[test]
    fn e164_numbers_are_recognised() {
        for good in ["+14155550100", "+447700900123", "+12"] {
            assert!(is_e164(good), "{good}");
        }
        for bad in [
            "14155550100",
            "+0123",
            "+1 415 555",
            "+",
            "+1234567890123456",
            "",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}
