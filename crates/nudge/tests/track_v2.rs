//! Track API v2 (`/api/v2/entity`, `/api/v2/batch`) against a live server on both stores.

mod common;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn entity_actions_for_people(server: &TestServer) {
    let send = |body| server.track(Method::POST, "/api/v2/entity", body);
    let reply = send(
        json!({"type": "person", "action": "identify", "identifiers": {"id": "v2-1"},
        "attributes": {"email": "v2@example.com", "plan": "gold"}}),
    )
    .await;
    assert_eq!(
        (reply.status, reply.body.clone()),
        (StatusCode::OK, json!({}))
    );
    send(
        json!({"type": "person", "action": "event", "identifiers": {"email": "v2@example.com"},
        "name": "Order Completed", "timestamp": 1_700_000_000, "attributes": {"order_id": "o-1"}}),
    )
    .await;
    send(json!({"type": "person", "action": "screen", "identifiers": {"id": "v2-1"}, "name": "Home"})).await;
    send(json!({"type": "person", "action": "add_device", "identifiers": {"id": "v2-1"},
        "device": {"token": "fcm-1", "platform": "android", "attributes": {"push_enabled": "true"}}})).await;
    let c = server.customer("v2-1", "id").await.unwrap();
    assert_eq!(c["attributes"]["plan"], "gold");
    assert_eq!(c["devices"][0]["id"], "fcm-1");
    let acts = server.activities("v2-1", "").await;
    let names: Vec<_> = acts["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].clone())
        .collect();
    assert!(
        names.contains(&json!("Order Completed")) && names.contains(&json!("Home")),
        "{acts}"
    );
    send(json!({"type": "person", "action": "delete_device", "identifiers": {"id": "v2-1"}, "device": {"token": "fcm-1"}})).await;
    assert_eq!(
        server.customer("v2-1", "id").await.unwrap()["devices"],
        json!([])
    );
    send(json!({"type": "person", "action": "delete", "identifiers": {"id": "v2-1"}})).await;
    assert!(server.customer("v2-1", "id").await.is_none());
}

async fn batch_partial_failure_is_207_with_indexes(server: &TestServer) {
    let reply = server.track(Method::POST, "/api/v2/batch", json!({"batch": [
        {"type": "person", "action": "identify", "identifiers": {"id": "b-1"}, "attributes": {"n": 1}},
        {"type": "person", "action": "event", "identifiers": {"id": "b-1"}},
        {"type": "person", "action": "fly", "identifiers": {"id": "b-1"}},
        {"type": "person", "action": "identify", "identifiers": {"id": "b-2"}, "attributes": {"n": 2}},
        {"type": "person", "action": "identify", "identifiers": {"id": "b-3", "email": "b3@example.com"}}
    ]})).await;
    assert_eq!(reply.status, StatusCode::MULTI_STATUS, "{}", reply.body);
    let errors = reply.body["errors"].as_array().unwrap();
    let indexes: Vec<_> = errors
        .iter()
        .map(|e| e["batch_index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, vec![1, 2, 4]);
    assert_eq!(errors[0]["field"], "name");
    assert_eq!(errors[1]["field"], "action");
    assert_eq!(errors[2]["field"], "identifiers");
    assert_eq!(
        server.customer("b-1", "id").await.unwrap()["attributes"]["n"],
        1
    );
    assert_eq!(
        server.customer("b-2", "id").await.unwrap()["attributes"]["n"],
        2
    );
    assert!(server.customer("b-3", "id").await.is_none());
    let all_good = server.track(Method::POST, "/api/v2/batch", json!({"batch": [
        {"type": "person", "action": "merge", "primary": {"id": "b-1"}, "secondary": {"id": "b-2"}}
    ]})).await;
    assert_eq!(
        (all_good.status, all_good.body),
        (StatusCode::OK, json!({}))
    );
    assert_eq!(
        server.customer("b-2", "id").await.unwrap()["identifiers"]["id"],
        "b-1"
    );
}

async fn objects_and_relationships(server: &TestServer) {
    let send = |body| server.track(Method::POST, "/api/v2/entity", body);
    let reply = send(json!({"type": "object", "action": "identify",
        "identifiers": {"object_type_id": "1", "object_id": "acme"},
        "attributes": {"name": "Acme", "tier": "pro"},
        "cio_relationships": [{"identifiers": {"id": "o-1"}, "relationship_attributes": {"role": "admin"}}]})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    send(json!({"type": "object", "action": "identify",
        "identifiers": {"object_type_id": "1", "object_id": "acme"}, "attributes": {"tier": ""}}))
    .await;
    let object = server.app_get("/v1/objects/1/acme/attributes").await;
    assert_eq!(object.status, StatusCode::OK, "{}", object.body);
    assert_eq!(
        object.body["object"]["attributes"],
        json!({"name": "Acme"}),
        "\"\" removes an attribute"
    );
    assert_eq!(
        object.body["object"]["relationships"][0]["identifiers"]["id"],
        "o-1"
    );
    assert_eq!(
        object.body["object"]["relationships"][0]["relationship_attributes"]["role"],
        "admin"
    );
    send(
        json!({"type": "person", "action": "delete_relationships", "identifiers": {"id": "o-1"},
        "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "acme"}}]}),
    )
    .await;
    let object = server.app_get("/v1/objects/1/acme/attributes").await;
    assert_eq!(object.body["object"]["relationships"], json!([]));
    send(json!({"type": "object", "action": "delete", "identifiers": {"object_type_id": "1", "object_id": "acme"}})).await;
    assert_eq!(
        server.app_get("/v1/objects/1/acme/attributes").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn size_limits(server: &TestServer) {
    let big = "x".repeat(33 * 1024);
    let reply = server
        .track(
            Method::POST,
            "/api/v2/entity",
            json!({"type": "person", "action": "event",
        "identifiers": {"id": "big"}, "name": "e", "attributes": {"blob": big}}),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    assert!(reply.body["errors"][0]["message"].is_string());
    let item = json!({"type": "person", "action": "event", "identifiers": {"id": "big"}, "name": "e",
        "attributes": {"blob": big}});
    let reply = server
        .track(
            Method::POST,
            "/api/v2/batch",
            json!({"batch": [item,
        {"type": "person", "action": "identify", "identifiers": {"id": "small"}}]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::MULTI_STATUS, "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["batch_index"], 0);
    assert!(server.customer("small", "id").await.is_some());
    let many: Vec<_> = (0..20).map(|_| json!({"type": "person", "action": "identify",
        "identifiers": {"id": "many"}, "attributes": {"blob": "y".repeat(900), "b2": "z".repeat(900),
        "b3": "w".repeat(900), "b4": "v".repeat(900), "b5": "u".repeat(900), "b6": "t".repeat(900),
        "b7": "s".repeat(900), "b8": "r".repeat(900), "b9": "q".repeat(900), "b10": "p".repeat(900),
        "b11": "o".repeat(900), "b12": "n".repeat(900), "b13": "m".repeat(900), "b14": "l".repeat(900),
        "b15": "k".repeat(900), "b16": "j".repeat(900), "b17": "i".repeat(900), "b18": "h".repeat(900),
        "b19": "g".repeat(900), "b20": "f".repeat(900), "b21": "e".repeat(900), "b22": "d".repeat(900),
        "b23": "c".repeat(900), "b24": "b".repeat(900), "b25": "a".repeat(900), "b26": "y".repeat(900),
        "b27": "x".repeat(900), "b28": "w".repeat(900), "b29": "v".repeat(900), "b30": "u".repeat(900)}})).collect();
    let reply = server
        .track(Method::POST, "/api/v2/batch", json!({"batch": many}))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "a batch over 500 KB is refused whole"
    );
    assert!(
        server.customer("many", "id").await.is_none(),
        "nothing of it was written"
    );
}

on_both_stores!(
    entity_actions_for_people,
    batch_partial_failure_is_207_with_indexes,
    objects_and_relationships,
    size_limits,
);
