//! Journeys, templates and campaigns over the App API against a live server on both stores:
//! round trips with versions (an identical `PUT` keeps the version), every refusal with the
//! pointer into the body, changes that would break a live journey refused, 404s, keys; the
//! campaign view and its `journey_metrics` after people went through a small journey driven
//! by the Track API; the Prometheus counters; a journey put on a running server triggered
//! within a second; and `nudge plan`/`nudge apply --url` end to end through the App API (a
//! refused set changes nothing). Waits are explicit conditions with deadlines, never sleeps.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The timing scenario runs alone: the others poll the server in tight loops, and on a small
/// machine their load would be measured instead of the server's.
static TIMING: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// How long a wait on the processor may take before the test fails: generous, for a
/// machine busy with other work; the waits end as soon as their condition holds.
const PATIENCE: Duration = Duration::from_secs(60);

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

async fn put(server: &TestServer, path: &str, body: Value) -> Value {
    let reply = app(server, Method::PUT, path, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
    reply.body
}

/// A 400 in the App API envelope: the pointer it names (`None` when none) and the detail.
fn refused(reply: &common::Reply) -> (Option<String>, String) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let error = &reply.body["errors"][0];
    assert_eq!(error["status"], "400", "{}", reply.body);
    (
        error["source"]["pointer"].as_str().map(str::to_string),
        error["detail"].as_str().unwrap_or_default().to_string(),
    )
}

fn assert_not_found(reply: &common::Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::NOT_FOUND,
        "{what}: {}",
        reply.body
    );
    assert_eq!(reply.body["errors"][0]["status"], "404", "{what}");
}

async fn identify(server: &TestServer, id: &str, attributes: Value) {
    let path = format!("/api/v1/customers/{id}");
    let reply = server.track(Method::PUT, &path, attributes).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn track(server: &TestServer, id: &str, name: &str) {
    let path = format!("/api/v1/customers/{id}/events");
    let reply = server
        .track(Method::POST, &path, json!({ "name": name }))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

fn welcome_email() -> Value {
    json!({"channel": "email", "subject": "Welcome, {{ customer.first_name | default: 'friend' }}",
           "body": "Thanks for signing up to {{ journey.name }}."})
}

fn thanks_email() -> Value {
    json!({"channel": "email", "subject": "Thanks", "body": "Enjoy the upgrade."})
}

/// Welcome on sign-up, then thanks once they upgrade; closing the account ends it, an order
/// within three days of a message is a conversion.
fn onboarding() -> Value {
    json!({
        "name": "Onboarding",
        "description": "Welcome, then thanks on upgrade",
        "trigger": {"event": "Signed Up"},
        "exit": [{"event": "Closed Account", "reason": "closed"}],
        "goal": {"event": "Order Completed", "within": "3d"},
        "steps": [
            {"id": "welcome", "send": {"channel": "email", "template": "welcome-email"}},
            {"id": "wait-upgrade", "wait_until": {"event": {"name": "Upgraded"}, "timeout": "7d"}},
            {"id": "thanks", "send": {"channel": "email", "template": "thanks-email"}}
        ]
    })
}

/// Makes sure the processor runs with definitions for the workspace, so a journey put
/// afterwards is picked up as a change (a workspace's very first definitions start processing
/// at the head of its log): a data-driven segment whose backfill the processor has finished.
async fn processor_has_definitions(server: &TestServer) {
    identify(server, "warm-up", json!({"plan": "pro"})).await;
    let segment = json!({"segment": {"id": 900, "name": "Warm",
        "conditions": {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}}});
    let created = server.app_post("/v1/segments", segment).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let read = server.app_get("/v1/segments/900").await;
        if read.body["segment"]["state"] == "finished" {
            return;
        }
        assert!(Instant::now() < deadline, "never built: {}", read.body);
        tokio::task::yield_now().await;
    }
}

/// Waits until the processor has caught up with the workspace's log.
async fn processed(server: &TestServer) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let status = server.app_get("/v1/processing").await;
        if status.body["behind"] == 0 {
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

/// The journey's metrics once `done` holds for them.
async fn metrics_when(server: &TestServer, journey: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    let path = format!("/v1/campaigns/{journey}/journey_metrics");
    loop {
        let reply = server.app_get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let metrics = reply.body["journey_metrics"].clone();
        if done(&metrics) {
            return metrics;
        }
        assert!(
            Instant::now() < deadline,
            "not reached in {PATIENCE:?}: {metrics}"
        );
        tokio::task::yield_now().await;
    }
}

async fn journeys_and_templates_round_trip_with_versions(server: &TestServer) {
    let _shared = TIMING.read().await;
    let created = put(server, "/v1/templates/welcome-email", welcome_email()).await;
    let template = &created["template"];
    assert_eq!(template["id"], "welcome-email");
    assert_eq!(template["channel"], "email");
    assert_eq!(template["version"], 1);
    let mut stored_template = welcome_email();
    stored_template["id"] = json!("welcome-email");
    assert_eq!(
        template["document"], stored_template,
        "the path fills in the id"
    );
    put(server, "/v1/templates/thanks-email", thanks_email()).await;

    let journey = put(server, "/v1/journeys/onboarding", onboarding()).await;
    assert_eq!(journey["journey"]["version"], 1);
    assert_eq!(journey["journey"]["name"], "Onboarding");
    let mut with_id = onboarding();
    with_id["id"] = json!("onboarding");
    let same = put(server, "/v1/journeys/onboarding", with_id.clone()).await;
    assert_eq!(
        same["journey"]["version"], 1,
        "an identical body changes nothing"
    );
    let mut renamed = with_id.clone();
    renamed["name"] = json!("Onboarding v2");
    let changed = put(server, "/v1/journeys/onboarding", renamed.clone()).await;
    assert_eq!(changed["journey"]["version"], 2);

    let list = server.app_get("/v1/journeys").await;
    let listed = &list.body["journeys"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{}", list.body);
    assert_eq!(listed[0]["id"], "onboarding");
    assert_eq!(listed[0]["name"], "Onboarding v2");
    assert_eq!(listed[0]["version"], 2);
    assert!(listed[0]["created_at"].as_i64() <= listed[0]["updated_at"].as_i64());
    let read = server.app_get("/v1/journeys/onboarding").await;
    assert_eq!(read.body["journey"]["document"], renamed);

    let versions = server.app_get("/v1/journeys/onboarding/versions").await;
    let all = versions.body["versions"].as_array().unwrap().clone();
    let numbers: Vec<i64> = all.iter().map(|v| v["version"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(all[0]["document"], with_id);
    assert_eq!(all[1]["document"], renamed);

    let deleted = app(
        server,
        Method::DELETE,
        "/v1/journeys/onboarding",
        Value::Null,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    assert_not_found(&server.app_get("/v1/journeys/onboarding").await, "deleted");
    assert_eq!(
        server.app_get("/v1/journeys").await.body,
        json!({"journeys": []})
    );
    let history = server.app_get("/v1/journeys/onboarding/versions").await;
    assert_eq!(history.body["versions"][2]["deleted"], true);
    assert_eq!(history.body["versions"][2]["document"], Value::Null);
    let twice = app(
        server,
        Method::DELETE,
        "/v1/journeys/onboarding",
        Value::Null,
    )
    .await;
    assert_not_found(&twice, "deleted twice");
    let back = put(server, "/v1/journeys/onboarding", renamed).await;
    assert_eq!(
        back["journey"]["version"], 4,
        "versions go on after a deletion"
    );

    let mut subject = welcome_email();
    subject["subject"] = json!("Hello!");
    let edited = put(server, "/v1/templates/welcome-email", subject).await;
    assert_eq!(edited["template"]["version"], 2);
    let templates = server.app_get("/v1/templates").await;
    let channels: Vec<(&str, &str)> = templates.body["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["channel"].as_str().unwrap()))
        .collect();
    assert_eq!(
        channels,
        [("thanks-email", "email"), ("welcome-email", "email")]
    );
    let template_versions = server.app_get("/v1/templates/welcome-email/versions").await;
    assert_eq!(
        template_versions.body["versions"][1]["document"]["subject"],
        "Hello!"
    );
}

async fn refusals_point_into_the_body_and_change_nothing(server: &TestServer) {
    let _shared = TIMING.read().await;
    put(server, "/v1/templates/welcome-email", welcome_email()).await;
    put(server, "/v1/templates/thanks-email", thanks_email()).await;
    let sms = json!({"channel": "sms", "body": "Hi"});
    put(server, "/v1/templates/hi-sms", sms).await;
    let path = "/v1/journeys/onboarding";
    let check = |body: Value, pointer: &'static str, words: &'static str| async move {
        let reply = app(server, Method::PUT, path, body).await;
        let (at, detail) = refused(&reply);
        assert_eq!(at.as_deref(), Some(pointer), "{detail}");
        assert!(detail.contains(words), "{pointer}: {detail}");
    };
    let mut missing_template = onboarding();
    missing_template["steps"][2]["send"]["template"] = json!("nowhere-email");
    check(missing_template, "/steps/2/send", "nowhere-email").await;
    let mut other_channel = onboarding();
    other_channel["steps"][0]["send"]["template"] = json!("hi-sms");
    check(other_channel, "/steps/0/send", "sms").await;
    let mut missing_segment = onboarding();
    missing_segment["trigger"] = json!({"segment": 4242});
    check(missing_segment, "/trigger/segment", "4242").await;
    let mut in_a_condition = onboarding();
    in_a_condition["exit"] = json!([{"conditions": {"not": {"segment": {"id": 4343}}}}]);
    check(in_a_condition, "/exit/0/conditions/not/segment/id", "4343").await;
    let mut bad_operator = onboarding();
    bad_operator["steps"][1]["wait_until"] = json!({"timeout": "1d",
        "conditions": {"attribute": {"field": "plan", "operator": "equals", "value": "x"}}});
    check(
        bad_operator,
        "/steps/1/wait_until/conditions/attribute/operator",
        "equals",
    )
    .await;
    let mut unknown_key = onboarding();
    unknown_key["steps"][0]["label"] = json!("x");
    check(unknown_key, "/steps/0/label", "label").await;
    let mut other_id = onboarding();
    other_id["id"] = json!("welcome");
    check(other_id, "/id", "welcome").await;
    let mut file_keys = onboarding();
    file_keys["kind"] = json!("journey");
    check(file_keys, "/kind", "definition files").await;
    let bad_id = app(
        server,
        Method::PUT,
        "/v1/journeys/Not%20An%20Id",
        onboarding(),
    )
    .await;
    assert_eq!(refused(&bad_id).0.as_deref(), Some("/id"));
    let not_an_object = app(server, Method::PUT, path, json!([1])).await;
    assert!(refused(&not_an_object).1.contains("object"));
    let malformed = server
        .send(
            server
                .http
                .put(format!("{}{path}", server.base))
                .bearer_auth(&server.creds.app_api_key)
                .header("content-type", "application/json")
                .body("{\"name\": "),
        )
        .await;
    assert!(refused(&malformed).1.contains("malformed JSON"));
    assert_eq!(
        server.app_get("/v1/journeys").await.body,
        json!({"journeys": []})
    );

    let broken = json!({"channel": "email", "subject": "Hi", "body": "{% if x %}unclosed"});
    let reply = app(server, Method::PUT, "/v1/templates/broken", broken).await;
    assert_eq!(refused(&reply).0.as_deref(), Some("/body"));
    let no_subject = json!({"channel": "email", "body": "Hi"});
    let reply = app(server, Method::PUT, "/v1/templates/broken", no_subject).await;
    assert_eq!(refused(&reply).0.as_deref(), Some("/subject"));
    assert_not_found(
        &server.app_get("/v1/templates/broken").await,
        "refused template",
    );

    // Changes that would break a live journey are refused.
    put(server, path, onboarding()).await;
    let gone = app(
        server,
        Method::DELETE,
        "/v1/templates/welcome-email",
        Value::Null,
    )
    .await;
    let (_, detail) = refused(&gone);
    assert!(detail.contains("journey onboarding"), "{detail}");
    let to_sms = json!({"channel": "sms", "body": "Welcome"});
    let switched = app(server, Method::PUT, "/v1/templates/welcome-email", to_sms).await;
    assert!(refused(&switched).1.contains("journey onboarding"));
    let kept = server.app_get("/v1/templates/welcome-email").await;
    assert_eq!(kept.body["template"]["version"], 1);
    assert_eq!(kept.body["template"]["channel"], "email");
    let segment = json!({"segment": {"id": 77, "name": "Trial"}});
    assert_eq!(
        server.app_post("/v1/segments", segment).await.status,
        StatusCode::OK
    );
    let mut by_segment = onboarding();
    by_segment["trigger"] = json!({"segment": 77});
    put(server, path, by_segment).await;
    let used = app(server, Method::DELETE, "/v1/segments/77", Value::Null).await;
    assert!(refused(&used).1.contains("journey onboarding"));
    assert_eq!(
        server.app_get("/v1/segments/77").await.status,
        StatusCode::OK
    );
    let unused = app(server, Method::DELETE, "/v1/templates/hi-sms", Value::Null).await;
    assert_eq!(unused.status, StatusCode::NO_CONTENT);

    for route in [
        "/v1/journeys/nope",
        "/v1/journeys/nope/versions",
        "/v1/templates/nope",
        "/v1/templates/nope/versions",
        "/v1/campaigns/nope",
        "/v1/campaigns/nope/journey_metrics",
    ] {
        assert_not_found(&server.app_get(route).await, route);
    }
    for route in ["/v1/journeys/nope", "/v1/templates/nope"] {
        let reply = app(server, Method::DELETE, route, Value::Null).await;
        assert_not_found(&reply, route);
    }
}

async fn keys_open_one_workspace(server: &TestServer) {
    let _shared = TIMING.read().await;
    put(server, "/v1/templates/welcome-email", welcome_email()).await;
    put(server, "/v1/templates/thanks-email", thanks_email()).await;
    put(server, "/v1/journeys/onboarding", onboarding()).await;
    let url = |path: &str| format!("{}{path}", server.base);
    for path in [
        "/v1/journeys",
        "/v1/templates/welcome-email",
        "/v1/campaigns",
    ] {
        let none = server.send(server.http.get(url(path))).await;
        assert_eq!(none.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(none.body["errors"][0]["status"], "401");
        let wrong = server
            .send(server.http.get(url(path)).bearer_auth("nope"))
            .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{path}");
        let track_key = server
            .http
            .get(url(path))
            .bearer_auth(&server.creds.track_api_key);
        assert_eq!(
            server.send(track_key).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let unauthenticated_put = server
        .send(
            server
                .http
                .put(url("/v1/journeys/onboarding"))
                .json(&onboarding()),
        )
        .await;
    assert_eq!(unauthenticated_put.status, StatusCode::UNAUTHORIZED);

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
            .request(method, url(path))
            .bearer_auth(&keys.app)
    };
    let list = server.send(as_staging(Method::GET, "/v1/journeys")).await;
    assert_eq!(list.body, json!({"journeys": []}));
    let campaigns = server.send(as_staging(Method::GET, "/v1/campaigns")).await;
    assert_eq!(campaigns.body, json!({"campaigns": []}));
    for path in [
        "/v1/journeys/onboarding",
        "/v1/campaigns/onboarding/journey_metrics",
    ] {
        let reply = server.send(as_staging(Method::GET, path)).await;
        assert_not_found(&reply, path);
    }
    let delete = server
        .send(as_staging(Method::DELETE, "/v1/journeys/onboarding"))
        .await;
    assert_not_found(&delete, "another workspace's journey");
    // Its templates are not there either: the journey is refused in that workspace.
    let elsewhere = server
        .send(as_staging(Method::PUT, "/v1/journeys/onboarding").json(&onboarding()))
        .await;
    assert!(refused(&elsewhere).1.contains("welcome-email"));
    let own = server.app_get("/v1/journeys/onboarding").await;
    assert_eq!(own.body["journey"]["version"], 1);
}

async fn campaigns_show_journeys_and_count_what_they_did(server: &TestServer) {
    let _shared = TIMING.read().await;
    processor_has_definitions(server).await;
    put(server, "/v1/templates/welcome-email", welcome_email()).await;
    put(server, "/v1/templates/thanks-email", thanks_email()).await;
    put(server, "/v1/journeys/onboarding", onboarding()).await;

    let campaigns = server.app_get("/v1/campaigns").await;
    let campaign = &campaigns.body["campaigns"][0];
    assert_eq!(
        campaigns.body["campaigns"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(campaign["id"], "onboarding");
    assert_eq!(campaign["name"], "Onboarding");
    assert_eq!(campaign["type"], "event");
    assert_eq!(campaign["state"], "running");
    assert_eq!(campaign["active"], true);
    assert_eq!(campaign["version"], 1);
    assert_eq!(campaign["trigger_description"], "event \"Signed Up\"");
    let actions: Vec<(&str, &str)> = campaign["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_str().unwrap(), a["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("welcome", "send"),
            ("wait-upgrade", "wait_until"),
            ("thanks", "send")
        ]
    );
    let one = server.app_get("/v1/campaigns/onboarding").await;
    assert_eq!(&one.body["campaign"], campaign);

    // Ana and Cy have an email address, Bo has none.
    identify(server, "ana", json!({"email": "ana@example.com"})).await;
    identify(server, "bo", json!({"plan": "free"})).await;
    identify(server, "cy", json!({"email": "cy@example.com"})).await;
    for person in ["ana", "bo", "cy"] {
        track(server, person, "Signed Up").await;
    }
    metrics_when(server, "onboarding", |m| m["entered"] == 3).await;
    track(server, "cy", "Upgraded").await;
    track(server, "bo", "Closed Account").await;
    track(server, "ana", "Order Completed").await;
    let metrics = metrics_when(server, "onboarding", |m| {
        m["exited"]["completed"] == 1 && m["exited"]["closed"] == 1 && m["converted"] == 1
    })
    .await;
    assert_eq!(metrics["id"], "onboarding");
    assert_eq!(metrics["version"], 1);
    assert_eq!(metrics["entered"], 3);
    assert_eq!(metrics["waiting"], 1, "Ana still waits for an upgrade");
    assert_eq!(metrics["sent"], 3, "two welcomes and one thanks");
    assert_eq!(metrics["skipped"], json!({"no_recipient": 1}));
    assert_eq!(metrics["exited"], json!({"closed": 1, "completed": 1}));
    let step = |id: &str| {
        metrics["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no step {id}: {metrics}"))
    };
    let welcome = step("welcome");
    assert_eq!(welcome["type"], "send");
    assert_eq!(welcome["reached"], 3);
    assert_eq!(welcome["sent"], 2);
    assert_eq!(welcome["skipped"], json!({"no_recipient": 1}));
    assert_eq!(
        welcome["converted"], 1,
        "Ana's order came after her welcome"
    );
    let waiting = step("wait-upgrade");
    assert_eq!(waiting["waiting"], 1);
    assert_eq!(step("thanks")["sent"], 1);

    let text = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (name, labels, at_least) in [
        (
            "nudge_journey_entered_total",
            vec![r#"journey="onboarding""#],
            3.0,
        ),
        (
            "nudge_journey_messages_total",
            vec![
                r#"journey="onboarding""#,
                r#"step="welcome""#,
                r#"channel="email""#,
            ],
            2.0,
        ),
        (
            "nudge_journey_exited_total",
            vec![r#"journey="onboarding""#, r#"reason="closed""#],
            1.0,
        ),
        (
            "nudge_journey_conversions_total",
            vec![r#"journey="onboarding""#],
            1.0,
        ),
    ] {
        let value = text
            .lines()
            .filter(|line| line.starts_with(&format!("{name}{{")))
            .filter(|line| labels.iter().all(|label| line.contains(label)))
            .find_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok());
        assert!(
            value.is_some_and(|v| v >= at_least),
            "{name} {labels:?}: {text}"
        );
    }

    let deleted = app(
        server,
        Method::DELETE,
        "/v1/journeys/onboarding",
        Value::Null,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        server.app_get("/v1/campaigns").await.body,
        json!({"campaigns": []})
    );
    let stopped = server.app_get("/v1/campaigns/onboarding").await;
    assert_eq!(stopped.body["campaign"]["state"], "stopped");
    assert_eq!(stopped.body["campaign"]["active"], false);
    let after = server
        .app_get("/v1/campaigns/onboarding/journey_metrics")
        .await;
    assert_eq!(
        after.body["journey_metrics"]["entered"], 3,
        "the history stays"
    );
}

async fn a_journey_put_on_a_running_server_runs_within_a_second(server: &TestServer) {
    let _alone = TIMING.write().await;
    processor_has_definitions(server).await;
    identify(server, "dee", json!({"email": "dee@example.com"})).await;
    processed(server).await;
    put(server, "/v1/templates/welcome-email", welcome_email()).await;
    put(server, "/v1/templates/thanks-email", thanks_email()).await;
    put(server, "/v1/journeys/onboarding", onboarding()).await;
    let applied = Instant::now();
    track(server, "dee", "Signed Up").await;
    // Polled past the second, so a failure says whether it came late or never.
    let metrics = metrics_when(server, "onboarding", |m| {
        m["entered"] == 1 && m["sent"] == 1
    })
    .await;
    let took = applied.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "the journey ran {took:?} after it was put"
    );
    assert_eq!(metrics["waiting"], 1);
}

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

/// `nudge COMMAND -f DIR ARGS…` with no store in its environment: only what `args` give.
async fn nudge(command: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_nudge"));
    process.arg(command).arg("-f").arg(dir).args(args);
    for name in [
        "NUDGE_URL",
        "NUDGE_APP_KEY",
        "NUDGE_DATA_DIR",
        "NUDGE_DATABASE_URL",
    ] {
        process.env_remove(name);
    }
    process.env("NUDGE_LOG", "warn").envs(env.iter().copied());
    let output = process.output().await.expect("nudge runs");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const SEGMENTS: &str = "kind: segment\nformat: 1\nid: 300\nname: Customers\n\
    conditions: {attribute: {field: email, operator: exists}}\n";
const COMPUTED: &str = r#"{"kind": "computed_attribute", "format": 1, "name": "order_count",
 "aggregate": "count", "event": "Order Completed"}"#;
const TEMPLATE: &str = "kind: template\nformat: 1\nid: welcome-email\nchannel: email\n\
    subject: Welcome\nbody: \"Thanks for signing up to {{ journey.name }}.\"\n";
const JOURNEY: &str = "kind: journey\nformat: 1\nid: onboarding\nname: Onboarding\n\
    trigger: {event: Signed Up}\nsteps:\n\
    - {id: welcome, send: {channel: email, template: welcome-email}}\n\
    - {id: later, delay: 2d}\n";

async fn apply_through_a_running_server(server: &TestServer) {
    let _shared = TIMING.read().await;
    processor_has_definitions(server).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "segments.yaml", SEGMENTS);
    write(dir.path(), "computed.json", COMPUTED);
    write(dir.path(), "templates.yaml", TEMPLATE);
    write(dir.path(), "journeys/onboarding.yaml", JOURNEY);
    let key = server.creds.app_api_key.clone();
    let flags = ["--url", server.base.as_str(), "--app-key", key.as_str()];

    let plan = nudge("plan", dir.path(), &flags, &[]).await;
    assert!(plan.success, "{}", plan.stderr);
    for line in [
        "computed attribute order_count: create  [computed.json (document 1)]",
        "journey onboarding: create  [journeys/onboarding.yaml (document 1)]",
        "segment 300 (Customers): create  [segments.yaml (document 1)]",
        "template welcome-email: create  [templates.yaml (document 1)]",
        "segment 900 (Warm): kept (not in files)",
        "Plan: 4 to create, 0 to update, 0 unchanged, 1 kept (not in files).",
    ] {
        assert!(
            plan.stdout.contains(line),
            "missing {line:?} in:\n{}",
            plan.stdout
        );
    }
    assert_eq!(
        server.app_get("/v1/journeys").await.body,
        json!({"journeys": []})
    );

    let env = [
        ("NUDGE_URL", server.base.as_str()),
        ("NUDGE_APP_KEY", key.as_str()),
    ];
    let applied = nudge("apply", dir.path(), &[], &env).await;
    assert!(applied.success, "{}", applied.stderr);
    assert!(applied
        .stdout
        .contains("Applied: 4 created, 0 updated, 0 unchanged, 1 kept"));
    let journey = server.app_get("/v1/journeys/onboarding").await;
    assert_eq!(journey.body["journey"]["version"], 1);
    assert_eq!(
        journey.body["journey"]["document"]["steps"][1],
        json!({"id": "later", "delay": "2d"})
    );
    assert_eq!(
        server.app_get("/v1/segments/300").await.body["segment"]["type"],
        "dynamic"
    );
    let computed = server.app_get("/v1/computed_attributes/order_count").await;
    assert_eq!(computed.status, StatusCode::OK);
    let again = nudge("apply", dir.path(), &flags, &[]).await;
    assert!(
        again
            .stdout
            .contains("Applied: 0 created, 0 updated, 4 unchanged, 1 kept"),
        "{}",
        again.stdout
    );

    // The running server runs what was applied.
    identify(server, "eve", json!({"email": "eve@example.com"})).await;
    track(server, "eve", "Signed Up").await;
    metrics_when(server, "onboarding", |m| {
        m["entered"] == 1 && m["sent"] == 1
    })
    .await;

    // An edit is planned with its diff and applied as a new version.
    write(
        dir.path(),
        "templates.yaml",
        &TEMPLATE.replace("subject: Welcome", "subject: Hello"),
    );
    let plan = nudge("plan", dir.path(), &flags, &[]).await;
    assert!(
        plan.stdout
            .contains("template welcome-email: update, version 1 → 2"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("+   \"subject\": \"Hello\""),
        "{}",
        plan.stdout
    );
    assert!(nudge("apply", dir.path(), &flags, &[]).await.success);
    let template = server.app_get("/v1/templates/welcome-email").await;
    assert_eq!(template.body["template"]["version"], 2);

    // A set with one bad part changes nothing: not the new segment, not the template.
    write(
        dir.path(),
        "segments.yaml",
        &format!("{SEGMENTS}---\nkind: segment\nformat: 1\nid: 301\nname: New\n"),
    );
    write(
        dir.path(),
        "templates.yaml",
        &TEMPLATE.replace("subject: Welcome", "subject: Changed"),
    );
    write(
        dir.path(),
        "journeys/onboarding.yaml",
        &JOURNEY.replace("template: welcome-email", "template: missing-email"),
    );
    let refused_run = nudge("apply", dir.path(), &flags, &[]).await;
    assert!(!refused_run.success, "{}", refused_run.stdout);
    assert!(
        refused_run.stderr.contains("nothing was changed"),
        "{}",
        refused_run.stderr
    );
    assert!(
        refused_run.stderr.contains(
            "journeys/onboarding.yaml (document 1): journey onboarding: /steps/0/send: there is no template 'missing-email'"
        ),
        "{}",
        refused_run.stderr
    );
    assert_eq!(
        server.app_get("/v1/segments/301").await.status,
        StatusCode::NOT_FOUND
    );
    let template = server.app_get("/v1/templates/welcome-email").await;
    assert_eq!(template.body["template"]["document"]["subject"], "Hello");
    assert_eq!(
        server.app_get("/v1/journeys/onboarding").await.body["journey"]["version"],
        1
    );

    let wrong_key = ["--url", server.base.as_str(), "--app-key", "not-a-key"];
    let run = nudge("plan", dir.path(), &wrong_key, &[]).await;
    assert!(
        !run.success && run.stderr.contains("app key"),
        "{}",
        run.stderr
    );
    let both = [&flags[..], &["--workspace", "development"]].concat();
    let run = nudge("plan", dir.path(), &both, &[]).await;
    assert!(
        !run.success && run.stderr.contains("--workspace"),
        "{}",
        run.stderr
    );
}

on_both_stores!(
    journeys_and_templates_round_trip_with_versions,
    refusals_point_into_the_body_and_change_nothing,
    keys_open_one_workspace,
    campaigns_show_journeys_and_count_what_they_did,
    a_journey_put_on_a_running_server_runs_within_a_second,
    apply_through_a_running_server,
);
