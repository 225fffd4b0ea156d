//! A crash between the provider's answer and the ledger's update: the real binary sends an
//! SMS to a Twilio-compatible recording server that holds its answer; the server is killed
//! with SIGKILL while the request is in flight, and started again on the same store. The
//! claim runs out, the delivery is claimed again and sent again under the same idempotency
//! key, so a provider that honours the key (as Twilio does) delivers one message; the ledger
//! ends `sent` after two attempts, and nothing is sent a third time. On SQLite and PostgreSQL.

mod common;
mod delivery;

use std::time::{Duration, Instant};

use common::process::{credentials, start_binary, Running};
use delivery::{TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN};
use nudge_delivery::sinks::http::{HttpSink, SinkResponse};
use serde_json::{json, Value};

const DEFINITIONS: &str = r#"kind: template
format: 1
id: code-sms
channel: sms
body: "Your code is {{ event.code }}"
---
kind: journey
format: 1
id: sign-in
name: Sign-in code
trigger:
  event: Code Requested
steps:
  - id: text
    send: {channel: sms, template: code-sms}
"#;

fn apply(data_dir: &std::path::Path, database_url: Option<&str>, definitions: &std::path::Path) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_nudge"));
    command
        .args(["apply", "-f"])
        .arg(definitions)
        .args(["--workspace", "development"])
        .env("NUDGE_DATA_DIR", data_dir)
        .env("NUDGE_LOG", "warn");
    match database_url {
        Some(url) => command.env("NUDGE_DATABASE_URL", url),
        None => command.env_remove("NUDGE_DATABASE_URL"),
    };
    let output = command.output().expect("nudge apply runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The ledger's only message once it has an outcome, polled until `deadline`.
async fn settled_message(server: &Running, app_key: &str, deadline: Duration) -> Value {
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let page: Value = http
            .get(format!("{}/v1/messages", server.base))
            .bearer_auth(app_key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let messages = page["messages"].as_array().unwrap();
        if let [message] = messages.as_slice() {
            if message["state"] != "queued" && message["state"] != "attempted" {
                return message.clone();
            }
        }
        assert!(
            started.elapsed() < deadline,
            "no outcome within {deadline:?}: {page}"
        );
        // Each round trip to the server paces the loop.
        tokio::task::yield_now().await;
    }
}

async fn a_crash_mid_send_does_not_send_twice(database_url: Option<&str>) {
    let twilio = HttpSink::start().await.expect("twilio sink");
    twilio.answer(SinkResponse::json(
        201,
        &json!({"sid": "SM1", "status": "queued"}),
    ));
    // The first request is held long enough for the server to die waiting for it.
    twilio.answer_request(
        1,
        SinkResponse::json(201, &json!({"sid": "SM1", "status": "queued"}))
            .after(Duration::from_secs(60)),
    );
    let base_url = twilio.url();
    let env = [
        ("NUDGE_TWILIO_BASE_URL", base_url.as_str()),
        ("NUDGE_TWILIO_ACCOUNT_SID", TWILIO_SID),
        ("NUDGE_TWILIO_AUTH_TOKEN", TWILIO_TOKEN),
        ("NUDGE_TWILIO_FROM", TWILIO_FROM),
        ("NUDGE_DELIVERY_CLAIM_SECS", "2"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_binary(dir.path(), database_url, &env);
    let creds = credentials(dir.path());
    let definitions = tempfile::tempdir().unwrap();
    std::fs::write(definitions.path().join("defs.yaml"), DEFINITIONS).unwrap();
    apply(dir.path(), database_url, definitions.path());

    let http = reqwest::Client::new();
    let (site, key) = (
        creds["site_id"].as_str().unwrap(),
        creds["track_api_key"].as_str(),
    );
    let identify = http
        .put(format!("{}/api/v1/customers/c-1", server.base))
        .basic_auth(site, key)
        .json(&json!({"phone": "+15555550100"}))
        .send()
        .await
        .unwrap();
    assert!(identify.status().is_success());
    let event = http
        .post(format!("{}/api/v1/customers/c-1/events", server.base))
        .basic_auth(site, key)
        .json(&json!({"name": "Code Requested", "data": {"code": "424242"}}))
        .send()
        .await
        .unwrap();
    assert!(event.status().is_success());
    twilio
        .wait_for_requests(1, Duration::from_secs(30))
        .await
        .expect("the SMS reached the provider");
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();

    let server = start_binary(dir.path(), database_url, &env);
    let requests = twilio
        .wait_for_requests(2, Duration::from_secs(60))
        .await
        .expect("the delivery was tried again after the restart");
    let app_key = creds["app_api_key"].as_str().unwrap();
    let message = settled_message(&server, app_key, Duration::from_secs(30)).await;
    assert_eq!(message["state"], "sent", "{message}");
    assert_eq!(message["attempts"], 2, "{message}");
    let keys: Vec<&str> = requests
        .iter()
        .map(|r| r.header("I-Twilio-Idempotency-Token").expect("a key"))
        .collect();
    assert_eq!(keys, vec![message["id"].as_str().unwrap(); 2]);
    assert_eq!(twilio.request_count(), 2, "never a third attempt");
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_send_does_not_send_twice_on_sqlite() {
    a_crash_mid_send_does_not_send_twice(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_send_does_not_send_twice_on_postgres() {
    let Some(db) = nudge_store_postgres::test_database::TestDatabase::create() else {
        return;
    };
    a_crash_mid_send_does_not_send_twice(Some(db.url())).await;
}
