//! A live server on a virtual clock (`--virtual-clock`, `POST /v1/clock`) and the journey
//! timeline over the App API (`GET /v1/timeline`), on both stores: the clock starts where it
//! is told, events without a timestamp are stamped at its time, advancing it stops at every
//! journey timer on the way (a journey whose `max_lateness` would skip a send reached by
//! jumping past its time still sends it), it never goes back, and without the flag the route
//! does not exist.

mod common;

use std::process::Command;

use common::{start, start_on, Backend, TestServer};
use nudge_core::Timestamp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const START: &str = "2026-03-02T09:00:00Z";

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("an RFC 3339 time")
}

const DEFINITIONS: &str = r#"kind: template
format: 1
id: welcome-email
channel: email
subject: "Welcome, {{ customer.first_name }}"
body: "Glad you are here."
---
kind: template
format: 1
id: tip-email
channel: email
subject: "A tip for you"
body: "Day two: {{ customer.first_name }}, try this."
---
kind: journey
format: 1
id: welcome
name: Welcome
trigger:
  event: Signed Up
max_lateness: 1h
steps:
  - id: hello
    send: {channel: email, template: welcome-email}
  - id: wait-2d
    delay: 2d
  - id: tip
    send: {channel: email, template: tip-email}
"#;

async fn advance(server: &TestServer, to: &str) -> reqwest::StatusCode {
    let reply = server
        .app_post("/v1/clock", json!({"advance_to": to}))
        .await;
    if reply.status == StatusCode::OK {
        assert_eq!(reply.body, json!({"now": to}));
    }
    reply.status
}

/// The App API error's JSON pointer (`errors[0].source.pointer`).
fn pointer(body: &Value) -> &str {
    body["errors"][0]["source"]["pointer"]
        .as_str()
        .unwrap_or_default()
}

async fn a_journey_runs_on_the_virtual_clock(backend: Backend) {
    let Some(server) = start_on(backend, Some(at(START))).await else {
        return;
    };
    let clock = server.app_get("/v1/clock").await;
    assert_eq!(clock.status, StatusCode::OK);
    assert_eq!(clock.body, json!({"now": START}));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("welcome.yaml"), DEFINITIONS).unwrap();
    server.apply(dir.path()).await;
    // Settling at the current moment lets the processor load what was just applied.
    assert_eq!(advance(&server, START).await, StatusCode::OK);

    let identify = server
        .track(
            Method::PUT,
            "/api/v1/customers/c-1",
            json!({"email": "ana@example.com", "first_name": "Ana"}),
        )
        .await;
    assert_eq!(identify.status, StatusCode::OK);
    assert_eq!(
        advance(&server, "2026-03-02T10:00:00Z").await,
        StatusCode::OK
    );
    let signed_up = server
        .track(
            Method::POST,
            "/api/v1/customers/c-1/events",
            json!({"name": "Signed Up"}),
        )
        .await;
    assert_eq!(signed_up.status, StatusCode::OK, "{}", signed_up.body);
    let events = server.activities("c-1", "type=event").await;
    assert_eq!(
        events["activities"][0]["timestamp"],
        json!(at("2026-03-02T10:00:00Z").unix_seconds()),
        "an event without a timestamp happens at the server's clock: {events}"
    );

    // A week in one call: the tip is due two days after the sign-up, and sent then, not a
    // week late (which max_lateness would skip).
    assert_eq!(
        advance(&server, "2026-03-09T00:00:00Z").await,
        StatusCode::OK
    );
    let journey = |at: &str, kind: &str, more: Value| {
        let mut line = json!({"at": at, "person": "c-1", "kind": kind, "journey": "welcome"});
        line.as_object_mut()
            .unwrap()
            .extend(more.as_object().unwrap().clone());
        line
    };
    let expected = vec![
        journey("2026-03-02T10:00:00Z", "journey_entered", json!({})),
        journey(
            "2026-03-02T10:00:00Z",
            "message_sent",
            json!({"step": "hello", "channel": "email", "to": "ana@example.com",
                   "subject": "Welcome, Ana", "body": "Glad you are here."}),
        ),
        journey(
            "2026-03-04T10:00:00Z",
            "message_sent",
            json!({"step": "tip", "channel": "email", "to": "ana@example.com",
                   "subject": "A tip for you", "body": "Day two: Ana, try this."}),
        ),
        journey(
            "2026-03-04T10:00:00Z",
            "journey_exited",
            json!({"reason": "completed"}),
        ),
    ];
    assert_eq!(server.timeline(1000).await, expected);
    assert_eq!(server.timeline(1).await, expected, "page by page, the same");

    // Never backwards; the refusal names the field.
    let back = server
        .app_post("/v1/clock", json!({"advance_to": "2026-03-08T00:00:00Z"}))
        .await;
    assert_eq!(back.status, StatusCode::BAD_REQUEST);
    assert_eq!(pointer(&back.body), "/advance_to", "{}", back.body);
    let garbled = server
        .app_post("/v1/clock", json!({"advance_to": "next tuesday"}))
        .await;
    assert_eq!(garbled.status, StatusCode::BAD_REQUEST);
    assert_eq!(pointer(&garbled.body), "/advance_to", "{}", garbled.body);
    let missing = server.app_post("/v1/clock", json!({})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST, "{}", missing.body);
    assert_eq!(
        server.app_get("/v1/clock").await.body,
        json!({"now": "2026-03-09T00:00:00Z"}),
        "refusals leave the clock alone"
    );
    let anonymous = server
        .send(
            server
                .http
                .post(format!("{}/v1/clock", server.base))
                .json(&json!({"advance_to": "2026-03-10T00:00:00Z"})),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journey_runs_on_the_virtual_clock_on_sqlite() {
    a_journey_runs_on_the_virtual_clock(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journey_runs_on_the_virtual_clock_on_postgres() {
    a_journey_runs_on_the_virtual_clock(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_system_clock_there_is_no_clock_route_and_the_timeline_pages() {
    let server = start(Backend::Sqlite).await.unwrap();
    assert_eq!(
        server.app_get("/v1/clock").await.status,
        StatusCode::NOT_FOUND
    );
    let post = server
        .app_post("/v1/clock", json!({"advance_to": "2030-01-01T00:00:00Z"}))
        .await;
    assert_eq!(post.status, StatusCode::NOT_FOUND);

    let empty = server.app_get("/v1/timeline").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body, json!({"timeline": [], "next": ""}));
    let bad_limit = server.app_get("/v1/timeline?limit=0").await;
    assert_eq!(bad_limit.status, StatusCode::BAD_REQUEST);
    assert_eq!(pointer(&bad_limit.body), "/limit", "{}", bad_limit.body);
    let bad_cursor = server.app_get("/v1/timeline?start=abc").await;
    assert_eq!(pointer(&bad_cursor.body), "/start", "{}", bad_cursor.body);
    let anonymous = server
        .send(server.http.get(format!("{}/v1/timeline", server.base)))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[test]
fn check_config_shows_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let config = |extra: &[&str]| -> Value {
        let output = Command::new(env!("CARGO_BIN_EXE_nudge"))
            .arg("check-config")
            .args(extra)
            .env("NUDGE_DATA_DIR", dir.path())
            .env_remove("NUDGE_VIRTUAL_CLOCK")
            .env_remove("NUDGE_DATABASE_URL")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    assert_eq!(config(&[])["clock"], "system");
    let clock = config(&["--virtual-clock", START]);
    let shown = clock["clock"].as_str().unwrap();
    assert!(
        shown.starts_with("virtual from 2026-03-02T09:00:00"),
        "{shown}"
    );
    let refused = Command::new(env!("CARGO_BIN_EXE_nudge"))
        .args(["check-config", "--virtual-clock", "tomorrow"])
        .env("NUDGE_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--virtual-clock"));
}
