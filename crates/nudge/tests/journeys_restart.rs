//! Restart safety of journey timers, through the real binary on SQLite and on PostgreSQL.
//! Twenty people enter a journey that waits eight seconds and then sends an email; the server
//! is SIGKILLed while every instance waits and restarted on the same store. On the system
//! clock every timer then fires once and none twice: one send per person in the timeline, one
//! message per person in the outbox. A second server (on a virtual clock, so nothing depends
//! on how fast this machine is) is down longer than a journey's `max_lateness`: restarted
//! three seconds after the timers were due, the overdue timers fire at once, the journey
//! without `max_lateness` sends, and the one with `max_lateness: 1s` skips each send with
//! reason `late`, recorded once, never sent.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nudge_core::{Timestamp, WorkspaceId};
use serde_json::{json, Value};

const PEOPLE: usize = 20;

/// How long the journeys wait (their `delay`): long enough that, on the system clock, a kill
/// right after every entry is seen comes before any timer is due.
const DELAY_SECONDS: i64 = 8;

/// 2026-03-02T10:00:00Z, where the virtual clock starts.
const T0: Timestamp = Timestamp::from_millis(1_772_445_600_000);

const DEFINITIONS: &str = r#"kind: template
format: 1
id: tick-email
channel: email
subject: "Tick for {{ customer.id }}"
body: "Eight seconds later."
---
kind: journey
format: 1
id: lenient
name: Lenient
trigger:
  event: Tick
steps:
  - id: wait
    delay: 8s
  - id: email
    send: {channel: email, template: tick-email}
---
kind: journey
format: 1
id: strict
name: Strict
trigger:
  event: Tock
max_lateness: 1s
steps:
  - id: wait
    delay: 8s
  - id: email
    send: {channel: email, template: tick-email}
"#;

struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
    app_key: String,
}

/// A store with the workspace `lumen` and the journeys applied, before any server runs on it
/// (so the first server loads the journeys before it takes any event).
struct Store {
    data_dir: tempfile::TempDir,
    database_url: Option<String>,
    credentials: Value,
    _database: Option<nudge_store_postgres::test_database::TestDatabase>,
}

impl Store {
    fn new(postgres: bool) -> Option<Self> {
        let (database_url, database) = if postgres {
            let db = nudge_store_postgres::test_database::TestDatabase::create()?;
            (Some(db.url().to_string()), Some(db))
        } else {
            (None, None)
        };
        let mut store = Store {
            data_dir: tempfile::tempdir().unwrap(),
            database_url,
            credentials: Value::Null,
            _database: database,
        };
        let created = store
            .nudge()
            .args(["workspace", "create", "lumen", "--json"])
            .output()
            .unwrap();
        assert!(created.status.success(), "{created:?}");
        store.credentials = serde_json::from_slice(&created.stdout).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("journeys.yaml"), DEFINITIONS).unwrap();
        let applied = store
            .nudge()
            .args(["apply", "-f"])
            .arg(dir.path())
            .args(["--workspace", "lumen"])
            .output()
            .unwrap();
        assert!(
            applied.status.success(),
            "{}",
            String::from_utf8_lossy(&applied.stderr)
        );
        Some(store)
    }

    fn nudge(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nudge"));
        command
            .env("NUDGE_DATA_DIR", self.data_dir.path())
            .env("NUDGE_LOG", "warn")
            .env_remove("NUDGE_VIRTUAL_CLOCK");
        match &self.database_url {
            Some(url) => command.env("NUDGE_DATABASE_URL", url),
            None => command.env_remove("NUDGE_DATABASE_URL"),
        };
        command
    }

    /// `nudge serve` on this store, on the system clock or on a virtual clock from `clock`.
    fn serve(&self, clock: Option<Timestamp>) -> Server {
        let mut command = self.nudge();
        command
            .arg("serve")
            .env("NUDGE_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(start) = clock {
            command.args(["--virtual-clock", &start.to_rfc3339()]);
        }
        let mut child = command.spawn().expect("nudge starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server printed its address");
        Server {
            child,
            base,
            http: reqwest::Client::new(),
            app_key: self.credentials["app_api_key"]
                .as_str()
                .unwrap()
                .to_string(),
        }
    }

    /// The workspace's outbox, read from the store (with no server running on it).
    async fn outbox(&self) -> Vec<nudge_store::StoredMessage> {
        let args = nudge::config::StoreArgs {
            data_dir: self.data_dir.path().to_path_buf(),
            database_url: self.database_url.clone(),
        };
        let ws = WorkspaceId(self.credentials["workspace_id"].as_i64().unwrap());
        // The store's drivers are synchronous (PostgreSQL's runs a runtime of its own).
        tokio::task::spawn_blocking(move || {
            let store = nudge::server::open_store(&args).unwrap();
            store.outbox(ws, 0, 10 * PEOPLE).unwrap()
        })
        .await
        .unwrap()
    }
}

impl Server {
    async fn app_get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.app_key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    async fn timeline(&self) -> Vec<Value> {
        let mut lines = Vec::new();
        let mut start = String::new();
        loop {
            let page = self
                .app_get(&format!("/v1/timeline?limit=1000&start={start}"))
                .await;
            lines.extend(page["timeline"].as_array().unwrap().iter().cloned());
            start = page["next"].as_str().unwrap().to_string();
            if start.is_empty() {
                return lines;
            }
        }
    }

    /// Polls the timeline until `done` holds (deadline two minutes); returns it.
    async fn timeline_until(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let lines = self.timeline().await;
            if done(&lines) {
                return lines;
            }
            assert!(Instant::now() < deadline, "never {what}: {lines:#?}");
            tokio::task::yield_now().await;
        }
    }

    /// Gives each person an email and sends them `event`.
    async fn trigger(&self, creds: &Value, event: &str) {
        let (site, key) = (
            creds["site_id"].as_str().unwrap(),
            creds["track_api_key"].as_str().unwrap(),
        );
        for person in people() {
            let identify = self
                .http
                .put(format!("{}/api/v1/customers/{person}", self.base))
                .basic_auth(site, Some(key))
                .json(&json!({"email": format!("{person}@example.com")}))
                .send()
                .await
                .unwrap();
            assert_eq!(identify.status(), 200);
            let sent = self
                .http
                .post(format!("{}/api/v1/customers/{person}/events", self.base))
                .basic_auth(site, Some(key))
                .json(&json!({"name": event}))
                .send()
                .await
                .unwrap();
            assert_eq!(sent.status(), 200);
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    fn kill(self) {
        drop(self);
    }
}

impl Drop for Server {
    /// A failed assertion must not leave the server running either.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn people() -> Vec<String> {
    (0..PEOPLE).map(|n| format!("p-{n:02}")).collect()
}

/// How many lines of `kind` (and `journey`) each person has.
fn per_person(lines: &[Value], kind: &str, journey: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in lines {
        if line["kind"] == kind && line["journey"] == journey {
            let person = line["person"].as_str().unwrap_or_default().to_string();
            *counts.entry(person).or_insert(0) += 1;
        }
    }
    counts
}

fn once_each() -> BTreeMap<String, usize> {
    people().into_iter().map(|p| (p, 1)).collect()
}

fn count(lines: &[Value], kind: &str, journey: &str) -> usize {
    per_person(lines, kind, journey).values().sum()
}

/// Sends everyone each event, waits until all entered each event's journey, checks nothing
/// was sent yet, and kills the server while every instance waits. Returns the latest entry
/// time.
async fn enter_and_kill(server: Server, store: &Store, triggers: &[(&str, &str)]) -> Timestamp {
    for (event, _) in triggers {
        server.trigger(&store.credentials, event).await;
    }
    let entered = server
        .timeline_until("entered", |lines| {
            triggers
                .iter()
                .all(|(_, journey)| count(lines, "journey_entered", journey) == PEOPLE)
        })
        .await;
    for (_, journey) in triggers {
        assert_eq!(
            per_person(&entered, "journey_entered", journey),
            once_each()
        );
    }
    let sent = entered.iter().filter(|l| l["kind"] != "journey_entered");
    assert_eq!(sent.count(), 0, "nothing but entries yet: {entered:#?}");
    server.kill();
    entered
        .iter()
        .filter_map(|l| l["at"].as_str().and_then(Timestamp::parse_rfc3339))
        .max()
        .expect("entry times")
}

async fn every_timer_fires_once_after_a_kill(postgres: bool) {
    let Some(store) = Store::new(postgres) else {
        return;
    };
    let server = store.serve(None);
    enter_and_kill(server, &store, &[("Tick", "lenient")]).await;

    let server = store.serve(None);
    let lines = server
        .timeline_until("sent and completed", |lines| {
            count(lines, "journey_exited", "lenient") == PEOPLE
        })
        .await;
    assert_eq!(
        per_person(&lines, "journey_entered", "lenient"),
        once_each()
    );
    assert_eq!(per_person(&lines, "message_sent", "lenient"), once_each());
    assert_eq!(per_person(&lines, "journey_exited", "lenient"), once_each());
    server.kill();

    let outbox = store.outbox().await;
    let mut recipients: Vec<&str> = outbox
        .iter()
        .map(|m| m.message.recipient.as_str())
        .collect();
    recipients.sort();
    let expected: Vec<String> = people()
        .iter()
        .map(|p| format!("{p}@example.com"))
        .collect();
    assert_eq!(recipients, expected, "one message per person in the outbox");
    let mut instances: Vec<i64> = outbox.iter().map(|m| m.message.instance).collect();
    instances.sort();
    instances.dedup();
    assert_eq!(instances.len(), PEOPLE, "one message per instance");
}

async fn a_send_later_than_max_lateness_is_skipped(postgres: bool) {
    let Some(store) = Store::new(postgres) else {
        return;
    };
    let server = store.serve(Some(T0));
    // Both journeys' instances wait; Tock's journey allows a send one second late at most.
    let entered = enter_and_kill(server, &store, &[("Tick", "lenient"), ("Tock", "strict")]).await;
    assert_eq!(entered, T0, "everyone entered at the virtual clock's time");

    // Down until three seconds after the timers were due.
    let back_at = T0.plus_millis((DELAY_SECONDS + 3) * 1000);
    let server = store.serve(Some(back_at));
    let lines = server
        .timeline_until("both journeys completed", |lines| {
            count(lines, "journey_exited", "strict") == PEOPLE
                && count(lines, "journey_exited", "lenient") == PEOPLE
        })
        .await;
    assert_eq!(per_person(&lines, "message_skipped", "strict"), once_each());
    assert_eq!(count(&lines, "message_sent", "strict"), 0, "{lines:#?}");
    for line in lines.iter().filter(|l| l["kind"] == "message_skipped") {
        assert_eq!(line["reason"], "late", "{line}");
    }
    assert_eq!(per_person(&lines, "message_sent", "lenient"), once_each());
    for line in lines
        .iter()
        .filter(|l| l["kind"] == "message_sent" || l["kind"] == "message_skipped")
    {
        assert_eq!(
            line["at"].as_str().and_then(Timestamp::parse_rfc3339),
            Some(back_at),
            "overdue timers fire at once on restart: {line}"
        );
    }
    server.kill();
    let outbox = store.outbox().await;
    assert_eq!(outbox.len(), PEOPLE, "only the lenient journey's sends");
    assert!(outbox.iter().all(|m| m.message.journey == "lenient"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_fires_every_timer_once_after_a_kill() {
    every_timer_fires_once_after_a_kill(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_fires_every_timer_once_after_a_kill() {
    every_timer_fires_once_after_a_kill(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_skips_sends_later_than_max_lateness() {
    a_send_later_than_max_lateness_is_skipped(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_skips_sends_later_than_max_lateness() {
    a_send_later_than_max_lateness_is_skipped(true).await;
}
