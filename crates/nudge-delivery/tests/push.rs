//! The FCM v1 push channel against two recording sinks, one playing Google's token endpoint
//! and one FCM: the JWT-bearer exchange (a signature the public key verifies), the cached
//! token, the exact send request, and the outcome of each FCM answer.

mod common;

use std::time::Duration;

use common::{clock, http_client, message, shared, DEADLINE, START};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use nudge_core::ManualClock;
use nudge_delivery::providers::push::FCM_SCOPE;
use nudge_delivery::providers::{FcmPushChannel, PushSettings, ServiceAccount};
use nudge_delivery::sinks::{HttpSink, SinkResponse};
use nudge_delivery::{Channel, Outcome, OutgoingMessage};
use serde_json::{json, Value};

const PRIVATE_KEY: &str = include_str!("fixtures/fcm-test-key.pem");
const PUBLIC_KEY: &str = include_str!("fixtures/fcm-test-key.pub.pem");
const SEND_PATH: &str = "/v1/projects/demo-project/messages:send";

struct Fake {
    google: HttpSink,
    fcm: HttpSink,
    clock: ManualClock,
    channel: FcmPushChannel,
}

async fn fake(timeout: Duration) -> Fake {
    let google = HttpSink::start().await.unwrap();
    google.answer(SinkResponse::json(
        200,
        &json!({"access_token": "ya29.first", "expires_in": 3599, "token_type": "Bearer"}),
    ));
    let fcm = HttpSink::start().await.unwrap();
    fcm.answer(SinkResponse::json(
        200,
        &json!({"name": "projects/demo-project/messages/0:1500415314455276%31bd1c9631bd1c96"}),
    ));
    let clock = clock();
    let settings = PushSettings {
        base_url: fcm.url(),
        account: ServiceAccount {
            project_id: "demo-project".into(),
            client_email: "nudge@demo-project.iam.gserviceaccount.com".into(),
            private_key: PRIVATE_KEY.into(),
            private_key_id: Some("key-1".into()),
            token_uri: format!("{}/token", google.url()),
        },
        timeout,
    };
    let channel = FcmPushChannel::new(http_client(), settings, shared(&clock)).unwrap();
    Fake {
        google,
        fcm,
        clock,
        channel,
    }
}

fn push() -> OutgoingMessage {
    let mut push = message("push", "fcm-device-token-1", "Your cart misses you");
    push.payload = json!({"title": "Still thinking?", "data": {"cart_id": "c-9", "items": 2}});
    push
}

#[tokio::test]
async fn the_token_exchange_and_the_send_are_fcm_v1() {
    let fake = fake(DEADLINE).await;

    let outcome = fake.channel.send(&push()).await;

    assert_eq!(
        outcome,
        Outcome::Sent {
            provider_message_id: Some(
                "projects/demo-project/messages/0:1500415314455276%31bd1c9631bd1c96".into()
            ),
            response: Some(
                json!({"name": "projects/demo-project/messages/0:1500415314455276%31bd1c9631bd1c96"})
            ),
        }
    );
    let exchange = &fake.google.wait_for_requests(1, DEADLINE).await.unwrap()[0];
    assert_eq!(
        (exchange.method.as_str(), exchange.path.as_str()),
        ("POST", "/token")
    );
    assert_eq!(
        exchange.form_value("grant_type").as_deref(),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    let assertion = exchange.form_value("assertion").unwrap();
    let header = jsonwebtoken::decode_header(&assertion).unwrap();
    assert_eq!(
        (header.alg, header.kid.as_deref()),
        (Algorithm::RS256, Some("key-1"))
    );
    let mut validation = Validation::new(Algorithm::RS256);
    validation.validate_exp = false;
    validation.set_audience(&[format!("{}/token", fake.google.url())]);
    let claims = jsonwebtoken::decode::<Value>(
        &assertion,
        &DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap(),
        &validation,
    )
    .expect("the assertion is signed by the service account's key")
    .claims;
    let issued = START.unix_seconds();
    assert_eq!(
        claims,
        json!({
            "iss": "nudge@demo-project.iam.gserviceaccount.com",
            "scope": FCM_SCOPE,
            "aud": format!("{}/token", fake.google.url()),
            "iat": issued,
            "exp": issued + 3600,
        })
    );

    let send = &fake.fcm.wait_for_requests(1, DEADLINE).await.unwrap()[0];
    assert_eq!(
        (send.method.as_str(), send.path.as_str()),
        ("POST", SEND_PATH)
    );
    assert_eq!(send.header("authorization"), Some("Bearer ya29.first"));
    assert_eq!(send.header("content-type"), Some("application/json"));
    assert_eq!(
        send.json().unwrap(),
        json!({"message": {
            "token": "fcm-device-token-1",
            "notification": {"title": "Still thinking?", "body": "Your cart misses you"},
            "data": {"cart_id": "c-9", "items": "2"}
        }})
    );
}

#[tokio::test]
async fn the_token_is_cached_until_a_minute_before_it_expires() {
    let fake = fake(DEADLINE).await;
    fake.channel.send(&push()).await;
    fake.channel.send(&push()).await;
    assert_eq!(fake.google.request_count(), 1);

    fake.clock.advance_millis((3599 - 61) * 1000);
    fake.channel.send(&push()).await;
    assert_eq!(
        fake.google.request_count(),
        1,
        "still valid for more than a minute"
    );

    fake.google.answer(SinkResponse::json(
        200,
        &json!({"access_token": "ya29.second", "expires_in": 3599}),
    ));
    fake.clock.advance_millis(2000);
    fake.channel.send(&push()).await;
    assert_eq!(
        fake.google.request_count(),
        2,
        "renewed within the last minute"
    );
    let sends = fake.fcm.wait_for_requests(4, DEADLINE).await.unwrap();
    assert_eq!(sends[3].header("authorization"), Some("Bearer ya29.second"));
}

fn fcm_error(status: u16, canonical: &str, error_code: &str, text: &str) -> SinkResponse {
    SinkResponse::json(
        status,
        &json!({"error": {
            "code": status,
            "message": text,
            "status": canonical,
            "details": [{
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": error_code
            }]
        }}),
    )
}

#[tokio::test]
async fn fcm_answers_map_to_outcomes() {
    let cases = [
        (
            fcm_error(404, "NOT_FOUND", "UNREGISTERED", "Requested entity was not found."),
            Outcome::Permanent {
                reason: "fcm 404 UNREGISTERED: Requested entity was not found.".into(),
            },
        ),
        (
            fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"),
            Outcome::Permanent {
                reason: "fcm 400 INVALID_ARGUMENT: The registration token is not a valid FCM registration token".into(),
            },
        ),
        (
            fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded.")
                .with_header("Retry-After", "30"),
            Outcome::Transient {
                reason: "fcm 429 QUOTA_EXCEEDED: Quota exceeded.".into(),
                retry_after: Some(Duration::from_secs(30)),
            },
        ),
        (
            fcm_error(503, "UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
            Outcome::Transient {
                reason: "fcm 503 UNAVAILABLE: The service is currently unavailable.".into(),
                retry_after: None,
            },
        ),
        (
            SinkResponse::empty(502),
            Outcome::Transient {
                reason: "fcm 502".into(),
                retry_after: None,
            },
        ),
    ];
    for (answer, expected) in cases {
        let fake = fake(DEADLINE).await;
        fake.fcm.answer(answer.clone());
        assert_eq!(fake.channel.send(&push()).await, expected, "{answer:?}");
        assert_eq!(fake.fcm.request_count(), 1);
    }
}

#[tokio::test]
async fn a_refused_access_token_is_dropped_and_renewed_on_the_retry() {
    let fake = fake(DEADLINE).await;
    fake.fcm.answer_request(
        1,
        SinkResponse::json(
            401,
            &json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}),
        ),
    );

    let refused = fake.channel.send(&push()).await;
    let retried = fake.channel.send(&push()).await;

    assert_eq!(
        refused,
        Outcome::Transient {
            reason: "fcm 401 UNAUTHENTICATED: Request had invalid authentication credentials. (the access token will be renewed)".into(),
            retry_after: None,
        }
    );
    assert!(matches!(retried, Outcome::Sent { .. }), "{retried:?}");
    assert_eq!(fake.google.request_count(), 2);
}

#[tokio::test]
async fn a_refused_exchange_fails_without_calling_fcm() {
    let fake = fake(DEADLINE).await;
    fake.google.answer(SinkResponse::json(
        400,
        &json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
    ));

    let outcome = fake.channel.send(&push()).await;

    assert_eq!(
        outcome,
        Outcome::Permanent {
            reason: "fcm token exchange answered 400: invalid_grant: Invalid JWT Signature.".into()
        }
    );
    assert_eq!(fake.fcm.request_count(), 0);

    fake.google
        .answer(SinkResponse::empty(503).with_header("Retry-After", "5"));
    assert_eq!(
        fake.channel.send(&push()).await,
        Outcome::Transient {
            reason: "fcm token exchange answered 503".into(),
            retry_after: Some(Duration::from_secs(5))
        }
    );
}

#[tokio::test]
async fn a_slow_fcm_times_out_and_an_empty_token_is_refused() {
    let fake = fake(Duration::from_millis(300)).await;
    fake.fcm
        .answer(SinkResponse::empty(200).after(Duration::from_secs(5)));
    assert_eq!(
        fake.channel.send(&push()).await,
        Outcome::Transient {
            reason: "fcm timed out after 300 ms".into(),
            retry_after: None
        }
    );

    let mut no_device = push();
    no_device.recipient = " ".into();
    assert_eq!(
        fake.channel.send(&no_device).await,
        Outcome::Permanent {
            reason: "push recipient (a device token) is empty".into()
        }
    );
    assert_eq!(fake.fcm.request_count(), 1);
}
