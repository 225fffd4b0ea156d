//! `nudge import` and `nudge export` as an operator runs them — the real binary, on SQLite and
//! on PostgreSQL: an import killed with SIGKILL and resumed equals a clean one, a repeated
//! import changes nothing, bad rows land in the rejects file, CSV and NDJSON of every row
//! type, export with --segment and --since, and the App API's export jobs end to end.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{Backend, TestServer};
use nudge_store_postgres::test_database::TestDatabase;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Where the CLI finds its store: a data directory, and a PostgreSQL URL when there is one.
#[derive(Clone)]
struct Target {
    data_dir: PathBuf,
    database_url: Option<String>,
}

impl Target {
    fn of(server: &TestServer) -> Target {
        let args = server.store_args();
        Target {
            data_dir: args.data_dir,
            database_url: args.database_url,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nudge"));
        command
            .args(args)
            .env("NUDGE_DATA_DIR", &self.data_dir)
            .env("NUDGE_LOG", "warn")
            .kill_on_drop(true);
        match &self.database_url {
            Some(url) => command.env("NUDGE_DATABASE_URL", url),
            None => command.env_remove("NUDGE_DATABASE_URL"),
        };
        command
    }

    /// Runs the CLI to the end; its stdout, after asserting it succeeded.
    async fn run(&self, args: &[&str]) -> String {
        let output = self.command(args).output().await.expect("nudge runs");
        assert!(
            output.status.success(),
            "nudge {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    async fn import(&self, ws: &str, row_type: &str, format: &str, file: &Path) -> Value {
        let file = file.to_str().unwrap();
        let args = [
            "import",
            "--workspace",
            ws,
            "--type",
            row_type,
            "--format",
            format,
            "--json",
            file,
        ];
        serde_json::from_str(&self.run(&args).await).expect("a JSON summary")
    }

    async fn export(&self, ws: &str, kind: &str, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["export", kind, "--workspace", ws];
        args.extend(extra);
        self.run(&args)
            .await
            .lines()
            .map(|line| serde_json::from_str(line).expect("an NDJSON row"))
            .collect()
    }
}

/// A fresh store of its own with a workspace named `lumen`, kept as long as the value lives.
struct FreshStore {
    target: Target,
    _dir: tempfile::TempDir,
    _database: Option<TestDatabase>,
}

async fn fresh_store(backend: Backend) -> Option<FreshStore> {
    let dir = tempfile::tempdir().unwrap();
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::create()?),
    };
    let target = Target {
        data_dir: dir.path().to_path_buf(),
        database_url: database.as_ref().map(|d| d.url().to_string()),
    };
    target
        .run(&["workspace", "create", "lumen", "--json"])
        .await;
    Some(FreshStore {
        target,
        _dir: dir,
        _database: database,
    })
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn ndjson(rows: &[Value]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

fn count(summary: &Value, name: &str) -> u64 {
    summary[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} in {summary}"))
}

/// Exported rows without the cio_id, which depends on where in the log a person was created.
fn without_cio_ids(rows: Vec<Value>) -> Vec<Value> {
    rows.into_iter()
        .map(|mut row| {
            row.as_object_mut().unwrap().remove("cio_id");
            row
        })
        .collect()
}

fn ids(rows: &[Value]) -> Vec<&str> {
    let mut ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids
}

// --- resuming after SIGKILL -------------------------------------------------------------------

/// `n` events of 500 people, a second apart; every seventh carries its own ULID.
fn generated_events(n: u64) -> String {
    (0..n)
        .map(|i| {
            let mut row = json!({"id": format!("p{}", i % 500), "name": format!("e{}", i % 7),
                "timestamp": 1_600_000_000 + i, "data": {"n": i, "sku": format!("s-{}", i % 13)}});
            if i % 7 == 0 {
                row["event_id"] =
                    json!(ulid::Ulid::from_parts(1_600_000_000_000 + i, u128::from(i)).to_string());
            }
            format!("{row}\n")
        })
        .collect()
}

async fn an_interrupted_import_resumes_to_exactly_a_clean_import(backend: Backend, n: u64) {
    let Some(clean) = fresh_store(backend).await else {
        return;
    };
    let Some(interrupted) = fresh_store(backend).await else {
        return;
    };
    let files = tempfile::tempdir().unwrap();
    let file = write(files.path(), "events.ndjson", &generated_events(n));
    let summary = clean
        .target
        .import("lumen", "events", "ndjson", &file)
        .await;
    assert_eq!(count(&summary, "imported"), n, "{summary}");

    let checkpoint = PathBuf::from(format!("{}.nudge-checkpoint", file.display()));
    assert!(
        !checkpoint.exists(),
        "a complete run removes its checkpoint"
    );
    let mut child = interrupted
        .target
        .command(&[
            "import",
            "--workspace",
            "lumen",
            "--type",
            "events",
            "--format",
            "ndjson",
            "--json",
            file.to_str().unwrap(),
        ])
        .env("NUDGE_LOG", "nudge::import=debug,warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let progress = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("checkpoint written") {
                return line;
            }
        }
        panic!("the import ended without writing a checkpoint");
    })
    .await
    .expect("a checkpoint within two minutes");
    child.start_kill().expect("SIGKILL");
    child.wait().await.unwrap();
    let saved: Value = serde_json::from_slice(&std::fs::read(&checkpoint).unwrap())
        .unwrap_or_else(|e| panic!("checkpoint after {progress}: {e}"));
    let resumed_at = saved["position"]["line"].as_u64().unwrap();
    assert!(resumed_at > 1 && resumed_at <= n, "{saved}");

    let summary = interrupted
        .target
        .import("lumen", "events", "ndjson", &file)
        .await;
    assert_eq!(summary["resumed_at_line"], json!(resumed_at), "{summary}");
    assert_eq!(count(&summary, "rows_read"), n);
    // Rows committed after the last checkpoint come back as duplicates, never twice.
    assert_eq!(
        count(&summary, "imported") + count(&summary, "duplicates"),
        n,
        "{summary}"
    );
    assert!(!checkpoint.exists());

    let expected = without_cio_ids(clean.target.export("lumen", "events", &[]).await);
    let got = without_cio_ids(interrupted.target.export("lumen", "events", &[]).await);
    assert_eq!(got.len() as u64, n);
    assert!(
        got == expected,
        "the resumed import differs from the clean one"
    );
    assert_eq!(
        without_cio_ids(interrupted.target.export("lumen", "people", &[]).await).len(),
        500
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_resumes_an_interrupted_import_exactly() {
    an_interrupted_import_resumes_to_exactly_a_clean_import(Backend::Sqlite, 200_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_resumes_an_interrupted_import_exactly() {
    an_interrupted_import_resumes_to_exactly_a_clean_import(Backend::Postgres, 40_000).await;
}

// --- scenarios on a running server's store ----------------------------------------------------

const WS: &str = "development";

async fn importing_twice_changes_nothing(server: &TestServer) {
    let target = Target::of(server);
    let files = tempfile::tempdir().unwrap();
    let people = write(
        files.path(),
        "people.csv",
        "id,email,plan\nu1,u1@example.com,pro\nu2,,free\n,u3@example.com,pro\n",
    );
    let events = write(
        files.path(),
        "events.ndjson",
        &ndjson(&[
            json!({"id": "u1", "name": "signed_up", "timestamp": 1_700_000_000}),
            json!({"email": "u3@example.com", "name": "viewed", "timestamp": "2024-01-01T00:00:00Z",
                   "event_id": "01HQ3ZC8RX2D6W1N4T7M9P0ABC"}),
            json!({"id": "u2", "name": "viewed", "type": "page", "timestamp": 1_700_000_100}),
        ]),
    );
    let first = target.import(WS, "people", "csv", &people).await;
    assert_eq!(count(&first, "imported"), 3, "{first}");
    let first = target.import(WS, "events", "ndjson", &events).await;
    assert_eq!(count(&first, "imported"), 3, "{first}");
    let people_before = target.export(WS, "people", &[]).await;
    let events_before = target.export(WS, "events", &[]).await;
    assert_eq!((people_before.len(), events_before.len()), (3, 3));

    let again = target.import(WS, "people", "csv", &people).await;
    assert_eq!(
        (count(&again, "imported"), count(&again, "duplicates")),
        (0, 3),
        "{again}"
    );
    let again = target.import(WS, "events", "ndjson", &events).await;
    assert_eq!(
        (count(&again, "imported"), count(&again, "duplicates")),
        (0, 3),
        "{again}"
    );
    assert_eq!(target.export(WS, "people", &[]).await, people_before);
    assert_eq!(target.export(WS, "events", &[]).await, events_before);

    // An event sent by the API with the ULID an import already stored is stored once.
    let reply = server
        .track(
            reqwest::Method::POST,
            "/api/v1/customers/u3@example.com/events",
            json!({"name": "viewed", "id": "01HQ3ZC8RX2D6W1N4T7M9P0ABC"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(target.export(WS, "events", &[]).await, events_before);
}

async fn the_rejects_file_lists_each_bad_row_with_its_line_and_reason(server: &TestServer) {
    let target = Target::of(server);
    let files = tempfile::tempdir().unwrap();
    let text = [
        r#"{"id": "r1", "name": "ok", "timestamp": 1700000000}"#,
        r#"{"id": "r1", "name": "ok", "timestamp": "#,
        r#"{"id": "r1", "timestamp": 1700000000}"#,
        "",
        r#"{"id": "r2", "name": "ok", "timestamp": 1700000000000}"#,
        r#"["not", "an", "object"]"#,
        r#"{"id": "r2", "name": "ok", "event_id": "nope"}"#,
        r#"{"name": "nobody"}"#,
        r#"{"id": "r2", "name": "ok", "timestamp": 1700000001}"#,
    ]
    .join("\n");
    let file = write(files.path(), "events.ndjson", &text);
    let summary = target.import(WS, "events", "ndjson", &file).await;
    assert_eq!(count(&summary, "rows_read"), 8, "{summary}");
    assert_eq!(count(&summary, "imported"), 2, "{summary}");
    assert_eq!(count(&summary, "rejected"), 6, "{summary}");
    let rejects: Vec<Value> = std::fs::read_to_string(format!("{}.rejects.ndjson", file.display()))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let listed: Vec<(u64, Option<&str>)> = rejects
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["field"].as_str()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (2, None),
            (3, Some("name")),
            (5, Some("timestamp")),
            (6, None),
            (7, Some("event_id")),
            (8, None),
        ]
    );
    assert!(rejects[0]["reason"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    assert!(rejects[2]["reason"]
        .as_str()
        .unwrap()
        .contains("milliseconds"));
    assert_eq!(rejects[3]["row"], r#"["not", "an", "object"]"#);
    assert!(rejects[5]["reason"]
        .as_str()
        .unwrap()
        .contains("needs an id"));
    let names: Vec<Value> = target.export(WS, "events", &[]).await;
    assert_eq!(names.len(), 2, "the good rows around the bad ones");

    // CSV: a row with the wrong number of fields, and one with a bad email.
    let people = write(
        files.path(),
        "people.csv",
        "id,email\nc1,c1@example.com\nc2,x@example.com,extra\nc3,not-an-email\nc4,\n",
    );
    let summary = target.import(WS, "people", "csv", &people).await;
    assert_eq!(
        (count(&summary, "imported"), count(&summary, "rejected")),
        (2, 2)
    );
    let rejects = std::fs::read_to_string(format!("{}.rejects.ndjson", people.display())).unwrap();
    let rejects: Vec<Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejects[0]["line"], 3);
    assert_eq!(rejects[0]["row"], "c2,x@example.com,extra");
    assert!(rejects[0]["reason"]
        .as_str()
        .unwrap()
        .contains("the header has 2"));
    assert_eq!(
        (rejects[1]["line"].as_u64(), rejects[1]["field"].as_str()),
        (Some(4), Some("email"))
    );
}

async fn csv_and_ndjson_import_people_events_and_objects(server: &TestServer) {
    let target = Target::of(server);
    let files = tempfile::tempdir().unwrap();
    let people_csv = write(
        files.path(),
        "people.csv",
        "id,email,plan,\"note, quoted\"\na1,a1@example.com,pro,\"line one\nline two\"\n",
    );
    let people_ndjson = write(
        files.path(),
        "people.ndjson",
        &ndjson(&[
            json!({"email": "b1@example.com", "seats": 3, "tags": ["x"], "created_at": 1_690_000_000}),
        ]),
    );
    assert_eq!(
        count(
            &target.import(WS, "people", "csv", &people_csv).await,
            "imported"
        ),
        1
    );
    assert_eq!(
        count(
            &target.import(WS, "people", "ndjson", &people_ndjson).await,
            "imported"
        ),
        1
    );
    let a1 = server.customer("a1", "id").await.expect("a1 exists");
    assert_eq!(a1["attributes"]["plan"], "pro");
    assert_eq!(a1["attributes"]["note, quoted"], "line one\nline two");
    let b1 = server
        .customer("b1@example.com", "email")
        .await
        .expect("b1 exists");
    assert_eq!(
        (
            b1["attributes"]["seats"].clone(),
            b1["attributes"]["tags"].clone()
        ),
        (json!(3), json!(["x"]))
    );
    assert_eq!(b1["attributes"]["created_at"], 1_690_000_000);

    let events_csv = write(
        files.path(),
        "events.csv",
        "email,name,type,timestamp,sku\na1@example.com,bought,event,2024-03-01T10:00:00Z,s-1\n\
         a1@example.com,/pricing,page,1709287200,\n",
    );
    let events_ndjson = write(
        files.path(),
        "events.ndjson",
        &ndjson(&[
            json!({"anonymous_id": "anon-9", "name": "home", "type": "screen", "timestamp": 1_709_287_300,
                         "data": {"app": "ios"}}),
        ]),
    );
    assert_eq!(
        count(
            &target.import(WS, "events", "csv", &events_csv).await,
            "imported"
        ),
        2
    );
    assert_eq!(
        count(
            &target.import(WS, "events", "ndjson", &events_ndjson).await,
            "imported"
        ),
        1
    );
    let events = target.export(WS, "events", &[]).await;
    let summary: Vec<(Value, Value, Value, Value)> = events
        .iter()
        .map(|e| {
            (
                e["type"].clone(),
                e["name"].clone(),
                e["timestamp"].clone(),
                e["data"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                json!("event"),
                json!("bought"),
                json!(1_709_287_200),
                json!({"sku": "s-1"})
            ),
            (
                json!("page"),
                json!("/pricing"),
                json!(1_709_287_200),
                json!({})
            ),
            (
                json!("screen"),
                json!("home"),
                json!(1_709_287_300),
                json!({"app": "ios"})
            ),
        ]
    );
    assert_eq!(events[0]["id"], "a1");

    let objects_csv = write(
        files.path(),
        "objects.csv",
        "object_type_id,object_id,name\n1,acme,Acme Inc\n",
    );
    let objects_ndjson = write(
        files.path(),
        "objects.ndjson",
        &ndjson(&[json!({"object_type_id": 1, "object_id": "globex", "employees": 40})]),
    );
    assert_eq!(
        count(
            &target.import(WS, "objects", "csv", &objects_csv).await,
            "imported"
        ),
        1
    );
    assert_eq!(
        count(
            &target
                .import(WS, "objects", "ndjson", &objects_ndjson)
                .await,
            "imported"
        ),
        1
    );
    for (id, attributes) in [
        ("acme", json!({"name": "Acme Inc"})),
        ("globex", json!({"employees": 40})),
    ] {
        let reply = server
            .app_get(&format!("/v1/objects/1/{id}/attributes"))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["object"]["attributes"], attributes);
    }

    // The CSV export reads back as CSV: a header, then one record per person.
    let csv = target
        .run(&["export", "people", "--workspace", WS, "--format", "csv"])
        .await;
    assert!(
        csv.starts_with("id,email,phone,cio_id,created_at,updated_at,attributes\n"),
        "{csv}"
    );
    assert!(csv.contains("\"{\"\"plan\"\":\"\"pro\"\""), "{csv}");
    let out = files.path().join("people.out.ndjson");
    target
        .run(&[
            "export",
            "people",
            "--workspace",
            WS,
            "--output",
            out.to_str().unwrap(),
        ])
        .await;
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().lines().count(),
        3,
        "a1, b1, anon-9"
    );
}

async fn add_to_segment(server: &TestServer, name: &str, ids: &[&str]) -> i64 {
    let reply = server
        .app_post("/v1/segments", json!({"segment": {"name": name}}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let segment = reply.body["segment"]["id"].as_i64().unwrap();
    let reply = server
        .track(
            reqwest::Method::POST,
            &format!("/api/v1/segments/{segment}/add_customers"),
            json!({"ids": ids}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    segment
}

async fn export_keeps_to_a_segment_and_since(server: &TestServer) {
    let target = Target::of(server);
    let files = tempfile::tempdir().unwrap();
    let people = write(
        files.path(),
        "people.csv",
        "id,plan\ns1,pro\ns2,free\ns3,pro\n",
    );
    target.import(WS, "people", "csv", &people).await;
    let events = ndjson(&[
        json!({"id": "s1", "name": "a", "timestamp": 1_700_000_000}),
        json!({"id": "s2", "name": "b", "timestamp": 1_700_000_100}),
        json!({"id": "s3", "name": "c", "timestamp": 1_700_000_200}),
        json!({"id": "s1", "name": "d", "timestamp": 1_700_000_300}),
    ]);
    target
        .import(
            WS,
            "events",
            "ndjson",
            &write(files.path(), "e.ndjson", &events),
        )
        .await;
    let vip = add_to_segment(server, "VIP", &["s1", "s3"])
        .await
        .to_string();

    assert_eq!(
        ids(&target.export(WS, "people", &["--segment", &vip]).await),
        ["s1", "s3"]
    );
    let names = |rows: Vec<Value>| -> Vec<String> {
        rows.iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(target.export(WS, "events", &["--segment", &vip]).await),
        ["a", "c", "d"]
    );
    assert_eq!(
        names(
            target
                .export(WS, "events", &["--since", "1700000100"])
                .await
        ),
        ["b", "c", "d"]
    );
    assert_eq!(
        names(
            target
                .export(
                    WS,
                    "events",
                    &["--segment", &vip, "--since", "2023-11-14T22:16:40Z"]
                )
                .await
        ),
        ["c", "d"]
    );
    // People: updated at or after --since. s2 changes later than the others.
    let reply = server
        .track(
            reqwest::Method::PUT,
            "/api/v1/customers/s2",
            json!({"plan": "pro"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let s2 = server.customer("s2", "id").await.unwrap();
    let since = s2["updated_at"].as_i64().unwrap().to_string();
    let recent = target.export(WS, "people", &["--since", &since]).await;
    assert!(ids(&recent).contains(&"s2"));
    let future = (s2["updated_at"].as_i64().unwrap() + 3600).to_string();
    assert!(target
        .export(WS, "people", &["--since", &future])
        .await
        .is_empty());
}

async fn app_api_export_jobs_run_to_a_downloadable_file(server: &TestServer) {
    let target = Target::of(server);
    let files = tempfile::tempdir().unwrap();
    let people: Vec<Value> = (0..2500)
        .map(|i| json!({"id": format!("x{i}"), "plan": if i % 3 == 0 { "pro" } else { "free" }}))
        .collect();
    target
        .import(
            WS,
            "people",
            "ndjson",
            &write(files.path(), "p.ndjson", &ndjson(&people)),
        )
        .await;
    let members: Vec<String> = (0..2500)
        .filter(|i| i % 2 == 0)
        .map(|i| format!("x{i}"))
        .collect();
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    let mut segment = 0;
    for chunk in members.chunks(1000) {
        segment = if segment == 0 {
            add_to_segment(server, "Even", chunk).await
        } else {
            let reply = server
                .track(
                    reqwest::Method::POST,
                    &format!("/api/v1/segments/{segment}/add_customers"),
                    json!({"ids": chunk}),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK);
            segment
        };
    }
    let filters = json!({"and": [{"segment": {"id": segment}},
        {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}]});
    let reply = server
        .app_post("/v1/exports/customers", json!({"filters": filters}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let export = &reply.body["export"];
    assert_eq!(export["type"], "customers");
    assert!(
        ["pending", "done"].contains(&export["status"].as_str().unwrap()),
        "{export}"
    );
    let id = export["id"].as_i64().unwrap();

    let done = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let reply = server.app_get(&format!("/v1/exports/{id}")).await;
            assert_eq!(reply.status, StatusCode::OK);
            match reply.body["export"]["status"].as_str().unwrap() {
                "pending" => tokio::task::yield_now().await,
                _ => return reply.body["export"].clone(),
            }
        }
    })
    .await
    .expect("the export finishes within a minute");
    let expected: Vec<String> = (0..2500)
        .filter(|i| i % 6 == 0)
        .map(|i| format!("x{i}"))
        .collect();
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["total"], expected.len());

    let reply = server.app_get(&format!("/v1/exports/{id}/download")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let url = reply.body["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/v1/exports/{id}/file?token=", server.base)),
        "{url}"
    );
    let file = reqwest::get(url).await.unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    let rows: Vec<Value> = file
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut got: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    got.sort_unstable();
    let mut want: Vec<&str> = expected.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(got, want);
    assert!(rows.iter().all(|r| r["attributes"]["plan"] == "pro"));
    let after = server.app_get(&format!("/v1/exports/{id}")).await;
    assert_eq!(after.body["export"]["downloads"], 1);

    // A tampered token opens nothing; an unsupported filter names the node; so does an
    // unknown export.
    let forged = reqwest::get(format!("{}0", url)).await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let reply = server
        .app_post(
            "/v1/exports/customers",
            json!({"filters": {"or": [{"segment": {"id": 1}}, {"audience": {}}]}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.body["errors"][0]["source"]["pointer"],
        "/filters/or/1"
    );
    assert_eq!(
        server.app_get("/v1/exports/999999").await.status,
        StatusCode::NOT_FOUND
    );

    // No filter: everyone.
    let reply = server.app_post("/v1/exports/customers", json!({})).await;
    let everyone = reply.body["export"]["id"].as_i64().unwrap();
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let reply = server.app_get(&format!("/v1/exports/{everyone}")).await;
            if reply.body["export"]["status"] != "pending" {
                return reply.body["export"].clone();
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the export finishes within a minute");
    assert_eq!(
        (done["status"].as_str(), done["total"].as_u64()),
        (Some("done"), Some(2500))
    );
}

on_both_stores!(
    importing_twice_changes_nothing,
    the_rejects_file_lists_each_bad_row_with_its_line_and_reason,
    csv_and_ndjson_import_people_events_and_objects,
    export_keeps_to_a_segment_and_since,
    app_api_export_jobs_run_to_a_downloadable_file,
);
