//! `nudge plan` and `nudge apply` as an operator runs them — the real binary, on SQLite and on
//! PostgreSQL, against the store of a live server whose App API shows the result: a directory
//! of YAML and JSON files is planned (nothing changes), applied (created), applied again
//! (unchanged, versions stay), edited (an update with a diff, version + 1) while a segment made
//! through the API is kept; and sets with any problem — a bad condition, a dangling reference,
//! a cycle, unparseable YAML, an unknown kind, a duplicate id — are refused whole, naming the file and
//! the pointer, changing nothing.

mod common;

use std::path::Path;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::process::Command;

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

async fn nudge(server: &TestServer, command: &str, dir: &Path, workspace: &str) -> Run {
    let store = server.store_args();
    let mut process = Command::new(env!("CARGO_BIN_EXE_nudge"));
    process
        .arg(command)
        .arg("-f")
        .arg(dir)
        .args(["--workspace", workspace])
        .env("NUDGE_DATA_DIR", &store.data_dir)
        .env("NUDGE_LOG", "warn");
    match &store.database_url {
        Some(url) => process.env("NUDGE_DATABASE_URL", url),
        None => process.env_remove("NUDGE_DATABASE_URL"),
    };
    let output = process.output().await.expect("nudge runs");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn succeeds(server: &TestServer, command: &str, dir: &Path) -> String {
    let run = nudge(server, command, dir, "development").await;
    assert!(run.success, "nudge {command} failed: {}", run.stderr);
    run.stdout
}

async fn fails(server: &TestServer, dir: &Path) -> String {
    let run = nudge(server, "apply", dir, "development").await;
    assert!(!run.success, "apply should refuse: {}", run.stdout);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    run.stderr
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

async fn segment(server: &TestServer, id: i64) -> Value {
    let reply = server.app_get(&format!("/v1/segments/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["segment"].clone()
}

async fn segment_ids(server: &TestServer) -> Vec<i64> {
    let list = server.app_get("/v1/segments").await;
    list.body["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect()
}

const SEGMENTS: &str = "\
# Two segments in one file.
kind: segment
format: 1
id: 10
name: Newsletter
description: Opted in on the site
---
kind: segment
format: 1
id: 11
name: VIP
conditions:
  attribute:
    field: lifetime_value
    operator: gte
    value: 500
";

const COMPUTED: &str = r#"{"kind": "computed_attribute", "format": 1, "name": "lifetime_value",
 "aggregate": "sum", "event": "Order Completed", "value": "total"}"#;

async fn files_are_planned_applied_kept_and_updated(server: &TestServer) {
    let kept = server
        .app_post(
            "/v1/segments",
            json!({"segment": {"id": 12, "name": "Made by hand"}}),
        )
        .await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "segments.yaml", SEGMENTS);
    write(dir.path(), "nested/computed.json", COMPUTED);
    write(dir.path(), "README.md", "not a definition");

    let plan = succeeds(server, "plan", dir.path()).await;
    for line in [
        "segment 10 (Newsletter): create  [segments.yaml (document 1)]",
        "segment 11 (VIP): create  [segments.yaml (document 2)]",
        "computed attribute lifetime_value: create  [nested/computed.json (document 1)]",
        "segment 12 (Made by hand): kept (not in files)",
        "Plan: 3 to create, 0 to update, 0 unchanged, 1 kept (not in files).",
    ] {
        assert!(plan.contains(line), "{line} in:\n{plan}");
    }
    assert_eq!(segment_ids(server).await, [12], "plan changes nothing");

    let applied = succeeds(server, "apply", dir.path()).await;
    assert!(
        applied.contains("Applied: 3 created, 0 updated, 0 unchanged, 1 kept"),
        "{applied}"
    );
    let vip = segment(server, 11).await;
    assert_eq!(vip["type"], "dynamic");
    assert_eq!(vip["version"], 1);
    assert_eq!(
        vip["conditions"],
        json!({"attribute": {"field": "lifetime_value", "operator": "gte", "value": 500}})
    );
    let newsletter = segment(server, 10).await;
    assert_eq!(
        (
            newsletter["type"].as_str(),
            newsletter["description"].as_str()
        ),
        (Some("manual"), Some("Opted in on the site"))
    );
    let ltv = server
        .app_get("/v1/computed_attributes/lifetime_value")
        .await;
    assert_eq!(
        ltv.body["computed_attribute"]["definition"]["aggregate"],
        "sum"
    );

    let again = succeeds(server, "apply", dir.path()).await;
    assert!(
        again.contains("Applied: 0 created, 0 updated, 3 unchanged, 1 kept"),
        "{again}"
    );
    assert!(again.contains("segment 11 (VIP): unchanged"), "{again}");
    assert_eq!(segment(server, 11).await["version"], 1, "twice is once");
    assert_eq!(segment(server, 10).await["version"], 1);
    let ltv = server
        .app_get("/v1/computed_attributes/lifetime_value")
        .await;
    assert_eq!(ltv.body["computed_attribute"]["version"], 1);

    // An edit, and a new segment that reads two others.
    let edited = SEGMENTS
        .replace("name: VIP", "name: Big VIP")
        .replace("value: 500", "value: 1000");
    write(dir.path(), "segments.yaml", &edited);
    write(
        dir.path(),
        "more.yml",
        "kind: segment\nformat: 1\nid: 13\nname: VIP readers\n\
        conditions: {and: [{segment: {id: 10}}, {segment: {id: 11}}]}\n",
    );
    let plan = succeeds(server, "plan", dir.path()).await;
    for line in [
        "segment 11 (Big VIP): update, version 1 → 2",
        "    name: \"VIP\" → \"Big VIP\"",
        "    conditions:",
        "      -     \"value\": 500",
        "      +     \"value\": 1000",
        "segment 10 (Newsletter): unchanged",
        "segment 13 (VIP readers): create",
    ] {
        assert!(plan.contains(line), "{line} in:\n{plan}");
    }
    assert_eq!(
        segment(server, 11).await["version"],
        1,
        "plan changes nothing"
    );
    let applied = succeeds(server, "apply", dir.path()).await;
    assert!(
        applied.contains("Applied: 1 created, 1 updated, 2 unchanged, 1 kept"),
        "{applied}"
    );
    let vip = segment(server, 11).await;
    assert_eq!(
        (vip["name"].as_str(), vip["version"].as_i64()),
        (Some("Big VIP"), Some(2))
    );
    assert_eq!(vip["conditions"]["attribute"]["value"], 1000);
    assert_eq!(
        segment(server, 13).await["conditions"]["and"][1]["segment"]["id"],
        11
    );
    assert_eq!(
        segment(server, 12).await["name"],
        "Made by hand",
        "kept as it was"
    );
}

async fn an_invalid_set_is_refused_whole(server: &TestServer) {
    let fine = "kind: segment\nformat: 1\nid: 20\nname: Fine\n";
    let cases: [(&str, &str, &[&str]); 11] = [
        (
            "broken.yaml",
            "kind: segment\nformat: 1\nid: 21\nname: Broken\nconditions:\n  and:\n    - attribute: {field: plan, operator: eq, value: pro}\n    - attribute: {field: ltv, operator: equals, value: 1}\n",
            &["broken.yaml (document 1)", "segment 21 (Broken)", "/conditions/and/1/attribute/operator", "equals"],
        ),
        (
            "dangling.json",
            r#"{"kind": "segment", "format": 1, "id": 22, "name": "Dangling", "conditions": {"segment": {"id": 999}}}"#,
            &["dangling.json (document 1)", "/conditions/segment/id", "999"],
        ),
        (
            "cycle.yaml",
            "kind: segment\nformat: 1\nid: 23\nname: Hen\nconditions: {segment: {id: 24}}\n---\nkind: segment\nformat: 1\nid: 24\nname: Egg\nconditions: {segment: {id: 23}}\n",
            &["cycle.yaml (document 1), cycle.yaml (document 2): segments [23, 24]: these segments depend on each other in a cycle"],
        ),
        ("garbled.yaml", "kind: segment\nformat: 1\nname: [unclosed\n", &["garbled.yaml", "line"]),
        ("journey.yaml", "kind: journey\nformat: 1\n", &["journey.yaml (document 1)", "a journey needs an id"]),
        (
            "no-template.yaml",
            "kind: journey\nformat: 1\nid: nudge\nname: Nudge\ntrigger: {event: Seen}\nsteps:\n  - {id: mail, send: {channel: email, template: nope}}\n",
            &["no-template.yaml (document 1)", "journey nudge", "/steps/0/send", "there is no template 'nope'"],
        ),
        (
            "no-segment.yaml",
            "kind: journey\nformat: 1\nid: back\nname: Back\ntrigger: {segment: 998, on: entered}\nsteps:\n  - {id: wait, delay: 1h}\n",
            &["no-segment.yaml (document 1)", "journey back", "there is no segment 998"],
        ),
        (
            "no-event.yaml",
            "kind: template\nformat: 1\nid: cart\nchannel: email\nsubject: Cart\nbody: \"{{ event.cart_value }}\"\n---\nkind: journey\nformat: 1\nid: lapsed\nname: Lapsed\ntrigger: {attribute_changed: plan}\nsteps:\n  - {id: mail, send: {channel: email, template: cart}}\n",
            &["no-event.yaml (document 2)", "journey lapsed", "/steps/0/send", "template 'cart' reads event.cart_value in its body, but no event starts this journey"],
        ),
        (
            "unreachable.yaml",
            "kind: journey\nformat: 1\nid: lost\nname: Lost\ntrigger: {event: Seen}\nsteps:\n  - {id: end, exit: {}}\n  - {id: never, delay: 1h}\n",
            &["unreachable.yaml (document 1)", "journey lost", "/steps/1", "unreachable"],
        ),
        ("twice.yaml", "kind: segment\nformat: 1\nid: 20\nname: Other\n", &["twice.yaml (document 1): segment id 20 is already defined in a.yaml (document 1)"]),
        (
            "computed.yaml",
            "kind: computed_attribute\nformat: 1\nname: spend\naggregate: median\nevent: Order\nvalue: total\n",
            &["computed.yaml (document 1)", "computed attribute spend", "/aggregate"],
        ),
    ];
    for (file, text, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.yaml", fine);
        write(dir.path(), file, text);
        let stderr = fails(server, dir.path()).await;
        for part in expected {
            assert!(stderr.contains(part), "{part} in:\n{stderr}");
        }
        let plan = nudge(server, "plan", dir.path(), "development").await;
        assert!(!plan.success, "plan refuses the same set");
    }
    assert_eq!(
        segment_ids(server).await,
        Vec::<i64>::new(),
        "nothing was created"
    );
    let computed = server.app_get("/v1/computed_attributes").await;
    assert_eq!(computed.body["computed_attributes"], json!([]));

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", fine);
    let unknown = nudge(server, "apply", dir.path(), "nowhere").await;
    assert!(!unknown.success && unknown.stderr.contains("no workspace named 'nowhere'"));
}

on_both_stores!(
    files_are_planned_applied_kept_and_updated,
    an_invalid_set_is_refused_whole,
);
