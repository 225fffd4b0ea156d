//! `nudge replay` as an operator runs it — the real binary, on SQLite and on PostgreSQL — over
//! a log a live server wrote: identifies with attribute changes, removals and `_timestamp`
//! ordering, events with and without ULIDs (and a duplicate), anonymous events stitched by a
//! later identify, devices added and removed, a merge, a conflict, suppression and
//! re-creation, deletion and re-creation, manual segment membership, v2 objects and
//! relationships. Replaying from the first offset, from a middle offset, from an RFC 3339
//! time, twice, and rebuilding must each leave the derived state exactly as it was: every
//! derived table (dumped by the backend, people named by cio_id) and what the App API shows.
//!
//! The server stays up but idle while the CLI runs. Nothing writes to the workspace then,
//! which is what docs/replay.md asks of an operator; the two processes share the store as
//! they would in production (SQLite in WAL mode, or PostgreSQL).

mod common;

use common::{encode, TestServer};
use nudge_core::WorkspaceId;
use nudge_store::{LogRecord, Store};
use nudge_store_postgres::PostgresStore;
use nudge_store_sqlite::SqliteStore;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::process::Command;

/// Everyone the workload names, with the id type to look them up by.
const PEOPLE: [(&str, &str); 12] = [
    ("ana", "id"),
    ("ana@x.io", "email"),
    ("bob", "id"),
    ("bob@x.io", "email"),
    ("carl", "id"),
    ("dora", "id"),
    ("dora@x.io", "email"),
    ("eve", "id"),
    ("fay", "id"),
    ("gus", "id"),
    ("hal@x.io", "email"),
    ("nobody", "id"),
];
const OBJECTS: [&str; 3] = ["acme", "globex", "initech"];

/// The server's store, opened a second time in this process for direct reads. Both drivers
/// block, so every call (and the drop) leaves the async runtime's context first.
struct Direct(Option<Opened>);

enum Opened {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Direct {
    fn open(server: &TestServer) -> Direct {
        let args = server.store_args();
        tokio::task::block_in_place(|| {
            Direct(Some(match args.database_url {
                Some(url) => Opened::Postgres(PostgresStore::connect(&url).unwrap()),
                None => Opened::Sqlite(SqliteStore::open(&args.data_dir.join("nudge.db")).unwrap()),
            }))
        })
    }

    fn with<T>(&self, read: impl FnOnce(&dyn Store) -> T) -> T {
        let opened = self.0.as_ref().expect("open until dropped");
        tokio::task::block_in_place(|| match opened {
            Opened::Sqlite(store) => read(store),
            Opened::Postgres(store) => read(store),
        })
    }

    fn tables(&self, ws: WorkspaceId) -> Value {
        let opened = self.0.as_ref().expect("open until dropped");
        tokio::task::block_in_place(|| match opened {
            Opened::Sqlite(store) => store.derived_snapshot(ws).unwrap(),
            Opened::Postgres(store) => store.derived_snapshot(ws).unwrap(),
        })
    }

    fn workspace(&self) -> WorkspaceId {
        self.with(|store| store.workspace_by_name("development").unwrap())
            .expect("the development workspace")
            .id
    }

    fn log(&self, ws: WorkspaceId) -> Vec<LogRecord> {
        self.with(|store| store.read_log(ws, 0, usize::MAX).unwrap())
    }
}

impl Drop for Direct {
    fn drop(&mut self) {
        if let Some(opened) = self.0.take() {
            tokio::task::block_in_place(move || drop(opened));
        }
    }
}

/// The derived state, twice over: every table as the backend dumps it, and the App API's
/// view of everyone and everything the workload names.
#[derive(Debug, PartialEq)]
struct Snapshot {
    tables: Value,
    api: Value,
}

async fn snapshot(server: &TestServer, direct: &Direct, ws: WorkspaceId) -> Snapshot {
    let mut api = serde_json::Map::new();
    for (id, id_type) in PEOPLE {
        let Some(customer) = server.customer(id, id_type).await else {
            api.insert(format!("{id_type}:{id}"), Value::Null);
            continue;
        };
        let activities = server
            .activities(id, &format!("id_type={id_type}&limit=1000"))
            .await;
        let segments = server
            .app_get(&format!(
                "/v1/customers/{}/segments?id_type={id_type}",
                encode(id)
            ))
            .await;
        api.insert(
            format!("{id_type}:{id}"),
            json!({"customer": customer, "activities": activities, "segments": segments.body}),
        );
    }
    for object in OBJECTS {
        let reply = server
            .app_get(&format!("/v1/objects/1/{object}/attributes"))
            .await;
        api.insert(
            format!("object:{object}"),
            json!({"status": reply.status.as_u16(), "body": reply.body}),
        );
    }
    Snapshot {
        tables: direct.tables(ws),
        api: Value::Object(api),
    }
}

fn assert_same(expected: &Snapshot, actual: &Snapshot, what: &str) {
    for (table, rows) in expected.tables.as_object().unwrap() {
        assert_eq!(&actual.tables[table], rows, "{what}: table {table} differs");
    }
    for (subject, view) in expected.api.as_object().unwrap() {
        assert_eq!(
            &actual.api[subject], view,
            "{what}: the App API's {subject} differs"
        );
    }
    assert_eq!(expected, actual, "{what}");
}

/// Runs `nudge replay` on the server's store and returns its JSON summary.
async fn replay(server: &TestServer, args: &[&str]) -> Value {
    let store = server.store_args();
    let mut command = Command::new(env!("CARGO_BIN_EXE_nudge"));
    command
        .arg("replay")
        .args(["--workspace", "development", "--json", "--batch-size", "7"])
        .args(args)
        .env("NUDGE_DATA_DIR", &store.data_dir)
        .env("NUDGE_LOG", "warn")
        .kill_on_drop(true);
    match &store.database_url {
        Some(url) => command.env("NUDGE_DATABASE_URL", url),
        None => command.env_remove("NUDGE_DATABASE_URL"),
    };
    let output = command.output().await.expect("nudge runs");
    assert!(
        output.status.success(),
        "nudge replay {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON summary")
}

async fn ok(server: &TestServer, method: Method, path: &str, body: Value) {
    let reply = server.track(method, path, body).await;
    assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
}

async fn entity(server: &TestServer, body: Value) {
    ok(server, Method::POST, "/api/v2/entity", body).await;
}

/// A varied workload through the Track APIs, each call answered 200.
async fn workload(server: &TestServer) {
    const DELETE: Method = Method::DELETE;
    const POST: Method = Method::POST;
    const PUT: Method = Method::PUT;
    let t0 = 1_760_000_000_i64;
    let person = |id: &str| format!("/api/v1/customers/{}", encode(id));
    // Attribute changes, `_timestamp` ordering (the older update loses), removals.
    ok(
        server,
        PUT,
        &person("ana"),
        json!({"email": "ana@x.io", "plan": "gold",
        "city": "Lyon", "_timestamp": t0 + 100}),
    )
    .await;
    ok(
        server,
        PUT,
        &person("ana"),
        json!({"plan": "silver", "_timestamp": t0}),
    )
    .await;
    ok(
        server,
        PUT,
        &person("ana"),
        json!({"city": null, "tier": "", "seats": 3}),
    )
    .await;
    // Events with and without a ULID, and a duplicate of one.
    ok(
        server,
        POST,
        &format!("{}/events", person("ana")),
        json!({"name": "viewed", "data": {"sku": "a-1"}}),
    )
    .await;
    let purchase = json!({"name": "purchased", "id": "01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "timestamp": t0 + 50, "data": {"total": 42.5}});
    ok(
        server,
        POST,
        &format!("{}/events", person("ana")),
        purchase.clone(),
    )
    .await;
    ok(server, POST, &format!("{}/events", person("ana")), purchase).await;
    // Anonymous events, then an identify that stitches them to bob.
    ok(
        server,
        POST,
        "/api/v1/events",
        json!({"name": "landing", "anonymous_id": "anon-1"}),
    )
    .await;
    ok(
        server,
        POST,
        "/api/v1/events",
        json!({"name": "pricing", "anonymous_id": "anon-1",
        "type": "page"}),
    )
    .await;
    ok(
        server,
        PUT,
        &person("bob"),
        json!({"email": "bob@x.io", "anonymous_id": "anon-1",
        "plan": "free"}),
    )
    .await;
    // Devices added, replaced and removed.
    ok(
        server,
        PUT,
        &format!("{}/devices", person("ana")),
        json!({"device": {"id": "tok-1", "platform": "ios"}}),
    )
    .await;
    ok(
        server,
        PUT,
        &format!("{}/devices", person("bob")),
        json!({"device": {"id": "tok-2", "platform": "android", "last_used": t0}}),
    )
    .await;
    ok(
        server,
        PUT,
        &format!("{}/devices", person("bob")),
        json!({"device": {"id": "tok-1", "platform": "ios"}}),
    )
    .await;
    ok(
        server,
        DELETE,
        &format!("{}/devices/tok-2", person("bob")),
        Value::Null,
    )
    .await;
    // A conflict: bob's email asked for ana is logged as a failed change.
    ok(
        server,
        PUT,
        &person("ana"),
        json!({"email": "bob@x.io", "plan": "platinum"}),
    )
    .await;
    // A merge: an id-only and an email-only profile, then a late event for the secondary.
    ok(server, PUT, &person("carl"), json!({"plan": "bronze"})).await;
    ok(
        server,
        PUT,
        &person("dora@x.io"),
        json!({"plan": "trial", "city": "Oslo"}),
    )
    .await;
    ok(
        server,
        POST,
        &format!("{}/events", person("dora@x.io")),
        json!({"name": "signed_up"}),
    )
    .await;
    ok(
        server,
        POST,
        "/api/v1/merge_customers",
        json!({"primary": {"id": "carl"}, "secondary": {"email": "dora@x.io"}}),
    )
    .await;
    ok(
        server,
        POST,
        &format!("{}/events", person("dora@x.io")),
        json!({"name": "late"}),
    )
    .await;
    // Suppression, an event it drops, unsuppression and re-creation.
    ok(server, PUT, &person("eve"), json!({"plan": "gold"})).await;
    ok(
        server,
        POST,
        &format!("{}/suppress", person("eve")),
        Value::Null,
    )
    .await;
    ok(
        server,
        POST,
        &format!("{}/events", person("eve")),
        json!({"name": "dropped"}),
    )
    .await;
    ok(
        server,
        POST,
        &format!("{}/unsuppress", person("eve")),
        Value::Null,
    )
    .await;
    ok(server, PUT, &person("eve"), json!({"plan": "silver"})).await;
    // Deletion and re-creation under the same id.
    ok(
        server,
        PUT,
        &person("fay"),
        json!({"email": "hal@x.io", "plan": "gold"}),
    )
    .await;
    ok(
        server,
        POST,
        &format!("{}/events", person("hal@x.io")),
        json!({"name": "viewed"}),
    )
    .await;
    ok(server, DELETE, &person("fay"), Value::Null).await;
    ok(server, PUT, &person("fay"), json!({"plan": "again"})).await;
    // Manual segment membership.
    let created = server
        .app_post("/v1/segments", json!({"segment": {"name": "VIP"}}))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let segment = created.body["segment"]["id"].as_i64().unwrap();
    ok(
        server,
        POST,
        &format!("/api/v1/segments/{segment}/add_customers"),
        json!({"ids": ["ana", "bob", "carl", "nobody"]}),
    )
    .await;
    ok(
        server,
        POST,
        &format!("/api/v1/segments/{segment}/remove_customers"),
        json!({"ids": ["bob"]}),
    )
    .await;
    // v2 objects and relationships, and a v2 batch mixing people and events.
    entity(
        server,
        json!({"type": "object", "action": "identify",
        "identifiers": {"object_type_id": "1", "object_id": "acme"},
        "attributes": {"name": "Acme", "tier": "pro"},
        "cio_relationships": [{"identifiers": {"id": "ana"},
                               "relationship_attributes": {"role": "admin"}},
                              {"identifiers": {"id": "gus"}}]}),
    )
    .await;
    entity(
        server,
        json!({"type": "object", "action": "identify",
        "identifiers": {"object_type_id": "1", "object_id": "acme"}, "attributes": {"tier": ""}}),
    )
    .await;
    entity(server, json!({"type": "object", "action": "identify",
        "identifiers": {"object_type_id": "1", "object_id": "globex"}, "attributes": {"name": "Globex"},
        "cio_relationships": [{"identifiers": {"id": "bob"}}]})).await;
    entity(
        server,
        json!({"type": "person", "action": "add_relationships", "identifiers": {"id": "carl"},
        "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "initech"},
                               "relationship_attributes": {"seat": 2}}]}),
    )
    .await;
    entity(
        server,
        json!({"type": "person", "action": "delete_relationships", "identifiers": {"id": "gus"},
        "cio_relationships": [{"identifiers": {"object_type_id": "1", "object_id": "acme"}}]}),
    )
    .await;
    entity(
        server,
        json!({"type": "object", "action": "delete",
        "identifiers": {"object_type_id": "1", "object_id": "globex"}}),
    )
    .await;
    ok(
        server,
        POST,
        "/api/v2/batch",
        json!({"batch": [
            {"type": "person", "action": "identify", "identifiers": {"id": "gus"},
             "attributes": {"plan": "pro"}},
            {"type": "person", "action": "event", "identifiers": {"id": "gus"}, "name": "batched"},
            {"type": "person", "action": "identify", "identifiers": {"id": "ana"},
             "attributes": {"plan": "diamond"}},
        ]}),
    )
    .await;
}

async fn replay_changes_nothing_from_any_start_and_a_rebuild_recreates_everything(
    server: &TestServer,
) {
    workload(server).await;
    let direct = Direct::open(server);
    let ws = direct.workspace();
    let log = direct.log(ws);
    assert!(log.len() >= 38, "the workload logged {} entries", log.len());
    let before = snapshot(server, &direct, ws).await;
    assert_eq!(
        before.api["id:carl"]["customer"]["attributes"]["city"], "Oslo",
        "the workload merged dora into carl"
    );

    let all = replay(server, &["--from", "0"]).await;
    assert_eq!(all["entries"], log.len());
    assert_eq!(all["first_offset"], log[0].offset);
    assert!(all["already_applied"].as_u64().unwrap() > 25, "{all}");
    assert_eq!(all["appended_meanwhile"], 0);
    assert_same(
        &before,
        &snapshot(server, &direct, ws).await,
        "replay from 0",
    );

    let middle = log[log.len() / 2].offset;
    let from_middle = replay(server, &["--from", &middle.to_string()]).await;
    assert_eq!(from_middle["first_offset"], middle);
    assert_same(
        &before,
        &snapshot(server, &direct, ws).await,
        "replay from the middle",
    );

    let late = &log[log.len() * 3 / 4];
    let time = late.entry.received_at.to_rfc3339();
    let from_time = replay(server, &["--from", &time]).await;
    let first_at_time = log
        .iter()
        .find(|r| r.entry.received_at >= late.entry.received_at)
        .unwrap();
    assert_eq!(from_time["first_offset"], first_at_time.offset, "{time}");
    let what = format!("replay from {time}");
    assert_same(&before, &snapshot(server, &direct, ws).await, &what);

    replay(server, &["--from", "0"]).await;
    replay(server, &["--from", "0"]).await;
    assert_same(
        &before,
        &snapshot(server, &direct, ws).await,
        "replayed twice more",
    );

    let rebuilt = replay(server, &["--rebuild"]).await;
    assert_eq!(rebuilt["mode"], "rebuild");
    assert_eq!(rebuilt["entries"], log.len());
    assert_eq!(rebuilt["already_applied"], 0);
    assert_same(&before, &snapshot(server, &direct, ws).await, "rebuild");

    // The rebuilt store carries on as before: a late event still lands on the merged person.
    ok(
        server,
        Method::POST,
        "/api/v1/customers/dora@x.io/events",
        json!({"name": "after"}),
    )
    .await;
    let carl = server.activities("carl", "name=after").await;
    assert_eq!(carl["activities"].as_array().unwrap().len(), 1, "{carl}");
}

async fn a_replay_onto_wiped_derived_state_restores_it(server: &TestServer) {
    workload(server).await;
    let direct = Direct::open(server);
    let ws = direct.workspace();
    let before = snapshot(server, &direct, ws).await;
    direct.with(|store| store.reset_derived(ws).unwrap());
    assert_eq!(server.customer("ana", "id").await, None, "wiped");
    // From an offset, nothing is skipped on an empty store: every entry applies again.
    let summary = replay(server, &["--from", "1"]).await;
    assert_eq!(summary["already_applied"], 0, "{summary}");
    assert_same(
        &before,
        &snapshot(server, &direct, ws).await,
        "replay onto a wiped store",
    );
}

on_both_stores!(
    replay_changes_nothing_from_any_start_and_a_rebuild_recreates_everything,
    a_replay_onto_wiped_derived_state_restores_it,
);

/// Mistakes an operator can make, refused before anything is touched.
#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_nudge"))
            .arg("replay")
            .args(args)
            .env("NUDGE_DATA_DIR", dir.path())
            .env_remove("NUDGE_DATABASE_URL")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} was accepted");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = run(&["--workspace", "nowhere", "--from", "0"]);
    assert!(stderr.contains("no workspace named 'nowhere'"), "{stderr}");
    let stderr = run(&["--workspace", "w", "--from", "yesterday"]);
    assert!(stderr.contains("RFC 3339"), "{stderr}");
    let stderr = run(&["--workspace", "w", "--from=-3"]);
    assert!(stderr.contains("must not be negative"), "{stderr}");
    let stderr = run(&["--workspace", "w", "--from", "0", "--rebuild"]);
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let stderr = run(&["--workspace", "w"]);
    assert!(stderr.contains("--from"), "{stderr}");
}
