//! The Twilio-compatible SMS channel against the recording HTTP sink: the exact request
//! (endpoint, basic auth, form fields, idempotency token) and the outcome of each answer.

mod common;

use std::time::Duration;

use base64::Engine;
use common::{clock, closed_port, http_client, message, shared, DEADLINE};
use nudge_delivery::providers::{SmsSettings, TwilioSmsChannel};
use nudge_delivery::sinks::{HttpSink, SinkResponse};
use nudge_delivery::{Channel, Outcome};
use serde_json::json;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "auth-token-1";

fn channel(base_url: &str, timeout: Duration) -> TwilioSmsChannel {
    let settings = SmsSettings {
        base_url: format!("{base_url}/"),
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
        from: "+15005550006".into(),
        timeout,
    };
    TwilioSmsChannel::new(http_client(), settings, shared(&clock())).unwrap()
}

fn twilio_created(sid: &str) -> SinkResponse {
    SinkResponse::json(
        201,
        &json!({"sid": sid, "status": "queued", "to": "+14155550100", "body": "Your cart"}),
    )
}

fn twilio_error(status: u16, code: i64, text: &str) -> SinkResponse {
    SinkResponse::json(
        status,
        &json!({
            "code": code,
            "message": text,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status
        }),
    )
}

#[tokio::test]
async fn the_request_is_twilios_with_basic_auth_form_fields_and_a_stable_key() {
    let sink = HttpSink::start().await.unwrap();
    sink.answer(twilio_created("SM0001"));
    let channel = channel(&sink.url(), DEADLINE);
    let mut sms = message("sms", "+14155550100", "Your cart misses you & so do we");

    let first = channel.send(&sms).await;
    sms.attempt = 2;
    channel.send(&sms).await;

    assert_eq!(
        first,
        Outcome::Sent {
            provider_message_id: Some("SM0001".into()),
            response: Some(
                json!({"sid": "SM0001", "status": "queued", "to": "+14155550100", "body": "Your cart"})
            ),
        }
    );
    let requests = sink.wait_for_requests(2, DEADLINE).await.unwrap();
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"));
    assert_eq!(
        request.header("authorization"),
        Some(format!("Basic {credentials}").as_str())
    );
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.form(),
        vec![
            ("To".to_string(), "+14155550100".to_string()),
            ("From".to_string(), "+15005550006".to_string()),
            (
                "Body".to_string(),
                "Your cart misses you & so do we".to_string()
            ),
        ]
    );
    for request in &requests {
        assert_eq!(
            request.header("i-twilio-idempotency-token"),
            Some(sms.delivery_id.as_str())
        );
    }
}

async fn outcome_for(answer: SinkResponse, timeout: Duration) -> Outcome {
    let sink = HttpSink::start().await.unwrap();
    sink.answer(answer);
    let outcome = channel(&sink.url(), timeout)
        .send(&message("sms", "+14155550100", "hi"))
        .await;
    assert_eq!(sink.request_count(), 1);
    outcome
}

#[tokio::test]
async fn twilio_answers_map_to_outcomes() {
    let cases = [
        (
            twilio_error(400, 21211, "Invalid 'To' Phone Number"),
            Outcome::Permanent {
                reason: "twilio 400 code 21211: Invalid 'To' Phone Number".into(),
            },
        ),
        (
            twilio_error(401, 20003, "Authenticate"),
            Outcome::Permanent {
                reason: "twilio 401 code 20003: Authenticate".into(),
            },
        ),
        (
            twilio_error(429, 20429, "Too Many Requests").with_header("Retry-After", "3"),
            Outcome::Transient {
                reason: "twilio 429 code 20429: Too Many Requests".into(),
                retry_after: Some(Duration::from_secs(3)),
            },
        ),
        (
            SinkResponse::text(503, "<html>Service Unavailable</html>"),
            Outcome::Transient {
                reason: "twilio 503: <html>Service Unavailable</html>".into(),
                retry_after: None,
            },
        ),
        (
            SinkResponse::empty(500),
            Outcome::Transient {
                reason: "twilio 500".into(),
                retry_after: None,
            },
        ),
    ];
    for (answer, expected) in cases {
        assert_eq!(
            outcome_for(answer.clone(), DEADLINE).await,
            expected,
            "{answer:?}"
        );
    }
}

#[tokio::test]
async fn a_slow_provider_and_an_absent_one_are_transient() {
    let slow = outcome_for(
        twilio_created("SM1").after(Duration::from_secs(5)),
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(
        slow,
        Outcome::Transient {
            reason: "twilio timed out after 300 ms".into(),
            retry_after: None
        }
    );

    let absent = channel(&format!("http://{}", closed_port()), DEADLINE)
        .send(&message("sms", "+14155550100", "hi"))
        .await;
    assert!(
        matches!(&absent, Outcome::Transient { reason, .. } if reason.starts_with("twilio connection failed")),
        "{absent:?}"
    );
}

#[tokio::test]
async fn a_number_that_is_not_e164_is_refused_without_asking_twilio() {
    let sink = HttpSink::start().await.unwrap();
    let outcome = channel(&sink.url(), DEADLINE)
        .send(&message("sms", "0415 555 0100", "hi"))
        .await;
    assert_eq!(
        outcome,
        Outcome::Permanent {
            reason:
                "invalid 'To' phone number '0415 555 0100': E.164 expected, such as +14155550100"
                    .into()
        }
    );
    assert_eq!(sink.request_count(), 0);
}
