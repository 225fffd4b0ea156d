//! Operational endpoints: health, readiness, Prometheus metrics, and request ids.

mod common;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn health_readiness_and_metrics(server: &TestServer) {
    let health = server
        .http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = server
        .http
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.text().await.unwrap(), "ready");

    server
        .track(Method::PUT, "/api/v1/customers/m-1", json!({"a": 1}))
        .await;
    server
        .track(
            Method::POST,
            "/api/v1/customers/m-1/events",
            json!({"name": "e"}),
        )
        .await;
    server
        .track(
            Method::POST,
            "/api/v1/customers/m-1/events",
            json!({"name": ""}),
        )
        .await;
    let text = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let route = r#"route="/api/v1/customers/{identifier}/events""#;
    assert!(
        text.lines()
            .any(|l| l.starts_with("nudge_http_requests_total")
                && l.contains(route)
                && l.contains(r#"status="200""#)),
        "{text}"
    );
    assert!(text
        .lines()
        .any(|l| l.starts_with("nudge_http_requests_total")
            && l.contains(route)
            && l.contains(r#"status="400""#)));
    assert!(
        text.contains("nudge_http_request_duration_seconds"),
        "latency histogram"
    );
    assert!(
        text.contains("nudge_commit_batch_operations"),
        "commit batch sizes"
    );
    let ws = format!(r#"workspace="{}""#, server.creds.workspace_id);
    assert!(
        text.lines().any(|l| l.starts_with("nudge_operations_total")
            && l.contains(&ws)
            && l.contains(r#"operation="track""#)),
        "per-workspace ingest counts"
    );
    assert!(
        !text.contains("m-1"),
        "no raw paths or identifiers in labels"
    );
}

async fn request_ids_are_returned_and_kept(server: &TestServer) {
    let generated = server
        .http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    let id = generated
        .headers()
        .get("x-request-id")
        .expect("a request id is generated");
    assert_eq!(id.to_str().unwrap().len(), 36, "a UUID");
    let given = server
        .http
        .get(format!("{}/healthz", server.base))
        .header("x-request-id", "trace-abc")
        .send()
        .await
        .unwrap();
    assert_eq!(
        given.headers()["x-request-id"],
        "trace-abc",
        "a caller's id is propagated"
    );
}

on_both_stores!(
    health_readiness_and_metrics,
    request_ids_are_returned_and_kept
);
