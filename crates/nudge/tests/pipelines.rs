//! The Pipelines API (Segment spec) against a live server on both stores: every message type
//! and semantic event with the state read back through the App API, gzip bodies and a gzip
//! bomb, duplicate messageIds, strict and permissive modes, oversize and malformed messages,
//! batches (mixed, and with batch-level context), clock-skew correction and the stitching of
//! anonymous activity onto known people.

mod common;

use std::io::Write;

use common::{Reply, TestServer};
use nudge_core::{Timestamp, WorkspaceId};
use reqwest::StatusCode;
use serde_json::{json, Value};

const HOUR_MS: i64 = 60 * 60 * 1000;

fn request(server: &TestServer, path: &str) -> reqwest::RequestBuilder {
    server
        .http
        .post(format!("{}{path}", server.base))
        .basic_auth(&server.creds.pipelines_write_key, Some(""))
}

async fn send(server: &TestServer, path: &str, body: &Value) -> Reply {
    server.send(request(server, path).json(body)).await
}

/// Sends in permissive mode and insists on the one success answer: exactly 200 `{}`.
async fn ok(server: &TestServer, path: &str, body: Value) {
    let reply = send(server, path, &body).await;
    assert_eq!(
        (reply.status, &reply.body),
        (StatusCode::OK, &json!({})),
        "{path} {body}"
    );
}

async fn strict(server: &TestServer, path: &str, body: &Value) -> Reply {
    server
        .send(
            request(server, path)
                .header("x-strict-mode", "1")
                .json(body),
        )
        .await
}

/// A strict-mode refusal: 400 with `code` and a `message` that names `field`.
fn assert_refused(reply: &Reply, field: &str) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.body["code"], "invalid", "{}", reply.body);
    let message = reply.body["message"].as_str().unwrap_or_default();
    assert!(message.contains(field), "'{message}' should name {field}");
}

async fn rejected(server: &TestServer) -> Vec<Value> {
    let reply = server.app_get("/v1/rejected_messages?limit=1000").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["rejected_messages"].as_array().unwrap().clone()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn iso(ms: i64) -> String {
    Timestamp::from_millis(ms).to_rfc3339()
}

/// The person's activities of one type, newest first.
async fn activities(server: &TestServer, id: &str, kind: &str) -> Vec<Value> {
    let body = server.activities(id, &format!("type={kind}")).await;
    body["activities"].as_array().unwrap().clone()
}

async fn event_names(server: &TestServer, id: &str) -> Vec<String> {
    let mut names: Vec<String> = activities(server, id, "event")
        .await
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

async fn object(server: &TestServer, type_id: &str, object_id: &str) -> Reply {
    server
        .app_get(&format!("/v1/objects/{type_id}/{object_id}/attributes"))
        .await
}

/// The raw payloads the event log kept for this server's workspace, oldest first.
async fn logged_raw(server: &TestServer) -> Vec<Value> {
    let args = server.store_args();
    let ws = WorkspaceId(server.creds.workspace_id);
    tokio::task::spawn_blocking(move || {
        let store = nudge::server::open_store(&args).expect("open the server's store");
        let log = store.read_log(ws, 0, 1000).expect("read the log");
        log.into_iter().filter_map(|r| r.entry.raw).collect()
    })
    .await
    .unwrap()
}

async fn every_message_type_lands_in_the_model(server: &TestServer) {
    ok(
        server,
        "/v1/identify",
        json!({"userId": "pipe-1", "messageId": "m-identify-1", "writeKey": "ignored",
               "_metadata": {"nodeVersion": "20.0.0"},
               "traits": {"email": "Pipe1@Example.com", "plan": "gold",
                          "createdAt": "2023-11-14T22:13:20.000Z", "address": {"city": "Lyon"}}}),
    )
    .await;
    let customer = server.customer("pipe-1", "id").await.expect("identified");
    let attributes = &customer["attributes"];
    assert_eq!(attributes["email"], "pipe1@example.com");
    assert_eq!(attributes["plan"], "gold");
    assert_eq!(attributes["created_at"], 1_700_000_000);
    assert_eq!(attributes["address"], json!({"city": "Lyon"}));
    assert!(attributes.get("createdAt").is_none(), "{attributes}");

    ok(
        server,
        "/v1/track",
        json!({"userId": "pipe-1", "event": "Order Completed", "timestamp": "2023-11-15T00:00:00Z",
               "properties": {"total": 42.5, "items": [{"sku": "serum"}]}}),
    )
    .await;
    ok(
        server,
        "/v1/page",
        json!({"userId": "pipe-1", "name": "Pricing", "category": "Docs",
               "properties": {"url": "https://shop.example.com/pricing"}}),
    )
    .await;
    ok(
        server,
        "/v1/page",
        json!({"userId": "pipe-1", "properties": {"url": "https://shop.example.com/cart"}}),
    )
    .await;
    ok(
        server,
        "/v1/screen",
        json!({"userId": "pipe-1", "name": "Home", "properties": {"tab": "feed"}}),
    )
    .await;
    let events = activities(server, "pipe-1", "event").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["name"], "Order Completed");
    assert_eq!(events[0]["timestamp"], 1_700_006_400);
    assert_eq!(
        events[0]["data"],
        json!({"total": 42.5, "items": [{"sku": "serum"}]})
    );
    let pages = activities(server, "pipe-1", "page").await;
    let page_names: Vec<&Value> = pages.iter().map(|a| &a["name"]).collect();
    assert_eq!(
        page_names,
        [&json!("https://shop.example.com/cart"), &json!("Pricing")]
    );
    assert_eq!(
        pages[1]["data"],
        json!({"url": "https://shop.example.com/pricing", "category": "Docs"})
    );
    let screens = activities(server, "pipe-1", "screen").await;
    assert_eq!(
        (&screens[0]["name"], &screens[0]["data"]),
        (&json!("Home"), &json!({"tab": "feed"}))
    );

    // A userId that looks like an email is an email.
    ok(
        server,
        "/v1/identify",
        json!({"userId": "Mia@Example.com", "traits": {"plan": "silver"}}),
    )
    .await;
    let mia = server
        .customer("mia@example.com", "email")
        .await
        .expect("found by email");
    assert_eq!(mia["identifiers"]["email"], "mia@example.com");
    assert_eq!(mia["identifiers"]["id"], Value::Null);
    assert_eq!(mia["attributes"]["plan"], "silver");
}

async fn group_creates_objects_related_to_people(server: &TestServer) {
    ok(
        server,
        "/v1/group",
        json!({"userId": "grp-1", "groupId": "acme",
               "traits": {"name": "Acme", "object_type_id": "2",
                          "relationshipAttributes": {"role": "admin"}}}),
    )
    .await;
    let reply = object(server, "2", "acme").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let acme = &reply.body["object"];
    assert_eq!(acme["attributes"], json!({"name": "Acme"}));
    assert_eq!(acme["relationships"][0]["identifiers"]["id"], "grp-1");
    assert_eq!(
        acme["relationships"][0]["relationship_attributes"],
        json!({"role": "admin"})
    );
    // The object type defaults to 1; an anonymous profile can be related too.
    ok(
        server,
        "/v1/group",
        json!({"anonymousId": "anon-grp", "groupId": 77, "traits": {"name": "Default type"}}),
    )
    .await;
    let reply = object(server, "1", "77").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["object"]["attributes"],
        json!({"name": "Default type"})
    );
    assert_eq!(
        reply.body["object"]["relationships"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn semantic_events_act_on_devices_people_and_objects(server: &TestServer) {
    let track = |body: Value| async move { ok(server, "/v1/track", body).await };
    ok(server, "/v1/identify", json!({"userId": "sem-1"})).await;
    track(
        json!({"userId": "sem-1", "event": "Device Created or Updated",
                 "context": {"device": {"token": "apns-sem", "type": "ios"}},
                 "properties": {"app_version": "3.2"}}),
    )
    .await;
    let devices = server.customer("sem-1", "id").await.unwrap()["devices"].clone();
    assert_eq!(devices.as_array().unwrap().len(), 1, "{devices}");
    assert_eq!(
        (&devices[0]["id"], &devices[0]["platform"]),
        (&json!("apns-sem"), &json!("ios"))
    );
    assert_eq!(devices[0]["attributes"], json!({"app_version": "3.2"}));
    track(json!({"userId": "sem-1", "event": "Device Deleted",
                 "context": {"device": {"token": "apns-sem"}}}))
    .await;
    assert_eq!(
        server.customer("sem-1", "id").await.unwrap()["devices"],
        json!([])
    );

    ok(
        server,
        "/v1/group",
        json!({"userId": "sem-1", "groupId": "sem-co"}),
    )
    .await;
    track(json!({"userId": "sem-1", "event": "Relationship Deleted",
                 "properties": {"objectId": "sem-co", "objectTypeId": "1"}}))
    .await;
    let reply = object(server, "1", "sem-co").await;
    assert_eq!(reply.body["object"]["relationships"], json!([]));
    track(json!({"anonymousId": "sem-anon", "event": "Object Deleted",
                 "properties": {"objectId": "sem-co"}}))
    .await;
    assert_eq!(
        object(server, "1", "sem-co").await.status,
        StatusCode::NOT_FOUND
    );

    track(json!({"userId": "sem-1", "event": "User Suppressed"})).await;
    assert!(server.customer("sem-1", "id").await.is_none());
    ok(server, "/v1/identify", json!({"userId": "sem-1"})).await;
    assert!(
        server.customer("sem-1", "id").await.is_none(),
        "a suppressed id is not re-created"
    );
    track(json!({"userId": "sem-1", "event": "User Unsuppressed"})).await;
    ok(server, "/v1/identify", json!({"userId": "sem-1"})).await;
    assert!(server.customer("sem-1", "id").await.is_some());
    track(json!({"userId": "sem-1", "event": "User Deleted"})).await;
    assert!(server.customer("sem-1", "id").await.is_none());
    // Semantic events are actions, not events on the timeline.
    ok(server, "/v1/identify", json!({"userId": "sem-2"})).await;
    track(
        json!({"userId": "sem-2", "event": "Device Created or Updated",
                 "context": {"device": {"token": "fcm-sem", "type": "android"}}}),
    )
    .await;
    assert!(event_names(server, "sem-2").await.is_empty());

    // Deliveries do not exist yet: every delivery id is unknown.
    let delivery = json!({"userId": "sem-2", "event": "Report Delivery Event",
                          "properties": {"deliveryId": "dlv-1", "metric": "opened"}});
    ok(server, "/v1/track", delivery.clone()).await;
    // (Messages accepted without effect are listed too; the delivery is the one refused.)
    let listed = rejected(server).await;
    let refused: Vec<_> = listed
        .iter()
        .filter(|r| {
            !r["reason"]
                .as_str()
                .unwrap()
                .starts_with("accepted without effect")
        })
        .collect();
    assert_eq!(refused.len(), 1, "{listed:?}");
    assert_eq!(refused[0]["field"], "properties.deliveryId");
    assert!(refused[0]["reason"]
        .as_str()
        .unwrap()
        .contains("unknown delivery id 'dlv-1'"));
    assert_refused(
        &strict(server, "/v1/track", &delivery).await,
        "properties.deliveryId",
    );
}

async fn gzip_bodies_are_read_and_a_gzip_bomb_is_refused(server: &TestServer) {
    let gzipped = |path: &str, body: Vec<u8>| {
        request(server, path)
            .header("content-type", "application/json")
            .header("content-encoding", "gzip")
            .body(gzip(&body))
    };
    let identify = json!({"userId": "gz-1", "traits": {"plan": "zipped"}}).to_string();
    let reply = server
        .send(gzipped("/v1/identify", identify.into_bytes()))
        .await;
    assert_eq!((reply.status, reply.body), (StatusCode::OK, json!({})));
    assert_eq!(
        server.customer("gz-1", "id").await.unwrap()["attributes"]["plan"],
        "zipped"
    );
    let batch = json!({"batch": [{"type": "track", "userId": "gz-1", "event": "Unzipped"}]});
    let reply = server
        .send(gzipped("/v1/batch", batch.to_string().into_bytes()))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(event_names(server, "gz-1").await, ["Unzipped"]);

    // 16 MB of JSON that compresses to a few kilobytes: refused once 1 MB has been inflated.
    let mut bomb = b"{\"batch\": [".to_vec();
    bomb.resize(16 * 1024 * 1024, b' ');
    bomb.extend_from_slice(b"]}");
    let compressed = gzip(&bomb);
    assert!(compressed.len() < 64 * 1024, "{}", compressed.len());
    for strict_mode in ["0", "1"] {
        let reply = server
            .send(
                request(server, "/v1/batch")
                    .header("content-encoding", "gzip")
                    .header("x-strict-mode", strict_mode)
                    .body(compressed.clone()),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            reply.body
        );
        assert_eq!(reply.body["code"], "too_large");
    }
    let broken = server
        .send(
            request(server, "/v1/track")
                .header("content-encoding", "gzip")
                .body(b"this is not gzip".to_vec()),
        )
        .await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST, "{}", broken.body);
    assert!(broken.body["message"].is_string());
    let brotli = server
        .send(
            request(server, "/v1/track")
                .header("content-encoding", "br")
                .body(b"{}".to_vec()),
        )
        .await;
    assert_eq!(brotli.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        brotli.body["message"]
            .as_str()
            .unwrap()
            .starts_with("Content-Encoding 'br' is not supported"),
        "{}",
        brotli.body
    );
    assert!(
        rejected(server).await.is_empty(),
        "unreadable bodies are refused, not recorded"
    );
}

async fn duplicate_message_ids_are_answered_and_ignored(server: &TestServer) {
    let message = json!({"userId": "dup-1", "event": "Paid", "messageId": "node-next-1-dup"});
    ok(server, "/v1/track", message.clone()).await;
    ok(server, "/v1/track", message.clone()).await;
    ok(
        server,
        "/v1/batch",
        json!({"batch": [
            {"type": "track", "userId": "dup-1", "event": "Paid", "messageId": "node-next-1-dup"},
            {"type": "track", "userId": "dup-1", "event": "Shipped", "messageId": "in-batch"},
            {"type": "track", "userId": "dup-1", "event": "Shipped", "messageId": "in-batch"},
            {"type": "track", "userId": "dup-1", "event": "Shipped", "messageId": "another"}
        ]}),
    )
    .await;
    assert_eq!(
        event_names(server, "dup-1").await,
        ["Paid", "Shipped", "Shipped"]
    );
    let metrics = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("nudge_operations_total")
                && l.contains(r#"operation="track""#)
                && l.contains(r#"result="duplicate""#)),
        "{metrics}"
    );
}

async fn strict_mode_answers_400_and_writes_nothing(server: &TestServer) {
    let reply = strict(
        server,
        "/v1/identify",
        &json!({"userId": "str-1", "traits": {"email": "nope"}}),
    )
    .await;
    assert_refused(&reply, "traits.email");
    assert!(server.customer("str-1", "id").await.is_none());
    let reply = strict(
        server,
        "/v1/batch",
        &json!({"batch": [
            {"type": "identify", "userId": "str-2"},
            {"type": "track", "userId": "str-2", "properties": {}},
            {"type": "fly", "userId": "str-2"}
        ]}),
    )
    .await;
    assert_refused(&reply, "batch[1].event");
    assert!(
        server.customer("str-2", "id").await.is_none(),
        "a strict batch with a bad item writes nothing"
    );
    assert_refused(
        &strict(server, "/v1/alias", &json!({"userId": "str-3"})).await,
        "previousId",
    );
    assert_refused(
        &strict(server, "/v1/track", &json!({"event": "Orphan"})).await,
        "userId",
    );
    let reply = strict(server, "/v1/identify", &json!({"userId": "str-4"})).await;
    assert_eq!((reply.status, reply.body), (StatusCode::OK, json!({})));
    assert!(server.customer("str-4", "id").await.is_some());
    assert!(
        rejected(server).await.is_empty(),
        "strict mode records nothing"
    );

    // Credentials: the write key as Basic user (empty password) or Bearer; nothing else.
    let url = format!("{}/v1/identify", server.base);
    let body = json!({"userId": "auth-1"});
    let bearer = server
        .send(
            server
                .http
                .post(&url)
                .bearer_auth(&server.creds.pipelines_write_key)
                .json(&body),
        )
        .await;
    assert_eq!(bearer.status, StatusCode::OK, "{}", bearer.body);
    let refused = [
        server.http.post(&url).json(&body),
        server
            .http
            .post(&url)
            .basic_auth("not-a-key", Some(""))
            .json(&body),
        server
            .http
            .post(&url)
            .basic_auth(&server.creds.pipelines_write_key, Some("password"))
            .json(&body),
        server
            .http
            .post(&url)
            .basic_auth(&server.creds.site_id, Some(&server.creds.track_api_key))
            .json(&body),
        server
            .http
            .post(&url)
            .bearer_auth(&server.creds.app_api_key)
            .json(&body),
    ];
    for request in refused {
        let reply = server.send(request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
        assert_eq!(reply.body["code"], "unauthorized");
        assert!(reply.body["message"].is_string());
    }
}

async fn oversize_and_malformed_messages_in_both_modes(server: &TestServer) {
    let bio = "x".repeat(40 * 1024);
    let big = json!({"userId": "big-1", "traits": {"bio": bio}});
    ok(server, "/v1/identify", big.clone()).await;
    let malformed = b"{\"userId\": \"mal-1\", ".to_vec();
    let reply = server
        .send(request(server, "/v1/identify").body(malformed.clone()))
        .await;
    assert_eq!((reply.status, reply.body), (StatusCode::OK, json!({})));
    let with_big_item = json!({"batch": [
        {"type": "identify", "userId": "big-2", "traits": {"bio": bio}},
        {"type": "identify", "userId": "small-2"}
    ]});
    ok(server, "/v1/batch", with_big_item.clone()).await;
    let item =
        json!({"type": "identify", "userId": "huge", "traits": {"a": "y".repeat(30 * 1024)}});
    let huge_batch = json!({"batch": vec![item; 20]});
    ok(server, "/v1/batch", huge_batch.clone()).await;
    assert!(server.customer("big-1", "id").await.is_none());
    assert!(server.customer("big-2", "id").await.is_none());
    assert!(server.customer("huge", "id").await.is_none());
    assert!(
        server.customer("small-2", "id").await.is_some(),
        "the good item of the batch"
    );

    let listed = rejected(server).await;
    let reasons: Vec<&str> = listed
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 4, "{reasons:?}");
    assert!(reasons[0].contains("the batch is") && reasons[0].contains("500 KB"));
    assert!(reasons[1].contains("the message is") && reasons[1].contains("32 KB"));
    assert!(reasons[2].starts_with("malformed JSON"), "{}", reasons[2]);
    assert!(reasons[3].contains("32 KB"), "{}", reasons[3]);
    assert_eq!(listed[2]["message"], json!("{\"userId\": \"mal-1\", "));
    for oversize in [&listed[0], &listed[1], &listed[3]] {
        assert_eq!(oversize["message"]["truncated"], true, "{oversize}");
        assert!(oversize["message"]["head"].as_str().unwrap().len() <= 4096);
    }
    for entry in &listed {
        assert_eq!(entry["source"], "pipelines");
        assert!(entry["received_at"].as_i64().unwrap() > 1_700_000_000);
    }

    // Strict mode: the same messages are 400s and nothing more is recorded.
    assert_refused(&strict(server, "/v1/identify", &big).await, "32 KB");
    let reply = server
        .send(
            request(server, "/v1/identify")
                .header("x-strict-mode", "1")
                .body(malformed),
        )
        .await;
    assert_refused(&reply, "malformed JSON");
    assert_refused(
        &strict(server, "/v1/batch", &with_big_item).await,
        "batch[0]",
    );
    assert_refused(&strict(server, "/v1/batch", &huge_batch).await, "500 KB");
    // Past the 1 MB read cap the body is not read at all, in either mode.
    let too_big = vec![b' '; 1024 * 1024 + 1];
    for mode in ["0", "1"] {
        let reply = server
            .send(
                request(server, "/v1/batch")
                    .header("x-strict-mode", mode)
                    .body(too_big.clone()),
            )
            .await;
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    }
    assert_eq!(rejected(server).await.len(), 4);
}

async fn a_batch_mixing_good_and_bad_items(server: &TestServer) {
    ok(
        server,
        "/v1/batch",
        json!({"batch": [
        {"type": "identify", "userId": "mix-1", "traits": {"plan": "a"}, "messageId": "mix-m1"},
        {"type": "track", "userId": "mix-1", "messageId": "mix-m2"},
        {"type": "purchase", "userId": "mix-1"},
        {"type": "track", "userId": "mix-1", "event": "Mixed", "properties": {"n": 1}},
        {"type": "identify", "userId": "mix-2", "traits": {"email": "not-an-email"}},
        "just a string"
    ], "sentAt": iso(now_ms()), "writeKey": "in-the-body"}),
    )
    .await;
    assert_eq!(
        server.customer("mix-1", "id").await.unwrap()["attributes"]["plan"],
        "a"
    );
    assert_eq!(event_names(server, "mix-1").await, ["Mixed"]);
    assert!(server.customer("mix-2", "id").await.is_none());

    let listed = rejected(server).await;
    let fields: Vec<&Value> = listed.iter().map(|r| &r["field"]).collect();
    assert_eq!(
        fields,
        [
            &Value::Null,
            &json!("traits.email"),
            &json!("type"),
            &json!("event")
        ],
        "newest first, in batch order"
    );
    assert_eq!(listed[0]["message"], "just a string");
    let track = &listed[3]["message"];
    assert_eq!(
        (&track["userId"], &track["messageId"]),
        (&json!("mix-1"), &json!("mix-m2"))
    );
    assert!(
        track.get("writeKey").is_none(),
        "keys are never stored: {track}"
    );

    // Paged like activities: `next` until a short page.
    let page = server.app_get("/v1/rejected_messages?limit=3").await;
    assert_eq!(page.body["rejected_messages"].as_array().unwrap().len(), 3);
    let next = page.body["next"].as_str().unwrap().to_string();
    assert!(!next.is_empty());
    let rest = server
        .app_get(&format!("/v1/rejected_messages?limit=3&start={next}"))
        .await;
    assert_eq!(rest.body["rejected_messages"], json!([listed[3].clone()]));
    assert_eq!(rest.body["next"], "");
    let bad = server.app_get("/v1/rejected_messages?limit=0").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body["errors"][0]["source"]["pointer"], "/limit");
    let unauthenticated = server
        .send(
            server
                .http
                .get(format!("{}/v1/rejected_messages", server.base))
                .bearer_auth(&server.creds.pipelines_write_key),
        )
        .await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
}

async fn batch_context_and_integrations_apply_to_every_item(server: &TestServer) {
    let sent_at = iso(now_ms());
    ok(
        server,
        "/v1/batch",
        json!({
            "context": {"device": {"token": "batch-token", "type": "android"},
                        "library": {"name": "batch-lib"}},
            "integrations": {"All": false, "Customer.io": true},
            "sentAt": sent_at,
            "writeKey": "never-stored",
            "_metadata": {"nodeVersion": "20.0.0"},
            "batch": [
                {"type": "identify", "userId": "ctx-1", "messageId": "ctx-m1"},
                {"type": "track", "userId": "ctx-1", "event": "Device Created or Updated",
                 "messageId": "ctx-m2"},
                {"type": "track", "userId": "ctx-1", "event": "Own Context", "messageId": "ctx-m3",
                 "context": {"library": {"name": "item-lib"}}, "integrations": {"All": true}}
            ]
        }),
    )
    .await;
    let devices = server.customer("ctx-1", "id").await.unwrap()["devices"].clone();
    assert_eq!(
        (&devices[0]["id"], &devices[0]["platform"]),
        (&json!("batch-token"), &json!("android"))
    );
    let raw = logged_raw(server).await;
    let by_id = |id: &str| {
        raw.iter()
            .find(|r| r["messageId"] == id)
            .unwrap_or_else(|| panic!("{id} logged"))
            .clone()
    };
    let identify = by_id("ctx-m1");
    assert_eq!(identify["context"]["library"]["name"], "batch-lib");
    assert_eq!(
        identify["integrations"],
        json!({"All": false, "Customer.io": true})
    );
    assert_eq!(identify["sentAt"], json!(sent_at));
    assert!(identify["receivedAt"].is_string() && identify["timestamp"].is_string());
    let own = by_id("ctx-m3");
    assert_eq!(
        own["context"]["library"]["name"], "item-lib",
        "item values win"
    );
    assert_eq!(own["context"]["device"]["token"], "batch-token");
    assert_eq!(
        own["integrations"],
        json!({"All": true, "Customer.io": true})
    );
    assert!(
        raw.iter().all(|r| !r.to_string().contains("never-stored")),
        "the write key is not logged"
    );
}

async fn client_clock_skew_is_corrected(server: &TestServer) {
    // The client's clock is years ahead; two hours passed between the event and its sending.
    let before = now_ms();
    ok(
        server,
        "/v1/track",
        json!({"userId": "skew-1", "event": "Skewed", "messageId": "skew-m1",
               "originalTimestamp": "2031-01-01T02:00:00.000Z",
               "sentAt": "2031-01-01T04:00:00.000Z"}),
    )
    .await;
    let after = now_ms();
    let skewed = &activities(server, "skew-1", "event").await[0];
    let at = skewed["timestamp"].as_i64().unwrap();
    assert!(
        (before - 2 * HOUR_MS) / 1000 <= at && at <= (after - 2 * HOUR_MS) / 1000 + 1,
        "{at} should be two hours before receipt ({before}..{after})"
    );
    assert_eq!(skewed["can_trigger"], true);
    let logged = logged_raw(server).await;
    let raw = logged.iter().find(|r| r["messageId"] == "skew-m1").unwrap();
    assert_eq!(raw["originalTimestamp"], "2031-01-01T02:00:00.000Z");
    assert_eq!(raw["sentAt"], "2031-01-01T04:00:00.000Z");
    let corrected = Timestamp::parse_rfc3339(raw["timestamp"].as_str().unwrap()).unwrap();
    let received = Timestamp::parse_rfc3339(raw["receivedAt"].as_str().unwrap()).unwrap();
    assert_eq!(received.millis() - corrected.millis(), 2 * HOUR_MS);

    // An explicit timestamp is kept as sent; older than 72 hours it may not trigger.
    let four_days_ago = now_ms() - 96 * HOUR_MS;
    ok(
        server,
        "/v1/track",
        json!({"userId": "skew-1", "event": "Backfilled", "timestamp": iso(four_days_ago),
               "sentAt": iso(now_ms())}),
    )
    .await;
    // 73 hours between the event and its sending: corrected, it is too old to trigger.
    ok(
        server,
        "/v1/track",
        json!({"userId": "skew-1", "event": "Late",
               "originalTimestamp": "2031-01-01T00:00:00Z", "sentAt": "2031-01-04T01:00:00Z"}),
    )
    .await;
    let events = activities(server, "skew-1", "event").await;
    let find = |name: &str| events.iter().find(|a| a["name"] == name).unwrap().clone();
    let backfilled = find("Backfilled");
    assert_eq!(backfilled["timestamp"], four_days_ago.div_euclid(1000));
    assert_eq!(backfilled["can_trigger"], false);
    let late = find("Late");
    assert_eq!(late["can_trigger"], false);
    assert!(late["timestamp"].as_i64().unwrap() <= (now_ms() - 73 * HOUR_MS) / 1000 + 1);
}

async fn anonymous_activity_is_stitched_onto_known_people(server: &TestServer) {
    ok(
        server,
        "/v1/track",
        json!({"anonymousId": "anon-st", "event": "Browsed"}),
    )
    .await;
    ok(
        server,
        "/v1/page",
        json!({"anonymousId": "anon-st", "name": "Landing"}),
    )
    .await;
    ok(
        server,
        "/v1/identify",
        json!({"anonymousId": "anon-st", "traits": {"referrer": "ad"}}),
    )
    .await;
    ok(
        server,
        "/v1/identify",
        json!({"userId": "st-1", "anonymousId": "anon-st", "traits": {"email": "st1@example.com"}}),
    )
    .await;
    let known = server.customer("st-1", "id").await.expect("identified");
    assert_eq!(
        known["attributes"]["referrer"], "ad",
        "the anonymous profile's attributes came along"
    );
    assert_eq!(known["anonymous_ids"], json!(["anon-st"]));
    assert_eq!(event_names(server, "st-1").await, ["Browsed"]);
    assert_eq!(
        activities(server, "st-1", "page").await[0]["name"],
        "Landing"
    );
    ok(
        server,
        "/v1/track",
        json!({"anonymousId": "anon-st", "event": "After Login"}),
    )
    .await;
    assert_eq!(
        event_names(server, "st-1").await,
        ["After Login", "Browsed"]
    );

    // alias: a new user, and an existing one.
    ok(
        server,
        "/v1/track",
        json!({"anonymousId": "anon-al", "event": "Cart Viewed"}),
    )
    .await;
    ok(
        server,
        "/v1/alias",
        json!({"previousId": "anon-al", "userId": "al-1"}),
    )
    .await;
    assert_eq!(
        server.customer("al-1", "id").await.unwrap()["anonymous_ids"],
        json!(["anon-al"])
    );
    ok(
        server,
        "/v1/track",
        json!({"anonymousId": "anon-al", "event": "Checkout"}),
    )
    .await;
    assert_eq!(
        event_names(server, "al-1").await,
        ["Cart Viewed", "Checkout"]
    );
    ok(
        server,
        "/v1/identify",
        json!({"userId": "al-2", "traits": {"plan": "pro"}}),
    )
    .await;
    ok(
        server,
        "/v1/track",
        json!({"anonymousId": "anon-al2", "event": "Pre"}),
    )
    .await;
    ok(
        server,
        "/v1/alias",
        json!({"previousId": "anon-al2", "userId": "al-2"}),
    )
    .await;
    assert_eq!(event_names(server, "al-2").await, ["Pre"]);
}

async fn hostile_bodies_never_5xx(server: &TestServer) {
    let deep = "[".repeat(5000) + &"]".repeat(5000);
    let bodies: Vec<Vec<u8>> = [
        "null",
        "5",
        "\"text\"",
        "[]",
        "{}",
        "{\"batch\": null}",
        "{\"batch\": [null, 1, [], {\"type\": 5}, {\"type\": \"track\", \"event\": {}}]}",
        "{\"batch\": [], \"context\": \"web\"}",
        "{\"userId\": {\"nested\": true}, \"traits\": []}",
        "{\"userId\": \"h\", \"timestamp\": 1700000000, \"event\": \"E\"}",
        "{\"userId\": \"h\", \"sentAt\": \"soon\", \"originalTimestamp\": \"2024-01-01T00:00:00Z\"}",
        "\u{ff}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .chain([deep.into_bytes(), vec![0xff, 0xfe]])
    .collect();
    for path in [
        "/v1/identify",
        "/v1/track",
        "/v1/page",
        "/v1/screen",
        "/v1/group",
        "/v1/alias",
        "/v1/batch",
    ] {
        for body in &bodies {
            for mode in ["0", "1"] {
                let reply = server
                    .send(
                        request(server, path)
                            .header("x-strict-mode", mode)
                            .body(body.clone()),
                    )
                    .await;
                let context = format!(
                    "{path} strict={mode} {:?}: {} {}",
                    String::from_utf8_lossy(body),
                    reply.status,
                    reply.body
                );
                if mode == "1" {
                    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{context}");
                    assert_eq!(reply.body["code"], "invalid", "{context}");
                    assert!(reply.body["message"].is_string(), "{context}");
                } else {
                    assert_eq!(
                        (reply.status, &reply.body),
                        (StatusCode::OK, &json!({})),
                        "{context}"
                    );
                }
            }
        }
    }
    // One rejection per body and endpoint, except the batch of five bad items: five.
    let permissive = bodies.len() * 7 + 4;
    assert_eq!(
        rejected(server).await.len(),
        permissive,
        "every permissive refusal is listed"
    );
}

on_both_stores!(
    every_message_type_lands_in_the_model,
    group_creates_objects_related_to_people,
    semantic_events_act_on_devices_people_and_objects,
    gzip_bodies_are_read_and_a_gzip_bomb_is_refused,
    duplicate_message_ids_are_answered_and_ignored,
    strict_mode_answers_400_and_writes_nothing,
    oversize_and_malformed_messages_in_both_modes,
    a_batch_mixing_good_and_bad_items,
    batch_context_and_integrations_apply_to_every_item,
    client_clock_skew_is_corrected,
    anonymous_activity_is_stitched_onto_known_people,
    hostile_bodies_never_5xx,
);
