//! Track API v1 against a live server on both stores, each result checked through the App
//! API (read-your-writes: no waiting between the write and the read).

mod common;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn ok(server: &TestServer, method: Method, path: &str, body: Value) {
    let reply = server.track(method, path, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    assert_eq!(reply.body, json!({}), "success is exactly {{}}");
}

fn types(activities: &Value) -> Vec<String> {
    activities["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap().to_string())
        .collect()
}

async fn identify_creates_updates_and_removes(server: &TestServer) {
    ok(server, Method::PUT, "/api/v1/customers/c-1001", json!({
        "email": "Ana@Example.com", "first_name": "Ana", "created_at": 1_700_000_000, "accepts_sms": true
    })).await;
    let c = server.customer("c-1001", "id").await.expect("created");
    assert_eq!(c["attributes"]["first_name"], "Ana");
    assert_eq!(c["attributes"]["created_at"], 1_700_000_000);
    assert_eq!(
        c["identifiers"]["email"], "ana@example.com",
        "emails are matched case-insensitively"
    );
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/c-1001",
        json!({"plan": "gold", "accepts_sms": null}),
    )
    .await;
    let c = server.customer("c-1001", "id").await.unwrap();
    assert_eq!(c["attributes"]["plan"], "gold");
    assert_eq!(
        c["attributes"]["first_name"], "Ana",
        "an update keeps what it does not name"
    );
    assert!(
        c["attributes"].get("accepts_sms").is_none(),
        "null removes an attribute"
    );
    let by_email = server
        .app_get("/v1/customers?email=ANA%40example.com")
        .await;
    assert_eq!(by_email.body["results"][0]["id"], "c-1001");
    let changes = server.activities("c-1001", "type=attribute_change").await;
    assert_eq!(types(&changes).len(), 2);
}

async fn path_identifier_is_assigned_to_the_body_match(server: &TestServer) {
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/ana%40example.com",
        json!({"first_name": "Ana"}),
    )
    .await;
    let before = server.customer("ana@example.com", "email").await.unwrap();
    assert!(before["id"].is_null());
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/c-7",
        json!({"email": "ana@example.com"}),
    )
    .await;
    let after = server
        .customer("c-7", "id")
        .await
        .expect("the path id now names Ana");
    assert_eq!(
        after["identifiers"]["cio_id"],
        before["identifiers"]["cio_id"]
    );
    assert_eq!(after["attributes"]["first_name"], "Ana");
}

async fn conflicts_are_logged_not_applied(server: &TestServer) {
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/a-1",
        json!({"email": "a@example.com"}),
    )
    .await;
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/b-1",
        json!({"email": "b@example.com"}),
    )
    .await;
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/a-1",
        json!({"email": "b@example.com", "x": 1}),
    )
    .await;
    let a = server.customer("a-1", "id").await.unwrap();
    assert_eq!(a["identifiers"]["email"], "a@example.com");
    assert!(
        a["attributes"].get("x").is_none(),
        "a conflicting request changes nothing"
    );
    let failed = server
        .activities("a-1", "type=failed_attribute_change")
        .await;
    assert_eq!(types(&failed), vec!["failed_attribute_change"]);
    // Changing an id needs the cio_id.
    let cio = a["identifiers"]["cio_id"].as_str().unwrap().to_string();
    ok(
        server,
        Method::PUT,
        &format!("/api/v1/customers/cio_{cio}"),
        json!({"id": "a-2"}),
    )
    .await;
    assert!(server.customer("a-1", "id").await.is_none());
    assert_eq!(
        server.customer("a-2", "id").await.unwrap()["identifiers"]["cio_id"],
        cio.as_str()
    );
    // A request whose second identifier conflicts changes nothing, not even its first.
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/two%40example.com",
        json!({"id": "a-2", "email": "one@example.com"}),
    )
    .await;
    assert!(
        server.customer("one@example.com", "email").await.is_none(),
        "no identifier was half-assigned"
    );
    assert!(server.customer("two@example.com", "email").await.is_none());
    assert_eq!(
        server.customer("a-2", "id").await.unwrap()["identifiers"]["email"],
        "a@example.com"
    );
    let failed = server
        .activities("a-2", "type=failed_attribute_change")
        .await;
    assert_eq!(
        failed["activities"].as_array().unwrap().len(),
        2,
        "{failed}"
    );
    // An unknown cio_id is dropped, not created.
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/cio_ffff",
        json!({"x": 1}),
    )
    .await;
    assert!(server.customer("ffff", "cio_id").await.is_none());
}

async fn update_only_and_timestamp_ordering(server: &TestServer) {
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/ghost",
        json!({"_update": true, "x": 1}),
    )
    .await;
    assert!(
        server.customer("ghost", "id").await.is_none(),
        "_update never creates"
    );
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/t-1",
        json!({"tier": "new", "_timestamp": 1_700_000_100}),
    )
    .await;
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/t-1",
        json!({"tier": "old", "_timestamp": 1_700_000_000}),
    )
    .await;
    let c = server.customer("t-1", "id").await.unwrap();
    assert_eq!(
        c["attributes"]["tier"], "new",
        "an older update loses to a newer one"
    );
    assert_eq!(c["timestamps"]["tier"], 1_700_000_100);
}

async fn events_pages_and_dedupe(server: &TestServer) {
    let ulid = "01JDQ3Z5X0R8Y9K2M4N6P8Q0RS";
    let event = json!({"name": " Added to Cart ", "id": ulid, "data": {"cart_id": "cart-1", "cart_value": 84.0}});
    ok(
        server,
        Method::POST,
        "/api/v1/customers/c-1001/events",
        event.clone(),
    )
    .await;
    ok(
        server,
        Method::POST,
        "/api/v1/customers/c-1001/events",
        event,
    )
    .await;
    ok(
        server,
        Method::POST,
        "/api/v1/customers/c-1001/events",
        json!({"type": "page", "name": "/products/serum"}),
    )
    .await;
    ok(
        server,
        Method::POST,
        "/api/v1/customers/c-1001/events",
        json!({"name": "Old", "timestamp": 1_500_000_000}),
    )
    .await;
    let events = server.activities("c-1001", "type=event").await;
    let list = events["activities"].as_array().unwrap();
    assert_eq!(list.len(), 2, "the repeated ULID was ignored: {events}");
    let cart = list
        .iter()
        .find(|a| a["name"] == "Added to Cart")
        .expect("name trimmed");
    assert_eq!(cart["data"]["cart_value"], 84.0);
    assert_eq!(cart["event_id"], ulid);
    let old = list.iter().find(|a| a["name"] == "Old").unwrap();
    assert_eq!(old["timestamp"], 1_500_000_000);
    assert_eq!(
        old["can_trigger"], false,
        "older than 72 hours never triggers"
    );
    let pages = server.activities("c-1001", "type=page").await;
    assert_eq!(pages["activities"][0]["name"], "/products/serum");
    let named = server.activities("c-1001", "name=Old").await;
    assert_eq!(named["activities"].as_array().unwrap().len(), 1);
}

async fn activities_page_with_a_cursor(server: &TestServer) {
    for i in 0..5 {
        ok(
            server,
            Method::POST,
            "/api/v1/customers/p-1/events",
            json!({"name": format!("e{i}")}),
        )
        .await;
    }
    let mut names = Vec::new();
    let mut start = String::new();
    loop {
        let page = server
            .activities("p-1", &format!("type=event&limit=2&start={start}"))
            .await;
        for a in page["activities"].as_array().unwrap() {
            names.push(a["name"].as_str().unwrap().to_string());
        }
        start = page["next"].as_str().unwrap().to_string();
        if start.is_empty() {
            break;
        }
    }
    assert_eq!(
        names,
        vec!["e4", "e3", "e2", "e1", "e0"],
        "newest first, each once"
    );
}

async fn anonymous_events_follow_the_identify(server: &TestServer) {
    ok(
        server,
        Method::POST,
        "/api/v1/events",
        json!({"name": "Product Viewed", "anonymous_id": "anon-9",
        "data": {"product_id": "serum"}}),
    )
    .await;
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/c-9",
        json!({"email": "c9@example.com", "anonymous_id": "anon-9"}),
    )
    .await;
    let events = server.activities("c-9", "type=event").await;
    assert_eq!(events["activities"][0]["name"], "Product Viewed");
    let c = server.customer("c-9", "id").await.unwrap();
    assert_eq!(c["anonymous_ids"], json!(["anon-9"]));
    let stitched = server.activities("c-9", "type=stitched").await;
    let data = &stitched["activities"][0]["data"];
    assert_eq!(data["how"], "stitch");
    assert_eq!(data["primary"]["id"], "c-9");
    assert!(
        data["secondary"]["cio_id"].is_string(),
        "the anonymous profile: {data}"
    );
    assert_eq!(
        data["moved"]["activities"], 1,
        "the anonymous view moved: {data}"
    );
    // Later anonymous events for that id land on the known person.
    ok(
        server,
        Method::POST,
        "/api/v1/events",
        json!({"name": "Later", "anonymous_id": "anon-9"}),
    )
    .await;
    assert_eq!(
        server.activities("c-9", "name=Later").await["activities"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn devices_are_added_and_removed(server: &TestServer) {
    ok(server, Method::PUT, "/api/v1/customers/d-1/devices", json!({"device": {
        "id": "tok/1", "platform": "ios", "last_used": 1_700_000_000, "attributes": {"app_version": "2.1"}}})).await;
    let c = server.customer("d-1", "id").await.unwrap();
    assert_eq!(
        c["devices"],
        json!([{"id": "tok/1", "platform": "ios", "last_used": 1_700_000_000,
        "attributes": {"app_version": "2.1"}}])
    );
    ok(
        server,
        Method::DELETE,
        "/api/v1/customers/d-1/devices/tok%2F1",
        Value::Null,
    )
    .await;
    assert_eq!(
        server.customer("d-1", "id").await.unwrap()["devices"],
        json!([])
    );
}

async fn suppression_blocks_recreation_until_lifted(server: &TestServer) {
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/s-1",
        json!({"email": "s1@example.com"}),
    )
    .await;
    ok(
        server,
        Method::POST,
        "/api/v1/customers/s-1/suppress",
        json!({}),
    )
    .await;
    assert!(
        server.customer("s-1", "id").await.is_none(),
        "suppress deletes"
    );
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/s-1",
        json!({"x": 1}),
    )
    .await;
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/s1%40example.com",
        json!({"x": 1}),
    )
    .await;
    assert!(
        server.customer("s-1", "id").await.is_none(),
        "a suppressed id is not re-created"
    );
    assert!(
        server.customer("s1@example.com", "email").await.is_none(),
        "nor its email"
    );
    // What was dropped is visible, with why.
    let listed = server.app_get("/v1/rejected_messages?limit=10").await;
    let reasons: Vec<String> = listed.body["rejected_messages"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", listed.body))
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect();
    for expected in ["id=s-1", "email=s1@example.com"] {
        let reason = format!("accepted without effect: {expected} is suppressed");
        assert!(reasons.contains(&reason), "{reason} not in {reasons:?}");
    }
    ok(
        server,
        Method::POST,
        "/api/v1/customers/s-1/unsuppress",
        json!({}),
    )
    .await;
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/s-1",
        json!({"x": 2}),
    )
    .await;
    let c = server
        .customer("s-1", "id")
        .await
        .expect("unsuppressed ids can be used again");
    assert_eq!(c["attributes"]["x"], 2);
    assert!(
        c["attributes"].get("email").is_none(),
        "unsuppress does not restore the profile"
    );
    // The email was suppressed together with the id, and is free again with it.
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/s1%40example.com",
        json!({"y": 1}),
    )
    .await;
    assert!(
        server.customer("s1@example.com", "email").await.is_some(),
        "freed together"
    );
}

async fn merge_carries_everything_to_the_primary(server: &TestServer) {
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/prim",
        json!({"plan": "gold"}),
    )
    .await;
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/sec",
        json!({"plan": "free", "city": "Lyon", "email": "sec@example.com"}),
    )
    .await;
    ok(
        server,
        Method::POST,
        "/api/v1/customers/sec/events",
        json!({"name": "Viewed"}),
    )
    .await;
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/sec/devices",
        json!({"device": {"id": "t-9", "platform": "android"}}),
    )
    .await;
    let reply = server.track(Method::POST, "/api/v1/merge_customers",
        json!({"primary": {"id": "prim", "email": "x@example.com"}, "secondary": {"id": "sec"}})).await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "two identifiers on one side are refused"
    );
    ok(
        server,
        Method::POST,
        "/api/v1/merge_customers",
        json!({"primary": {"id": "prim"}, "secondary": {"id": "sec"}}),
    )
    .await;
    let c = server.customer("prim", "id").await.unwrap();
    assert_eq!(c["attributes"]["plan"], "gold", "the primary's values win");
    assert_eq!(c["attributes"]["city"], "Lyon", "the secondary fills gaps");
    assert_eq!(c["identifiers"]["email"], "sec@example.com");
    assert_eq!(c["devices"][0]["id"], "t-9");
    assert_eq!(
        server.activities("prim", "name=Viewed").await["activities"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The secondary's identifiers now resolve to the primary.
    let via_old = server.customer("sec", "id").await.unwrap();
    assert_eq!(via_old["identifiers"]["cio_id"], c["identifiers"]["cio_id"]);
    ok(
        server,
        Method::POST,
        "/api/v1/customers/sec/events",
        json!({"name": "Late"}),
    )
    .await;
    assert_eq!(
        server.activities("prim", "name=Late").await["activities"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // The audit trail: both identifier sets and what moved.
    let audit = server.activities("prim", "type=merged").await;
    let data = &audit["activities"][0]["data"];
    assert_eq!(data["how"], "merge");
    assert_eq!(data["primary"]["id"], "prim");
    assert_eq!(data["secondary"]["id"], "sec");
    assert_eq!(data["secondary"]["email"], "sec@example.com");
    assert_eq!(data["moved"]["devices"], 1);
    assert!(data["moved"]["activities"].as_u64().unwrap() >= 2, "{data}");
    assert_eq!(
        data["moved"]["identifiers"], 3,
        "cio_id, id and email: {data}"
    );
}

async fn manual_segments_take_people(server: &TestServer) {
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/m-1",
        json!({"email": "m1@example.com"}),
    )
    .await;
    ok(server, Method::PUT, "/api/v1/customers/m-2", json!({})).await;
    let created = server
        .app_post("/v1/segments", json!({"segment": {"name": "VIP list"}}))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let id = created.body["segment"]["id"].as_i64().unwrap();
    ok(
        server,
        Method::POST,
        &format!("/api/v1/segments/{id}/add_customers"),
        json!({"ids": ["m-1", "m-2", 5, "nobody"]}),
    )
    .await;
    let segments = server.app_get("/v1/customers/m-2/segments").await;
    assert_eq!(segments.body["segments"][0]["name"], "VIP list");
    ok(
        server,
        Method::POST,
        &format!("/api/v1/segments/{id}/remove_customers?id_type=email"),
        json!({"ids": ["m1@example.com"]}),
    )
    .await;
    assert_eq!(
        server.app_get("/v1/customers/m-1/segments").await.body["segments"],
        json!([])
    );
    let missing = server
        .track(
            Method::POST,
            "/api/v1/segments/99999/add_customers",
            json!({"ids": ["m-1"]}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.body["meta"]["errors"][0]
        .as_str()
        .unwrap()
        .contains("does not exist"));
}

async fn delete_and_region(server: &TestServer) {
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/del-1",
        json!({"email": "del@example.com"}),
    )
    .await;
    ok(
        server,
        Method::DELETE,
        "/api/v1/customers/del-1",
        Value::Null,
    )
    .await;
    assert!(server.customer("del-1", "id").await.is_none());
    assert!(server.customer("del@example.com", "email").await.is_none());
    ok(
        server,
        Method::PUT,
        "/api/v1/customers/del-1",
        json!({"again": true}),
    )
    .await;
    assert!(
        server.customer("del-1", "id").await.is_some(),
        "a deleted person can be re-created"
    );
    let region = server
        .track(Method::GET, "/api/v1/accounts/region", Value::Null)
        .await;
    assert_eq!(region.status, StatusCode::OK);
    assert_eq!(region.body["region"], "us");
    assert_eq!(region.body["environment_id"], server.creds.workspace_id);
}

async fn concurrent_identifies_and_a_racing_merge(server: &TestServer) {
    // Twenty identifies of the same new id at once create one person.
    let identifies = (0..20).map(|n| {
        server.track(
            Method::PUT,
            "/api/v1/customers/race-1",
            json!({ format!("a{n}"): n }),
        )
    });
    for reply in futures::future::join_all(identifies).await {
        assert_eq!(reply.status, StatusCode::OK);
    }
    let c = server.customer("race-1", "id").await.unwrap();
    assert_eq!(
        c["attributes"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with('a'))
            .count(),
        20,
        "{c}"
    );
    // Events for the secondary racing its merge all end on the primary, once each.
    ok(server, Method::PUT, "/api/v1/customers/race-p", json!({})).await;
    ok(server, Method::PUT, "/api/v1/customers/race-s", json!({})).await;
    let events = (0..40).map(|n| {
        server.track(
            Method::POST,
            "/api/v1/customers/race-s/events",
            json!({"name": format!("r{n}")}),
        )
    });
    let merge = server.track(
        Method::POST,
        "/api/v1/merge_customers",
        json!({"primary": {"id": "race-p"}, "secondary": {"id": "race-s"}}),
    );
    let (replies, merged) = tokio::join!(futures::future::join_all(events), merge);
    assert_eq!(merged.status, StatusCode::OK);
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    let all = server.activities("race-p", "type=event&limit=1000").await;
    let mut names: Vec<String> = all["activities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    let mut expected: Vec<String> = (0..40).map(|n| format!("r{n}")).collect();
    expected.sort();
    assert_eq!(
        names, expected,
        "every racing event is on the primary exactly once"
    );
}

on_both_stores!(
    concurrent_identifies_and_a_racing_merge,
    identify_creates_updates_and_removes,
    path_identifier_is_assigned_to_the_body_match,
    conflicts_are_logged_not_applied,
    update_only_and_timestamp_ordering,
    events_pages_and_dedupe,
    activities_page_with_a_cursor,
    anonymous_events_follow_the_identify,
    devices_are_added_and_removed,
    suppression_blocks_recreation_until_lifted,
    merge_carries_everything_to_the_primary,
    manual_segments_take_people,
    delete_and_region,
);
