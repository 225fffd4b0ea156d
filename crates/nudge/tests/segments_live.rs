//! Segments and computed attributes maintained by the live server's processor, through the
//! real HTTP APIs on both stores: the d2c brand's configuration (`examples/d2c/definitions`)
//! applied with `nudge apply` to the store of a running server, which picks it up by itself;
//! the VIP story (story 6) with a refund; membership and counts as the App API shows them;
//! identify refused for a computed attribute; and the processed offset the tests wait on
//! instead of sleeping.

mod common;

use std::time::{Duration, Instant};

use common::{start, Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Waits until the processor has caught up with the log (an explicit condition, with a
/// deadline).
async fn processed(server: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = server.app_get("/v1/processing").await;
        assert_eq!(status.status, StatusCode::OK, "{:?}", status.body);
        if status.body["behind"] == json!(0) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "processing stuck: {}",
            status.body
        );
        tokio::task::yield_now().await;
    }
}

async fn order(server: &TestServer, name: &str, data: Value) {
    let reply = server
        .track(
            Method::POST,
            "/api/v1/customers/c-1001/events",
            json!({"name": name, "data": data}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

/// The d2c brand's VIP segment in `examples/d2c/definitions/segments.yaml`.
const VIP: i64 = 101;

/// `nudge apply` of the example definitions, through the real binary, to the server's store.
async fn apply_d2c_example(server: &TestServer) {
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/d2c/definitions");
    server.apply(&examples).await;
    // The running server notices the new definitions and backfills them.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let segment = server.app_get(&format!("/v1/segments/{VIP}")).await;
        if segment.body["segment"]["state"] == json!("finished") {
            break;
        }
        assert!(Instant::now() < deadline, "never built: {}", segment.body);
        tokio::task::yield_now().await;
    }
}

async fn vip_story(backend: Backend) {
    let Some(server) = start(backend).await else {
        return;
    };
    apply_d2c_example(&server).await;
    let vip = VIP;

    let identify = server
        .track(
            Method::PUT,
            "/api/v1/customers/c-1001",
            json!({"email": "ana@example.com", "first_name": "Ana"}),
        )
        .await;
    assert_eq!(identify.status, StatusCode::OK);
    order(
        &server,
        "Order Completed",
        json!({"order_id": "o-1", "revenue": 300}),
    )
    .await;
    order(
        &server,
        "Order Completed",
        json!({"order_id": "o-2", "revenue": 220}),
    )
    .await;
    processed(&server).await;

    let attributes = server.app_get("/v1/customers/c-1001/attributes").await;
    assert_eq!(
        attributes.body["customer"]["attributes"]["lifetime_value"],
        json!(520),
        "{}",
        attributes.body
    );
    let segments = server.app_get("/v1/customers/c-1001/segments").await;
    let ids: Vec<i64> = segments.body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [vip]);
    let count = server
        .app_get(&format!("/v1/segments/{vip}/customer_count"))
        .await;
    assert_eq!(count.body["count"], json!(1));
    let members = server
        .app_get(&format!("/v1/segments/{vip}/membership"))
        .await;
    assert_eq!(members.body["ids"], json!(["c-1001"]), "{}", members.body);

    // A refund below 500 takes her out.
    order(
        &server,
        "Order Refunded",
        json!({"order_id": "o-2", "amount": 84}),
    )
    .await;
    processed(&server).await;
    let count = server
        .app_get(&format!("/v1/segments/{vip}/customer_count"))
        .await;
    assert_eq!(count.body["count"], json!(0));
    let segments = server.app_get("/v1/customers/c-1001/segments").await;
    assert_eq!(segments.body["segments"], json!([]));

    // Another system writing the computed value is refused for that key, and it says so.
    let identify = server
        .track(
            Method::PUT,
            "/api/v1/customers/c-1001",
            json!({"lifetime_value": 10000, "first_name": "Ana Maria"}),
        )
        .await;
    assert_eq!(identify.status, StatusCode::OK);
    processed(&server).await;
    let attributes = server.app_get("/v1/customers/c-1001/attributes").await;
    let attrs = &attributes.body["customer"]["attributes"];
    assert_eq!(attrs["lifetime_value"], json!(436), "{}", attributes.body);
    assert_eq!(attrs["first_name"], json!("Ana Maria"));
    let rejected = server.app_get("/v1/rejected_messages").await;
    let first = &rejected.body["rejected_messages"][0];
    assert_eq!(
        first["field"],
        json!("attributes.lifetime_value"),
        "{}",
        rejected.body
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vip_story_on_sqlite() {
    vip_story(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vip_story_on_postgres() {
    vip_story(Backend::Postgres).await;
}
