//! Reporting webhooks on a live server, on a virtual clock, with recording receivers: an
//! endpoint created through the App API is posted every event it subscribes to (a
//! transactional email's send, Track metrics, a bounce, an unsubscribe), in order, each signed
//! as Customer.io signs them (checked here with an HMAC computed independently); a receiver
//! that answers 500 gets the same report again after the backoff and the later ones only
//! after it, and gives one up once it is older than the retention; a disabled endpoint gets
//! nothing; bad input answers 400 naming the field.

mod common;
mod delivery;

use common::{start_with, Backend, TestServer};
use delivery::{advance, at};
use hmac::{Hmac, Mac};
use nudge_delivery::sinks::http::{HttpSink, RecordedRequest, SinkResponse};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;

const START: &str = "2026-03-02T09:00:00Z";

async fn server(backend: Backend) -> Option<TestServer> {
    let server = start_with(backend, Some(at(START)), Default::default()).await?;
    let identify = server
        .track(
            Method::PUT,
            "/api/v1/customers/c-1",
            json!({"email": "ana@example.com", "first_name": "Ana"}),
        )
        .await;
    assert_eq!(identify.status, StatusCode::OK, "{}", identify.body);
    settle(&server).await;
    Some(server)
}

/// Lets the server do everything due at its clock's time (processing, deliveries, reports).
async fn settle(server: &TestServer) {
    let now = server.app_get("/v1/clock").await;
    advance(server, at(now.body["now"].as_str().unwrap())).await;
}

async fn create(server: &TestServer, body: Value) -> Value {
    let reply = server.app_post("/v1/reporting_webhooks", body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// A transactional email through the outbox channel; its delivery id.
async fn send_email(server: &TestServer, subject: &str) -> String {
    let reply = server
        .app_post(
            "/v1/send/email",
            json!({"identifiers": {"id": "c-1"}, "to": "ana@example.com",
                   "from": "shop@lumen.example", "subject": subject, "body": "<p>Hi</p>"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["delivery_id"].as_str().unwrap().to_string()
}

async fn metric(server: &TestServer, delivery_id: &str, metric: &str) {
    let reply = server
        .track(
            Method::POST,
            "/api/v1/metrics",
            json!({"delivery_id": delivery_id, "metric": metric, "reason": "550 unknown"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

/// The request's body, after checking its signature against `key` independently.
fn verified(request: &RecordedRequest, key: &str) -> Value {
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let timestamp = request.header("x-cio-timestamp").expect("X-CIO-Timestamp");
    let signature = request.header("x-cio-signature").expect("X-CIO-Signature");
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(&request.body);
    assert_eq!(
        signature,
        hex::encode(mac.finalize().into_bytes()),
        "signature"
    );
    request.json().expect("a JSON body")
}

/// `(object_type_metric, delivery_id)` of each body.
fn events(bodies: &[Value]) -> Vec<(String, String)> {
    bodies
        .iter()
        .map(|b| {
            (
                format!(
                    "{}_{}",
                    b["object_type"].as_str().unwrap(),
                    b["metric"].as_str().unwrap()
                ),
                b["data"]["delivery_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

async fn every_event_arrives_signed_and_in_order(backend: Backend) {
    let Some(server) = server(backend).await else {
        return;
    };
    let receiver = HttpSink::start().await.unwrap();
    let disabled = HttpSink::start().await.unwrap();
    let hook = create(
        &server,
        json!({"name": "warehouse", "endpoint": format!("{}/cio", receiver.url()),
               "events": ["email_sent", "email_opened", "email_clicked", "email_bounced",
                          "email_unsubscribed", "customer_unsubscribed"]}),
    )
    .await;
    let key = hook["signing_key"].as_str().unwrap().to_string();
    assert_eq!(key.len(), 64, "{hook}");
    assert_eq!(hook["disabled"], false);
    assert_eq!(hook["full_resolution"], false);
    create(
        &server,
        json!({"name": "off", "endpoint": disabled.url(), "disabled": true,
               "events": ["email_sent", "email_opened"]}),
    )
    .await;

    let first = send_email(&server, "Your receipt").await;
    settle(&server).await;
    metric(&server, &first, "opened").await;
    metric(&server, &first, "opened").await;
    metric(&server, &first, "clicked").await;
    let second = send_email(&server, "Your order shipped").await;
    settle(&server).await;
    metric(&server, &second, "bounced").await;
    let unsubscribe = server
        .track(
            Method::POST,
            &format!("/unsubscribe/{first}"),
            json!({"unsubscribe": true}),
        )
        .await;
    assert_eq!(unsubscribe.status, StatusCode::OK, "{}", unsubscribe.body);
    settle(&server).await;

    let bodies: Vec<Value> = receiver
        .requests()
        .iter()
        .map(|r| {
            assert_eq!(r.path, "/cio");
            verified(r, &key)
        })
        .collect();
    let expected = [
        ("email_sent", first.as_str()),
        ("email_opened", first.as_str()),
        ("email_clicked", first.as_str()),
        ("email_sent", second.as_str()),
        ("email_bounced", second.as_str()),
        ("customer_unsubscribed", first.as_str()),
        ("email_unsubscribed", first.as_str()),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(e, d)| (e.to_string(), d.to_string()))
        .collect();
    assert_eq!(events(&bodies), expected, "{bodies:#?}");
    let mut ids: Vec<&str> = bodies
        .iter()
        .map(|b| b["event_id"].as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| id.len() == 26), "ULIDs: {ids:?}");
    ids.dedup();
    assert_eq!(ids.len(), bodies.len(), "one event id each");
    for body in &bodies {
        assert_eq!(body["data"]["customer_id"], "c-1", "{body}");
        assert_eq!(body["data"]["identifiers"]["id"], "c-1", "{body}");
        assert_eq!(
            body["data"]["identifiers"]["email"], "ana@example.com",
            "{body}"
        );
        assert!(body["timestamp"].as_i64().unwrap() >= at(START).unix_seconds());
    }
    let sent = &bodies[0]["data"];
    assert_eq!(sent["subject"], "Your receipt");
    assert_eq!(sent["recipient"], "ana@example.com");
    assert!(
        sent.get("content").is_none(),
        "no content without with_content: {sent}"
    );
    assert_eq!(bodies[4]["data"]["failure_message"], "550 unknown");
    assert_eq!(
        disabled.request_count(),
        0,
        "a disabled endpoint gets nothing"
    );

    // Disabled now: later events do not reach it.
    let id = hook["id"].as_i64().unwrap();
    let reply = server
        .send(
            server
                .http
                .put(format!("{}/v1/reporting_webhooks/{id}", server.base))
                .bearer_auth(&server.creds.app_api_key)
                .json(&json!({"disabled": true})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["disabled"], true);
    assert_eq!(reply.body["name"], "warehouse", "fields not given are kept");
    send_email(&server, "Ignored").await;
    settle(&server).await;
    assert_eq!(receiver.request_count(), bodies.len());
    server.stop().await;
}

async fn a_failing_receiver_gets_the_same_report_again_and_later_ones_after(backend: Backend) {
    let Some(server) = server(backend).await else {
        return;
    };
    let receiver = HttpSink::start().await.unwrap();
    for n in 1..=3 {
        receiver.answer_request(n, SinkResponse::text(500, "database down"));
    }
    let hook = create(
        &server,
        json!({"name": "flaky", "endpoint": receiver.url(), "events": ["email_sent"],
               "with_content": true}),
    )
    .await;
    let (id, key) = (
        hook["id"].as_i64().unwrap(),
        hook["signing_key"].as_str().unwrap(),
    );
    let first = send_email(&server, "One").await;
    let second = send_email(&server, "Two").await;
    settle(&server).await;
    for failures in 1..=3 {
        assert_eq!(
            receiver.request_count(),
            failures,
            "one try, later reports held back"
        );
        let state = server
            .app_get(&format!("/v1/reporting_webhooks/{id}"))
            .await;
        assert_eq!(state.body["failures"], failures, "{}", state.body);
        let error = state.body["last_error"].as_str().unwrap();
        assert!(
            error.contains("500") && error.contains("database down"),
            "{error}"
        );
        let next = state.body["next_attempt_at"].as_i64().unwrap();
        let now = at(server.app_get("/v1/clock").await.body["now"]
            .as_str()
            .unwrap());
        assert_eq!(
            next - now.unix_seconds(),
            3600,
            "a 500 waits an hour, as in Customer.io"
        );
        advance(&server, now.plus_millis(3_599_000)).await;
        assert_eq!(receiver.request_count(), failures, "not before its time");
        advance(&server, nudge_core::Timestamp::from_millis(next * 1000)).await;
    }
    let bodies: Vec<Value> = receiver
        .requests()
        .iter()
        .map(|r| verified(r, key))
        .collect();
    // The two go out together; whichever was reported first is retried until it passes.
    let held = bodies[0]["data"]["delivery_id"]
        .as_str()
        .unwrap()
        .to_string();
    let later = if held == first { &second } else { &first };
    let expected: Vec<(String, String)> = [&held, &held, &held, &held, later]
        .iter()
        .map(|d| ("email_sent".to_string(), d.to_string()))
        .collect();
    assert_eq!(events(&bodies), expected);
    assert!(
        bodies[..4]
            .iter()
            .all(|b| b["event_id"] == bodies[0]["event_id"]),
        "a retry is the same event"
    );
    assert_ne!(bodies[4]["event_id"], bodies[0]["event_id"]);
    let content = bodies[4]["data"]["content"].as_str().unwrap_or_default();
    assert!(
        content.starts_with("<p>Hi</p>"),
        "with_content carries the HTML: {content}"
    );
    let state = server
        .app_get(&format!("/v1/reporting_webhooks/{id}"))
        .await;
    assert_eq!(state.body["failures"], 0, "{}", state.body);
    assert_eq!(state.body["last_error"], Value::Null);
    server.stop().await;
}

async fn a_report_failing_past_the_retention_is_given_up(backend: Backend) {
    let Some(server) = server(backend).await else {
        return;
    };
    let receiver = HttpSink::start().await.unwrap();
    receiver.answer(SinkResponse::text(503, "down for maintenance"));
    let hook = create(
        &server,
        json!({"name": "gone", "endpoint": receiver.url(), "events": ["email_sent"]}),
    )
    .await;
    let (id, key) = (
        hook["id"].as_i64().unwrap(),
        hook["signing_key"].as_str().unwrap(),
    );
    let old = send_email(&server, "Old news").await;
    settle(&server).await;
    assert_eq!(receiver.request_count(), 1);
    // Eight days on, the report is older than the retention: one more try, then it is dropped.
    advance(&server, at("2026-03-10T09:00:00Z")).await;
    assert_eq!(receiver.request_count(), 2);
    let state = server
        .app_get(&format!("/v1/reporting_webhooks/{id}"))
        .await;
    assert_eq!(state.body["failures"], 0, "{}", state.body);
    assert_eq!(state.body["next_attempt_at"], Value::Null, "{}", state.body);
    receiver.answer(SinkResponse::empty(204));
    let fresh = send_email(&server, "Fresh news").await;
    settle(&server).await;
    let bodies: Vec<Value> = receiver
        .requests()
        .iter()
        .map(|r| verified(r, key))
        .collect();
    let sent = |d: &String| ("email_sent".to_string(), d.clone());
    assert_eq!(events(&bodies), [sent(&old), sent(&old), sent(&fresh)]);
    server.stop().await;
}

async fn bad_input_names_the_field(backend: Backend) {
    let Some(server) = server(backend).await else {
        return;
    };
    let good =
        json!({"name": "n", "endpoint": "https://example.com/cio", "events": ["email_sent"]});
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        match value {
            Value::Null => body.as_object_mut().unwrap().remove(field),
            value => body.as_object_mut().unwrap().insert(field.into(), value),
        };
        body
    };
    let cases = [
        (with("endpoint", json!("example.com/cio")), "/endpoint"),
        (with("endpoint", json!("ftp://example.com")), "/endpoint"),
        (with("endpoint", Value::Null), "/endpoint"),
        (with("events", json!(["email_exploded"])), "/events"),
        (with("events", json!([])), "/events"),
        (with("events", json!("email_sent")), "/events"),
        (with("name", Value::Null), "/name"),
        (with("name", json!(7)), "/name"),
        (with("disabled", json!("yes")), "/disabled"),
        (with("full_resolution", json!(1)), "/full_resolution"),
    ];
    for (body, pointer) in cases {
        let reply = server
            .app_post("/v1/reporting_webhooks", body.clone())
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        assert_eq!(
            reply.body["errors"][0]["source"]["pointer"], pointer,
            "{body}: {}",
            reply.body
        );
    }
    let created = create(&server, good.clone()).await;
    let id = created["id"].as_i64().unwrap();
    let listed = server.app_get("/v1/reporting_webhooks").await;
    assert_eq!(
        listed.body["reporting_webhooks"][0]["id"], id,
        "{}",
        listed.body
    );
    let reply = server
        .send(
            server
                .http
                .put(format!("{}/v1/reporting_webhooks/{id}", server.base))
                .bearer_auth(&server.creds.app_api_key)
                .json(&json!({"endpoint": "not a url"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["source"]["pointer"], "/endpoint");
    let missing = server.app_get("/v1/reporting_webhooks/999999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.body);
    let bad_id = server.app_get("/v1/reporting_webhooks/abc").await;
    assert_eq!(bad_id.status, StatusCode::BAD_REQUEST, "{}", bad_id.body);
    let delete = |id: i64| {
        server.send(
            server
                .http
                .delete(format!("{}/v1/reporting_webhooks/{id}", server.base))
                .bearer_auth(&server.creds.app_api_key),
        )
    };
    assert_eq!(delete(id).await.status, StatusCode::OK);
    assert_eq!(delete(id).await.status, StatusCode::NOT_FOUND);
    let anonymous = server
        .send(
            server
                .http
                .get(format!("{}/v1/reporting_webhooks", server.base)),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

macro_rules! on_both {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both!(
    every_event_arrives_signed_and_in_order,
    a_failing_receiver_gets_the_same_report_again_and_later_ones_after,
    a_report_failing_past_the_retention_is_given_up,
    bad_input_names_the_field,
);
