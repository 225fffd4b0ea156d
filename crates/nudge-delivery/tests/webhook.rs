//! The webhook channel against the recording HTTP sink: the exact request, the signature a
//! receiver can verify, the idempotency key across attempts, and every outcome.

mod common;

use std::time::Duration;

use common::{clock, closed_port, http_client, message, shared, DEADLINE, START};
use nudge_core::ManualClock;
use nudge_delivery::providers::webhook::{verify, WebhookChannel, WebhookSettings};
use nudge_delivery::sinks::{HttpSink, SinkResponse};
use nudge_delivery::{Channel, Outcome, OutgoingMessage};
use serde_json::json;

const SECRET: &str = "whsec_test";

fn channel(clock: &ManualClock, secret: Option<&str>, timeout: Duration) -> WebhookChannel {
    let settings = WebhookSettings {
        secret: secret.map(str::to_string),
        timeout,
    };
    WebhookChannel::new(http_client(), settings, shared(clock))
}

fn hook(sink: &HttpSink, payload: serde_json::Value, body: &str) -> OutgoingMessage {
    let mut message = message(
        "webhook",
        &format!("{}/hooks/orders?source=nudge", sink.url()),
        body,
    );
    message.payload = payload;
    message
}

#[tokio::test]
async fn a_signed_post_carries_the_body_headers_key_and_a_verifiable_signature() {
    let clock = clock();
    let sink = HttpSink::start().await.unwrap();
    sink.answer(SinkResponse::json(200, &json!({"customer_tier": "gold"})));
    let body = r#"{"order":42,"items":["mug"]}"#;
    let message = hook(
        &sink,
        json!({"method": "post", "headers": {"X-Shop": "d2c", "Authorization": "Bearer t0k"}}),
        body,
    );

    let outcome = channel(&clock, Some(SECRET), DEADLINE).send(&message).await;

    assert_eq!(
        outcome,
        Outcome::Sent {
            provider_message_id: None,
            response: Some(json!({"customer_tier": "gold"})),
        }
    );
    let requests = sink.wait_for_requests(1, DEADLINE).await.unwrap();
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hooks/orders");
    assert_eq!(request.query.as_deref(), Some("source=nudge"));
    assert_eq!(request.body_text(), body);
    assert_eq!(request.header("x-shop"), Some("d2c"));
    assert_eq!(request.header("authorization"), Some("Bearer t0k"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.header("idempotency-key"),
        Some(message.delivery_id.as_str())
    );
    let timestamp = request.header("x-nudge-timestamp").unwrap();
    assert_eq!(timestamp, START.unix_seconds().to_string());
    let signature = request.header("x-nudge-signature").unwrap();
    assert_eq!(
        verify(
            SECRET.as_bytes(),
            timestamp,
            signature,
            &request.body,
            START,
            Duration::from_secs(300)
        ),
        Ok(())
    );
}

#[tokio::test]
async fn a_retry_keeps_its_key_and_is_signed_anew_at_its_own_time() {
    let clock = clock();
    let sink = HttpSink::start().await.unwrap();
    let channel = channel(&clock, Some(SECRET), DEADLINE);
    let mut message = hook(&sink, json!({}), r#"{"a":1}"#);

    channel.send(&message).await;
    clock.advance_millis(90_000);
    message.attempt = 2;
    channel.send(&message).await;

    let requests = sink.wait_for_requests(2, DEADLINE).await.unwrap();
    let keys: Vec<_> = requests
        .iter()
        .map(|r| r.header("idempotency-key"))
        .collect();
    assert_eq!(keys, vec![Some(message.delivery_id.as_str()); 2]);
    let second = &requests[1];
    let timestamp = second.header("x-nudge-timestamp").unwrap();
    assert_eq!(timestamp, (START.unix_seconds() + 90).to_string());
    let signature = second.header("x-nudge-signature").unwrap();
    assert_ne!(Some(signature), requests[0].header("x-nudge-signature"));
    assert_eq!(
        verify(
            SECRET.as_bytes(),
            timestamp,
            signature,
            &second.body,
            clock_now(&clock),
            Duration::from_secs(300)
        ),
        Ok(())
    );
}

fn clock_now(clock: &ManualClock) -> nudge_core::Timestamp {
    use nudge_core::Clock;
    clock.now()
}

#[tokio::test]
async fn without_a_secret_nothing_is_signed_and_a_template_cannot_replace_the_key() {
    let clock = clock();
    let sink = HttpSink::start().await.unwrap();
    sink.answer(SinkResponse::text(200, "thanks"));
    let message = hook(
        &sink,
        json!({"method": "PUT", "headers": {"Idempotency-Key": "forged", "Content-Type": "text/csv"}}),
        "a,b\n1,2",
    );

    let outcome = channel(&clock, None, DEADLINE).send(&message).await;

    // A body that is not JSON gives no response to map.
    assert_eq!(
        outcome,
        Outcome::Sent {
            provider_message_id: None,
            response: None
        }
    );
    let request = &sink.wait_for_requests(1, DEADLINE).await.unwrap()[0];
    assert_eq!(request.method, "PUT");
    assert_eq!(request.header("content-type"), Some("text/csv"));
    assert_eq!(
        request.header("idempotency-key"),
        Some(message.delivery_id.as_str())
    );
    assert_eq!(
        request.header("x-nudge-timestamp"),
        Some(START.unix_seconds().to_string().as_str())
    );
    assert_eq!(request.header("x-nudge-signature"), None);
}

#[tokio::test]
async fn a_get_sends_no_body_and_the_url_may_come_from_the_payload() {
    let clock = clock();
    let sink = HttpSink::start().await.unwrap();
    let mut message = message("webhook", "https://unused.invalid/", "");
    message.payload = json!({"method": "GET", "url": format!("{}/lookup?id=7", sink.url())});

    let outcome = channel(&clock, Some(SECRET), DEADLINE).send(&message).await;

    assert!(
        matches!(
            outcome,
            Outcome::Sent {
                response: Some(_),
                ..
            }
        ),
        "{outcome:?}"
    );
    let request = &sink.wait_for_requests(1, DEADLINE).await.unwrap()[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/lookup")
    );
    assert!(request.body.is_empty());
    assert_eq!(request.header("content-type"), None);
}

/// Sends one webhook to a sink answering `answer` and returns the outcome.
async fn outcome_for(answer: SinkResponse, timeout: Duration) -> Outcome {
    let clock = clock();
    let sink = HttpSink::start().await.unwrap();
    sink.answer(answer);
    let outcome = channel(&clock, None, timeout)
        .send(&hook(&sink, json!({}), "{}"))
        .await;
    assert_eq!(sink.request_count(), 1, "the request reached the sink");
    outcome
}

#[tokio::test]
async fn answers_map_to_outcomes() {
    let cases = [
        (
            SinkResponse::text(404, "no such hook"),
            Outcome::Permanent {
                reason: "webhook answered 404 Not Found: no such hook".into(),
            },
        ),
        (
            SinkResponse::empty(400),
            Outcome::Permanent {
                reason: "webhook answered 400 Bad Request".into(),
            },
        ),
        (
            SinkResponse::text(503, "down for maintenance").with_header("Retry-After", "7"),
            Outcome::Transient {
                reason: "webhook answered 503 Service Unavailable: down for maintenance".into(),
                retry_after: Some(Duration::from_secs(7)),
            },
        ),
        (
            // An HTTP date is read against the injected clock (START + 2 minutes).
            SinkResponse::empty(429).with_header("Retry-After", "Mon, 02 Mar 2026 09:02:00 GMT"),
            Outcome::Transient {
                reason: "webhook answered 429 Too Many Requests".into(),
                retry_after: Some(Duration::from_secs(120)),
            },
        ),
        (
            SinkResponse::empty(302).with_header("Location", "https://elsewhere.invalid/"),
            Outcome::Permanent {
                reason: "webhook answered 302 Found (redirects are not followed)".into(),
            },
        ),
        (
            SinkResponse::json(201, &json!({"id": 9})),
            Outcome::Sent {
                provider_message_id: None,
                response: Some(json!({"id": 9})),
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
async fn a_slow_receiver_times_out_as_transient() {
    let outcome = outcome_for(
        SinkResponse::empty(200).after(Duration::from_secs(5)),
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(
        outcome,
        Outcome::Transient {
            reason: "webhook timed out after 200 ms".into(),
            retry_after: None
        }
    );
}

#[tokio::test]
async fn first_two_attempts_fail_then_the_third_is_taken_with_the_same_key() {
    let clock = clock();
    let sink = HttpSink::start().await.unwrap();
    let unavailable = SinkResponse::empty(503).with_header("Retry-After", "1");
    sink.answer_request(1, unavailable.clone());
    sink.answer_request(2, unavailable);
    let channel = channel(&clock, Some(SECRET), DEADLINE);
    let mut message = hook(&sink, json!({}), "{}");

    let mut outcomes = Vec::new();
    for attempt in 1..=3 {
        message.attempt = attempt;
        outcomes.push(channel.send(&message).await);
    }

    let transient = Outcome::Transient {
        reason: "webhook answered 503 Service Unavailable".into(),
        retry_after: Some(Duration::from_secs(1)),
    };
    assert_eq!(outcomes[..2], [transient.clone(), transient]);
    assert!(
        matches!(outcomes[2], Outcome::Sent { .. }),
        "{:?}",
        outcomes[2]
    );
    let requests = sink.wait_for_requests(3, DEADLINE).await.unwrap();
    assert!(requests
        .iter()
        .all(|r| r.header("idempotency-key") == Some(message.delivery_id.as_str())));
}

#[tokio::test]
async fn nobody_listening_is_transient_and_bad_requests_are_permanent() {
    let clock = clock();
    let channel = channel(&clock, None, DEADLINE);
    let mut unreachable = message("webhook", &format!("http://{}/hook", closed_port()), "{}");
    let outcome = channel.send(&unreachable).await;
    assert!(
        matches!(&outcome, Outcome::Transient { reason, .. } if reason.starts_with("webhook connection failed")),
        "{outcome:?}"
    );

    let refused = [
        (
            json!({"method": "SHOUT LOUDLY"}),
            "webhook method 'SHOUT LOUDLY' is not an HTTP method",
        ),
        (
            json!({"url": "ftp://files.invalid/x"}),
            "webhook url 'ftp://files.invalid/x' is not http or https",
        ),
        (
            json!({"headers": {"Bad Header": "x"}}),
            "webhook header name 'Bad Header' is invalid",
        ),
        (
            json!({"headers": {"X-List": [1, 2]}}),
            "webhook header 'X-List' must be a string",
        ),
    ];
    for (payload, reason) in refused {
        unreachable.payload = payload;
        assert_eq!(
            channel.send(&unreachable).await,
            Outcome::Permanent {
                reason: reason.into()
            }
        );
    }
}
