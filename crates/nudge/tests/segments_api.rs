//! The App API's segments and computed attributes against a live server on both stores:
//! create (manual and data-driven, with and without an explicit id), read, list, update,
//! delete, member count and member pages of manual segments, a person's segments, previews
//! over attributes, events and segment memberships, computed-attribute definitions, and every
//! refusal (bad JSON, bad conditions with the pointer into the body, unknown segments, taken
//! ids, deleting a segment others read, switching kinds, another workspace's segments). Nothing
//! here depends on the processor having computed data-driven membership.

mod common;

use std::collections::BTreeSet;

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn app(server: &TestServer, method: Method, path: &str, body: Value) -> common::Reply {
    let request = server
        .http
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(&server.creds.app_api_key);
    let request = if body.is_null() {
        request
    } else {
        request.json(&body)
    };
    server.send(request).await
}

async fn create(server: &TestServer, segment: Value) -> Value {
    let reply = server
        .app_post("/v1/segments", json!({ "segment": segment }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["segment"].clone()
}

/// A 400 in the App API envelope, with the pointer it names (`None` when it names none).
async fn refused(reply: common::Reply) -> (Option<String>, String) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let error = &reply.body["errors"][0];
    assert_eq!(error["status"], "400", "{}", reply.body);
    (
        error["source"]["pointer"].as_str().map(str::to_string),
        error["detail"].as_str().unwrap_or_default().to_string(),
    )
}

async fn identify(server: &TestServer, id: &str, attributes: Value) {
    let reply = server
        .track(Method::PUT, &format!("/api/v1/customers/{id}"), attributes)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn track(server: &TestServer, id: &str, name: &str, data: Value) {
    let reply = server
        .track(
            Method::POST,
            &format!("/api/v1/customers/{id}/events"),
            json!({"name": name, "data": data}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn add_members(server: &TestServer, segment: i64, ids: &[&str]) {
    let reply = server
        .track(
            Method::POST,
            &format!("/api/v1/segments/{segment}/add_customers"),
            json!({ "ids": ids }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

fn vip() -> Value {
    json!({"attribute": {"field": "ltv", "operator": "gte", "value": 500}})
}

async fn segments_are_created_read_listed_updated_and_deleted(server: &TestServer) {
    let manual = create(
        server,
        json!({"name": "Newsletter", "description": "opt-in list"}),
    )
    .await;
    assert_eq!(manual["type"], "manual");
    assert_eq!(manual["state"], "finished");
    assert_eq!(manual["progress"], Value::Null);
    assert_eq!(manual["tags"], Value::Null);
    assert_eq!(manual["version"], 1);
    assert_eq!(manual["backfill"]["complete"], true);
    assert!(manual.get("conditions").is_none(), "{manual}");
    assert!(manual["created_at"].as_i64().unwrap() > 1_600_000_000);

    let dynamic = create(server, json!({"name": "VIP", "conditions": vip()})).await;
    assert_eq!(dynamic["type"], "dynamic");
    assert_eq!(dynamic["conditions"], vip());
    assert_eq!(dynamic["description"], "");
    let id = dynamic["id"].as_i64().unwrap();

    let explicit = create(server, json!({"id": 4242, "name": "Chosen id"})).await;
    assert_eq!(explicit["id"], 4242);

    let read = server.app_get(&format!("/v1/segments/{id}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["segment"]["name"], "VIP");
    let list = server.app_get("/v1/segments").await;
    let names: BTreeSet<&str> = list.body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["Newsletter", "VIP", "Chosen id"]));

    let bigger = json!({"attribute": {"field": "ltv", "operator": "gte", "value": 1000}});
    let path = format!("/v1/segments/{id}");
    let updated = app(
        server,
        Method::PUT,
        &path,
        json!({"segment": {"name": "Big VIP", "description": "1000+", "conditions": bigger}}),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["segment"]["version"], 2);
    assert_eq!(updated.body["segment"]["conditions"], bigger);
    assert_eq!(updated.body["segment"]["description"], "1000+");
    let again = app(
        server,
        Method::PUT,
        &path,
        json!({"segment": {"name": "Big VIP", "description": "1000+", "conditions": bigger}}),
    )
    .await;
    assert_eq!(
        again.body["segment"]["version"], 2,
        "an identical update changes nothing"
    );

    let deleted = app(server, Method::DELETE, &path, Value::Null).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(server.app_get(&path).await.status, StatusCode::NOT_FOUND);
    let twice = app(server, Method::DELETE, &path, Value::Null).await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);
    assert_eq!(twice.body["errors"][0]["status"], "404");
}

async fn mistakes_are_refused_with_pointers(server: &TestServer) {
    let bad_json = server
        .send(
            server
                .http
                .post(format!("{}/v1/segments", server.base))
                .bearer_auth(&server.creds.app_api_key)
                .header("content-type", "application/json")
                .body("{\"segment\": "),
        )
        .await;
    let (_, detail) = refused(bad_json).await;
    assert!(detail.contains("malformed JSON"), "{detail}");

    let blank = server
        .app_post("/v1/segments", json!({"segment": {"name": "  "}}))
        .await;
    assert_eq!(refused(blank).await.0.as_deref(), Some("/segment/name"));

    let conditions = json!({"and": [
        {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
        {"attribute": {"field": "ltv", "operator": "equals", "value": 1}}]});
    let bad = server
        .app_post(
            "/v1/segments",
            json!({"segment": {"name": "X", "conditions": conditions}}),
        )
        .await;
    let (pointer, detail) = refused(bad).await;
    assert_eq!(
        pointer.as_deref(),
        Some("/segment/conditions/and/1/attribute/operator")
    );
    assert!(detail.contains("equals"), "{detail}");

    let dangling = server
        .app_post(
            "/v1/segments",
            json!({"segment": {"name": "X", "conditions": {"segment": {"id": 777}}}}),
        )
        .await;
    let (pointer, detail) = refused(dangling).await;
    assert_eq!(pointer.as_deref(), Some("/segment/conditions/segment/id"));
    assert!(detail.contains("777"), "{detail}");

    for path in [
        "/v1/segments/98765",
        "/v1/segments/98765/customer_count",
        "/v1/segments/98765/membership",
    ] {
        assert_eq!(
            server.app_get(path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let missing = app(
        server,
        Method::PUT,
        "/v1/segments/98765",
        json!({"segment": {"name": "X"}}),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    create(server, json!({"id": 31, "name": "Taken"})).await;
    let taken = server
        .app_post(
            "/v1/segments",
            json!({"segment": {"id": 31, "name": "Again"}}),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);

    // Kinds do not switch: a manual segment takes no conditions, a data-driven one keeps them.
    let switch = app(
        server,
        Method::PUT,
        "/v1/segments/31",
        json!({"segment": {"name": "Taken", "conditions": vip()}}),
    )
    .await;
    assert_eq!(
        refused(switch).await.0.as_deref(),
        Some("/segment/conditions")
    );

    // Segments reading segments: a cycle is refused, and so is deleting one that is read.
    let base = create(
        server,
        json!({"id": 40, "name": "Base", "conditions": vip()}),
    )
    .await;
    let reader = create(
        server,
        json!({"id": 41, "name": "Reader",
        "conditions": {"segment": {"id": 40}}}),
    )
    .await;
    assert_eq!(reader["conditions"]["segment"]["id"], base["id"]);
    let cycle = app(
        server,
        Method::PUT,
        "/v1/segments/40",
        json!({"segment": {"name": "Base", "conditions": {"segment": {"id": 41}}}}),
    )
    .await;
    let (pointer, detail) = refused(cycle).await;
    assert_eq!(pointer.as_deref(), Some("/segment/conditions"));
    assert!(detail.contains("cycle"), "{detail}");
    let in_use = app(server, Method::DELETE, "/v1/segments/40", Value::Null).await;
    let (_, detail) = refused(in_use).await;
    assert!(detail.contains("segment 41 (Reader)"), "{detail}");
    assert_eq!(
        server.app_get("/v1/segments/40").await.status,
        StatusCode::OK
    );
    let gone = app(server, Method::DELETE, "/v1/segments/41", Value::Null).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let now_free = app(server, Method::DELETE, "/v1/segments/40", Value::Null).await;
    assert_eq!(now_free.status, StatusCode::NO_CONTENT);

    let limit = server.app_get("/v1/segments/31/membership?limit=0").await;
    assert_eq!(refused(limit).await.0.as_deref(), Some("/limit"));
}

async fn another_workspace_sees_none_of_them(server: &TestServer) {
    let own = create(server, json!({"name": "Mine", "conditions": vip()})).await;
    let (new, keys) = nudge_api::credentials::new_workspace(
        "staging",
        nudge_core::Env::Staging,
        nudge_core::Timestamp::from_millis(0),
    );
    let args = server.store_args();
    tokio::task::spawn_blocking(move || {
        let store = nudge::server::open_store(&args).expect("open the server's store");
        store.create_workspace(&new).expect("second workspace");
    })
    .await
    .unwrap();
    let as_staging = |method: Method, path: &str| {
        server
            .http
            .request(method, format!("{}{path}", server.base))
            .bearer_auth(&keys.app)
    };
    let list = server.send(as_staging(Method::GET, "/v1/segments")).await;
    assert_eq!(list.body, json!({"segments": []}));
    let path = format!("/v1/segments/{}", own["id"]);
    for method in [Method::GET, Method::DELETE] {
        let reply = server.send(as_staging(method.clone(), &path)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method}");
    }
    let count = server
        .send(as_staging(Method::GET, &format!("{path}/customer_count")))
        .await;
    assert_eq!(count.status, StatusCode::NOT_FOUND);
    // Its id is taken all the same: ids are unique across workspaces.
    let taken = server
        .send(
            as_staging(Method::POST, "/v1/segments")
                .json(&json!({"segment": {"id": own["id"], "name": "Copy"}})),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert_eq!(server.app_get(&path).await.body["segment"]["name"], "Mine");
}

async fn manual_members_are_counted_and_paged(server: &TestServer) {
    let ids = ["p1", "p2", "p3", "p4", "p5"];
    for id in ids {
        identify(server, id, json!({"email": format!("{id}@example.com")})).await;
    }
    identify(server, "outsider", json!({})).await;
    let segment = create(server, json!({"name": "Early"})).await["id"]
        .as_i64()
        .unwrap();
    add_members(server, segment, &ids).await;

    let count = server
        .app_get(&format!("/v1/segments/{segment}/customer_count"))
        .await;
    assert_eq!(count.body, json!({"count": 5}));

    let mut seen = Vec::new();
    let mut start = String::new();
    let mut pages = 0;
    loop {
        let page = server
            .app_get(&format!(
                "/v1/segments/{segment}/membership?limit=2&start={start}"
            ))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let identifiers = page.body["identifiers"].as_array().unwrap();
        assert!(identifiers.len() <= 2);
        for (person, id) in identifiers.iter().zip(page.body["ids"].as_array().unwrap()) {
            assert_eq!(&person["id"], id);
            assert_eq!(
                person["email"],
                format!("{}@example.com", id.as_str().unwrap())
            );
            assert!(person["cio_id"].is_string(), "{person}");
            seen.push(id.as_str().unwrap().to_string());
        }
        pages += 1;
        start = page.body["next"].as_str().unwrap().to_string();
        if start.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3, "2 + 2 + 1");
    seen.sort();
    assert_eq!(seen, ids);

    let theirs = server.app_get("/v1/customers/p3/segments").await;
    assert_eq!(theirs.body["segments"][0]["id"], segment);
    assert_eq!(theirs.body["segments"][0]["type"], "manual");
    let none = server.app_get("/v1/customers/outsider/segments").await;
    assert_eq!(none.body, json!({"segments": []}));
}

async fn preview(server: &TestServer, conditions: Value, sample: usize) -> (u64, Vec<String>) {
    let reply = server
        .app_post(
            "/v1/segments/preview",
            json!({"conditions": conditions, "sample": sample}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let ids = reply.body["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_string())
        .collect();
    (reply.body["count"].as_u64().unwrap(), ids)
}

async fn previews_count_and_sample_what_matches_now(server: &TestServer) {
    for (id, plan, ltv) in [
        ("a", "pro", 900),
        ("b", "pro", 100),
        ("c", "free", 700),
        ("d", "free", 0),
    ] {
        identify(
            server,
            id,
            json!({"plan": plan, "ltv": ltv, "email": format!("{id}@x.io")}),
        )
        .await;
    }
    track(server, "a", "Order Completed", json!({"total": 80})).await;
    track(server, "a", "Order Completed", json!({"total": 20})).await;
    track(server, "c", "Order Completed", json!({"total": 30})).await;
    track(server, "d", "Product Viewed", json!({})).await;

    let (count, sample) = preview(server, vip(), 10).await;
    assert_eq!((count, sample), (2, vec!["a".to_string(), "c".to_string()]));
    let (count, sample) = preview(server, vip(), 1).await;
    assert_eq!((count, sample.len()), (2, 1));
    let pro_email = json!({"and": [
        {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}},
        {"attribute": {"field": "email", "operator": "starts_with", "value": "b"}}]});
    assert_eq!(
        preview(server, pro_email, 10).await,
        (1, vec!["b".to_string()])
    );

    let big_order = json!({"event": {"name": "Order Completed",
        "where": [{"field": "total", "operator": "gt", "value": 50}], "within": "7d"}});
    assert_eq!(
        preview(server, big_order, 10).await,
        (1, vec!["a".to_string()])
    );
    let twice = json!({"event": {"name": "Order Completed", "count": {"gte": 2}}});
    assert_eq!(preview(server, twice, 10).await.0, 1);
    let never = json!({"event": {"name": "Order Completed", "count": {"eq": 0}}});
    assert_eq!(
        preview(server, never, 10).await,
        (2, vec!["b".to_string(), "d".to_string()])
    );

    let list = create(server, json!({"name": "List"})).await["id"]
        .as_i64()
        .unwrap();
    add_members(server, list, &["b", "d"]).await;
    let free_members = json!({"and": [{"segment": {"id": list}},
        {"attribute": {"field": "plan", "operator": "eq", "value": "free"}}]});
    assert_eq!(
        preview(server, free_members, 10).await,
        (1, vec!["d".to_string()])
    );

    let bad = server
        .app_post("/v1/segments/preview",
            json!({"conditions": {"not": {"attribute": {"field": "x", "operator": "gt", "value": "y"}}}}))
        .await;
    assert_eq!(
        refused(bad).await.0.as_deref(),
        Some("/conditions/not/attribute/value")
    );
    let dangling = server
        .app_post(
            "/v1/segments/preview",
            json!({"conditions": {"segment": {"id": 5555}}}),
        )
        .await;
    assert_eq!(
        refused(dangling).await.0.as_deref(),
        Some("/conditions/segment/id")
    );
    let too_many = server
        .app_post(
            "/v1/segments/preview",
            json!({"conditions": vip(), "sample": 5000}),
        )
        .await;
    assert_eq!(refused(too_many).await.0.as_deref(), Some("/sample"));
}

async fn computed_attributes_are_defined_changed_and_deleted(server: &TestServer) {
    let path = "/v1/computed_attributes/order_count";
    let counting = json!({"aggregate": "count", "event": "Order Completed"});
    let created = app(server, Method::PUT, path, counting.clone()).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let attribute = &created.body["computed_attribute"];
    assert_eq!(attribute["name"], "order_count");
    assert_eq!(
        attribute["definition"]["name"], "order_count",
        "the path names it"
    );
    assert_eq!(attribute["definition"]["aggregate"], "count");
    assert_eq!(attribute["version"], 1);
    assert!(attribute["backfill"]["total"].is_u64(), "{attribute}");

    let same = app(server, Method::PUT, path, counting).await;
    assert_eq!(
        same.body["computed_attribute"]["version"], 1,
        "identical: unchanged"
    );
    let windowed = json!({"name": "order_count", "aggregate": "count",
                          "event": "Order Completed", "within": "30d"});
    let changed = app(server, Method::PUT, path, windowed.clone()).await;
    assert_eq!(changed.body["computed_attribute"]["version"], 2);
    let read = server.app_get(path).await;
    assert_eq!(read.body["computed_attribute"]["definition"], windowed);
    let list = server.app_get("/v1/computed_attributes").await;
    assert_eq!(
        list.body["computed_attributes"].as_array().unwrap().len(),
        1
    );

    let bad = app(
        server,
        Method::PUT,
        path,
        json!({"aggregate": "median", "event": "x"}),
    )
    .await;
    assert_eq!(refused(bad).await.0.as_deref(), Some("/aggregate"));
    let bad_filter = app(
        server,
        Method::PUT,
        path,
        json!({"aggregate": "count", "event": "x",
        "where": [{"field": "a", "operator": "nope", "value": 1}]}),
    )
    .await;
    assert_eq!(
        refused(bad_filter).await.0.as_deref(),
        Some("/where/0/operator")
    );
    let renamed = app(
        server,
        Method::PUT,
        path,
        json!({"name": "other", "aggregate": "count", "event": "x"}),
    )
    .await;
    assert_eq!(refused(renamed).await.0.as_deref(), Some("/name"));
    let identity = app(
        server,
        Method::PUT,
        "/v1/computed_attributes/email",
        json!({"aggregate": "last", "event": "x", "value": "e"}),
    )
    .await;
    assert!(refused(identity).await.1.contains("identifies"));
    let not_an_object = app(server, Method::PUT, path, json!([1])).await;
    assert_eq!(not_an_object.status, StatusCode::BAD_REQUEST);

    let deleted = app(server, Method::DELETE, path, Value::Null).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(server.app_get(path).await.status, StatusCode::NOT_FOUND);
    let twice = app(server, Method::DELETE, path, Value::Null).await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);
}

on_both_stores!(
    segments_are_created_read_listed_updated_and_deleted,
    mistakes_are_refused_with_pointers,
    another_workspace_sees_none_of_them,
    manual_members_are_counted_and_paged,
    previews_count_and_sample_what_matches_now,
    computed_attributes_are_defined_changed_and_deleted,
);
