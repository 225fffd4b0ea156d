//! API-triggered broadcasts on a live server, both stores: `POST /v1/campaigns/{id}/triggers`
//! with `ids`, `per_user_data` (each recipient's data laid over the broadcast's) and a
//! `recipients` filter, each followed through the journey timeline to the rendered message;
//! the trigger's progress; and every refusal naming what is wrong.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const DEFINITIONS: &str = "kind: template\nformat: 1\nid: sale\nchannel: email\n\
    subject: \"Spring sale\"\nbody: \"{{ customer.first_name }}: use {{ trigger.coupon }}\"\n---\n\
    kind: journey\nformat: 1\nid: spring-sale\nname: Spring sale\ntrigger: {broadcast: true}\n\
    steps:\n  - {id: mail, send: {channel: email, template: sale}}\n---\n\
    kind: journey\nformat: 1\nid: welcome\nname: Welcome\ntrigger: {event: Signed Up}\n\
    steps:\n  - {id: wait, delay: 1d}\n";

async fn setup(server: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sale.yaml"), DEFINITIONS).unwrap();
    server.apply(dir.path()).await;
    for (id, name, plan) in [
        ("a", "Ana", "pro"),
        ("b", "Bo", "basic"),
        ("c", "Cy", "pro"),
    ] {
        let reply = server
            .track(
                Method::PUT,
                &format!("/api/v1/customers/{id}"),
                json!({"email": format!("{id}@example.com"), "first_name": name, "plan": plan}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    }
    // The server picks the journey up by itself; a broadcast to it is refused until it has.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let campaigns = server.app_get("/v1/campaigns/spring-sale").await;
        if campaigns.status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never loaded: {:?}",
            campaigns.body
        );
        tokio::task::yield_now().await;
    }
}

/// The messages sent so far, as (person, body), once there are `count` of them.
async fn sent(server: &TestServer, count: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let timeline = server.timeline(100).await;
        let messages: Vec<(String, String)> = timeline
            .iter()
            .filter(|l| l["kind"] == "message_sent")
            .map(|l| {
                let text = |key: &str| l[key].as_str().unwrap_or_default().to_string();
                (text("person"), text("body"))
            })
            .collect();
        if messages.len() >= count {
            assert_eq!(messages.len(), count, "no more than that: {messages:?}");
            return messages;
        }
        assert!(
            Instant::now() < deadline,
            "only {messages:?} in {timeline:#?}"
        );
        tokio::task::yield_now().await;
    }
}

async fn trigger(server: &TestServer, body: Value) -> common::Reply {
    server
        .app_post("/v1/campaigns/spring-sale/triggers", body)
        .await
}

async fn named_people_get_the_broadcast_with_their_own_data(server: &TestServer) {
    setup(server).await;
    let reply = trigger(
        server,
        json!({"ids": ["a", "b"], "data": {"coupon": "SPRING"}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let id = reply.body["id"].as_i64().expect("a trigger id");
    let mut messages = sent(server, 2).await;
    messages.sort();
    assert_eq!(
        messages,
        [
            ("a".to_string(), "Ana: use SPRING".to_string()),
            ("b".to_string(), "Bo: use SPRING".to_string()),
        ]
    );
    let status = server
        .app_get(&format!("/v1/campaigns/spring-sale/triggers/{id}"))
        .await;
    assert_eq!(status.status, StatusCode::OK, "{:?}", status.body);
    assert_eq!(status.body["trigger"]["processed"], json!(true));
    assert_eq!(status.body["trigger"]["started"], json!(2));

    let reply = trigger(
        server,
        json!({"per_user_data": [{"id": "c", "data": {"coupon": "VIP"}}, {"email": "b@example.com"}],
               "data": {"coupon": "SPRING"}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let messages = sent(server, 4).await;
    assert!(
        messages.contains(&("c".into(), "Cy: use VIP".into())),
        "{messages:?}"
    );
    assert_eq!(
        messages.iter().filter(|m| m.0 == "b").count(),
        2,
        "b again, with the broadcast's data: {messages:?}"
    );
}

async fn a_filter_reaches_everyone_it_matches(server: &TestServer) {
    setup(server).await;
    let filter = json!({"attribute": {"field": "plan", "operator": "eq", "value": "pro"}});
    let reply = trigger(
        server,
        json!({"recipients": filter, "data": {"coupon": "PRO"}}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let id = reply.body["id"].as_i64().unwrap();
    let mut messages = sent(server, 2).await;
    messages.sort();
    assert_eq!(
        messages,
        [
            ("a".to_string(), "Ana: use PRO".to_string()),
            ("c".to_string(), "Cy: use PRO".to_string()),
        ]
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = server
            .app_get(&format!("/v1/campaigns/spring-sale/triggers/{id}"))
            .await;
        if status.body["trigger"]["processed"] == json!(true) {
            assert_eq!(
                status.body["trigger"]["visited"],
                json!(3),
                "{:?}",
                status.body
            );
            assert_eq!(
                status.body["trigger"]["started"],
                json!(2),
                "{:?}",
                status.body
            );
            break;
        }
        assert!(Instant::now() < deadline, "{:?}", status.body);
        tokio::task::yield_now().await;
    }
}

async fn refusals_name_what_is_wrong(server: &TestServer) {
    setup(server).await;
    let cases = [
        (
            "/v1/campaigns/nope/triggers",
            json!({"ids": ["a"]}),
            StatusCode::NOT_FOUND,
            None,
        ),
        (
            "/v1/campaigns/welcome/triggers",
            json!({"ids": ["a"]}),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "/v1/campaigns/spring-sale/triggers",
            json!({"ids": ["a", "zz"]}),
            StatusCode::BAD_REQUEST,
            Some("/ids/1"),
        ),
        (
            "/v1/campaigns/spring-sale/triggers",
            json!({"emails": ["nobody@example.com"]}),
            StatusCode::BAD_REQUEST,
            Some("/emails/0"),
        ),
        (
            "/v1/campaigns/spring-sale/triggers",
            json!({"ids": ["a"], "emails": ["b@example.com"]}),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "/v1/campaigns/spring-sale/triggers",
            json!({"data": {"coupon": "X"}}),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "/v1/campaigns/spring-sale/triggers",
            json!({"recipients": {"attribute": {"field": "plan", "operator": "is"}}}),
            StatusCode::BAD_REQUEST,
            Some("/recipients/attribute/operator"),
        ),
        (
            "/v1/campaigns/spring-sale/triggers",
            json!({"per_user_data": [{"data": {}}]}),
            StatusCode::BAD_REQUEST,
            Some("/per_user_data/0"),
        ),
        (
            "/v1/campaigns/spring-sale/triggers",
            json!({"ids": ["a"], "surprise": 1}),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "/v1/campaigns/spring-sale/triggers",
            json!({"data_file_url": "https://example.com/x.json"}),
            StatusCode::BAD_REQUEST,
            Some("/data_file_url"),
        ),
    ];
    for (path, body, status, pointer) in cases {
        let reply = server.app_post(path, body.clone()).await;
        assert_eq!(reply.status, status, "{path} {body}: {:?}", reply.body);
        let error = &reply.body["errors"][0];
        assert!(
            error["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{:?}",
            reply.body
        );
        if let Some(pointer) = pointer {
            assert_eq!(
                error["source"]["pointer"],
                json!(pointer),
                "{body}: {:?}",
                reply.body
            );
        }
    }
    let ignored = trigger(
        server,
        json!({"ids": ["a", "zz"], "id_ignore_missing": true, "data": {"coupon": "X"}}),
    )
    .await;
    assert_eq!(ignored.status, StatusCode::OK, "{:?}", ignored.body);
    assert_eq!(
        sent(server, 1).await[0].0,
        "a",
        "the missing one is skipped"
    );
    // Without the data its template reads, the message is skipped with the reason, never
    // sent with a blank.
    let bare = trigger(server, json!({"ids": ["b"]})).await;
    assert_eq!(bare.status, StatusCode::OK, "{:?}", bare.body);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let timeline = server.timeline(100).await;
        let skipped = timeline
            .iter()
            .find(|l| l["kind"] == "message_skipped" && l["person"] == "b");
        if let Some(line) = skipped {
            assert_eq!(line["reason"], json!("failed_render"), "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "{timeline:#?}");
        tokio::task::yield_now().await;
    }
    assert_eq!(sent(server, 1).await.len(), 1);
    let unknown = server
        .app_get("/v1/campaigns/spring-sale/triggers/12345")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

on_both_stores!(
    named_people_get_the_broadcast_with_their_own_data,
    a_filter_reaches_everyone_it_matches,
    refusals_name_what_is_wrong,
);
