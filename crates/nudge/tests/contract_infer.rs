//! `nudge contract infer` as an operator runs it — the real binary, on SQLite and on
//! PostgreSQL, over traffic imported into a live server's store: the contract it writes parses,
//! declares the events and attributes seen in the window with their types, marks a property
//! every call carried required and one half of them carried optional, leaves out what happened
//! before `--since`, and `nudge apply` takes it as the workspace's contract. A bad `--since`
//! and an unknown workspace are refused with a clear message.

mod common;

use std::path::Path;

use common::TestServer;
use nudge_contract::{Contract, Section};
use nudge_core::{Clock, SystemClock};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::process::Command;

const WS: &str = "development";
const DAY: i64 = 86_400;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn nudge(server: &TestServer, args: &[&str]) -> Run {
    let store = server.store_args();
    let mut process = Command::new(env!("CARGO_BIN_EXE_nudge"));
    process
        .args(args)
        .env("NUDGE_DATA_DIR", &store.data_dir)
        .env("NUDGE_LOG", "warn");
    match &store.database_url {
        Some(url) => process.env("NUDGE_DATABASE_URL", url),
        None => process.env_remove("NUDGE_DATABASE_URL"),
    };
    let output = process.output().await.expect("nudge runs");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn import(server: &TestServer, row_type: &str, dir: &Path, rows: &[Value]) {
    let file = dir.join(format!("{row_type}.ndjson"));
    let text: String = rows.iter().map(|row| format!("{row}\n")).collect();
    std::fs::write(&file, text).unwrap();
    let file = file.to_str().unwrap();
    let run = nudge(
        server,
        &[
            "import",
            "--workspace",
            WS,
            "--type",
            row_type,
            "--format",
            "ndjson",
            file,
        ],
    )
    .await;
    assert_eq!(run.code, Some(0), "import failed: {}", run.stderr);
}

/// Orders in the last day (every one with an order id, a total and a time, half with a
/// coupon), a page view, one order and one other event ten days ago, two identify calls and
/// one dated ten days ago.
async fn traffic(server: &TestServer, dir: &Path) {
    let now = SystemClock.now().unix_seconds();
    let order = |n: i64, data: Value| {
        json!({"id": format!("p{}", n % 2), "name": "Order Completed",
            "timestamp": now - 3_600 - n * 60, "data": data})
    };
    let mut events = Vec::new();
    for n in 0..4 {
        let mut data = json!({"order_id": format!("o-{n}"), "total": 20 + n,
            "placed_at": "2026-03-02T10:02:00Z"});
        if n % 2 == 0 {
            data["coupon"] = json!("SPRING");
        }
        events.push(order(n, data));
    }
    // Fractional totals make the property a number, not an integer.
    events[1]["data"]["total"] = json!(19.5);
    events.push(
        json!({"id": "p0", "name": "Order Completed", "timestamp": now - 10 * DAY,
        "data": {"order_id": "o-old", "total": 5, "legacy_channel": "fax"}}),
    );
    events.push(
        json!({"id": "p0", "name": "Newsletter Faxed", "timestamp": now - 10 * DAY,
        "data": {"pages": 3}}),
    );
    // Page views are not events a contract declares.
    events.push(
        json!({"id": "p1", "type": "page", "name": "Pricing", "timestamp": now - 600,
        "data": {"referrer": "ad"}}),
    );
    import(server, "events", dir, &events).await;
    import(
        server,
        "people",
        dir,
        &[
            json!({"id": "p0", "plan": "pro", "seats": 3}),
            json!({"id": "p1", "plan": "free"}),
            // Set, as far as the attribute's time says, before the window.
            json!({"id": "p2", "legacy_score": 7, "_timestamp": now - 10 * DAY}),
        ],
    )
    .await;
}

fn property(section: &Section, name: &str) -> (&'static str, bool) {
    let property = section
        .properties
        .get(name)
        .unwrap_or_else(|| panic!("{name} is declared"));
    (property.schema.label(), property.required)
}

async fn infers_a_contract_from_the_window(server: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    traffic(server, dir.path()).await;

    let run = nudge(server, &["contract", "infer", "--workspace", WS]).await;
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(
        run.stdout.starts_with("kind: contract\nformat: 1\n"),
        "{}",
        run.stdout
    );
    let contract = Contract::from_yaml(&run.stdout).expect("the output parses");
    let events: Vec<&String> = contract.events().keys().collect();
    assert_eq!(events, ["Order Completed"], "{}", run.stdout);
    let orders = contract.event("Order Completed").unwrap();
    let mut names: Vec<&String> = orders.properties.keys().collect();
    names.sort();
    assert_eq!(names, ["coupon", "order_id", "placed_at", "total"]);
    assert_eq!(property(orders, "order_id"), ("string", true));
    assert_eq!(property(orders, "total"), ("number", true));
    assert_eq!(property(orders, "placed_at"), ("string (date-time)", true));
    assert_eq!(property(orders, "coupon"), ("string", false));
    let person = contract.person();
    assert_eq!(property(person, "plan"), ("string", true));
    assert_eq!(property(person, "seats"), ("integer", false));
    let traits: Vec<&String> = person.properties.keys().collect();
    assert_eq!(traits, ["plan", "seats"], "{}", run.stdout);
    assert!(
        run.stderr.contains("from 4 events"),
        "the summary counts the window's events: {}",
        run.stderr
    );

    // A wider window takes in the older traffic.
    let wide = nudge(
        server,
        &["contract", "infer", "--workspace", WS, "--since", "2w"],
    )
    .await;
    assert_eq!(wide.code, Some(0), "{}", wide.stderr);
    let wide = Contract::from_yaml(&wide.stdout).unwrap();
    let events: Vec<&String> = wide.events().keys().collect();
    assert_eq!(events, ["Newsletter Faxed", "Order Completed"]);
    let orders = wide.event("Order Completed").unwrap();
    assert_eq!(property(orders, "legacy_channel"), ("string", false));
    assert_eq!(property(orders, "order_id"), ("string", true));
    assert_eq!(property(wide.person(), "legacy_score"), ("integer", false));

    // Read a row at a time, the traffic makes the same contract.
    let paged = nudge(
        server,
        &["contract", "infer", "--workspace", WS, "--page-size", "1"],
    )
    .await;
    assert_eq!(paged.code, Some(0), "{}", paged.stderr);
    assert_eq!(paged.stdout, run.stdout);

    // `--out` writes the file `nudge apply` reads.
    let definitions = tempfile::tempdir().unwrap();
    let file = definitions.path().join("contract.yaml");
    let out = nudge(
        server,
        &[
            "contract",
            "infer",
            "--workspace",
            WS,
            "--since",
            "7d",
            "--out",
            file.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written, run.stdout);
    let dir_arg = definitions.path().to_str().unwrap();
    let applied = nudge(server, &["apply", "-f", dir_arg, "--workspace", WS]).await;
    assert_eq!(applied.code, Some(0), "{}", applied.stderr);
    let reply = server.app_get("/v1/contract").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["contract"]["version"], 1, "{}", reply.body);
    let stored = Contract::from_json(&reply.body["contract"]["document"].to_string()).unwrap();
    assert_eq!(stored, contract);
}

async fn bad_arguments_are_refused(server: &TestServer) {
    let run = nudge(
        server,
        &["contract", "infer", "--workspace", WS, "--since", "7 days"],
    )
    .await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("--since") && run.stderr.contains("is not a duration"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());

    let run = nudge(server, &["contract", "infer", "--workspace", "nowhere"]).await;
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        run.stderr.contains("there is no workspace named 'nowhere'"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
}

on_both_stores!(infers_a_contract_from_the_window, bad_arguments_are_refused);
