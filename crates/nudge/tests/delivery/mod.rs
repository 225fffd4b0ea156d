//! Test support for deliveries on a live server: the recording providers (a real SMTP server,
//! Twilio-compatible and webhook receivers over HTTP) with the variables that point a server
//! at them, scenario replay on the virtual clock through the Pipelines API, and the ledger
//! over the App API.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use nudge::config::DeliveryArgs;
use nudge_core::Timestamp;
use nudge_delivery::sinks::http::{HttpSink, SinkResponse};
use nudge_delivery::sinks::smtp::SmtpSink;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::TestServer;

pub const TWILIO_SID: &str = "ACtest0000000000000000000000000000";
pub const TWILIO_TOKEN: &str = "twilio-secret-token";
pub const TWILIO_FROM: &str = "+15550001111";
pub const EMAIL_FROM: &str = "Lumen Skin <hello@lumen.example>";
pub const WEBHOOK_SECRET: &str = "whsec-test-0123456789";

/// The providers one server delivers to.
pub struct Providers {
    pub smtp: SmtpSink,
    pub twilio: HttpSink,
}

impl Providers {
    pub async fn start() -> Self {
        let twilio = HttpSink::start().await.expect("twilio sink");
        twilio.answer(SinkResponse::json(
            201,
            &json!({"sid": "SM00000000000000000000000000000001", "status": "queued"}),
        ));
        Self {
            smtp: SmtpSink::start().await.expect("smtp sink"),
            twilio,
        }
    }

    /// Delivery settings pointing a server at these providers, retrying after `retry_secs`.
    pub fn delivery_args(&self, retry_secs: u64) -> DeliveryArgs {
        let vars = [
            ("NUDGE_SMTP_URL", self.smtp.url()),
            ("NUDGE_EMAIL_FROM", EMAIL_FROM.to_string()),
            ("NUDGE_TWILIO_BASE_URL", self.twilio.url()),
            ("NUDGE_TWILIO_ACCOUNT_SID", TWILIO_SID.to_string()),
            ("NUDGE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN.to_string()),
            ("NUDGE_TWILIO_FROM", TWILIO_FROM.to_string()),
            ("NUDGE_WEBHOOK_SECRET", WEBHOOK_SECRET.to_string()),
        ];
        DeliveryArgs {
            delivery_retry_secs: retry_secs,
            provider_env: Some(
                vars.into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<BTreeMap<_, _>>(),
            ),
            ..DeliveryArgs::default()
        }
    }

    /// The SMS the Twilio stand-in received: (To, Body), in order.
    pub fn sms(&self) -> Vec<(String, String)> {
        self.twilio
            .requests()
            .iter()
            .filter(|r| r.path.ends_with("/Messages.json"))
            .map(|r| {
                (
                    r.form_value("To").unwrap_or_default(),
                    r.form_value("Body").unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The emails the SMTP server received: (recipient, subject, text part without the line
    /// breaks MIME framing adds at its end), in order.
    pub fn emails(&self) -> Vec<(String, String, String)> {
        self.smtp
            .messages()
            .iter()
            .map(|mail| {
                let parsed = mail_parser::MessageParser::default()
                    .parse(&mail.data)
                    .expect("a parseable message");
                (
                    mail.rcpt_to.join(","),
                    parsed.subject().unwrap_or_default().to_string(),
                    parsed
                        .body_text(0)
                        .map(|t| t.replace("\r\n", "\n").trim_end().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect()
    }
}

pub fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("an RFC 3339 time")
}

/// Moves the server's virtual clock; it answers once everything due on the way was done.
pub async fn advance(server: &TestServer, to: Timestamp) {
    let reply = server
        .app_post("/v1/clock", json!({"advance_to": to.to_rfc3339()}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// Sends one Segment-spec message through the Pipelines API at the clock's time.
pub async fn pipelines(server: &TestServer, message: &Value) {
    let kind = message["type"].as_str().expect("a type");
    let mut message = message.clone();
    message.as_object_mut().unwrap().remove("timestamp");
    let request = server
        .http
        .post(format!("{}/v1/{kind}", server.base))
        .basic_auth(&server.creds.pipelines_write_key, Some(""))
        .json(&message);
    let reply = server.send(request).await;
    assert_eq!(reply.status, StatusCode::OK, "{kind}: {}", reply.body);
}

/// Replays a scenario (Segment-spec lines at their `timestamp`, `advance` lines), then runs
/// the clock on `horizon` past its last moment.
pub async fn replay(server: &TestServer, lines: &[Value], horizon: Duration) {
    let mut last = None;
    for line in lines {
        if line["type"] == "advance" {
            let until = at(line["until"].as_str().unwrap());
            advance(server, until).await;
            last = Some(until);
            continue;
        }
        let moment = at(line["timestamp"].as_str().expect("a timestamp"));
        advance(server, moment).await;
        pipelines(server, line).await;
        last = Some(moment);
    }
    let end = last.expect("a scenario has lines");
    advance(server, end.plus_millis(horizon.as_millis() as i64)).await;
}

/// Every ledger entry (`GET /v1/messages`), oldest first.
pub async fn ledger(server: &TestServer) -> Vec<Value> {
    let mut all = Vec::new();
    let mut start = String::new();
    loop {
        let reply = server
            .app_get(&format!("/v1/messages?limit=100&start={start}"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        all.extend(reply.body["messages"].as_array().unwrap().iter().cloned());
        start = reply.body["next"].as_str().unwrap().to_string();
        if start.is_empty() {
            return all;
        }
    }
}

/// One ledger entry with its content (`GET /v1/messages/{id}`).
pub async fn ledger_entry(server: &TestServer, delivery_id: &str) -> Value {
    let reply = server
        .app_get(&format!(
            "/v1/messages/{}",
            crate::common::encode(delivery_id)
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["message"].clone()
}
