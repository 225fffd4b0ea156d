//! The delivery worker on a live server with recording providers, on a virtual clock: a
//! message whose journey instance was ended by an exit event while it waited for a retry is
//! skipped, not sent; transient failures are retried with backoff (honouring `Retry-After`)
//! and permanent ones fail at once with the provider's reason; a webhook step's request is
//! signed, carries the delivery id as its idempotency key, and the attributes it maps from the
//! response land on the person; `GET /v1/messages` filters and `GET /v1/messages/{id}` shows a
//! message with its content; `nudge outbox tail` prints the same ledger.

mod common;
mod delivery;

use common::{start_with, Backend, TestServer};
use delivery::{advance, at, ledger, ledger_entry, Providers, WEBHOOK_SECRET};
use hmac::{Hmac, Mac};
use nudge_delivery::sinks::http::{HttpSink, SinkResponse};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;

const START: &str = "2026-03-02T09:00:00Z";

fn definitions(webhook_url: &str) -> String {
    format!(
        r#"kind: template
format: 1
id: code-sms
channel: sms
body: "Your code is {{{{ event.code }}}}"
---
kind: journey
format: 1
id: sign-in
name: Sign-in code
trigger:
  event: Code Requested
exit:
  - event: Signed In
steps:
  - id: text
    send: {{channel: sms, template: code-sms}}
---
kind: journey
format: 1
id: crm-sync
name: CRM sync
trigger:
  event: Signed Up
steps:
  - id: call
    webhook:
      method: PUT
      url: {webhook_url}/crm/contacts
      headers: {{X-Brand: lumen}}
      body: '{{"email": "{{{{ customer.email }}}}", "plan": "{{{{ event.plan }}}}"}}'
      map_response: {{crm_id: /data/id, crm_tier: /data/tier}}
"#
    )
}

struct Setup {
    server: TestServer,
    providers: Providers,
    webhook: HttpSink,
}

async fn setup(backend: Backend) -> Option<Setup> {
    let providers = Providers::start().await;
    let webhook = HttpSink::start().await.expect("webhook sink");
    let server = start_with(backend, Some(at(START)), providers.delivery_args(10)).await?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("defs.yaml"), definitions(&webhook.url())).unwrap();
    server.apply(dir.path()).await;
    advance(&server, at(START)).await;
    let identify = server
        .track(
            Method::PUT,
            "/api/v1/customers/c-1",
            json!({"email": "ana@example.com", "phone": "+15555550100"}),
        )
        .await;
    assert_eq!(identify.status, StatusCode::OK, "{}", identify.body);
    Some(Setup {
        server,
        providers,
        webhook,
    })
}

async fn event(server: &TestServer, name: &str, data: Value) {
    let reply = server
        .track(
            Method::POST,
            "/api/v1/customers/c-1/events",
            json!({"name": name, "data": data}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    settle(server).await;
}

/// Lets the server do everything due at its clock's time (processing, deliveries).
async fn settle(server: &TestServer) {
    let now = server.app_get("/v1/clock").await;
    advance(server, at(now.body["now"].as_str().unwrap())).await;
}

fn seconds(text: &str) -> i64 {
    at(text).unix_seconds()
}

async fn an_exit_while_waiting_for_a_retry_cancels_the_send(backend: Backend) {
    let Some(Setup {
        server, providers, ..
    }) = setup(backend).await
    else {
        return;
    };
    providers.twilio.answer_request(
        1,
        SinkResponse::json(
            503,
            &json!({"code": 20503, "message": "Service unavailable"}),
        ),
    );
    event(&server, "Code Requested", json!({"code": "111111"})).await;
    assert_eq!(providers.twilio.request_count(), 1);
    let queued = ledger(&server).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0]["state"], "queued", "{queued:?}");
    assert_eq!(queued[0]["attempts"], 1);
    assert_eq!(queued[0]["next_attempt"], seconds("2026-03-02T09:00:10Z"));
    assert!(
        queued[0]["reason"].as_str().unwrap().contains("503"),
        "{queued:?}"
    );
    // The customer signs in before the retry: the instance exits, the retry is skipped.
    advance(&server, at("2026-03-02T09:00:05Z")).await;
    event(&server, "Signed In", json!({})).await;
    advance(&server, at("2026-03-02T09:05:00Z")).await;
    assert_eq!(providers.twilio.request_count(), 1, "no second SMS");
    let after = ledger(&server).await;
    assert_eq!(after[0]["state"], "skipped", "{after:?}");
    assert!(
        after[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("instance_exited"),
        "{after:?}"
    );
    server.stop().await;
}

async fn transient_failures_back_off_and_permanent_ones_fail(backend: Backend) {
    let Some(Setup {
        server, providers, ..
    }) = setup(backend).await
    else {
        return;
    };
    // First code: 429 with Retry-After 60, then 500, then accepted.
    providers.twilio.answer_request(
        1,
        SinkResponse::json(429, &json!({"code": 20429, "message": "Too Many Requests"}))
            .with_header("Retry-After", "60"),
    );
    providers.twilio.answer_request(
        2,
        SinkResponse::json(500, &json!({"code": 20500, "message": "Internal error"})),
    );
    event(&server, "Code Requested", json!({"code": "222222"})).await;
    let first = ledger(&server).await;
    assert_eq!(
        first[0]["next_attempt"],
        seconds("2026-03-02T09:01:00Z"),
        "Retry-After wins over the 10 s backoff: {first:?}"
    );
    advance(&server, at("2026-03-02T09:01:00Z")).await;
    let second = ledger(&server).await;
    assert_eq!(second[0]["attempts"], 2);
    assert_eq!(
        second[0]["next_attempt"],
        seconds("2026-03-02T09:01:20Z"),
        "the second wait doubles: {second:?}"
    );
    advance(&server, at("2026-03-02T09:02:00Z")).await;
    let sent = ledger(&server).await;
    assert_eq!(sent[0]["state"], "sent", "{sent:?}");
    assert_eq!(sent[0]["attempts"], 3);
    assert_eq!(sent[0]["metrics"]["sent"], seconds("2026-03-02T09:01:20Z"));
    let keys: Vec<String> = providers
        .twilio
        .requests()
        .iter()
        .map(|r| r.header("I-Twilio-Idempotency-Token").unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| k == &keys[0]), "{keys:?}");
    assert_eq!(keys[0], sent[0]["id"].as_str().unwrap());

    // Second code: Twilio refuses the number for good.
    providers.twilio.answer_request(
        4,
        SinkResponse::json(
            400,
            &json!({"code": 21211, "message": "The 'To' number is not a valid phone number."}),
        ),
    );
    event(&server, "Code Requested", json!({"code": "333333"})).await;
    advance(&server, at("2026-03-02T10:00:00Z")).await;
    let all = ledger(&server).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["state"], "failed", "{all:?}");
    assert_eq!(all[1]["attempts"], 1, "never retried: {all:?}");
    assert!(
        all[1]["reason"].as_str().unwrap().contains("21211"),
        "{all:?}"
    );
    assert_eq!(providers.twilio.request_count(), 4);

    let failed = server.app_get("/v1/messages?metric=failed").await;
    assert_eq!(failed.body["messages"].as_array().unwrap().len(), 1);
    assert_eq!(failed.body["messages"][0]["id"], all[1]["id"]);
    let webhooks = server.app_get("/v1/messages?type=webhook").await;
    assert_eq!(webhooks.body["messages"], json!([]));
    let bad = server.app_get("/v1/messages?metric=teleported").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["errors"][0]["source"]["pointer"], "/metric");
    let missing = server.app_get("/v1/messages/no-such-delivery").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // `nudge outbox tail` reads the same ledger from the store: newest last.
    let tail = outbox_tail(&server, &["-n", "5", "--json"]).await;
    let ids: Vec<&str> = tail.iter().map(|m| m["id"].as_str().unwrap()).collect();
    let want: Vec<&str> = all.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, want);
    assert_eq!(tail[1]["state"], "failed");
    assert_eq!(tail[1]["body"], "Your code is 333333");
    let newest = outbox_tail(&server, &["-n", "1", "--json"]).await;
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0]["id"], all[1]["id"]);
    let sent_only = outbox_tail(&server, &["--state", "sent", "--json"]).await;
    assert_eq!(sent_only.len(), 1);
    assert_eq!(sent_only[0]["id"], all[0]["id"]);
    let text = outbox_tail_text(&server, &[]).await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("sent") && lines[0].contains("+15555550100"),
        "{text}"
    );
    assert!(
        lines[1].contains("failed") && lines[1].contains("21211"),
        "{text}"
    );
    server.stop().await;
}

async fn outbox_tail_text(server: &TestServer, args: &[&str]) -> String {
    let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_nudge"));
    process
        .args(["outbox", "tail", "--workspace", "development"])
        .args(args)
        .env("NUDGE_DATA_DIR", server.data_dir.path())
        .env("NUDGE_LOG", "warn");
    match &server.database_url {
        Some(url) => process.env("NUDGE_DATABASE_URL", url),
        None => process.env_remove("NUDGE_DATABASE_URL"),
    };
    let output = process.output().await.expect("nudge runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

async fn outbox_tail(server: &TestServer, args: &[&str]) -> Vec<Value> {
    outbox_tail_text(server, args)
        .await
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect()
}

async fn a_webhook_is_signed_and_its_response_is_mapped(backend: Backend) {
    let Some(Setup {
        server, webhook, ..
    }) = setup(backend).await
    else {
        return;
    };
    webhook.answer(SinkResponse::json(
        200,
        &json!({"data": {"id": "crm-42", "tier": "gold"}}),
    ));
    event(&server, "Signed Up", json!({"plan": "pro"})).await;
    let requests = webhook.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "PUT");
    assert_eq!(request.path, "/crm/contacts");
    assert_eq!(request.header("x-brand"), Some("lumen"));
    assert_eq!(
        request.json(),
        Some(json!({"email": "ana@example.com", "plan": "pro"}))
    );
    let timestamp = request.header("x-nudge-timestamp").expect("a timestamp");
    assert_eq!(timestamp, at(START).unix_seconds().to_string());
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{}", request.body_text()).as_bytes());
    let signature = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(
        request.header("x-nudge-signature"),
        Some(signature.as_str())
    );

    let messages = ledger(&server).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["state"], "sent");
    assert_eq!(messages[0]["type"], "webhook");
    let id = messages[0]["id"].as_str().unwrap();
    assert_eq!(request.header("idempotency-key"), Some(id));
    let entry = ledger_entry(&server, id).await;
    assert_eq!(
        entry["response"],
        json!({"data": {"id": "crm-42", "tier": "gold"}})
    );
    assert_eq!(entry["action_id"], "call");
    assert_eq!(entry["campaign_id"], "crm-sync");

    // The mapped attributes were written through the log, as an identify is.
    let customer = server.customer("c-1", "id").await.expect("the person");
    assert_eq!(customer["attributes"]["crm_id"], "crm-42", "{customer}");
    assert_eq!(customer["attributes"]["crm_tier"], "gold", "{customer}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_while_waiting_for_a_retry_cancels_the_send_on_sqlite() {
    an_exit_while_waiting_for_a_retry_cancels_the_send(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exit_while_waiting_for_a_retry_cancels_the_send_on_postgres() {
    an_exit_while_waiting_for_a_retry_cancels_the_send(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_back_off_and_permanent_ones_fail_on_sqlite() {
    transient_failures_back_off_and_permanent_ones_fail(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_signed_and_its_response_is_mapped_on_sqlite() {
    a_webhook_is_signed_and_its_response_is_mapped(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_is_signed_and_its_response_is_mapped_on_postgres() {
    a_webhook_is_signed_and_its_response_is_mapped(Backend::Postgres).await;
}
